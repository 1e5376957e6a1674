/**
 * `npm run bench:train` runs `facecls bench train`; this script is the same benchmark for
 * `node dist/bench/train.js [--quick] [--json]` from a checkout.
 */
import { benchTrain, defaultTrainBenchOptions, machineNote, QUICK } from '../src/engine/train-bench.js';
import { printTrainBench } from '../src/cli/commands/bench-train.js';

const args = new Set(process.argv.slice(2));
const opts = { ...defaultTrainBenchOptions(), ...(args.has('--quick') ? QUICK : {}) };
const rows = await benchTrain(opts);
if (args.has('--json')) process.stdout.write(JSON.stringify(rows) + '\n');
else {
  printTrainBench(rows);
  console.log(`\n${machineNote()}`);
}

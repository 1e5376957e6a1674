/**
 * Classifier speed: ms per face at batch 1 and 32 and faces/s for the emotion and gender models on
 * tfjs-wasm and onnxruntime-node, with ratios and the targets (emotion + gender for one face
 * <= 0.6 ms at batch 1; >= 5,000 faces/s batched). Same options as `facecls bench classify`:
 *
 *   node dist/bench/classify.js [--emotion DIR] [--gender DIR] [--batch 32] [--min-ms 1500]
 *                               [--threads N] [--runtime onnx|tfjs] [--json] [--backend wasm|cpu]
 */
import { Command } from 'commander';
import { addBenchClassify } from '../src/cli/commands/bench-classify.js';
import { UserError } from '../src/errors.js';

const program = new Command('classify-bench').option('--backend <name>', 'tfjs backend (default wasm)');
addBenchClassify(program);
try {
  await program.parseAsync(['node', 'classify-bench', 'classify', ...process.argv.slice(2)]);
} catch (err) {
  if (!(err instanceof UserError)) throw err;
  console.error(`bench classify: error: ${err.message}`);
  process.exitCode = 1;
}

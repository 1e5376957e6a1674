/**
 * `facecls bench train`: training speed of the zoo on stock tfjs-cpu vs this engine (wasm + facecls
 * gradient kernels) with 1 and N worker threads. Logic in src/engine/train-bench.ts.
 */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { getArchitecture } from '../../framework/index.js';
import { benchTrain, defaultTrainBenchOptions, machineNote, QUICK, type TrainBenchOptions, type TrainBenchRow } from '../../engine/train-bench.js';
import { fmt, formatTable, printJson } from '../output.js';
import { parseIntOption } from '../options.js';

interface Opts {
  arch: string;
  inputs?: string;
  batches?: string;
  workers?: string;
  steps?: string;
  cpuSteps?: string;
  cpu: boolean;
  quick: boolean;
  json: boolean;
}

function parseList(value: string, name: string, min: number, max: number): number[] {
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) throw new UserError(`${name} must be a comma-separated list of integers, got "${value}"`);
  return [...new Set(parts.map((p) => parseIntOption(p, name, min, max)))];
}

export function trainBenchOptions(o: Opts): TrainBenchOptions {
  const opts = defaultTrainBenchOptions();
  const arch = getArchitecture(o.arch);
  opts.arch = arch.name;
  if (o.quick) Object.assign(opts, QUICK);
  if (o.inputs !== undefined) opts.inputs = parseList(o.inputs, '--inputs', Math.max(arch.minInput, 1), arch.maxInput ?? 512);
  if (o.batches !== undefined) opts.batches = parseList(o.batches, '--batches', 1, 4096);
  if (o.workers !== undefined) opts.workers = parseList(o.workers, '--workers', 0, 64);
  if (o.steps !== undefined) opts.steps = parseIntOption(o.steps, '--steps', 1, 100000);
  if (o.cpuSteps !== undefined) opts.cpuSteps = parseIntOption(o.cpuSteps, '--cpu-steps', 0, 1000);
  if (!o.cpu) opts.cpuSteps = 0;
  opts.warmup = Math.min(opts.warmup, Math.max(1, opts.steps));
  return opts;
}

export function printTrainBench(rows: TrainBenchRow[]): void {
  const ratio = (v?: number) => (v === undefined ? '-' : `${fmt(v, v >= 10 ? 0 : 2)}x`);
  console.log(
    formatTable(rows, [
      { header: 'arch', value: (r) => r.arch },
      { header: 'input', value: (r) => `${r.input}x${r.input}` },
      { header: 'batch', value: (r) => r.batch, align: 'right' },
      { header: 'engine', value: (r) => r.engine },
      { header: 'workers', value: (r) => (r.engine === 'tfjs-cpu' ? '-' : r.workers === 0 ? '0 (main)' : String(r.workers)), align: 'right' },
      { header: 'ms/step', value: (r) => fmt(r.msPerStep, 1), align: 'right' },
      { header: 'images/s', value: (r) => fmt(r.imagesPerSec, 1), align: 'right' },
      { header: 'cpu-ms/step', value: (r) => (r.cpuMsPerStep === undefined ? '-' : fmt(r.cpuMsPerStep, 1)), align: 'right' },
      { header: 'vs tfjs-cpu', value: (r) => ratio(r.vsCpu), align: 'right' },
      { header: 'vs 1 worker', value: (r) => ratio(r.vs1Worker), align: 'right' },
      { header: 'steps', value: (r) => r.steps, align: 'right' },
      { header: 'tensor growth', value: (r) => (r.tensorGrowth === undefined ? '-' : String(r.tensorGrowth)), align: 'right' },
    ]),
  );
}

export function addBenchTrain(group: Command): Command {
  return group
    .command('train')
    .description('training speed (ms/step, images/s): stock tfjs-cpu vs the facecls wasm engine with 1 and all-core workers')
    .option('--arch <name>', 'zoo architecture', 'mini-xception')
    .option('--inputs <list>', 'input sizes, comma-separated (default 48,64)')
    .option('--batches <list>', 'batch sizes, comma-separated (default 32,64)')
    .option('--workers <list>', 'engine worker counts, comma-separated; 0 = calling thread (default 1,<cores>)')
    .option('--steps <n>', 'timed steps per engine configuration (default 30: 2-worker timings vary by a few per cent between runs of 10)')
    .option('--cpu-steps <n>', 'timed steps for the stock tfjs-cpu rows (default 1: a mini-Xception step takes ~40 s)')
    .option('--no-cpu', 'skip the stock tfjs-cpu rows')
    .option('--quick', 'only 48x48, batch 32, 5 steps (1 cpu step)', false)
    .option('--json', 'print one JSON array of rows', false)
    .action(async (o: Opts) => {
      const opts = trainBenchOptions(o);
      if (!o.json) {
        opts.onRow = (r) =>
          process.stderr.write(
            `  ${r.engine}${r.engine === 'tfjs-cpu' ? '' : ` x${r.workers}`} ${r.input}x${r.input} b${r.batch}: ${fmt(r.msPerStep, 1)} ms/step\n`,
          );
      }
      const rows = await benchTrain(opts);
      if (o.json) return printJson(rows);
      printTrainBench(rows);
      console.log(`\n${machineNote()}. Engine rows: mean wall time per step over ${opts.steps} steps after ${opts.warmup} warm-up steps;`);
      console.log('tfjs-cpu rows: median of the timed steps. Ratios compare images/s within the same input and batch.');
      console.log('cpu-ms/step: CPU time of all threads per step (robust to other load; / workers ~ idle-machine wall time).');
    });
}

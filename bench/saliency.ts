/**
 * Saliency benchmark: ms per face for guided back-propagation, Grad-CAM and guided Grad-CAM on
 * mini-Xception 48x48 and 64x64 (random weights: timing does not depend on the values), with a plain
 * forward pass in the same process as the baseline. Target: <= 20 ms per face for guided.
 *
 *   node dist/bench/saliency.js [--backend wasm|cpu] [--batch 1,4] [--min-ms 1500] [--json] [--depthwise-grad auto|custom|native]
 */
import { fmt } from '../src/cli/output.js';
import { saliencyBenchTable } from '../src/cli/commands/bench-saliency.js';
import { benchSaliency, depthwiseGradientSource } from '../src/viz/bench.js';
import { depthwiseGradPolicy } from '../src/viz/graph.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const mode = opt('--depthwise-grad');
if (mode === 'custom' || mode === 'native' || mode === 'auto') depthwiseGradPolicy.mode = mode;
const json = args.includes('--json');
const batch = opt('--batch');
const rows = await benchSaliency({
  backend: opt('--backend'),
  batches: batch ? batch.split(',').map(Number) : undefined,
  minMs: opt('--min-ms') ? Number(opt('--min-ms')) : undefined,
  onRow: json ? undefined : (r) => console.error(`${r.arch} ${r.inputSize} b${r.batch} ${r.method}: ${fmt(r.msPerFace, 2)} ms/face`),
});
if (json) console.log(JSON.stringify({ depthwiseGradient: depthwiseGradientSource(), rows }));
else console.log(saliencyBenchTable(rows));

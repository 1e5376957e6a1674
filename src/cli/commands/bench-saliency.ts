/**
 * `facecls bench saliency`: ms per face for guided back-propagation, Grad-CAM and guided Grad-CAM
 * (src/viz/bench.ts), next to a forward pass in the same process. addBenchSaliency(group) adds the
 * subcommand to the `bench` command group.
 */
import type { Command } from 'commander';
import { benchSaliency, depthwiseGradientSource, type SaliencyBenchRow } from '../../viz/bench.js';
import { fmt, formatTable, printJson } from '../output.js';
import { parseIntOption } from '../options.js';

export function addBenchSaliency(bench: Command): void {
  bench
    .command('saliency')
    .description('ms per face for guided back-propagation, Grad-CAM and guided Grad-CAM (mini-Xception 48 and 64) vs a forward pass')
    .option('--batch <list>', 'faces per call, comma-separated', '1,4')
    .option('--min-ms <ms>', 'minimum measuring time per row', '1500')
    .option('--json', 'print machine-readable JSON', false)
    .action(async (o: { batch: string; minMs: string; json: boolean }, cmd: Command) => {
      const batches = o.batch.split(',').map((b) => parseIntOption(b.trim(), '--batch', 1, 256));
      const rows = await benchSaliency({
        backend: cmd.optsWithGlobals().backend,
        batches,
        minMs: parseIntOption(o.minMs, '--min-ms', 0),
        onRow: o.json ? undefined : (r) => process.stderr.write(`  ${r.arch} ${r.inputSize} batch ${r.batch} ${r.method}: ${fmt(r.msPerFace, 2)} ms/face\n`),
      });
      if (o.json) return printJson({ depthwiseGradient: depthwiseGradientSource(), rows });
      console.log(saliencyBenchTable(rows));
    });
}

/** Text report of a saliency benchmark. */
export function saliencyBenchTable(rows: SaliencyBenchRow[]): string {
  const table = formatTable(rows, [
    { header: 'model', value: (r: SaliencyBenchRow) => `${r.arch} ${r.inputSize}` },
    { header: 'batch', value: (r) => r.batch, align: 'right' },
    { header: 'method', value: (r) => r.method },
    { header: 'ms/face', value: (r) => fmt(r.msPerFace, 2), align: 'right' },
    { header: 'cpu ms/face', value: (r) => fmt(r.cpuMsPerFace, 2), align: 'right' },
    { header: 'p90 ms/call', value: (r) => fmt(r.p90MsPerCall, 2), align: 'right' },
    { header: 'x forward', value: (r) => (r.vsForward === undefined ? '' : fmt(r.vsForward, 1)), align: 'right' },
  ]);
  return `${table}\n\nbackend: ${rows[0]?.backend}; depthwise input gradient: ${depthwiseGradientSource()}; median after warm-up; cpu = this process's CPU time (uncontended estimate on a shared machine); target <= 20 ms/face (guided)`;
}

/**
 * `facecls bench classify`: classifier speed on tfjs-wasm vs onnxruntime (see src/runtime/bench.ts).
 * addBenchClassify(group) adds the subcommand to the `bench` command group.
 */
import type { Command } from 'commander';
import { parseTtaOption } from '../../runtime/tta.js';
import { benchClassify, type BenchRow, type ClassifyBenchResult } from '../../runtime/bench.js';
import { parseRuntimeOption } from '../../runtime/options.js';
import type { RuntimeName } from '../../runtime/types.js';
import { fmt, fmtInt, formatTable, printJson } from '../output.js';
import { parseIntOption } from '../options.js';

interface Opts {
  emotion?: string;
  gender?: string;
  batch: string;
  minMs: string;
  threads?: string;
  workers?: string;
  runtime?: string;
  tta?: string;
  json: boolean;
}

export function printClassifyBench(r: ClassifyBenchResult): void {
  const b = r.batch;
  console.log(
    formatTable(r.rows, [
      { header: 'runtime', value: (x: BenchRow) => x.runtime },
      { header: 'model', value: (x: BenchRow) => x.model },
      { header: 'ms/face b1', value: (x: BenchRow) => fmt(x.batch1.msPerFace, 3), align: 'right' },
      { header: 'p90 b1', value: (x: BenchRow) => fmt(x.batch1.p90MsPerFace, 3), align: 'right' },
      { header: 'faces/s b1', value: (x: BenchRow) => fmtInt(x.batch1.facesPerSecond), align: 'right' },
      { header: 'cpu b1', value: (x: BenchRow) => fmt(x.batch1.cpuMsPerFace, 3), align: 'right' },
      { header: `ms/face b${b}`, value: (x: BenchRow) => fmt(x.batchN.msPerFace, 3), align: 'right' },
      { header: `faces/s b${b}`, value: (x: BenchRow) => fmtInt(x.batchN.facesPerSecond), align: 'right' },
      { header: `cpu b${b}`, value: (x: BenchRow) => fmt(x.batchN.cpuMsPerFace, 3), align: 'right' },
    ]),
  );
  if (r.ratios.length) {
    console.log('\nonnxruntime speed-up over tfjs (tfjs time / onnxruntime time):');
    console.log(
      formatTable(r.ratios, [
        { header: 'model', value: (x) => x.model },
        { header: 'batch 1', value: (x) => `${fmt(x.batch1, 1)}x`, align: 'right' },
        { header: `batch ${b}`, value: (x) => `${fmt(x.batchN, 1)}x`, align: 'right' },
      ]),
    );
  }
  if (r.targets) {
    const t = r.targets;
    const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
    console.log(
      `\ntargets (onnxruntime${r.models.some((m) => m.tta === 'flip') ? ', flip TTA: two passes per face; --tta none for one' : ''}): emotion+gender ${fmt(t.emotionGenderMsAtBatch1.measured, 3)} ms/face at batch 1 ` +
        `(<= ${t.emotionGenderMsAtBatch1.target}: ${mark(t.emotionGenderMsAtBatch1.met)}); ` +
        `${fmtInt(t.facesPerSecondBatched.measured)} faces/s at batch ${b} (>= ${fmtInt(t.facesPerSecondBatched.target)}: ${mark(t.facesPerSecondBatched.met)})`,
    );
  }
  console.log('\nmodels: ' + r.models.map((m) => `${m.task} = ${m.source} (${m.arch ?? '?'}, ${m.input}, TTA ${m.tta})`).join('; '));
  console.log(
    `tfjs backend: ${r.backend}; onnxruntime intra-op threads: ${r.onnxThreads ?? '-'}, chunk: ${r.onnxMaxChunk ?? '-'}, emotion+gender step on the calling thread + ${r.groupWorkers ?? 0} worker(s); ` +
      `${r.machine.cpus} x ${r.machine.cpuModel}, load average ${r.machine.loadAverage.join(' ')}, node ${r.machine.node}`,
  );
  console.log(r.note);
}

export function addBenchClassify(group: Command): Command {
  return group
    .command('classify')
    .description('ms per face at batch 1 and N and faces/s for the emotion and gender classifiers, tfjs-wasm vs onnxruntime')
    .option('--emotion <dir>', 'emotion model directory (default: models/emotion, else a random-weight mini-Xception 48x48)')
    .option('--gender <dir>', 'gender model directory (default: models/gender, else a random-weight mini-Xception 48x48)')
    .option('--batch <n>', 'batch size of the batched measurement', '32')
    .option('--min-ms <ms>', 'minimum timed milliseconds per measurement', '1500')
    .option('--threads <n>', 'onnxruntime intra-op threads (default 1, or env FACECLS_ORT_THREADS)')
    .option(
      '--workers <n>',
      'worker threads sharing the onnxruntime emotion+gender step with the calling thread (default: cores - 1, or env FACECLS_ORT_WORKERS)',
    )
    .option('--runtime <name>', 'measure only this runtime (onnx or tfjs); default both')
    .option('--tta <mode>', "test-time augmentation: none or flip (two passes per face); default each model's own")
    .option('--json', 'print machine-readable JSON', false)
    .action(async (o: Opts, cmd: Command) => {
      const runtimes: RuntimeName[] = o.runtime ? [parseRuntimeOption(o.runtime, '--runtime')] : ['tfjs', 'onnx'];
      const result = await benchClassify({
        emotion: o.emotion,
        gender: o.gender,
        batch: parseIntOption(o.batch, '--batch', 1, 4096),
        minMs: parseIntOption(o.minMs, '--min-ms', 0, 600_000),
        threads: o.threads === undefined ? undefined : parseIntOption(o.threads, '--threads', 1, 256),
        groupWorkers: o.workers === undefined ? undefined : parseIntOption(o.workers, '--workers', 0, 64),
        runtimes,
        backend: cmd.optsWithGlobals().backend,
        tta: parseTtaOption(o.tta, '--tta'),
      });
      if (o.json) printJson(result);
      else printClassifyBench(result);
    });
}

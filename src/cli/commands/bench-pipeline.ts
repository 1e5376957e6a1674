/**
 * `facecls bench pipeline`: end-to-end frame time vs face-api and human, and detection recall (see
 * bench/pipeline.ts, which needs the repository checkout: the peers are devDependencies).
 * addBenchPipeline(group) adds the subcommand to the `bench` command group.
 */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { fmt, formatTable, printJson } from '../output.js';
import { parseIntOption } from '../options.js';
import { detectorOption, runtimeOption } from '../pipeline-options.js';
import { parseDetectorName } from '../../detect/types.js';

type BenchModule = typeof import('../../../bench/pipeline.js');
type PipelineBenchResult = Awaited<ReturnType<BenchModule['runPipelineBench']>>;

interface Opts {
  frames: string;
  recallFrames: string;
  widerImages: string;
  peers: boolean;
  detector: string;
  emotionModel?: string;
  genderModel?: string;
  ageModel?: string;
  age: boolean;
  runtime?: string;
  json: boolean;
}

export function addBenchPipeline(group: Command): void {
  group
    .command('pipeline')
    .description(
      'ms per 640x480 frame (1 and 3 faces; decode/detect/classify) vs face-api and human; detection recall/precision on composed UTKFace frames; AP per WIDER FACE subset on widerface-dev500 photos',
    )
    .option('--frames <n>', 'timed frames per scenario', '40')
    .option('--recall-frames <n>', 'frames in the labelled detection set', '150')
    .option('--no-peers', 'skip face-api and human')
    .option('--wider-images <n>', 'widerface-dev500 photos for the real-photo detection figures (0: skip)', '100')
    .addOption(detectorOption('pipeline detector'))
    .option('--emotion-model <dir>', 'emotion model (default models/emotion, else an untrained stand-in)')
    .option('--gender-model <dir>', 'gender model (default models/gender, else an untrained stand-in)')
    .option('--age-model <dir>', 'age model (default models/age when shipped)')
    .option('--no-age', 'leave the age model out (emotion + gender only)')
    .addOption(runtimeOption('classifier runtime'))
    .option('--json', 'print the result as JSON', false)
    .action(async (o: Opts, cmd: Command) => {
      let mod: BenchModule;
      try {
        mod = await import('../../../bench/pipeline.js');
      } catch (err) {
        throw new UserError(`bench pipeline needs the facecls repository checkout with devDependencies installed (${(err as Error).message})`);
      }
      const r = await mod.runPipelineBench({
        frames: parseIntOption(o.frames, '--frames', 1),
        recallFrames: parseIntOption(o.recallFrames, '--recall-frames', 1),
        widerImages: parseIntOption(o.widerImages, '--wider-images', 0),
        peers: o.peers,
        detector: parseDetectorName(o.detector),
        emotionModel: o.emotionModel,
        genderModel: o.genderModel,
        ageModel: o.age === false ? false : o.ageModel,
        runtime: o.runtime,
        backend: cmd.optsWithGlobals().backend,
        log: (l) => process.stderr.write(l + '\n'),
      });
      if (o.json) return printJson(r);
      printPipelineBench(r);
    });
}

/** The text report of `bench pipeline`. */
function printPipelineBench(r: PipelineBenchResult): void {
  console.log(`command: facecls ${process.argv.slice(2).join(' ')}`);
  console.log(
    `machine: ${r.machine.cpus} x ${r.machine.model}, node ${r.machine.node}, load average ${r.machine.loadAverage.join(' ')} (shared machine: other work running affects these figures)`,
  );
  console.log(`pipeline: detector ${r.models.detector}${r.models.detectorEngine ? ` (${r.models.detectorEngine})` : ''}, classifiers on ${r.models.runtime}`);
  if (r.models.note) console.log(`models: ${r.models.note}`);
  const classifiers = r.models.age ? 'emotion + gender + age' : 'emotion + gender';
  console.log(`\nper 640x480 JPEG frame (decode + detect + ${classifiers}), ms; "x facecls" = median / facecls median on the same frames:`);
  console.log(
    formatTable(r.speed, [
      { header: 'system', value: (x) => x.system },
      { header: 'faces', value: (x) => x.faces, align: 'right' },
      { header: 'median', value: (x) => fmt(x.medianMs, 1), align: 'right' },
      { header: 'p95', value: (x) => fmt(x.p95Ms, 1), align: 'right' },
      { header: 'frames/s', value: (x) => fmt(x.framesPerSecond, 1), align: 'right' },
      { header: 'decode', value: (x) => (x.decodeMs === undefined ? '' : fmt(x.decodeMs, 1)), align: 'right' },
      { header: 'detect', value: (x) => (x.detectMs === undefined ? '' : fmt(x.detectMs, 1)), align: 'right' },
      { header: 'classify', value: (x) => (x.classifyMs === undefined ? '' : fmt(x.classifyMs, 1)), align: 'right' },
      { header: 'x facecls', value: (x) => (x.vsFacecls === undefined ? '' : `${fmt(x.vsFacecls, 1)}x`), align: 'right' },
    ]),
  );
  console.log('\ndetection on composed UTKFace frames (IoU >= 0.5):');
  console.log(
    formatTable(r.detection, [
      { header: 'detector', value: (x) => x.detector },
      { header: 'faces', value: (x) => x.truth, align: 'right' },
      { header: 'recall', value: (x) => fmt(x.recall, 3), align: 'right' },
      { header: 'precision', value: (x) => fmt(x.precision, 3), align: 'right' },
      { header: 'false pos', value: (x) => x.falsePositives, align: 'right' },
      { header: 'mean IoU', value: (x) => fmt(x.meanIou, 3), align: 'right' },
      { header: 'ms/frame', value: (x) => fmt(x.medianMs, 1), align: 'right' },
    ]),
  );
  if (r.realPhotos) {
    const rp = r.realPhotos;
    if (rp.note) console.log(`\nreal photos: ${rp.note}`);
    else {
      console.log(
        `\ndetection on real photos: ${rp.rows[0]?.images ?? 0} widerface-dev500 photos (${rp.data}), AP at IoU 0.5 per subset; precision / recall at score ${rp.rows[0]?.threshold} (medium subset):`,
      );
      console.log(
        formatTable(rp.rows, [
          { header: 'detector', value: (x) => x.detector },
          { header: 'AP easy', value: (x) => fmt(x.ap.easy, 3), align: 'right' },
          { header: 'medium', value: (x) => fmt(x.ap.medium, 3), align: 'right' },
          { header: 'hard', value: (x) => fmt(x.ap.hard, 3), align: 'right' },
          { header: 'P', value: (x) => fmt(x.atThreshold.medium.precision, 3), align: 'right' },
          { header: 'R', value: (x) => fmt(x.atThreshold.medium.recall, 3), align: 'right' },
          { header: 'ms/photo', value: (x) => fmt(x.msPerImage, 1), align: 'right' },
        ]),
      );
    }
  }
  const t = r.targets;
  const mark = (m: boolean | null) => (m === null ? 'not measured' : m ? 'met' : 'NOT met');
  console.log(
    `\ntargets: >= 40 frames/s with 1 face (${classifiers}): ${fmt(t.fps40.measured, 1)} (${mark(t.fps40.met)}); ` +
      `>= 3x faster than face-api: ${t.faceApi3x.measured === null ? '-' : fmt(t.faceApi3x.measured, 1) + 'x'} (${mark(t.faceApi3x.met)}); ` +
      `default detector >= BlazeFace (human) on recall and precision: ${t.detectorVsBlazeFace.note} (${mark(t.detectorVsBlazeFace.met)})`,
  );
}

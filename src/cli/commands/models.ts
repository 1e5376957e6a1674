import { CLASSIFIER_TASKS } from '../../core/types.js';
import * as path from 'node:path';
import type { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { projectRoot } from '../../data/paths.js';
import { readShippedModels, type ShippedModelRow } from '../../train/model-card.js';
import { setupBackend } from '../../engine/backend.js';
import { buildModel, modelCost, timeInference, ZOO } from '../../framework/index.js';
import { fmt, fmtInt, formatTable, printJson } from '../output.js';
import { parseIntOption } from '../options.js';

export interface ZooRow {
  name: string;
  description: string;
  inputSize: number;
  channels: number;
  classes: number;
  params: number;
  trainableParams: number;
  macs: number;
  weightBytes: number;
  backend?: string;
  msPerImageBatch1?: number;
  msPerImageBatch32?: number;
}

export async function zooRows(opts: { input: number; channels: number; classes: number; bench: boolean; backend?: string }): Promise<ZooRow[]> {
  const backend = await setupBackend(opts.backend);
  const rows: ZooRow[] = [];
  for (const arch of ZOO) {
    const size = arch.maxInput !== undefined ? Math.min(opts.input, arch.maxInput) : opts.input;
    const model = buildModel(arch.name, { inputSize: size, channels: opts.channels, numClasses: opts.classes });
    try {
      const row: ZooRow = {
        name: arch.name,
        description: arch.description,
        inputSize: size,
        channels: opts.channels,
        classes: opts.classes,
        ...modelCost(model),
      };
      if (opts.bench) {
        row.backend = backend;
        row.msPerImageBatch1 = (await timeInference(model, 1, { runs: 10, warmup: 3, minMs: 300 })).msPerImage;
        row.msPerImageBatch32 = (await timeInference(model, 32, { runs: 5, warmup: 2 })).msPerImage;
      }
      rows.push(row);
    } finally {
      model.dispose();
    }
  }
  return rows;
}

/** The tasks the detection pipeline runs (classify, annotate, video, serve, the page): emotion, gender, age. */
const PIPELINE_TASKS: readonly string[] = CLASSIFIER_TASKS;

/** The shipped models (models/<name>/model-card.json) as a table. */
export function shippedTable(rows: ShippedModelRow[]): string {
  const acc = (x: number | null, withheld = false) => (x === null ? (withheld ? 'withheld' : '-') : `${fmt(x * 100, 2)}%`);
  // Age models show their MAE (years) in the accuracy columns.
  const mae = (x: number | null | undefined, withheld = false) => (x === null || x === undefined ? (withheld ? 'withheld' : '-') : `MAE ${fmt(x, 2)} y`);
  const val = (r: ShippedModelRow) => (r.task === 'age' ? mae(r.valMae) : acc(r.valAccuracy));
  const test = (r: ShippedModelRow) => (r.task === 'age' ? mae(r.testMae, r.test === 'withheld') : acc(r.testAccuracy, r.test === 'withheld'));
  const adults = (r: ShippedModelRow) =>
    r.task === 'age'
      ? `${mae(r.valAdultsMae)} / ${mae(r.testAdultsMae, r.test === 'withheld')}`
      : r.valAdultsAccuracy === null
        ? '-'
        : `${acc(r.valAdultsAccuracy)} / ${acc(r.testAdultsAccuracy, r.test === 'withheld')}`;
  return formatTable(rows, [
    { header: 'name', value: (r) => r.name },
    { header: 'task', value: (r) => r.task },
    { header: 'arch', value: (r) => r.arch },
    { header: 'params', value: (r) => (r.params === null ? '-' : fmtInt(r.params)), align: 'right' },
    { header: 'val acc', value: val, align: 'right' },
    { header: 'test acc', value: test, align: 'right' },
    { header: 'val / test adults', value: adults, align: 'right' },
    { header: 'status', value: (r) => r.status },
    {
      header: 'pipeline',
      value: (r) => (!PIPELINE_TASKS.includes(r.task) ? '-' : r.variant === 'fast' ? 'default (fast)' : r.variant === 'accurate' ? '--accurate' : '-'),
    },
  ]);
}

export function registerModels(program: Command): void {
  program
    .command('models')
    .description('list the architecture zoo with parameters, MACs and weight size; --bench also measures inference time')
    .option('--bench', 'measure inference ms per image at batch 1 and 32 on the current backend', false)
    .option('--input <size>', 'square input size', '48')
    .option('--channels <n>', 'input channels (1 = grey)', '1')
    .option('--classes <n>', 'number of output classes', '7')
    .option('--json', 'print machine-readable JSON (the zoo array; with --shipped {"modelsDir", "shipped": [...]})', false)
    .option('--shipped', 'list only the shipped models (model-card.json of each folder in the models directory)', false)
    .option('--models-dir <dir>', "where shipped models live (default: the project's models/)")
    .action(
      async (o: { bench: boolean; input: string; channels: string; classes: string; json: boolean; shipped: boolean; modelsDir?: string }, cmd: Command) => {
        const modelsDir = path.resolve(o.modelsDir ?? path.join(projectRoot(), 'models'));
        const warn = (m: string) => process.stderr.write(`facecls: warning: ${m}\n`);
        if (o.shipped) {
          const shipped = readShippedModels(modelsDir, warn);
          if (o.json) return printJson({ modelsDir, shipped });
          console.log(shipped.length ? `shipped models (${modelsDir}):\n${shippedTable(shipped)}` : `no shipped models in ${modelsDir}`);
          return;
        }
        const rows = await zooRows({
          input: parseIntOption(o.input, '--input', 1),
          channels: parseIntOption(o.channels, '--channels', 1),
          classes: parseIntOption(o.classes, '--classes', 2),
          bench: o.bench,
          backend: cmd.optsWithGlobals().backend,
        });
        if (o.json) return printJson(rows);
        const columns = [
          { header: 'architecture', value: (r: ZooRow) => r.name },
          { header: 'input', value: (r: ZooRow) => `${r.inputSize}x${r.inputSize}x${r.channels}` },
          { header: 'params', value: (r: ZooRow) => fmtInt(r.params), align: 'right' as const },
          { header: 'trainable', value: (r: ZooRow) => fmtInt(r.trainableParams), align: 'right' as const },
          { header: 'MACs/image', value: (r: ZooRow) => fmtInt(r.macs), align: 'right' as const },
          { header: 'weights', value: (r: ZooRow) => `${fmt(r.weightBytes / 1024, 1)} KiB`, align: 'right' as const },
        ];
        if (o.bench) {
          columns.push(
            { header: 'ms/img b1', value: (r: ZooRow) => fmt(r.msPerImageBatch1 ?? NaN, 3), align: 'right' as const },
            { header: 'ms/img b32', value: (r: ZooRow) => fmt(r.msPerImageBatch32 ?? NaN, 3), align: 'right' as const },
          );
        }
        console.log(formatTable(rows, columns));
        if (o.bench) console.log(`\nbackend: ${tf.getBackend()}; median of timed runs after warm-up`);
        else console.log('\n' + rows.map((r) => `${r.name}: ${r.description}`).join('\n'));
        const shipped = readShippedModels(modelsDir, warn);
        console.log(
          shipped.length
            ? `\nshipped models (${modelsDir}):\n${shippedTable(shipped)}`
            : `\nno shipped models in ${modelsDir} (facecls ship <run-dir> -o ${path.join(modelsDir, '<name>')})`,
        );
      },
    );
}

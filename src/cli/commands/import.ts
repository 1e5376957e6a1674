/** `facecls import keras <file.hdf5> -o <model dir>`: bring the paper's released Keras models in. */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { setupBackend } from '../../engine/backend.js';
import { importKerasModel } from '../../io/keras/index.js';
import type { Task } from '../../io/model-store.js';
import { parseFloatOption } from '../options.js';
import { printJson } from '../output.js';

const TASKS: Task[] = ['emotion', 'gender', 'custom'];

interface ImportKerasOptions {
  output?: string;
  task?: string;
  labels?: string;
  cropMargin?: string;
  force: boolean;
  json: boolean;
}

export function registerImport(program: Command): void {
  const imp = program.command('import').description('import models trained elsewhere into facecls model directories');
  imp
    .command('keras <file>')
    .description("import a Keras 2 HDF5 model (e.g. the paper's gender_mini_XCEPTION / fer2013_mini_XCEPTION files)")
    .option('-o, --output <dir>', 'model directory to write (model.json, weights.bin, model card)')
    .option('--task <task>', `task: ${TASKS.join(', ')} (default: 7 outputs = emotion, 2 = gender)`)
    .option('--labels <list>', 'comma-separated class labels in output order (default from the task; gender = woman,man)')
    .option('--crop-margin <f>', 'relative margin the model expects around a detector box, recorded in the metadata')
    .option('--force', 'replace a model already in the output directory', false)
    .option('--json', 'print machine-readable JSON', false)
    .action(async (file: string, o: ImportKerasOptions, cmd: Command) => {
      if (!o.output) throw new UserError('import keras needs an output directory: -o <model dir>');
      if (o.task !== undefined && !TASKS.includes(o.task as Task)) throw new UserError(`unknown task "${o.task}": choose one of ${TASKS.join(', ')}`);
      const labels = o.labels?.split(',').map((s) => s.trim());
      if (labels && (labels.some((l) => l === '') || new Set(labels).size !== labels.length)) {
        throw new UserError(`--labels must be distinct, non-empty names separated by commas, got "${o.labels}"`);
      }
      const cropMargin = o.cropMargin === undefined ? undefined : parseFloatOption(o.cropMargin, '--crop-margin', 0, 2);
      await setupBackend(cmd.optsWithGlobals().backend as string | undefined);
      const r = await importKerasModel(file, o.output, { task: o.task as Task | undefined, labels, cropMargin, overwrite: o.force });
      if (o.json) {
        printJson({ dir: r.dir, meta: r.meta, architectureCheck: r.match, layers: r.layers, weightValues: r.weightValues, warnings: r.warnings });
        return;
      }
      const m = r.meta;
      const lines = [
        `imported ${file} -> ${r.dir}`,
        `  architecture: ${m.arch ?? 'custom (no zoo architecture matches)'}, ${r.match.params.toLocaleString('en-US')} parameters, ${r.layers} layers`,
        `  input: ${m.inputSize}x${m.inputSize}x${m.channels} ${m.preprocessing.colorSpace}, range [${m.preprocessing.range.join(', ')}]`,
        `  task: ${m.task}, outputs: ${m.labels.join(', ')}`,
        ...r.warnings.map((w) => `  warning: ${w}`),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}

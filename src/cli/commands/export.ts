/** `facecls export onnx <model dir> -o model.onnx`: the framework's models as ONNX graphs. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { setupBackend } from '../../engine/backend.js';
import { UserError } from '../../errors.js';
import { MODEL_ONNX, writeOnnx } from '../../io/onnx/model-dir.js';
import { MAX_OPSET, MIN_OPSET } from '../../io/onnx/schema.js';
import { modelDir } from '../../io/fs-handler.js';
import { fmt } from '../output.js';
import { parseIntOption } from '../options.js';

interface Opts {
  output?: string;
  opset: string;
  fold: boolean;
  force: boolean;
}

export function registerExport(program: Command): void {
  const group = program.command('export').description('export a model to another format');
  group
    .command('onnx')
    .description(
      `export a facecls model directory to ONNX (opset ${MIN_OPSET}-${MAX_OPSET}; NHWC float input "image" with a dynamic batch, output "probabilities")`,
    )
    .argument('<model>', 'model directory (or its model.json)')
    .option('-o, --output <file>', `output file (default: <model>/${MODEL_ONNX}, which createRuntime then uses while it matches the weights)`)
    .option('--opset <n>', 'ONNX operator set version', String(MIN_OPSET))
    .option('--no-fold', 'keep batch norm as BatchNormalization nodes instead of folding it into the convolutions')
    .option('-f, --force', 'overwrite an existing output file', false)
    .action(async (model: string, o: Opts, cmd: Command) => {
      const opset = parseIntOption(o.opset, '--opset', MIN_OPSET, MAX_OPSET);
      const out = path.resolve(o.output ?? path.join(modelDir(model), MODEL_ONNX));
      const isDefault = o.output === undefined;
      if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new UserError(`output "${out}" is a directory`);
      // The default output is a derived artifact next to the weights: refreshing it is always safe.
      if (fs.existsSync(out) && !o.force && !isDefault) throw new UserError(`output "${out}" exists: pass --force to overwrite it`);
      await setupBackend(cmd.optsWithGlobals().backend);
      const t0 = performance.now();
      const r = await writeOnnx(model, out, { opset, foldBatchNorm: o.fold });
      console.log(
        `wrote ${out} (${fmt(r.bytes.length / 1024, 1)} KiB, opset ${opset}, ${r.meta.task} model, ` +
          `input ${r.meta.inputSize}x${r.meta.inputSize}x${r.meta.channels} NHWC, labels ${r.meta.labels.join(',')}) in ${fmt(performance.now() - t0, 0)} ms`,
      );
    });
}

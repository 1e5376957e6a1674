/**
 * The `facecls` command line. Each command lives in ./commands/<name>.ts and registers itself here.
 * User errors print one line and exit 1; unexpected errors print a stack and exit 2.
 */
import { Command, CommanderError } from 'commander';
import { UserError } from '../errors.js';
import { registerAnnotate } from './commands/annotate.js';
import { registerBatch, registerWorker } from './commands/batch.js';
import { registerBench } from './commands/bench.js';
import { registerClassify } from './commands/classify.js';
import { registerEval } from './commands/eval.js';
import { registerExport } from './commands/export.js';
import { registerImport } from './commands/import.js';
import { registerModels } from './commands/models.js';
import { registerOverview } from './commands/overview.js';
import { registerSaliency } from './commands/saliency.js';
import { registerTrain } from './commands/train.js';
import { registerServe } from './commands/serve.js';
import { registerShip } from './commands/ship.js';
import { registerVideo } from './commands/video.js';
import { registerWebcam } from './commands/webcam.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('facecls')
    .description('Real-time face detection with emotion and gender classification (small CNNs, trained and explained)')
    .version('0.1.0')
    .option('--backend <name>', 'compute backend: wasm (default) or cpu (reference); env FACECLS_BACKEND')
    .showHelpAfterError()
    .exitOverride();
  registerOverview(program);
  registerModels(program);
  registerClassify(program);
  registerAnnotate(program);
  registerVideo(program);
  registerWebcam(program);
  registerServe(program);
  registerBatch(program);
  registerWorker(program);
  registerImport(program);
  registerExport(program);
  registerSaliency(program);
  registerBench(program);
  registerTrain(program);
  registerEval(program);
  registerShip(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof UserError) {
      process.stderr.write(`facecls: error: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`facecls: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 2;
  }
}

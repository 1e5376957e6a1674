/**
 * The `facecls` command line. Each command lives in ./commands/<name>.ts and registers itself here.
 * User errors print one line and exit 1; unexpected errors print a stack and exit 2.
 */
import type { Command } from 'commander';
import { baseProgram, runProgram } from './run.js';
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
  const program = baseProgram();
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
  return runProgram(buildProgram(), argv);
}

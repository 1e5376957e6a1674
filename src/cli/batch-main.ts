/**
 * `facecls batch status|results` without loading the rest of the command line (models, tfjs, sharp,
 * onnxruntime: about a second of module loading): bin/facecls.js comes here for these two commands.
 * Same commands, options and errors as in the full program (main.ts).
 */
import { baseProgram, runProgram } from './run.js';
import { BATCH_DESCRIPTION, registerBatchRead } from './commands/batch-read.js';

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = baseProgram();
  registerBatchRead(program.command('batch').description(BATCH_DESCRIPTION));
  return runProgram(program, argv);
}

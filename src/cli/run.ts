/**
 * The program's shell, shared by the full command line (main.ts) and the light one that runs `batch
 * status|results` (batch-main.ts): name, global options, and the error contract (user errors print
 * one line and exit 1; unexpected errors print a stack and exit 2).
 */
import { Command, CommanderError } from 'commander';
import { UserError } from '../errors.js';
import { cliErrorMessage, exitCodeOf } from './errors.js';

export function baseProgram(): Command {
  return (
    new Command()
      .name('facecls')
      .description('Real-time face detection with emotion and gender classification and age estimation (small CNNs, trained and explained)')
      .version('0.1.0')
      .option('--backend <name>', 'compute backend: wasm (default) or cpu (reference); env FACECLS_BACKEND')
      // Errors commander finds (unknown option, a value outside an option's choices) read like the
      // program's own: one "facecls: error: ..." line, then where to look.
      .configureOutput({ outputError: (text, write) => write(`facecls: ${text}`) })
      .showHelpAfterError('(add --help for the options)')
      .exitOverride()
  );
}

export async function runProgram(program: Command, argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof UserError) {
      process.stderr.write(`facecls: error: ${cliErrorMessage(err)}\n`);
      return exitCodeOf(err);
    }
    process.stderr.write(`facecls: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return exitCodeOf(err);
  }
}

/**
 * Command-line values of the benchmark scripts (`node dist/bench/<name>.js --flag value`), and other
 * small helpers they share.
 */

/** The value after `--name` on the command line (`name` with or without its dashes); undefined when absent. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name.startsWith('--') ? name : `--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The value after `--name`, or `dflt` when the flag (or its value) is absent. */
export function argOr(name: string, dflt: string): string {
  return arg(name) ?? dflt;
}

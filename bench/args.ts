import * as os from 'node:os';

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

/** The machine a benchmark ran on, as the benchmarks print it (load average to 2 decimals: other work skews figures). */
export function machineFacts(): { cpus: number; model: string; loadAverage: number[]; node: string } {
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model ?? '?',
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
  };
}

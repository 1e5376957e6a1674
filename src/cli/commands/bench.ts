/**
 * The `facecls bench` command group. Each benchmark is a subcommand defined in its own module
 * (bench-<name>.ts, exporting addBench<Name>(group)); registerBench adds them all.
 * benchCommand(program) returns the group (creating it once), for modules that add subcommands.
 */
import type { Command } from 'commander';
import { addBenchClassify } from './bench-classify.js';
import { addBenchPipeline } from './bench-pipeline.js';
import { addBenchSaliency } from './bench-saliency.js';
import { addBenchTrain } from './bench-train.js';

export function benchCommand(program: Command): Command {
  const existing = program.commands.find((c) => c.name() === 'bench');
  if (existing) return existing;
  return program.command('bench').description('benchmarks that print measured figures (and ratios against a baseline or peer run in the same process)');
}

function has(group: Command, name: string): boolean {
  return group.commands.some((c) => c.name() === name);
}

export function registerBench(program: Command): Command {
  const group = benchCommand(program);
  if (!has(group, 'train')) addBenchTrain(group);
  if (!has(group, 'classify')) addBenchClassify(group);
  if (!has(group, 'pipeline')) addBenchPipeline(group);
  if (!has(group, 'saliency')) addBenchSaliency(group);
  return group;
}

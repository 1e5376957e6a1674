/**
 * `--files-from <file|->` of `classify`/`detect` and `batch submit`: both read the list with the one
 * reader of src/inputs/path-list.ts; errors name the flag (src/cli/errors.ts).
 */
import { expandInput, type ExpandOptions, type InputItem } from '../inputs/expand.js';
import { readPathList } from '../inputs/path-list.js';

export const FILES_FROM_HELP =
  "read more inputs from this file ('-' = standard input): one path per line, or NUL-separated (find -print0) when the list contains a NUL byte; streamed, for lists longer than an argument list can hold";

/**
 * The inputs of a batch command, streamed: the arguments (files, directories, globs, URLs), then the
 * entries of `--files-from` (files, directories or URLs; taken literally, no glob expansion).
 */
export async function* inputItems(args: readonly string[], filesFrom?: string, opts: ExpandOptions = {}): AsyncGenerator<InputItem> {
  for (const a of args) yield* expandInput(a, opts);
  if (filesFrom !== undefined) for await (const p of readPathList(filesFrom)) yield* expandInput(p, { ...opts, glob: false });
}

/** The entries of a list as they are (no stat, no expansion): `batch submit`, whose workers may see other files. */
export async function listEntries(filesFrom: string): Promise<InputItem[]> {
  const out: InputItem[] = [];
  for await (const file of readPathList(filesFrom)) out.push({ file });
  return out;
}

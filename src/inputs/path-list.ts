/**
 * Lists of input paths (`classify --files-from`, `batch submit --files-from`): read from a file or
 * standard input, one per line or separated by NUL bytes (`find -print0`), streamed: the list is never
 * held in memory, so it can be longer than any argument vector (the kernel caps argv at a few MiB; some
 * native libraries crash well before).
 */
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { UserError, errorMessage, type PathListErrorReason } from '../errors.js';

/** Longest entry accepted (PATH_MAX is 4096 on Linux); a longer one means the input is not a path list. */
export const MAX_LIST_ENTRY_BYTES = 64 * 1024;

/**
 * A list that cannot be read. `list` is the list as named in messages (`"file"` or `standard input`),
 * `detail` what went wrong; the message is `path list <list>: <detail>` (the CLI names its flag instead).
 */
export class PathListError extends UserError {
  declare readonly reason: PathListErrorReason;
  readonly list: string;
  readonly detail: string;
  constructor(list: string, detail: string, reason: PathListErrorReason, options: { cause?: unknown } = {}) {
    super(`path list ${list}: ${detail}`, { ...options, reason });
    this.name = 'PathListError';
    this.list = list;
    this.detail = detail;
  }
}

function listName(source: string): string {
  return source === '-' ? 'standard input' : `"${source}"`;
}

function readFailure(source: string, err: unknown): PathListError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new PathListError(listName(source), 'no such file', 'list-missing', { cause: err });
  if (code === 'EISDIR') return new PathListError(listName(source), 'is a directory', 'list-is-directory', { cause: err });
  if (code === 'EACCES') return new PathListError(listName(source), 'permission denied', 'list-permission-denied', { cause: err });
  return new PathListError(listName(source), errorMessage(err), 'list-unreadable', { cause: err });
}

function openList(source: string): Readable {
  if (source === '-') return process.stdin;
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch (err) {
    throw readFailure(source, err);
  }
  if (st.isDirectory())
    throw new PathListError(listName(source), 'is a directory (give a file listing paths, or pass the directory itself as an input)', 'list-is-directory');
  return fs.createReadStream(source, { highWaterMark: 64 * 1024 });
}

/**
 * The paths of a list, in order. The separator is decided on the first chunk: NUL if it contains a
 * NUL byte, else newline (a trailing CR is dropped, so CRLF lists work). Empty entries are skipped.
 * Errors (unreadable list, an entry over MAX_LIST_ENTRY_BYTES) are PathListErrors naming the list.
 */
export async function* readPathList(source: string): AsyncGenerator<string> {
  const stream = openList(source);
  const name = listName(source);
  let sep: number | undefined;
  let rest: Buffer = Buffer.alloc(0);
  let entry = 0;
  const emit = (piece: Buffer): string | undefined => {
    entry++;
    let s = piece.toString('utf8');
    if (sep === 0x0a && s.endsWith('\r')) s = s.slice(0, -1);
    return s.length > 0 ? s : undefined;
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      sep ??= bytes.includes(0) ? 0 : 0x0a;
      let buf = rest.length > 0 ? Buffer.concat([rest, bytes]) : bytes;
      let start = 0;
      for (let i = buf.indexOf(sep, start); i >= 0; i = buf.indexOf(sep, start)) {
        const p = emit(buf.subarray(start, i));
        start = i + 1;
        if (p !== undefined) yield p;
      }
      buf = buf.subarray(start);
      if (buf.length > MAX_LIST_ENTRY_BYTES) {
        throw new PathListError(
          name,
          `entry ${entry + 1} is longer than ${MAX_LIST_ENTRY_BYTES} bytes: not a list of paths (one per line or NUL-separated)`,
          'list-not-paths',
        );
      }
      // Copy the tail so the chunk it came from can be freed.
      rest = Buffer.from(buf);
    }
  } catch (err) {
    if (err instanceof PathListError) throw err;
    throw readFailure(source, err);
  } finally {
    if (stream !== process.stdin) stream.destroy();
  }
  if (rest.length > 0) {
    const p = emit(rest);
    if (p !== undefined) yield p;
  }
}

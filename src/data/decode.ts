/**
 * Decoding image files (JPEG, PNG, WebP, GIF, TIFF, AVIF, SVG: whatever sharp/libvips reads) into
 * RawImage pixels for preprocessFace. Used by the dataset loaders, eval, the pipeline and the server.
 */
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import sharp from 'sharp';
import { UserError, errorMessage } from '../errors.js';
import type { RawImage } from './preprocess.js';

/**
 * Largest image accepted, in pixels (width x height). 100 megapixels is beyond any camera a user
 * will feed us, yet bounds a decompression bomb to ~400 MB of RGBA. Override per call.
 */
export const MAX_INPUT_PIXELS = 100_000_000;

/**
 * Largest image file read, in bytes, checked before reading (the file's size) and while reading (a
 * file that grows, a device or pipe). 256 MiB holds any camera photo and a 100-megapixel PNG or
 * uncompressed TIFF at 8 bits per channel, yet stops `/dev/zero` or a mislabelled video from filling
 * memory. Override per call (`maxBytes`) or with `--max-bytes`.
 */
export const MAX_INPUT_BYTES = 256 * 1024 * 1024;

export interface DecodeOptions {
  /** Output grey (1 channel) instead of RGB (3 channels). Default false. */
  grey?: boolean;
  /** Keep the alpha channel when present (4 channels) instead of dropping it. Default false. */
  keepAlpha?: boolean;
  /** Upper bound on width x height; larger images are rejected. Default MAX_INPUT_PIXELS. */
  maxPixels?: number;
  /** Name to use in error messages (default: the path, or <buffer>). */
  name?: string;
  /**
   * Resize so that the longer side is at most this many pixels (area-averaged by libvips) while
   * decoding. Saves memory and time when the caller will shrink the image anyway (loaders caching
   * model-size crops). Default: no resize.
   */
  maxSide?: number;
  /** Largest file read from a path, in bytes (checked before reading). Default MAX_INPUT_BYTES. */
  maxBytes?: number;
  /**
   * Read paths that are not regular files (FIFOs, character devices such as /dev/stdin, sockets).
   * Default false: they are refused, because their size is unknown and some never end (/dev/zero).
   * Still bounded by maxBytes.
   */
  allowSpecialFiles?: boolean;
}

function fileKind(st: { isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean; isDirectory(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function readError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : code === 'ENXIO' ? 'no reader/writer on the other end (a socket or FIFO)' : errorMessage(err);
}

/**
 * Read a whole file of at most `maxBytes` bytes. The size of a regular file is checked before
 * anything is read (fstat of the opened handle, so the check and the read see the same file), and the
 * read stops one byte past the limit whatever the file does meanwhile; non-regular files (devices,
 * FIFOs, sockets) are refused unless `allowSpecialFiles`, and then read in chunks up to the limit.
 * Errors are ImageDecodeErrors naming the file.
 */
export async function readFileBounded(file: string, opts: { maxBytes?: number; allowSpecialFiles?: boolean } = {}): Promise<Buffer> {
  const maxBytes = opts.maxBytes ?? MAX_INPUT_BYTES;
  let fh: fs.FileHandle;
  try {
    // The type first, from the path: opening a FIFO with no writer would block before any check.
    const pre = await fs.stat(file);
    if (pre.isDirectory()) throw new ImageDecodeError(file, 'is a directory');
    if (!pre.isFile() && !opts.allowSpecialFiles) throw new ImageDecodeError(file, `${fileKind(pre)}, not a regular file: refused (pass --allow-special-files to read it, up to --max-bytes)`);
    // A regular file is opened non-blocking (ignored for regular files) so that one swapped for a FIFO
    // meanwhile cannot hang the open; fstat below then refuses it.
    fh = await fs.open(file, pre.isFile() ? fsc.O_RDONLY | fsc.O_NONBLOCK : fsc.O_RDONLY);
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    throw new ImageDecodeError(file, readError(err), { cause: err });
  }
  try {
    const st = await fh.stat();
    const regular = st.isFile();
    if (st.isDirectory()) throw new ImageDecodeError(file, 'is a directory');
    if (!regular && !opts.allowSpecialFiles) throw new ImageDecodeError(file, `${fileKind(st)}, not a regular file: refused (pass --allow-special-files to read it, up to --max-bytes)`);
    if (regular && st.size > maxBytes) throw new ImageDecodeError(file, `file is ${st.size} bytes, over the ${maxBytes}-byte limit (--max-bytes)`);
    const chunks: Buffer[] = [];
    let total = 0;
    // A regular file in one read of its size (+1 to see it grew), then small probes; anything else in
    // 1 MiB chunks.
    let chunkSize = regular ? st.size + 1 : 1 << 20;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(chunkSize, maxBytes + 1 - total));
      if (regular) chunkSize = 1 << 16;
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      chunks.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      if (total > maxBytes) throw new ImageDecodeError(file, `file exceeds the ${maxBytes}-byte limit (--max-bytes)`);
    }
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    throw new ImageDecodeError(file, readError(err), { cause: err });
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Thrown for an unreadable, corrupt, empty or oversized image. Names the input. */
export class ImageDecodeError extends UserError {
  readonly source: string;
  constructor(source: string, message: string, options?: { cause?: unknown }) {
    super(`cannot decode image "${source}": ${message}`, options);
    this.name = 'ImageDecodeError';
    this.source = source;
  }
}

/**
 * Decode a file path or an in-memory encoded image into interleaved 8-bit pixels, rotated upright
 * according to its EXIF orientation. Grey on request (BT.601 luma, as preprocessFace); otherwise
 * RGB, or RGBA with keepAlpha when the image has alpha.
 */
export async function decodeImage(input: string | Buffer | Uint8Array, opts: DecodeOptions = {}): Promise<RawImage> {
  const source = opts.name ?? (typeof input === 'string' ? input : '<buffer>');
  let buf: Buffer;
  if (typeof input === 'string') {
    buf = await readFileBounded(input, opts);
  } else {
    buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  }
  if (buf.length === 0) throw new ImageDecodeError(source, 'empty file');
  const maxPixels = opts.maxPixels ?? MAX_INPUT_PIXELS;
  try {
    let pipe = sharp(buf, { limitInputPixels: maxPixels, failOn: 'error', animated: false }).rotate();
    if (opts.maxSide !== undefined) {
      pipe = pipe.resize({ width: opts.maxSide, height: opts.maxSide, fit: 'inside', withoutEnlargement: true, kernel: 'linear' });
    }
    // Always decode to sRGB (handles CMYK, 16-bit, palette and grey files alike); grey is then BT.601
    // luma computed here, the exact formula preprocessFace uses. sharp's own .grayscale() works in
    // linear light and differs (pure red: 127 there, 76 here), which would shift inputs between paths.
    pipe = pipe.toColourspace('srgb');
    if (!opts.keepAlpha || opts.grey) pipe = pipe.removeAlpha();
    const { data, info } = await pipe.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const channels = info.channels;
    if (channels !== 1 && channels !== 3 && channels !== 4) throw new Error(`unexpected channel count ${channels}`);
    if (opts.grey && channels !== 1) return toGrey(data, info.width, info.height, channels);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels };
  } catch (err) {
    const msg = errorMessage(err);
    if (/pixel limit/i.test(msg)) throw new ImageDecodeError(source, `image exceeds the ${maxPixels}-pixel limit`, { cause: err });
    if (/unsupported image format/i.test(msg)) throw new ImageDecodeError(source, 'not an image (unsupported or unrecognised format)', { cause: err });
    throw new ImageDecodeError(source, msg.replace(/\s+/g, ' ').trim(), { cause: err });
  }
}

/** BT.601 luma (0.299 R + 0.587 G + 0.114 B, rounded), as OpenCV's RGB2GRAY and preprocessFace. */
export function toGrey(data: Uint8Array, width: number, height: number, channels: 3 | 4): RawImage {
  const n = width * height;
  const out = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += channels) {
    out[i] = Math.round(0.299 * data[j] + 0.587 * data[j + 1] + 0.114 * data[j + 2]);
  }
  return { data: out, width, height, channels: 1 };
}

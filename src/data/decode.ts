/**
 * Decoding image files (JPEG, PNG, WebP, GIF, TIFF, AVIF, SVG: whatever sharp/libvips reads) into
 * RawImage pixels for preprocessFace. Used by the dataset loaders, eval, the pipeline and the server.
 */
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { UserError, errorMessage, type DecodeErrorReason } from '../errors.js';
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

/** A failed read of `file` by its errno code. */
function readError(file: string, err: unknown): ImageDecodeError {
  const code = (err as NodeJS.ErrnoException).code;
  const [reason, message]: [DecodeErrorReason, string] =
    code === 'ENOENT'
      ? ['missing', 'no such file']
      : code === 'EISDIR'
        ? ['not-a-file', 'is a directory']
        : code === 'EACCES'
          ? ['permission-denied', 'permission denied']
          : code === 'ENXIO'
            ? ['unreadable', 'no reader/writer on the other end (a socket or FIFO)']
            : ['unreadable', errorMessage(err)];
  return new ImageDecodeError(file, message, reason, { cause: err });
}

function refusedSpecial(file: string, st: Parameters<typeof fileKind>[0]): ImageDecodeError {
  return new ImageDecodeError(file, `${fileKind(st)}, not a regular file: refused`, 'special-file');
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
    if (pre.isDirectory()) throw new ImageDecodeError(file, 'is a directory', 'not-a-file');
    if (!pre.isFile() && !opts.allowSpecialFiles) throw refusedSpecial(file, pre);
    // A regular file is opened non-blocking (ignored for regular files) so that one swapped for a FIFO
    // meanwhile cannot hang the open; fstat below then refuses it.
    fh = await fs.open(file, pre.isFile() ? fsc.O_RDONLY | fsc.O_NONBLOCK : fsc.O_RDONLY);
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    throw readError(file, err);
  }
  try {
    const st = await fh.stat();
    const regular = st.isFile();
    if (st.isDirectory()) throw new ImageDecodeError(file, 'is a directory', 'not-a-file');
    if (!regular && !opts.allowSpecialFiles) throw refusedSpecial(file, st);
    if (regular && st.size > maxBytes) throw new ImageDecodeError(file, `file is ${st.size} bytes, over the ${maxBytes}-byte limit`, 'too-large');
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
      if (total > maxBytes) throw new ImageDecodeError(file, `file exceeds the ${maxBytes}-byte limit`, 'too-large');
    }
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    throw readError(file, err);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Thrown for an unreadable, corrupt, empty or oversized image. Names the input; `reason` says which. */
export class ImageDecodeError extends UserError {
  declare readonly reason: DecodeErrorReason;
  readonly source: string;
  constructor(source: string, message: string, reason: DecodeErrorReason, options: { cause?: unknown } = {}) {
    super(`cannot decode image "${source}": ${message}`, { ...options, reason });
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
  if (buf.length === 0) throw new ImageDecodeError(source, 'empty file', 'empty');
  const maxPixels = opts.maxPixels ?? MAX_INPUT_PIXELS;
  await checkHeader(buf, source, maxPixels);
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
    // The header was readable and within the limits (checkHeader): the data is damaged.
    throw new ImageDecodeError(source, errorMessage(err).replace(/\s+/g, ' ').trim(), 'corrupt', { cause: err });
  }
}

/**
 * The format and size from the header alone, before any pixel is decoded: a format the decoder does
 * not know is 'unsupported-format', more than `maxPixels` pixels (one frame) is 'too-many-pixels'.
 */
async function checkHeader(buf: Buffer, source: string, maxPixels: number): Promise<void> {
  let meta: Metadata;
  try {
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch (err) {
    // A known signature with a header the decoder cannot read is a damaged image, anything else not an image.
    if (hasImageSignature(buf)) throw new ImageDecodeError(source, errorMessage(err).replace(/\s+/g, ' ').trim(), 'corrupt', { cause: err });
    throw new ImageDecodeError(source, 'not an image (unsupported or unrecognised format)', 'unsupported-format', { cause: err });
  }
  const height = meta.pageHeight ?? meta.height;
  if (meta.width !== undefined && height !== undefined && meta.width * height > maxPixels) {
    throw new ImageDecodeError(source, `image exceeds the ${maxPixels}-pixel limit`, 'too-many-pixels');
  }
}

/** Leading bytes of the raster formats sharp decodes (JPEG, PNG, GIF, TIFF, WebP; AVIF/HEIF by their ftyp box). */
const SIGNATURES: ReadonlyArray<{ at: number; bytes: readonly number[] }> = [
  { at: 0, bytes: [0xff, 0xd8, 0xff] },
  { at: 0, bytes: [0x89, 0x50, 0x4e, 0x47] },
  { at: 0, bytes: [0x47, 0x49, 0x46, 0x38] },
  { at: 0, bytes: [0x49, 0x49, 0x2a, 0x00] },
  { at: 0, bytes: [0x4d, 0x4d, 0x00, 0x2a] },
  { at: 8, bytes: [0x57, 0x45, 0x42, 0x50] },
  { at: 4, bytes: [0x66, 0x74, 0x79, 0x70] },
];

/** Whether the buffer starts like an image format the decoder knows. */
export function hasImageSignature(buf: Uint8Array): boolean {
  return SIGNATURES.some(({ at, bytes }) => buf.length >= at + bytes.length && bytes.every((b, i) => buf[at + i] === b));
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

/**
 * Decoding image files (JPEG, PNG, WebP, GIF, TIFF, AVIF, SVG: whatever sharp/libvips reads) into
 * RawImage pixels for preprocessFace. Used by the dataset loaders, eval, the pipeline and the server.
 */
import * as fs from 'node:fs/promises';
import sharp from 'sharp';
import { UserError, errorMessage } from '../errors.js';
import type { RawImage } from './preprocess.js';

/**
 * Largest image accepted, in pixels (width x height). 100 megapixels is beyond any camera a user
 * will feed us, yet bounds a decompression bomb to ~400 MB of RGBA. Override per call.
 */
export const MAX_INPUT_PIXELS = 100_000_000;

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
    try {
      buf = await fs.readFile(input);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : errorMessage(err);
      throw new ImageDecodeError(source, why, { cause: err });
    }
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

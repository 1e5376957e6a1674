/**
 * Bounded-memory access to samples at model input size. Each sample is decoded, cropped, turned
 * grey/RGB and resized by preprocessFace, then kept as uint8 (model size: FER-2013's 28,709 images
 * at 48x48 grey are 66 MB) while the cache budget lasts; samples past the budget are decoded again
 * on every access (streamed). Unreadable images are recorded, never thrown mid-epoch.
 */
import { errorMessage } from '../errors.js';
import type { Sample, Skipped } from './dataset.js';
import { decodeImage } from './decode.js';
import { preprocessFace, squareBox, type Box, type RawImage } from './preprocess.js';

export interface StoreOptions {
  inputSize: number;
  channels: 1 | 3;
  /** Grow (or, negative, shrink) the crop around the sample's box by this fraction per side. Default 0. */
  cropMargin?: number;
  /** Cache budget in bytes. Default 1 GiB. */
  cacheBytes?: number;
  /** Images decoded at once when streaming. Default 8. */
  concurrency?: number;
}

export const DEFAULT_CACHE_BYTES = 1024 * 1024 * 1024;

/** Float [-1, 1] from preprocessFace back to the uint8 it came from (exact up to rounding). */
function toUint8(src: Float32Array, dst: Uint8Array, offset: number): void {
  for (let i = 0; i < src.length; i++) {
    const v = Math.round((src[i] + 1) * 127.5);
    dst[offset + i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

/**
 * The crop region of a decoded sample: its box (or the whole image) grown by `margin` per side into
 * a square (edge-replicated outside the image by preprocessFace). Shared by training and evaluation.
 */
export function cropBoxFor(s: Sample, img: RawImage, margin: number): Box {
  const box: Box = s.box ?? [0, 0, img.width, img.height];
  return margin === 0 && !s.box ? box : squareBox(box, margin);
}

export class SampleStore {
  readonly bytesPerSample: number;
  /** Samples with index < cachedCount live in the cache once loaded. */
  readonly cachedCount: number;
  private readonly cache: Uint8Array;
  private readonly loaded: Uint8Array;
  readonly bad = new Map<number, string>();

  constructor(
    readonly samples: Sample[],
    readonly opts: StoreOptions,
  ) {
    this.bytesPerSample = opts.inputSize * opts.inputSize * opts.channels;
    const budget = opts.cacheBytes ?? DEFAULT_CACHE_BYTES;
    this.cachedCount = Math.min(samples.length, Math.floor(budget / this.bytesPerSample));
    this.cache = new Uint8Array(this.cachedCount * this.bytesPerSample);
    this.loaded = new Uint8Array(this.cachedCount);
  }

  get length(): number {
    return this.samples.length;
  }

  get cachedBytes(): number {
    return this.cache.byteLength;
  }

  cropBox(s: Sample, img: RawImage): Box {
    return cropBoxFor(s, img, this.opts.cropMargin ?? 0);
  }

  private async decode(s: Sample): Promise<RawImage> {
    if (s.pixels) return s.pixels;
    return decodeImage(s.file!, { grey: this.opts.channels === 1 });
  }

  /**
   * Sample i as a RawImage at model size, or undefined if it cannot be read (recorded in `bad`).
   * The returned pixels are valid until the next call for a streamed sample; copy if kept.
   */
  async get(i: number): Promise<RawImage | undefined> {
    if (this.bad.has(i)) return undefined;
    const { inputSize, channels } = this.opts;
    const view = (data: Uint8Array): RawImage => ({ data, width: inputSize, height: inputSize, channels });
    if (i < this.cachedCount && this.loaded[i]) return view(this.cache.subarray(i * this.bytesPerSample, (i + 1) * this.bytesPerSample));
    const s = this.samples[i];
    let img: RawImage;
    try {
      img = await this.decode(s);
    } catch (err) {
      this.bad.set(i, errorMessage(err));
      return undefined;
    }
    const out = i < this.cachedCount ? this.cache.subarray(i * this.bytesPerSample, (i + 1) * this.bytesPerSample) : new Uint8Array(this.bytesPerSample);
    try {
      const f = preprocessFace(img, { inputSize, channels, box: this.cropBox(s, img) }, new Float32Array(this.bytesPerSample));
      toUint8(f, out, 0);
    } catch (err) {
      this.bad.set(i, errorMessage(err));
      return undefined;
    }
    if (i < this.cachedCount) this.loaded[i] = 1;
    return view(out);
  }

  /** Load several samples concurrently; entries are undefined for unreadable ones. */
  async getMany(indices: ArrayLike<number>): Promise<Array<RawImage | undefined>> {
    const out = new Array<RawImage | undefined>(indices.length);
    const conc = this.opts.concurrency ?? 8;
    let next = 0;
    const worker = async () => {
      while (next < indices.length) {
        const k = next++;
        out[k] = await this.get(indices[k]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(conc, indices.length) }, worker));
    return out;
  }

  /** Decode every cacheable sample now (finds unreadable files before training starts). */
  async warm(onProgress?: (done: number, total: number) => void): Promise<void> {
    const chunk = 256;
    for (let start = 0; start < this.cachedCount; start += chunk) {
      const idx = Array.from({ length: Math.min(chunk, this.cachedCount - start) }, (_, k) => start + k);
      await this.getMany(idx);
      onProgress?.(Math.min(start + chunk, this.cachedCount), this.cachedCount);
    }
  }

  skipped(): Skipped[] {
    return [...this.bad].map(([i, reason]) => ({ id: this.samples[i].id, reason }));
  }
}

/** Default failure threshold: a split with more than this fraction of unreadable samples stops the run. */
export const DEFAULT_MAX_BAD_FRACTION = 0.05;

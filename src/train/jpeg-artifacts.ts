/**
 * JPEG re-compression as an augmentation: what a baseline JPEG encoder and decoder do to an image's
 * samples, without the entropy coding that is lossless anyway. Each 8x8 block of each plane gets the
 * JPEG DCT, is quantised with the standard (ITU T.81 Annex K) tables scaled to a quality like libjpeg's,
 * and transformed back. RGB goes through YCbCr (BT.601 full range, as JFIF) with the chroma planes
 * quantised by the chroma table; chroma is not subsampled. Done at model input size, the blocking and
 * ringing land on the face at the scale the network sees them (photos from the web and from phones are
 * JPEG, the training sets' crops mostly already were once).
 */

const LUMA = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103,
  77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/** COS[u * 8 + x] = a(u) cos((2x + 1) u pi / 16): the orthonormal 8-point DCT-II, JPEG's transform. */
const COS = (() => {
  const t = new Float64Array(64);
  for (let u = 0; u < 8; u++) for (let x = 0; x < 8; x++) t[u * 8 + x] = (u === 0 ? Math.SQRT1_2 : 1) * 0.5 * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  return t;
})();

/** libjpeg's quality scaling of a base table (quality 1..100; 50 = the table as printed). */
export function quantTable(base: readonly number[], quality: number): Float64Array {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? 5000 / q : 200 - 2 * q;
  return Float64Array.from(base, (b) => Math.min(255, Math.max(1, Math.floor((b * scale + 50) / 100))));
}

/** Re-compress `img` (w x h x c, c = 1 or 3, interleaved uint8) in place at JPEG `quality`. */
export function jpegRecompress(img: Uint8Array, w: number, h: number, c: number, quality: number): void {
  const planes = c === 3 ? toYCbCr(img, w, h) : [Float64Array.from(img.subarray(0, w * h))];
  const tables = [quantTable(LUMA, quality), quantTable(CHROMA, quality), quantTable(CHROMA, quality)];
  planes.forEach((p, i) => quantisePlane(p, w, h, tables[i]));
  if (c === 3) fromYCbCr(planes, img, w, h);
  else for (let i = 0; i < w * h; i++) img[i] = clampByte(planes[0][i]);
}

/** Every 8x8 block (edge blocks padded by replicating the last row/column, as encoders do) through DCT, quantisation, inverse DCT. */
function quantisePlane(p: Float64Array, w: number, h: number, table: Float64Array): void {
  const block = new Float64Array(64);
  const coef = new Float64Array(64);
  for (let by = 0; by < h; by += 8) {
    for (let bx = 0; bx < w; bx += 8) {
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) block[y * 8 + x] = p[Math.min(by + y, h - 1) * w + Math.min(bx + x, w - 1)] - 128;
      dct2(block, coef, false);
      for (let k = 0; k < 64; k++) coef[k] = Math.round(coef[k] / table[k]) * table[k];
      dct2(coef, block, true);
      for (let y = 0; y < 8 && by + y < h; y++) for (let x = 0; x < 8 && bx + x < w; x++) p[(by + y) * w + bx + x] = block[y * 8 + x] + 128;
    }
  }
}

/** Separable 2-D DCT (inverse = transpose) of an 8x8 block, `src` to `dst`. */
function dct2(src: Float64Array, dst: Float64Array, inverse: boolean): void {
  const tmp = new Float64Array(64);
  // rows, then columns; forward: X = C x C^T, inverse: x = C^T X C.
  for (let r = 0; r < 8; r++) {
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < 8; x++) s += (inverse ? COS[x * 8 + u] : COS[u * 8 + x]) * src[r * 8 + x];
      tmp[r * 8 + u] = s;
    }
  }
  for (let col = 0; col < 8; col++) {
    for (let v = 0; v < 8; v++) {
      let s = 0;
      for (let y = 0; y < 8; y++) s += (inverse ? COS[y * 8 + v] : COS[v * 8 + y]) * tmp[y * 8 + col];
      dst[v * 8 + col] = s;
    }
  }
}

function toYCbCr(img: Uint8Array, w: number, h: number): Float64Array[] {
  const n = w * h;
  const [y, cb, cr] = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  for (let i = 0; i < n; i++) {
    const r = img[3 * i];
    const g = img[3 * i + 1];
    const b = img[3 * i + 2];
    y[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    cb[i] = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b;
    cr[i] = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b;
  }
  return [y, cb, cr];
}

function fromYCbCr([y, cb, cr]: Float64Array[], img: Uint8Array, w: number, h: number): void {
  for (let i = 0; i < w * h; i++) {
    img[3 * i] = clampByte(y[i] + 1.402 * (cr[i] - 128));
    img[3 * i + 1] = clampByte(y[i] - 0.344136 * (cb[i] - 128) - 0.714136 * (cr[i] - 128));
    img[3 * i + 2] = clampByte(y[i] + 1.772 * (cb[i] - 128));
  }
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/**
 * Face crops framed the same way whatever cut them. A user's face crop (`classify --crops`, a web
 * crop, a dataset image) may be loose or tight, square or not; the classifiers were trained on
 * crops framed like an aligned chip. With framing 'detect' the detector finds the face inside the
 * crop (on the crop padded with replicated edges, so a face that fills the whole crop is still
 * found), and the classifier's crop is derived from that box by the pipeline's one crop rule, as for
 * a face found in a photo. Without a face found (or with framing 'whole') the whole crop is the face.
 */
import type { Box, RawImage } from '../data/preprocess.js';
import type { Detection, Detector, Keypoints } from '../detect/types.js';

export const CROP_FRAMINGS = ['detect', 'whole'] as const;
export type CropFraming = (typeof CROP_FRAMINGS)[number];

/** Border added around a crop before detection, as a fraction of its longer side per side. */
export const CROP_PAD = 0.25;
/** A face found in a crop must be at least this fraction of the crop's longer side (smaller ones are other faces or noise). */
export const MIN_FACE_IN_CROP = 0.25;

/** `img` inside a border of `fraction` x its longer side on every side, edges replicated. */
export function padEdges(img: RawImage, fraction: number): { img: RawImage; pad: number } {
  const pad = Math.round(fraction * Math.max(img.width, img.height));
  const { width: w, height: h, channels: c, data } = img;
  const W = w + 2 * pad;
  const H = h + 2 * pad;
  const out = new Uint8Array(W * H * c);
  for (let y = 0; y < H; y++) {
    const sy = y < pad ? 0 : y >= h + pad ? h - 1 : y - pad;
    for (let x = 0; x < W; x++) {
      const sx = x < pad ? 0 : x >= w + pad ? w - 1 : x - pad;
      const si = (sy * w + sx) * c;
      const di = (y * W + x) * c;
      for (let k = 0; k < c; k++) out[di + k] = data[si + k];
    }
  }
  return { img: { data: out, width: W, height: H, channels: c }, pad };
}

/** The whole crop as a face box. */
export function wholeBox(img: RawImage): Box {
  return [0, 0, img.width, img.height];
}

/**
 * The face of a face crop: the detector's best face whose centre lies inside the crop and whose side is at
 * least MIN_FACE_IN_CROP of the crop, in crop pixels (keypoints too); undefined when there is none.
 */
export async function locateFaceInCrop(detector: Detector, img: RawImage, scoreThreshold?: number): Promise<Detection | undefined> {
  const { img: padded, pad } = padEdges(img, CROP_PAD);
  const dets = await detector.detect(padded, { tiles: false, ...(scoreThreshold !== undefined ? { scoreThreshold } : {}) });
  const side = Math.max(img.width, img.height);
  let best: Detection | undefined;
  for (const d of dets) {
    const [x, y, w, h] = d.box;
    const cx = x + w / 2 - pad;
    const cy = y + h / 2 - pad;
    if (cx < 0 || cy < 0 || cx > img.width || cy > img.height) continue;
    if (Math.max(w, h) < MIN_FACE_IN_CROP * side) continue;
    if (!best || d.score > best.score) best = d;
  }
  if (!best) return undefined;
  return shiftDetection(best, -pad, -pad);
}

function shiftDetection(d: Detection, dx: number, dy: number): Detection {
  const [x, y, w, h] = d.box;
  const out: Detection = { ...d, box: [x + dx, y + dy, w, h] };
  if (d.keypoints) {
    out.keypoints = Object.fromEntries(Object.entries(d.keypoints).map(([k, [px, py]]) => [k, [px + dx, py + dy]])) as Keypoints;
  }
  return out;
}

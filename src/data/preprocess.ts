/**
 * THE preprocessing function: every path (training, evaluation, pipeline, server, browser)
 * turns pixels into model input through `preprocessFace`. Pure TypeScript, no Node or DOM APIs,
 * so the browser bundle uses the very same code.
 *
 * Steps: crop a box (clipped or edge-replicated outside the image) -> grey (BT.601 luma, as OpenCV)
 * -> area-averaged / bilinear resize to the model input -> scale to [-1, 1] (x / 127.5 - 1).
 */

/** Interleaved 8-bit pixels: 1 (grey), 3 (RGB) or 4 (RGBA) channels per pixel. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** Axis-aligned box in pixels: [x, y, width, height]. */
export type Box = [number, number, number, number];

export interface PreprocessOptions {
  /** Side of the square model input. */
  inputSize: number;
  /** Model input channels: 1 = grey (the paper's models), 3 = RGB. Default 1. */
  channels?: 1 | 3;
  /** Region to crop; default the whole image. */
  box?: Box;
  /** Mirror horizontally (flip test-time augmentation). */
  flip?: boolean;
  /**
   * Rotate the crop about the box centre by this angle (radians, image coordinates with y down):
   * the image line at this angle becomes horizontal in the output (face alignment by the eye line).
   */
  angle?: number;
}

/** Where to cut one face: a square box, turned by `angle` (radians) about its centre when the face is aligned. */
export interface FaceCrop {
  box: Box;
  angle?: number;
}

/** Point [x, y] in pixels. */
type Pt = [number, number];

/**
 * Angle of the line from the face's right eye (the image's left in a frontal face) to its left eye;
 * 0 for an upright face. Rotating the crop by it levels the eyes (src/data/preprocess.ts faceCrop).
 */
export function eyeLineAngle(rightEye: Pt, leftEye: Pt): number {
  return Math.atan2(leftEye[1] - rightEye[1], leftEye[0] - rightEye[0]);
}

/** Eye-line tilts below this (radians, ~3 degrees) are left alone: resampling costs more than it brings. */
export const MIN_ALIGN_ANGLE = 0.05;
/** Tilts above this (radians, 60 degrees) are taken as keypoint errors and not corrected. */
export const MAX_ALIGN_ANGLE = Math.PI / 3;

/**
 * THE crop rule for a detected face, shared by the CLI, the library, the server, the page and
 * evaluation: the detector box squared, grown by `margin` and moved down by `shift` (squareBox; the
 * detector's DETECTOR_FRAMING) and, with `align` and the eyes known, turned about its centre so the eye
 * line is level.
 */
export function faceCrop(det: { box: Box; keypoints?: { rightEye: Pt; leftEye: Pt } }, margin: number, align: boolean, shift = 0): FaceCrop {
  const box = squareBox(det.box, margin, shift);
  if (!align || !det.keypoints) return { box };
  const angle = eyeLineAngle(det.keypoints.rightEye, det.keypoints.leftEye);
  return Math.abs(angle) >= MIN_ALIGN_ANGLE && Math.abs(angle) <= MAX_ALIGN_ANGLE ? { box, angle } : { box };
}

/** Output range the models are trained with. */
export const INPUT_RANGE: [number, number] = [-1, 1];

export function scalePixel(v: number): number {
  return v / 127.5 - 1;
}

/** BT.601 luma weights of R, G, B (they sum to 1), as OpenCV's RGB2GRAY. */
export const LUMA_WEIGHTS = [0.299, 0.587, 0.114] as const;

/** Grey value of pixel i (index of its first byte) using BT.601 weights, as OpenCV's RGB2GRAY. */
function luma(d: RawImage['data'], i: number, channels: number): number {
  const [r, g, b] = LUMA_WEIGHTS;
  return channels === 1 ? d[i] : r * d[i] + g * d[i + 1] + b * d[i + 2];
}

/**
 * Square box around a detector box, grown by `margin` (fraction of the box side on each side)
 * and kept square on the larger side. Not clipped: pixels outside the image are edge-replicated
 * by `preprocessFace`, so the face stays centred at the image border.
 */
export function squareBox(box: Box, margin: number, shift = 0): Box {
  const [x, y, w, h] = box;
  const side = Math.max(w, h) * (1 + 2 * margin);
  const cx = x + w / 2;
  // `shift`: the square's centre moved down by this fraction of the box's larger side (a detector
  // whose boxes sit higher on the face than the crop a model expects; DETECTOR_FRAMING).
  const cy = y + h / 2 + shift * Math.max(w, h);
  return [cx - side / 2, cy - side / 2, side, side];
}

/** Clip a box to the image bounds. */
export function clipBox(box: Box, width: number, height: number): Box {
  const x0 = Math.max(0, Math.min(width, box[0]));
  const y0 = Math.max(0, Math.min(height, box[1]));
  const x1 = Math.max(0, Math.min(width, box[0] + box[2]));
  const y1 = Math.max(0, Math.min(height, box[1] + box[3]));
  return [x0, y0, x1 - x0, y1 - y0];
}

/**
 * Crop + grey/RGB + resize + scale, written into `out` (allocated if absent) at `offset`.
 * Downscaling averages every source pixel under each target pixel (area filter, like
 * OpenCV INTER_AREA); upscaling interpolates bilinearly. Returns the output array.
 */
export function preprocessFace(img: RawImage, opts: PreprocessOptions, out?: Float32Array, offset = 0): Float32Array {
  const size = opts.inputSize;
  const outC = opts.channels ?? 1;
  const [bx, by, bw, bh] = opts.box ?? [0, 0, img.width, img.height];
  if (!(bw > 0 && bh > 0)) throw new Error(`cannot crop an empty box [${opts.box?.join(', ')}]`);
  if (!(img.width > 0 && img.height > 0)) throw new Error('cannot preprocess an empty image');
  if (img.data.length < img.width * img.height * img.channels) throw new Error('image buffer is smaller than width x height x channels');
  const dst = out ?? new Float32Array(size * size * outC);
  const sx = bw / size;
  const sy = bh / size;
  if (opts.angle) return rotatedCrop(img, opts, dst, offset);
  const px = pixelReader(img, outC);
  for (let oy = 0; oy < size; oy++) {
    for (let oxRaw = 0; oxRaw < size; oxRaw++) {
      const ox = opts.flip ? size - 1 - oxRaw : oxRaw;
      for (let c = 0; c < outC; c++) {
        let v: number;
        if (sx > 1 || sy > 1) {
          // Area average over the source rectangle [x0, x1) x [y0, y1), with fractional edge weights.
          const x0 = bx + ox * sx;
          const x1 = x0 + sx;
          const y0 = by + oy * sy;
          const y1 = y0 + sy;
          let sum = 0;
          let wsum = 0;
          for (let yy = Math.floor(y0); yy < Math.ceil(y1); yy++) {
            const wy = Math.min(yy + 1, y1) - Math.max(yy, y0);
            if (wy <= 0) continue;
            for (let xx = Math.floor(x0); xx < Math.ceil(x1); xx++) {
              const wx = Math.min(xx + 1, x1) - Math.max(xx, x0);
              if (wx <= 0) continue;
              sum += px(xx, yy, c) * wx * wy;
              wsum += wx * wy;
            }
          }
          v = sum / wsum;
        } else {
          // Bilinear, pixel centres aligned (half-pixel convention, as OpenCV / PIL).
          v = bilinear(px, bx + (ox + 0.5) * sx - 0.5, by + (oy + 0.5) * sy - 0.5, c);
        }
        dst[offset + (oy * size + oxRaw) * outC + c] = scalePixel(v);
      }
    }
  }
  return dst;
}

type PixelReader = (x: number, y: number, c: number) => number;

/** Channel c of integer pixel (x, y) in the model's colour mode (grey: BT.601 luma); outside the image, the nearest edge pixel. */
function pixelReader(img: RawImage, outC: number): PixelReader {
  const { data, width, height, channels } = img;
  return (x, y, c) => {
    const xi = x < 0 ? 0 : x >= width ? width - 1 : x;
    const yi = y < 0 ? 0 : y >= height ? height - 1 : y;
    const i = (yi * width + xi) * channels;
    if (outC === 1) return luma(data, i, channels);
    return channels === 1 ? data[i] : data[i + c];
  };
}

/** Bilinear value at a fractional position (pixel centres at integer coordinates). */
function bilinear(px: PixelReader, fx: number, fy: number, c: number): number {
  const x0 = Math.floor(fx);
  const y0 = Math.floor(fy);
  const ax = fx - x0;
  const ay = fy - y0;
  return (1 - ay) * ((1 - ax) * px(x0, y0, c) + ax * px(x0 + 1, y0, c)) + ay * ((1 - ax) * px(x0, y0 + 1, c) + ax * px(x0 + 1, y0 + 1, c));
}

/**
 * preprocessFace for a crop turned by `angle`: each output pixel averages n x n bilinear samples over
 * its footprint in the image (n = the downscale factor, at most 4; an approximation of the area
 * filter of the upright path), edges replicated.
 */
function rotatedCrop(img: RawImage, opts: PreprocessOptions, dst: Float32Array, offset: number): Float32Array {
  const size = opts.inputSize;
  const outC = opts.channels ?? 1;
  const [bx, by, bw, bh] = opts.box ?? [0, 0, img.width, img.height];
  const sx = bw / size;
  const sy = bh / size;
  const n = Math.max(1, Math.min(4, Math.ceil(Math.max(sx, sy))));
  const cos = Math.cos(opts.angle!);
  const sin = Math.sin(opts.angle!);
  const cx = bx + bw / 2;
  const cy = by + bh / 2;
  const px = pixelReader(img, outC);
  for (let oy = 0; oy < size; oy++) {
    for (let oxRaw = 0; oxRaw < size; oxRaw++) {
      const ox = opts.flip ? size - 1 - oxRaw : oxRaw;
      for (let c = 0; c < outC; c++) {
        let sum = 0;
        for (let j = 0; j < n; j++) {
          for (let i = 0; i < n; i++) {
            // Offset from the crop centre in the upright crop, then turned into the image.
            const u = (ox + (i + 0.5) / n) * sx - bw / 2;
            const v = (oy + (j + 0.5) / n) * sy - bh / 2;
            sum += bilinear(px, cx + cos * u - sin * v - 0.5, cy + sin * u + cos * v - 0.5, c);
          }
        }
        dst[offset + (oy * size + oxRaw) * outC + c] = scalePixel(sum / (n * n));
      }
    }
  }
  return dst;
}

/** Preprocess several faces of one image (boxes, or crops with an angle) into one batch buffer [n, size, size, channels]. */
export function preprocessBatch(img: RawImage, crops: Array<Box | FaceCrop>, opts: Omit<PreprocessOptions, 'box' | 'angle'>): Float32Array {
  const per = opts.inputSize * opts.inputSize * (opts.channels ?? 1);
  const out = new Float32Array(per * crops.length);
  crops.forEach((c, i) => {
    const crop = Array.isArray(c) ? { box: c } : c;
    preprocessFace(img, { ...opts, box: crop.box, ...(crop.angle ? { angle: crop.angle } : {}) }, out, i * per);
  });
  return out;
}

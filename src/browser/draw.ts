/**
 * Drawing a classified frame onto a canvas: the image, the saliency maps blended over their crops
 * (src/viz/overlay.ts, as `facecls video --saliency`), then the core's boxes, labels and bars
 * (src/core/draw.ts, as `facecls annotate`).
 */
import type { RawImage } from '../data/preprocess.js';
import { drawFaces } from '../core/draw.js';
import type { FaceResult } from '../core/types.js';
import { blendSaliency, type FrameMap } from '../viz/overlay.js';

/** Canvas pixels of any drawable source, width x height (RGBA). */
export function imagePixels(source: CanvasImageSource, width: number, height: number): RawImage {
  const canvas =
    typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(width, height) : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;
  ctx.drawImage(source, 0, 0, width, height);
  return { data: ctx.getImageData(0, 0, width, height).data, width, height, channels: 4 };
}

export interface RenderOptions {
  /** Saliency maps to blend over their crops (e.g. BrowserFaceClassifier.explain's). */
  maps?: readonly FrameMap[];
  /** Draw boxes, labels and bars (default true). */
  faces?: boolean;
}

/**
 * Draw `source` (width x height) with the faces onto `canvas` (resized to the frame).
 */
export function renderFrame(
  canvas: HTMLCanvasElement | OffscreenCanvas,
  source: CanvasImageSource,
  width: number,
  height: number,
  faces: readonly FaceResult[],
  opts: RenderOptions = {},
): void {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;
  ctx.drawImage(source, 0, 0, width, height);
  if (opts.maps && opts.maps.length > 0) {
    const frame = ctx.getImageData(0, 0, width, height);
    blendSaliency({ data: frame.data, width, height, channels: 4 }, [...opts.maps]);
    ctx.putImageData(frame, 0, 0);
  }
  if (opts.faces !== false) drawFaces(ctx, width, height, faces);
}

/**
 * Drawing results onto an image in Node: the core's drawing (src/core/draw.ts: boxes in per-emotion
 * colours, labels, probability bars placed clear of the faces) as an SVG overlay composited by sharp.
 * Used by `facecls annotate` (PNG), `facecls video` (raw frames) and the server.
 */
import sharp from 'sharp';
import type { RawImage } from '../data/preprocess.js';
import { overlaySvg } from '../core/draw.js';
import type { FaceResult } from '../core/types.js';

export { overlaySvg };

function input(img: RawImage) {
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.width * img.height * img.channels), {
    raw: { width: img.width, height: img.height, channels: img.channels },
  });
}

/** The image with faces drawn, as PNG. */
export async function annotatePng(img: RawImage, faces: FaceResult[]): Promise<Buffer> {
  const svg = Buffer.from(overlaySvg(img.width, img.height, faces));
  return input(img)
    .composite([{ input: svg, top: 0, left: 0 }])
    .png()
    .toBuffer();
}

/** The frame with faces drawn, as raw RGB of the same size (for the video encoder). */
export async function annotateRgb(img: RawImage, faces: FaceResult[]): Promise<Buffer> {
  if (faces.length === 0 && img.channels === 3) return Buffer.from(img.data.buffer, img.data.byteOffset, img.width * img.height * 3);
  const svg = Buffer.from(overlaySvg(img.width, img.height, faces));
  return input(img)
    .composite([{ input: svg, top: 0, left: 0 }])
    .removeAlpha()
    .raw()
    .toBuffer();
}

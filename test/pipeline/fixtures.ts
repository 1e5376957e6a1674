/**
 * Test fixtures for the pipeline: zoo models with random weights saved like shipped models (the
 * pipeline must not care), and composed frames. Random weights give arbitrary but valid probabilities.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import sharp from 'sharp';
import { datasetPath } from '../../src/data/paths.js';
import type { RawImage } from '../../src/data/preprocess.js';
import { composeFrame, listUtkFaces, type LabelledFrame } from '../../src/detect/labelled-set.js';
import { setupBackend } from '../../src/engine/backend.js';
import { buildModel } from '../../src/framework/zoo.js';
import { saveModel } from '../../src/io/model-store.js';
import { testMeta } from '../helpers/meta.js';
import { seedKernels } from '../helpers/seeded.js';
import { tmpDir } from '../helpers/tmp.js';

let cached: { emotion: string; gender: string } | undefined;

/** Emotion (mini-xception 48x48 grey, 7 classes) and gender (mini-xception 64x64 grey) model dirs, seeded weights. */
export async function randomModels(): Promise<{ emotion: string; gender: string }> {
  if (cached && fs.existsSync(cached.emotion)) return cached;
  await setupBackend();
  const dir = tmpDir('facecls-models-');
  const emotion = path.join(dir, 'emotion');
  const gender = path.join(dir, 'gender');
  const e = buildModel('mini-xception', { inputSize: 48, channels: 1, numClasses: 7 });
  seedKernels(e, 1);
  await saveModel(e, emotion, testMeta('emotion', 48, 1, { arch: 'mini-xception' }));
  e.dispose();
  const g = buildModel('mini-xception', { inputSize: 64, channels: 1, numClasses: 2 });
  seedKernels(g, 2);
  await saveModel(g, gender, testMeta('gender', 64, 1, { arch: 'mini-xception' }));
  g.dispose();
  cached = { emotion, gender };
  return cached;
}

/** Why UTKFace-based tests skip, or false when the faces are available. */
export function utkSkip(): string | false {
  return fs.existsSync(datasetPath('utkface')) ? false : `UTKFace not found at ${datasetPath('utkface')} (set FACECLS_DATASETS): skipped`;
}

let chips: string[] | undefined;
/** A 640x480 frame with `faces` UTKFace faces pasted at known positions (deterministic per seed). */
export async function frame(faces: number, seed: number, minSide = 70, maxSide = 180): Promise<LabelledFrame> {
  chips ??= listUtkFaces(datasetPath('utkface'));
  return composeFrame(chips, { faces, seed, minSide, maxSide });
}

export function encoder(img: RawImage): ReturnType<typeof sharp> {
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: img.width, height: img.height, channels: img.channels },
  });
}

/** CRC-32 (PNG chunks). */
function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A tiny PNG whose header claims width x height pixels (a decompression bomb's header). */
export function pngBomb(width = 100_000, height = 100_000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

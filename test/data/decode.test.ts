import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeImage, ImageDecodeError, MAX_INPUT_BYTES, readFileBounded } from '../../src/data/decode.js';
import { tmpDir } from '../helpers/tmp.js';

const dir = tmpDir();
const png = await sharp({ create: { width: 20, height: 10, channels: 3, background: '#468' } })
  .png()
  .toBuffer();
const pngFile = path.join(dir, 'a.png');
fs.writeFileSync(pngFile, png);

/** An ImageDecodeError with this reason and a message matching `message` that names no command-line flag. */
function reason(expected: string, message: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof ImageDecodeError, String(e));
    assert.equal(e.reason, expected);
    assert.match(e.message, message);
    assert.doesNotMatch(e.message, /--[a-z]/);
    return true;
  };
}

test('decodeImage: each failure has its reason (empty, not an image, too many pixels, corrupt), told apart without reading messages', async () => {
  await assert.rejects(decodeImage(Buffer.alloc(0)), reason('empty', /"<buffer>": empty file/));
  await assert.rejects(
    decodeImage(Buffer.from('this is not an image at all'), { name: 'notes.png' }),
    reason('unsupported-format', /"notes\.png": not an image/),
  );
  await assert.rejects(decodeImage(png, { maxPixels: 199 }), reason('too-many-pixels', /exceeds the 199-pixel limit/));
  assert.equal((await decodeImage(png, { maxPixels: 200 })).width, 20, 'exactly at the limit is accepted');
  // Cut in half: the format is known, the data is not all there (the JPEG's header is cut too, the PNG's is whole).
  const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#468' } })
    .jpeg()
    .toBuffer();
  await assert.rejects(decodeImage(jpeg.subarray(0, Math.floor(jpeg.length / 2))), reason('corrupt', /cannot decode image "<buffer>": .*JPEG/));
  const noisy = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 30 } } })
    .png()
    .toBuffer();
  await assert.rejects(decodeImage(noisy.subarray(0, noisy.length / 2)), reason('corrupt', /cannot decode image "<buffer>": .*png/));
});

test('readFileBounded: a regular file within the limit is read whole; over it, refused by its size before reading', async () => {
  assert.ok(MAX_INPUT_BYTES >= 64 * 1024 * 1024, 'the default holds any camera photo');
  assert.deepEqual(await readFileBounded(pngFile), png);
  assert.deepEqual(await readFileBounded(pngFile, { maxBytes: png.length }), png);
  await assert.rejects(readFileBounded(pngFile, { maxBytes: png.length - 1 }), (e: Error) => {
    assert.ok(e instanceof ImageDecodeError);
    assert.equal(e.reason, 'too-large');
    assert.match(e.message, new RegExp(`"${pngFile}": file is ${png.length} bytes, over the ${png.length - 1}-byte limit$`));
    return true;
  });
  // A sparse 1 TiB file: refused by its size at once (reading it would take ~1 TiB of memory).
  const huge = path.join(dir, 'huge.jpg');
  const fd = fs.openSync(huge, 'w');
  fs.ftruncateSync(fd, 2 ** 40);
  fs.closeSync(fd);
  const t0 = performance.now();
  await assert.rejects(decodeImage(huge), /file is 1099511627776 bytes, over the 268435456-byte limit/);
  assert.ok(performance.now() - t0 < 5_000);
  fs.rmSync(huge);
});

test('readFileBounded: devices and FIFOs are refused unless asked, and then bounded by the limit', async () => {
  await assert.rejects(decodeImage('/dev/zero'), reason('special-file', /"\/dev\/zero": a character device, not a regular file: refused$/));
  await assert.rejects(
    readFileBounded('/dev/zero', { allowSpecialFiles: true, maxBytes: 3 * 1024 * 1024 + 5 }),
    /"\/dev\/zero": file exceeds the 3145733-byte limit/,
  );
  await assert.rejects(decodeImage(dir), reason('not-a-file', /is a directory/));
  await assert.rejects(decodeImage(path.join(dir, 'missing.png')), reason('missing', /no such file/));
  if (spawnSync('mkfifo', ['--version']).status !== 0) return;
  const fifo = path.join(dir, 'pipe.png');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  // No writer: refused at once instead of blocking in open().
  await assert.rejects(decodeImage(fifo), /a FIFO \(named pipe\), not a regular file: refused/);
  // Allowed: read to its end like a file.
  const writer = spawn('sh', ['-c', `cat "${pngFile}" > "${fifo}"`]);
  const closed = new Promise((r) => writer.on('close', r));
  const img = await decodeImage(fifo, { allowSpecialFiles: true });
  assert.deepEqual([img.width, img.height, img.channels], [20, 10, 3]);
  await closed;
});

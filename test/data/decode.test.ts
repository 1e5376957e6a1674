import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeImage, ImageDecodeError, MAX_INPUT_BYTES, readFileBounded } from '../../src/data/decode.js';
import { tmpDir } from '../helpers/tmp.js';

const dir = tmpDir();
const png = await sharp({ create: { width: 20, height: 10, channels: 3, background: '#468' } }).png().toBuffer();
const pngFile = path.join(dir, 'a.png');
fs.writeFileSync(pngFile, png);

test('readFileBounded: a regular file within the limit is read whole; over it, refused by its size before reading', async () => {
  assert.ok(MAX_INPUT_BYTES >= 64 * 1024 * 1024, 'the default holds any camera photo');
  assert.deepEqual(await readFileBounded(pngFile), png);
  assert.deepEqual(await readFileBounded(pngFile, { maxBytes: png.length }), png);
  await assert.rejects(readFileBounded(pngFile, { maxBytes: png.length - 1 }), (e: Error) => {
    assert.ok(e instanceof ImageDecodeError);
    assert.match(e.message, new RegExp(`"${pngFile}": file is ${png.length} bytes, over the ${png.length - 1}-byte limit \\(--max-bytes\\)`));
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
  await assert.rejects(decodeImage('/dev/zero'), /"\/dev\/zero": a character device, not a regular file: refused \(pass --allow-special-files/);
  await assert.rejects(readFileBounded('/dev/zero', { allowSpecialFiles: true, maxBytes: 3 * 1024 * 1024 + 5 }), /"\/dev\/zero": file exceeds the 3145733-byte limit/);
  await assert.rejects(decodeImage(dir), /is a directory/);
  await assert.rejects(decodeImage(path.join(dir, 'missing.png')), /no such file/);
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

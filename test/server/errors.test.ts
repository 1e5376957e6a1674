import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeImage, ImageDecodeError } from '../../src/data/decode.js';
import { UserError } from '../../src/errors.js';
import { HTTP_STATUSES, httpErrorOf } from '../../src/server/errors.js';

async function decodeFailure(buf: Buffer, maxPixels?: number): Promise<ImageDecodeError> {
  try {
    await decodeImage(buf, { maxPixels, name: 'request body' });
  } catch (err) {
    assert.ok(err instanceof ImageDecodeError);
    return err;
  }
  throw new Error('decoded');
}

test('decode failures map to statuses by their reason: not an image 415, too many pixels 413, empty 400, corrupt 400', async () => {
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 30 } } })
    .png()
    .toBuffer();
  const cases: Array<[Buffer, number | undefined, number, string]> = [
    [Buffer.from('plain text'), undefined, 415, 'unsupported_image'],
    [Buffer.alloc(0), undefined, 400, 'empty_body'],
    [png, 64 * 64 - 1, 413, 'image_too_large'],
    [png.subarray(0, png.length / 2), undefined, 400, 'corrupt_image'],
  ];
  for (const [buf, maxPixels, status, code] of cases) {
    const err = await decodeFailure(buf, maxPixels);
    const h = httpErrorOf(err);
    assert.deepEqual([h.statusCode, h.code, h.message], [status, code, err.message], err.reason);
  }
});

test('other user errors are 400 invalid_request unless the table says otherwise', () => {
  assert.deepEqual(HTTP_STATUSES['invalid-argument'], [400, 'invalid_request']);
  const h = httpErrorOf(new UserError('unknown class "x"'));
  assert.deepEqual([h.statusCode, h.code, h.message], [400, 'invalid_request', 'unknown class "x"']);
  assert.ok(Object.values(HTTP_STATUSES).every(([s]) => s >= 400 && s < 600));
});

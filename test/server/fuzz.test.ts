/**
 * Property tests (fast-check) of everything that parses hostile bytes: the image decoder and the HTTP
 * API, on the production pipeline (FacePipeline: BlazeFace + classifiers + saliency) with zoo models.
 * A few hundred cases here; `node dist/bench/fuzz.js` runs 10,000 against a server process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { decodeImage, ImageDecodeError } from '../../src/data/decode.js';
import { buildServer, type FaceclsServer } from '../../src/server/app.js';
import { FacePipeline } from '../../src/server/face-pipeline.js';
import { checkAnswer, fuzzRequest, mutatedImage, seedImages, send } from '../helpers/fuzz.js';
import { saveZooModels } from './fixture-pipeline.js';

const seeds = await seedImages();
let pipeline: FacePipeline;
let server: FaceclsServer;
let url: string;

before(async () => {
  const models = await saveZooModels();
  pipeline = await FacePipeline.load({ emotionModel: models.emotion, genderModel: models.gender, runtime: 'onnx' });
  server = await buildServer({ pipeline, logger: false, limits: { maxPixels: 4_000_000, bodyLimit: 1024 * 1024 }, security: { rateLimit: 0 } });
  url = await server.app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await server.close();
  await pipeline.dispose();
});

test('decoder: mutated JPEG/PNG/GIF/WebP bytes decode to consistent pixels or fail with ImageDecodeError', async () => {
  let decoded = 0;
  await fc.assert(
    fc.asyncProperty(mutatedImage(seeds), fc.boolean(), async (buf, grey) => {
      try {
        const img = await decodeImage(buf, { grey, maxPixels: 4_000_000, name: 'fuzz' });
        assert.ok(img.width > 0 && img.height > 0);
        assert.equal(img.data.length, img.width * img.height * img.channels);
        if (grey) assert.equal(img.channels, 1);
        decoded++;
      } catch (err) {
        if (!(err instanceof ImageDecodeError)) throw err;
        assert.match(err.message, /^cannot decode image "fuzz": /);
        assert.doesNotMatch(err.message, /\n/);
      }
    }),
    { numRuns: 400, seed: 22 },
  );
  assert.ok(decoded > 20, `some mutants still decode (${decoded}): the generator is not only noise`);
});

test('HTTP API: random bodies, multipart forms, content types and query strings: no 5xx, a JSON error every time, tensors and memory flat', async () => {
  // Warm-up, so lazily allocated buffers are not counted as growth.
  for (const body of Object.values(seeds)) await send(url, { method: 'POST', path: '/v1/annotate', headers: { 'content-type': 'image/png' }, body }, 30_000);
  for (const task of ['emotion', 'gender']) {
    for (const method of ['guided', 'gradcam', 'guided-gradcam']) {
      for (const crops of ['true', 'false'])
        await send(
          url,
          { method: 'POST', path: `/v1/saliency?task=${task}&method=${method}&crops=${crops}`, headers: { 'content-type': 'image/png' }, body: seeds.png },
          30_000,
        );
    }
  }
  const tensors = tf.memory().numTensors;
  const rss = process.memoryUsage().rss;
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(fuzzRequest(seeds), async (req) => {
      const res = await send(url, req, 30_000);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const problem = checkAnswer(req, res.status, res.type, res.body);
      assert.equal(problem, undefined);
    }),
    { numRuns: 300, seed: 22 },
  );
  assert.equal(tf.memory().numTensors, tensors, 'no tensor leaked');
  const growth = (process.memoryUsage().rss - rss) / 2 ** 20;
  assert.ok(growth < 200, `rss grew ${growth.toFixed(0)} MiB over 300 requests`);
  // The mix reaches the pipeline, not only the error paths.
  assert.ok((statuses.get(200) ?? 0) >= 10, JSON.stringify([...statuses]));
  assert.ok(
    [400, 415].every((s) => (statuses.get(s) ?? 0) > 0),
    JSON.stringify([...statuses]),
  );
  const q = server.queue;
  assert.deepEqual([q.active, q.queued], [0, 0]);
});

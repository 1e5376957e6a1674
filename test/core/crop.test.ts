import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyDetections } from '../../src/core/classify.js';
import { cropMarginFor, detectorMargin, modelCrops } from '../../src/core/crop.js';
import { faceCrop, preprocessBatch, type RawImage } from '../../src/data/preprocess.js';
import { DETECTOR_FRAMING, type Detection } from '../../src/detect/types.js';
import type { ModelMeta } from '../../src/io/model-meta.js';
import type { InferenceRuntime } from '../../src/runtime/types.js';

const tilted: Detection = {
  box: [40, 30, 60, 60],
  score: 0.9,
  keypoints: { rightEye: [55, 50], leftEye: [85, 58], nose: [70, 65], mouth: [70, 80], rightEar: [42, 55], leftEar: [98, 60] },
};

test('the crop rule: the model card margin in the detector framing, eyes levelled; the override and as-given crops', () => {
  const meta = { cropMargin: 0.3 } as Pick<ModelMeta, 'cropMargin'>;
  const margin = detectorMargin('blazeface', 0.3);
  assert.equal(cropMarginFor(meta, { detector: 'blazeface' }), margin);
  assert.equal(cropMarginFor(meta, { detector: 'blazeface', cropMargin: 0.1 }), 0.1);
  assert.equal(cropMarginFor(undefined, { detector: 'haar' }), detectorMargin('haar', 0));
  const [c] = modelCrops([tilted], meta, { detector: 'blazeface' });
  assert.deepEqual(c, faceCrop(tilted, margin, true, DETECTOR_FRAMING.blazeface.shift));
  assert.ok(c.angle !== undefined && c.angle > 0.2);
  assert.equal(modelCrops([tilted], meta, { detector: 'blazeface', align: false })[0].angle, undefined);
  assert.deepEqual(modelCrops([tilted], meta, { detector: 'blazeface' }, true), [{ box: tilted.box }]);
});

test('classifyDetections: every task gets its crops and model input; labels come from the runtime output (its TTA inside)', async () => {
  const img: RawImage = { data: new Uint8Array(160 * 120 * 3).map((_, i) => (i * 7) % 256), width: 160, height: 120, channels: 3 };
  const seen: Array<{ batch: Float32Array; n: number }> = [];
  const rt = (labels: string[], inputSize: number, out: number[]): InferenceRuntime => ({
    name: 'tfjs',
    tta: 'flip',
    meta: { task: 'custom', labels, inputSize, channels: 1, preprocessing: { colorSpace: 'grey', range: [-1, 1] }, cropMargin: 0.1 },
    run: async (batch, n) => (seen.push({ batch, n }), Float32Array.from(out)),
    dispose: async () => {},
  });
  const dets: Detection[] = [tilted, { box: [100, 20, 40, 40], score: 0.8 }];
  const r = await classifyDetections(
    img,
    dets,
    { emotion: rt(['a', 'b'], 16, [0.2, 0.8, 0.9, 0.1]), gender: rt(['w', 'm'], 8, [0.6, 0.4, 0.3, 0.7]) },
    { detector: 'blazeface' },
  );
  assert.deepEqual(
    r.faces.map((f) => [f.emotion?.label, f.gender?.label]),
    [
      ['b', 'w'],
      ['a', 'm'],
    ],
  );
  assert.deepEqual(r.faces[0].keypoints, tilted.keypoints);
  const crops = modelCrops(dets, { cropMargin: 0.1 }, { detector: 'blazeface' });
  assert.deepEqual(r.inputs.emotion?.crops, crops);
  assert.deepEqual(r.inputs.emotion?.batch, preprocessBatch(img, crops, { inputSize: 16, channels: 1 }));
  assert.equal(r.inputs.gender?.batch.length, 2 * 8 * 8);
  assert.deepEqual(
    seen.map((s) => s.n),
    [2, 2],
  );
  assert.deepEqual((await classifyDetections(img, [], { emotion: rt(['a'], 8, []) }, { detector: 'blazeface' })).faces, []);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from '../../src/train/options.js';
import type { RunInfo } from '../../src/train/run-reader.js';
import { shipStatus, splitLabel, trainingSection } from '../../src/train/ship-card.js';
import type { ModelCard } from '../../src/train/model-card.js';
import { modelCardMarkdown } from '../../src/train/model-card-markdown.js';
import { tmpDir } from '../helpers/tmp.js';

function run(arg: string, lastEpoch: number, epochs: number, extra: Partial<TrainOptions> = {}): RunInfo {
  const o: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, task: 'custom', data: '/d', epochs, ...extra };
  const log = [
    { epoch: 1, valLoss: 0.9, valAcc: 0.7, seconds: 10 },
    { epoch: 2, valLoss: 0.8, valAcc: 0.6, seconds: 10 },
    { epoch: 3, valLoss: 0.85, valAcc: 0.65, seconds: 10 },
  ].slice(0, lastEpoch);
  return {
    arg,
    dir: tmpDir(),
    o,
    log,
    split: { format: 'folders', root: '/d', method: 'm', counts: { train: 1, val: 1, test: 1 } },
    splitFile: 's',
    best: 'b',
    lastEpoch,
    finished: lastEpoch >= epochs,
  };
}

test('shipStatus: "final" only with --final; without it interim, in progress or finished; --final refuses a run in progress', () => {
  assert.equal(shipStatus([run('a', 3, 3)], true), 'final');
  assert.equal(shipStatus([run('a', 3, 3)], false), 'interim: training finished, test figures withheld until facecls ship --final');
  assert.equal(shipStatus([run('a', 2, 3)], false), 'interim: training in progress, epoch 2 of 3');
  assert.equal(shipStatus([run('a', 3, 3), run('b', 1, 3)], false), 'interim: training in progress, b epoch 1 of 3');
  assert.throws(
    () => shipStatus([run('a', 2, 3)], true),
    (e: Error) =>
      e instanceof UserError &&
      e.reason === 'run-unfinished' &&
      /^run "a" is at epoch 2 of 3: the test split is evaluated once, when training has ended$/.test(e.message),
  );
});

test("the card's first line: a card shipped without --final says interim; only a run in progress expects better weights", () => {
  const md = (status: string) => modelCardMarkdown({ ...CARD, status }).split('\n')[2];
  assert.equal(md('final'), '**Status: final.**');
  assert.equal(
    md('interim: training finished, test figures withheld until facecls ship --final'),
    '**Status: interim: training finished, test figures withheld until facecls ship --final.**',
  );
  assert.match(
    md('interim: training in progress, epoch 2 of 3'),
    /^\*\*Status: interim: training in progress, epoch 2 of 3\.\*\* The weights are the best so far by validation loss; they will be replaced when training ends\.$/,
  );
});

test("trainingSection: without a recorded best epoch, the log's best by the run's selection metric", () => {
  assert.equal(trainingSection(run('a', 3, 3), {}).bestEpoch, 2);
  assert.equal(trainingSection(run('a', 3, 3, { selectBy: 'val_accuracy' }), {}).bestEpoch, 1);
  const s = trainingSection(run('a', 3, 3), { epoch: 3, valLoss: 0.85 });
  assert.deepEqual([s.bestEpoch, s.bestValLoss, s.bestValAccuracy, s.epochsRun, s.wallSeconds], [3, 0.85, 0.65, 3, 30]);
});

test("splitLabel: the official names of FER-2013 and UTKFace splits, else the dataset's name", () => {
  assert.equal(splitLabel('fer2013-folders', 'val'), 'FER-2013 PublicTest');
  assert.equal(splitLabel('utkface', 'test'), 'UTKFace test split');
  assert.equal(splitLabel('folders', 'val', 'mine'), 'mine validation split');
  assert.equal(splitLabel('folders', 'test'), 'test split');
});

const CARD: ModelCard = {
  card: 'facecls-model-card',
  version: 1,
  name: 'm',
  task: 'custom',
  labels: ['a', 'b'],
  status: 'final',
  shippedAt: '2026-01-01T00:00:00.000Z',
  data: { format: 'folders', root: 'd', splitMethod: 'm', counts: { train: 1, val: 1, test: 1 }, trainClassCounts: { a: 1, b: 0 }, selection: 's', test: 't' },
  architecture: { arch: 'x', params: 1, trainableParams: 1, macs: 1, weightBytes: 4 },
  input: { size: 12, channels: 1, colorSpace: 'grey', range: [-1, 1], cropMargin: 0, preprocess: 'p' },
  training: {
    runDir: 'r',
    command: 'c',
    resumed: false,
    resumeNote: 'n',
    epochsPlanned: 1,
    epochsRun: 1,
    bestEpoch: 1,
    bestValLoss: 1,
    bestValAccuracy: 1,
    wallSeconds: 1,
    options: {} as TrainOptions,
  },
  evaluation: { tta: 'none', runtime: 'tfjs', val: [], test: { withheld: true, note: 'w' } },
  limitations: [],
  files: { model: 'model.json', weights: ['weights.bin'], onnx: 'model.onnx', sourceSha256: 'abc' },
} as ModelCard;

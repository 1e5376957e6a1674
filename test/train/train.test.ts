import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { projectRoot } from '../../src/data/paths.js';
import { NO_AUGMENT } from '../../src/train/augment.js';
import { createTrainer as createEngineTrainer } from '../../src/engine/trainer.js';
import { DEFAULT_TRAIN_OPTIONS, resumeTraining, train, TrainingDivergedError, type TrainOptions } from '../../src/train/train.js';
import { loadModel } from '../../src/io/model-store.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { makeClassFolders } from '../data/fixtures.js';
import { maxAbsDiff } from '../io/onnx/helpers.js';

const quiet = { progress: false, log: () => {} };
/** A vanishing learning rate: the trainable weights stay where --init put them. */
const tinyLr = { ...DEFAULT_TRAIN_OPTIONS.schedule, lr: 1e-9, minLr: 1e-9 };

function opts(data: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...DEFAULT_TRAIN_OPTIONS,
    task: 'custom',
    data,
    arch: 'tiny-xception',
    inputSize: 12,
    epochs: 3,
    batchSize: 16,
    schedule: { ...DEFAULT_TRAIN_OPTIONS.schedule, lr: 0.002 },
    augment: { ...NO_AUGMENT, flip: true, rotation: 5 },
    workers: 0,
    ...extra,
  };
}

let data: string;
test.before(async () => {
  data = await makeClassFolders(path.join(tmpDir(), 'synthetic'), 120, 12);
});

test('a short run learns a synthetic task; run directory complete; eval on the held-out test split', async () => {
  const runDir = path.join(tmpDir(), 'run');
  const s = await train(opts(data), runDir, quiet);
  assert.equal(s.stopReason, 'completed');
  assert.equal(s.epochsDone, 3);
  assert.ok(s.bestValAcc >= 0.9, `val accuracy ${s.bestValAcc}`);
  for (const f of [
    'config.json',
    'split.json',
    'log.csv',
    'checkpoint.json',
    'loss.png',
    'accuracy.png',
    'training.json',
    'best/model.json',
    'ckpt-000003/optimizer.bin',
  ]) {
    assert.ok(fs.existsSync(path.join(runDir, f)), `${f} missing`);
  }
  assert.equal(fs.readFileSync(path.join(runDir, 'loss.png')).subarray(1, 4).toString(), 'PNG');
  const log = fs.readFileSync(path.join(runDir, 'log.csv'), 'utf8').trim().split('\n');
  assert.equal(log[0], 'epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds');
  assert.equal(log.length, 4);
  const { meta, model } = await loadModel(path.join(runDir, 'best'));
  model.dispose();
  assert.equal(meta.arch, 'tiny-xception');
  assert.deepEqual(meta.labels, ['bottom', 'top']);
  assert.deepEqual(meta.preprocessing, { colorSpace: 'grey', range: [-1, 1] });
  const split = JSON.parse(fs.readFileSync(path.join(runDir, 'split.json'), 'utf8'));
  assert.deepEqual(split.counts, { train: 192, val: 24, test: 24 });
  const report = await evaluate({ model: path.join(runDir, 'best'), data, split: 'test', tta: 'flip', runtime: 'tfjs' });
  assert.equal(report.metrics.n, 24);
  assert.ok(report.metrics.accuracy >= 0.9, `test accuracy ${report.metrics.accuracy}`);
  await assert.rejects(train(opts(data), runDir, quiet), /already holds a run/);
  // Distillation from the model just trained: the student learns too, and a mismatched teacher is refused.
  const student = await train(
    opts(data, { epochs: 2, teacher: path.join(runDir, 'best'), distillWeight: 0.7, distillTemperature: 2 }),
    path.join(tmpDir(), 'student'),
    quiet,
  );
  assert.ok(student.bestValAcc >= 0.9, `student val accuracy ${student.bestValAcc}`);
  // A teacher with another input predicts each training image once, at its own input; mixup cannot use that.
  const lines: string[] = [];
  const wide = await train(opts(data, { inputSize: 16, epochs: 2, teacher: path.join(runDir, 'best') }), path.join(tmpDir(), 'wide-student'), {
    ...quiet,
    log: (l) => lines.push(l),
  });
  assert.ok(wide.bestValAcc >= 0.9, `16x16 student of a 12x12 teacher: val accuracy ${wide.bestValAcc}`);
  assert.match(lines.join('\n'), /input differs from the student's, so its predictions on the 192 un-augmented training images serve every epoch/);
  await assert.rejects(
    train(opts(data, { inputSize: 16, mixup: 0.2, teacher: path.join(runDir, 'best') }), path.join(tmpDir(), 'bad-teacher'), quiet),
    (e: Error) =>
      e instanceof UserError &&
      e.reason === 'teacher-input-mismatch' &&
      /input 12x12x1 differs from the student's 16x16x1, so it predicts each training image once/.test(e.message),
  );
  // --init: fine-tuning starts from the trained weights (with a vanishing learning rate the trainable
  // weights stay where they were), the command records it, and a mismatched model is refused.
  const tuned = path.join(tmpDir(), 'tuned');
  const t = await train(opts(data, { epochs: 1, schedule: tinyLr, init: path.join(runDir, 'best') }), tuned, quiet);
  assert.ok(t.bestValAcc >= 0.9, `fine-tuned val accuracy ${t.bestValAcc}`);
  const [a, b] = [await loadModel(path.join(runDir, 'best')), await loadModel(path.join(tuned, 'best'))];
  try {
    const diff = Math.max(...a.model.trainableWeights.map((w, i) => maxAbsDiff(w.read().dataSync(), b.model.trainableWeights[i].read().dataSync())));
    assert.ok(diff < 1e-5, `trainable weights moved by ${diff}`);
  } finally {
    a.model.dispose();
    b.model.dispose();
  }
  assert.equal(JSON.parse(fs.readFileSync(path.join(tuned, 'config.json'), 'utf8')).options.init, path.join(runDir, 'best'));
  await assert.rejects(
    train(opts(data, { arch: 'mini-xception', init: path.join(runDir, 'best') }), path.join(tmpDir(), 'bad-init'), quiet),
    (e: Error) =>
      e instanceof UserError &&
      e.reason === 'init-mismatch' &&
      /initial model ".*best": architecture tiny-xception differs from the run's mini-xception/.test(e.message),
  );
});

test('--init from a model with other labels transfers every layer but the classifier', async () => {
  const three = await makeClassFolders(path.join(tmpDir(), 'three-classes'), 40, 12, 2, ['a', 'b', 'c']);
  const source = path.join(tmpDir(), 'three-class-run');
  await train(opts(three, { epochs: 1 }), source, quiet);
  const lines: string[] = [];
  const tuned = path.join(tmpDir(), 'transferred');
  const s = await train(opts(data, { epochs: 1, schedule: tinyLr, init: path.join(source, 'best') }), tuned, { ...quiet, log: (l) => lines.push(l) });
  assert.equal(s.epochsDone, 1);
  assert.match(lines.join('\n'), /--init .*three-class-run.best \(a, b, c; 12x12x1\): weights adapted: classifier \S+ starts fresh \(other labels\)/);
  const [a, b] = [await loadModel(path.join(source, 'best')), await loadModel(path.join(tuned, 'best'))];
  try {
    assert.deepEqual(b.meta.labels, ['bottom', 'top']);
    const wa = a.model.trainableWeights;
    const wb = b.model.trainableWeights;
    assert.equal(wa.length, wb.length);
    // Only the classifier's kernel and bias change shape (3 classes -> 2); everything else is the source's.
    const reshaped = wb.filter((w, i) => w.shape.join() !== wa[i].shape.join());
    assert.deepEqual(
      reshaped.map((w) => w.shape.at(-1)),
      [2, 2],
    );
    const body = wb.map((w, i) => [w, wa[i]] as const).filter(([w, v]) => w.shape.join() === v.shape.join());
    assert.ok(body.length >= 10, `${body.length} body tensors`);
    const diff = Math.max(...body.map(([w, v]) => maxAbsDiff(w.read().dataSync(), v.read().dataSync())));
    assert.ok(diff < 1e-5, `transferred weights moved by ${diff}`);
  } finally {
    a.model.dispose();
    b.model.dispose();
  }
  // The zoo is fully convolutional: another input size and the other colour mode start from the same weights.
  const rgb = await train(opts(data, { inputSize: 16, channels: 3, epochs: 1, init: path.join(source, 'best') }), path.join(tmpDir(), 'rgb-transfer'), {
    ...quiet,
    log: (l) => lines.push(l),
  });
  assert.equal(rgb.epochsDone, 1);
  assert.match(
    lines.join('\n'),
    /12x12x1\): weights adapted: first convolution grey -> RGB \(kernel split by the BT.601 luma weights\); classifier \S+ starts fresh/,
  );
});

test('NaN loss stops the run with a clear message and keeps the last good checkpoint', async () => {
  const runDir = path.join(tmpDir(), 'nan');
  let steps = 0;
  const createTrainer: typeof createEngineTrainer = async (config) => {
    const real = await createEngineTrainer(config);
    return Object.assign(Object.create(real) as typeof real, {
      trainStep: async (x: Float32Array, y: Float32Array, n: number) => {
        const r = await real.trainStep(x, y, n);
        return ++steps > 14 ? { ...r, loss: NaN } : r; // 12 steps per epoch: NaN in epoch 2
      },
      dispose: () => real.dispose(),
    });
  };
  await assert.rejects(
    train(opts(data), runDir, { ...quiet, createTrainer }),
    (e: Error) => e instanceof TrainingDivergedError && /loss became NaN at epoch 2, batch 3/.test(e.message) && /epoch 1\) is kept/.test(e.message),
  );
  const ck = JSON.parse(fs.readFileSync(path.join(runDir, 'checkpoint.json'), 'utf8'));
  assert.equal(ck.epoch, 1);
  assert.ok(fs.existsSync(path.join(runDir, 'best', 'model.json')));
  // The kept checkpoint resumes cleanly.
  const s = await resumeTraining(runDir, { epochs: 2 }, quiet);
  assert.equal(s.epochsDone, 2);
});

test('--max-minutes stops between batches and keeps the last complete epoch', async () => {
  const runDir = path.join(tmpDir(), 'time');
  const s = await train(opts(data, { epochs: 50 }), runDir, { ...quiet, maxMinutes: 0.0005 });
  assert.equal(s.stopReason, 'time-limit');
  assert.ok(s.epochsDone < 50);
});

test('unreadable images are skipped and counted; past the threshold the run fails', async () => {
  const root = await makeClassFolders(path.join(tmpDir(), 'bad'), 40, 12);
  fs.writeFileSync(path.join(root, 'top', 'img0003.png'), Buffer.from('not an image'));
  fs.writeFileSync(path.join(root, 'bottom', 'img0005.png'), Buffer.alloc(0));
  const s = await train(opts(root, { epochs: 1, valFraction: 0.2, testFraction: 0 }), path.join(tmpDir(), 'badrun'), quiet);
  assert.equal(s.skipped.count, 2);
  assert.ok(s.skipped.examples.some((e) => e.id.endsWith('img0003.png')));
  await assert.rejects(
    train(opts(root, { epochs: 1, maxBadFraction: 0.01, valFraction: 0.2, testFraction: 0 }), path.join(tmpDir(), 'badrun2'), quiet),
    /unreadable \(more than 1\.0%/,
  );
});

test('SIGKILL mid-run, then --resume: same final epoch count, no gap in the loss curve', async () => {
  const runDir = path.join(tmpDir(), 'kill');
  const bin = path.join(projectRoot(), 'bin', 'facecls.js');
  const args = [
    'train',
    'custom',
    '--data',
    data,
    '--arch',
    'tiny-xception',
    '--input',
    '12',
    '--epochs',
    '5',
    '--batch-size',
    '16',
    '--lr',
    '0.002',
    '--workers',
    '0',
    '--augment',
    'none',
    '--out',
    runDir,
    '--no-progress',
  ];
  const child = spawn(process.execPath, [bin, ...args], { stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  const ck = path.join(runDir, 'checkpoint.json');
  const killedAt = await new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      try {
        const epoch = fs.existsSync(ck) ? JSON.parse(fs.readFileSync(ck, 'utf8')).epoch : 0;
        if (epoch >= 2) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve(epoch);
        }
      } catch {
        /* checkpoint.json is replaced atomically; a failed read just retries */
      }
    }, 20);
    child.on('exit', (code, sig) => {
      if (sig !== 'SIGKILL') {
        clearInterval(timer);
        reject(new Error(`training exited (${code}) before it could be killed`));
      }
    });
  });
  await exited;
  assert.ok(killedAt >= 2 && killedAt < 5, `killed after epoch ${killedAt}`);
  const r = runCli(['train', '--resume', runDir, '--json', '--no-progress']);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.epochsDone, 5);
  assert.match(r.stderr, /resuming .* after epoch \d/);
  const rows = fs.readFileSync(path.join(runDir, 'log.csv'), 'utf8').trim().split('\n').slice(1);
  assert.deepEqual(
    rows.map((l) => Number(l.split(',')[0])),
    [1, 2, 3, 4, 5],
  );
  assert.ok(rows.every((l) => l.split(',').every((v) => Number.isFinite(Number(v)))));
  assert.deepEqual(
    fs.readdirSync(runDir).filter((f) => f.startsWith('ckpt-')),
    ['ckpt-000005'],
  );
  const ev = runCli(['eval', 'custom', '--model', path.join(runDir, 'best'), '--data', data, '--split', 'test', '--json', '--out', path.join(runDir, 'eval')]);
  assert.equal(ev.code, 0, ev.stderr);
  assert.ok(JSON.parse(ev.stdout).metrics.accuracy >= 0.9);
  assert.ok(fs.existsSync(path.join(runDir, 'eval', 'confusion.png')));
});

test('train CLI: clear errors for bad options', () => {
  const r1 = runCli(['train', 'emotion']);
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /--data PATH is required/);
  const r2 = runCli(['train', 'mood', '--data', data]);
  assert.match(r2.stderr, /unknown task "mood"/);
  const r3 = runCli(['train', 'custom', '--data', data, '--schedule', 'linear']);
  assert.match(r3.stderr, /--schedule must be one of/);
  const r3b = runCli(['train', 'custom', '--data', data, '--split-seed', 'abc']);
  assert.equal(r3b.code, 1);
  assert.match(r3b.stderr, /--split-seed/);
  const r4 = runCli(['train', '--resume', data]);
  assert.match(r4.stderr, /not a training run directory/);
  const out = path.join(tmpDir(), 'typo');
  const r5 = runCli(['train', 'custom', '--data', path.join(data, 'nope'), '--out', out]);
  assert.equal(r5.code, 1);
  assert.match(r5.stderr, /nope" does not exist/);
  assert.ok(!fs.existsSync(path.join(out, 'config.json')), 'a failed start leaves no resumable run');
});

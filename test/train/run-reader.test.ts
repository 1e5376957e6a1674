import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readLog, readRun, weightFiles } from '../../src/train/run-reader.js';
import { tmpDir } from '../helpers/tmp.js';

test('readLog: rows by column name; a missing, short or malformed log is an error naming the file and line', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'log.csv');
  assert.throws(() => readLog(file), /training log ".*log.csv" is missing/);
  fs.writeFileSync(
    file,
    'epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds,val_loss_a,val_accuracy_a\n1,0.1,2,0.5,1.5,0.25,3.5,1,1\n2,0.1,1,0.6,1.25,0.5,4,1,1\n',
  );
  assert.deepEqual(readLog(file), [
    { epoch: 1, valLoss: 1.5, valAcc: 0.25, seconds: 3.5 },
    { epoch: 2, valLoss: 1.25, valAcc: 0.5, seconds: 4 },
  ]);
  fs.writeFileSync(file, 'epoch,lr,loss\n1,0.1,2\n');
  assert.throws(() => readLog(file), /lacks the columns epoch, val_loss, val_accuracy, seconds/);
  fs.writeFileSync(file, 'epoch,val_loss,val_accuracy,seconds\n1,2,0.5,3\n2,x,0.5,3\n');
  assert.throws(() => readLog(file), /log.csv" line 3 is malformed: "2,x,0.5,3"/);
});

test('weightFiles: the files a model.json lists; one outside the model folder is refused', () => {
  const json = (paths: string[]) => Buffer.from(JSON.stringify({ weightsManifest: [{ paths }] }));
  assert.deepEqual(weightFiles(json(['weights.bin', 'sub/w2.bin']), 'm/model.json'), ['weights.bin', 'sub/w2.bin']);
  assert.throws(() => weightFiles(json(['../x.bin']), 'm/model.json'), /"m\/model.json" names weight file "..\/x.bin" outside the model folder/);
  assert.throws(() => weightFiles(Buffer.from('{'), 'm/model.json'), /"m\/model.json" is not valid JSON/);
});

test('readRun: what ship needs from a run directory, with an error for each missing part', () => {
  const dir = tmpDir();
  const out = path.join(tmpDir(), 'out');
  assert.throws(() => readRun(path.join(dir, 'nope'), out), /run directory ".*nope" does not exist/);
  assert.throws(() => readRun(dir, out), /is not a training run directory \(no config.json\)/);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ version: 1, options: { task: 'custom', arch: 'tiny-xception', data: '/d', epochs: 3 } }));
  assert.throws(() => readRun(dir, path.join(dir, 'shipped')), /is inside the run directory/);
  fs.writeFileSync(path.join(dir, 'log.csv'), 'epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds\n');
  assert.throws(() => readRun(dir, out), /has not completed an epoch yet/);
  fs.writeFileSync(path.join(dir, 'log.csv'), 'epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds\n1,0.1,2,0.5,1.5,0.25,3.5\n');
  assert.throws(() => readRun(dir, out), /run split ".*split.json" is missing/);
  fs.writeFileSync(path.join(dir, 'split.json'), JSON.stringify({ format: 'folders', root: '/d', method: 'm', counts: { train: 1, val: 1, test: 0 } }));
  assert.throws(() => readRun(dir, out), /has no best model \(best\/model.json\)/);
  fs.mkdirSync(path.join(dir, 'best'));
  fs.writeFileSync(path.join(dir, 'best', 'model.json'), '{}');
  const r = readRun(dir, out);
  assert.deepEqual([r.lastEpoch, r.finished, r.o.epochs, r.ck, r.training], [1, false, 3, undefined, undefined]);
  fs.writeFileSync(path.join(dir, 'training.json'), JSON.stringify({ epochsDone: 1, stopReason: 'early-stopping' }));
  assert.equal(readRun(dir, out).finished, true, 'a run that stopped early has ended');
});

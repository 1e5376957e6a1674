import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { makeFerCsv } from '../data/fixtures.js';
import { randomModels } from '../pipeline/fixtures.js';

test('eval counts malformed CSV rows and enforces --max-bad-fraction like train', async () => {
  const dir = tmpDir();
  const rows = Array.from({ length: 347 }, (_, i) => ({ emotion: i % 7, usage: ['Training', 'PublicTest', 'PrivateTest'][i % 3] }));
  // 59 bad of 406 rows (14.5%): the case of the issue, which eval accepted without a word.
  const bad = Array.from({ length: 59 }, (_, i) => `${i % 7},1 2 3,PrivateTest`);
  const csv = makeFerCsv(path.join(dir, 'fer2013.csv'), rows, bad);
  const { emotion } = await randomModels();
  const base = ['eval', 'emotion', '--model', emotion, '--data', csv, '--split', 'test', '--tta', 'none'];
  const refused = runCli(base);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(
    refused.stderr,
    /^facecls: error: 59 of 406 entries of ".*fer2013\.csv" are malformed \(more than 5\.0%\): fer2013\.csv:349: 3 pixel values, expected 2304.* \(raise the limit with --max-bad-fraction\)$/m,
  );
  assert.equal(refused.stderr.trim().split('\n').length, 1);

  const allowed = runCli([...base, '--max-bad-fraction', '0.2', '--json']);
  assert.equal(allowed.code, 0, allowed.stderr);
  const report = JSON.parse(allowed.stdout) as { metrics: { n: number }; malformed: { count: number; of: number; examples: Array<{ id: string }> } };
  assert.equal(report.metrics.n, 115);
  assert.deepEqual([report.malformed.count, report.malformed.of, report.malformed.examples[0].id], [59, 406, 'fer2013.csv:349']);
  const text = runCli([...base, '--max-bad-fraction', '0.2']);
  assert.match(text.stdout, /malformed: 59 of 406 dataset entries \(all splits\) skipped while indexing, e\.g\. fer2013\.csv:349: 3 pixel values/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';

test('facecls ship refuses an unknown --balance criterion before touching any run', () => {
  const r = runCli(['ship', 'no-such-run', '-o', 'never-written', '--balance', 'fairest']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /--balance must be accuracy or parity, got "fairest"/);
});

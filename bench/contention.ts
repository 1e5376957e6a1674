/**
 * How much two cores slow each other down on this machine: the same work in one process alone, then
 * in two processes at once (no communication between them), for
 *   alu    a register-only floating-point loop (no memory traffic),
 *   copy   native copies of two 128 MiB arrays (memory bandwidth),
 *   step   one-thread mini-Xception 48x48 forward + backward at batch 8, 16 and 32 (bench/train-kernels.ts).
 * A 2-worker data-parallel step can be at most t1(32) / (t2(16) + synchronisation) faster than one
 * worker, where t2 is the step time while the other core runs the same work: this bench measures both.
 *
 *   node dist/bench/contention.js [--json]      (on a quiet machine: nothing else running)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const kernels = fileURLToPath(new URL('./train-kernels.js', import.meta.url));

function alu(): number {
  const work = (n: number) => {
    let a = 1.0001;
    let c = 0;
    for (let i = 0; i < n; i++) {
      c = c * a + 0.9999;
      a = a * 0.9999999 + 0.0000001;
    }
    return c;
  };
  work(1e7);
  const t: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    work(2e8);
    t.push(performance.now() - t0);
  }
  return t.sort((x, y) => x - y)[2];
}

function copy(): number {
  const a = new Float32Array(32 * 1024 * 1024).fill(1);
  const b = new Float32Array(a.length);
  b.set(a);
  const t: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t0 = performance.now();
    b.set(a);
    a.set(b);
    t.push(performance.now() - t0);
  }
  return t.sort((x, y) => x - y)[7];
}

/** Run one measurement in a child process; resolves to its ms figure. */
function child(kind: string): Promise<number> {
  const [cmd, args] = kind.startsWith('step')
    ? [process.execPath, [kernels, '--batch', kind.slice(4), '--steps', '20', '--top', '1']]
    : [process.execPath, [self, '--child', kind]];
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const m = kind.startsWith('step') ? out.match(/: ([\d.]+) ms\/step/) : out.match(/^([\d.]+)$/m);
      if (code !== 0 || !m) return reject(new Error(`${kind}: exit ${code}, output ${out.slice(0, 200)}`));
      resolve(Number(m[1]));
    });
  });
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  console.log((argv[1] === 'alu' ? alu() : copy()).toFixed(2));
} else {
  const rows: Array<{ work: string; aloneMs: number; pairMs: number; slowdown: number }> = [];
  for (const kind of ['alu', 'copy', 'step8', 'step16', 'step32']) {
    const aloneMs = await child(kind);
    const pair = await Promise.all([child(kind), child(kind)]);
    const pairMs = (pair[0] + pair[1]) / 2;
    rows.push({ work: kind, aloneMs, pairMs, slowdown: pairMs / aloneMs });
  }
  if (argv.includes('--json')) console.log(JSON.stringify(rows, null, 2));
  else {
    console.log('work      alone ms   two at once ms   slowdown');
    for (const r of rows)
      console.log(`${r.work.padEnd(8)} ${r.aloneMs.toFixed(1).padStart(9)} ${r.pairMs.toFixed(1).padStart(16)} ${r.slowdown.toFixed(2).padStart(10)}x`);
    const s = (k: string) => rows.find((r) => r.work === k)!;
    console.log(
      `\nceiling for 2 workers at batch 32 (no synchronisation cost): t1(32) / t2(16) = ${(s('step32').aloneMs / s('step16').pairMs).toFixed(2)}x; ` +
        `without any slowdown it would be t1(32) / t1(16) = ${(s('step32').aloneMs / s('step16').aloneMs).toFixed(2)}x`,
    );
  }
}

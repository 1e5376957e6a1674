/** Progress bar on stderr (cli-progress) with ETA, loss and accuracy; plain lines when not a TTY. */
import cliProgress from 'cli-progress';

export interface EpochProgress {
  update(done: number, loss: number, acc: number): void;
  stop(): void;
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  s = Math.round(s);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function epochProgress(epoch: number, epochs: number, total: number, enabled: boolean): EpochProgress {
  if (!enabled || !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `epoch ${epoch}/${epochs} [{bar}] {value}/{total} batches | loss {loss} acc {acc} | {elapsedHuman} elapsed, ETA {etaHuman}`,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const t0 = Date.now();
  bar.start(total, 0, { loss: '-', acc: '-', etaHuman: '?', elapsedHuman: '0s' });
  return {
    update(done, loss, acc) {
      const el = (Date.now() - t0) / 1000;
      bar.update(done, {
        loss: loss.toFixed(4),
        acc: acc.toFixed(4),
        elapsedHuman: fmtDuration(el),
        etaHuman: fmtDuration(done > 0 ? (el / done) * (total - done) : NaN),
      });
    },
    stop() {
      bar.stop();
    },
  };
}

export { fmtDuration };

/** A simple counter bar (loading images, evaluating) on stderr; no-op when disabled or not a TTY. */
export function countProgress(label: string, total: number, enabled: boolean): { update(done: number): void; stop(): void } {
  if (!enabled || !process.stderr.isTTY || total === 0) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {value}/{total} | {duration_formatted} elapsed, ETA {eta_formatted}`,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update(done) {
      bar.update(done);
    },
    stop() {
      bar.stop();
    },
  };
}

/**
 * The limit on bad data that training and evaluation share: they fail when more than a fraction of a
 * dataset's entries are malformed (unparsable rows or file names) or of its images are unreadable.
 */
import { UserError } from '../errors.js';
import type { Dataset, Skipped } from './dataset.js';

/** Entries a dataset indexed, the malformed ones it dropped included. */
export function indexedCount(ds: Dataset): number {
  return ds.splits.train.length + ds.splits.val.length + ds.splits.test.length + ds.skipped.length;
}

function examples(skipped: readonly Skipped[]): string {
  return skipped
    .slice(0, 3)
    .map((s) => `${s.id}: ${s.reason}`)
    .join('; ');
}

const percent = (fraction: number): string => `${(fraction * 100).toFixed(1)}%`;

/** Fail when more than `maxFraction` of the entries of dataset `name` (default its root) are malformed. */
export function checkMalformed(ds: Dataset, maxFraction: number, name: string = ds.root): void {
  const indexed = indexedCount(ds);
  if (ds.skipped.length > maxFraction * indexed) {
    throw new UserError(`${ds.skipped.length} of ${indexed} entries of "${name}" are malformed (more than ${percent(maxFraction)}): ${examples(ds.skipped)}`, {
      reason: 'too-much-bad-data',
    });
  }
}

/** Fail when more than `maxFraction` of `total` images are unreadable (`skipped` lists some of them). */
export function checkUnreadable(bad: number, total: number, skipped: readonly Skipped[], maxFraction: number): void {
  if (bad > maxFraction * total) {
    throw new UserError(`${bad} of ${total} images are unreadable (more than ${percent(maxFraction)}): ${examples(skipped)}`, { reason: 'too-much-bad-data' });
  }
}

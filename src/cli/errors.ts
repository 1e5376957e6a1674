/**
 * How the command line reports errors: an exit code per error reason, and the flag hints that library
 * messages leave out (the library names values and files; only the CLI knows its flags).
 */
import { UserError, type UserErrorReason } from '../errors.js';
import { PathListError } from '../inputs/path-list.js';

/** Exit code of an unexpected (internal) error. */
export const INTERNAL_ERROR_EXIT_CODE = 2;

/**
 * Exit code per user-error reason. Every user error exits 1 (the documented contract); the table is
 * where a reason would get its own code.
 */
export const EXIT_CODES: Readonly<Record<UserErrorReason, number>> = {
  'invalid-argument': 1,
  'not-found': 1,
  'invalid-file': 1,
  unsupported: 1,
  'invalid-setting': 1,
  'output-exists': 1,
  'labels-needed': 1,
  unreachable: 1,
  'address-in-use': 1,
  'not-finished': 1,
  'too-much-bad-data': 1,
  'no-ages': 1,
  'no-dataset': 1,
  'dataset-moved': 1,
  'cannot-relocate': 1,
  'run-exists': 1,
  'run-unfinished': 1,
  'init-mismatch': 1,
  'class-weights-count': 1,
  'needs-two-classes': 1,
  'teacher-input-mismatch': 1,
  diverged: 1,
  'emotion-model-missing': 1,
  'gender-model-missing': 1,
  'age-model-missing': 1,
  'task-disabled': 1,
  'backend-lacks-kernels': 1,
  missing: 1,
  'not-a-file': 1,
  'special-file': 1,
  'permission-denied': 1,
  'too-large': 1,
  'too-many-pixels': 1,
  empty: 1,
  'unsupported-format': 1,
  corrupt: 1,
  unreadable: 1,
  'list-missing': 1,
  'list-is-directory': 1,
  'list-permission-denied': 1,
  'list-not-paths': 1,
  'list-unreadable': 1,
  'unknown-runtime': 1,
  'runtime-unavailable': 1,
  'export-unsupported': 1,
  'model-mismatch': 1,
};

/** What the user can do about an error, in terms of this command line's flags. */
export const FLAG_HINTS: Readonly<Partial<Record<UserErrorReason, string>>> = {
  'special-file': 'pass --allow-special-files to read it, up to --max-bytes',
  'too-large': 'raise the limit with --max-bytes',
  'too-many-pixels': 'raise the limit with --max-pixels',
  'runtime-unavailable': 'use --runtime tfjs',
  'output-exists': 'choose another output or pass --force',
  'labels-needed': 'give them with --labels',
  unreachable: 'start one with `redis-server`, or name it with --redis or FACECLS_REDIS',
  'address-in-use': 'pick another with --port',
  'not-finished': 'wait for it with --wait, or watch it with `facecls batch status <id> --watch`',
  'too-much-bad-data': 'raise the limit with --max-bad-fraction',
  'no-ages': 'drop --adults',
  'no-dataset': 'name one with --data PATH',
  'dataset-moved': 'if it moved, pass --data <path>',
  'cannot-relocate': 'drop --data',
  'run-exists': 'continue it with --resume <dir>, or choose another --out',
  'run-unfinished': 'ship without --final for an interim model',
  'init-mismatch': 'give --init a model of the same architecture, or one whose weights fit this run',
  'class-weights-count': 'give --class-weights one weight a class',
  'needs-two-classes': '--balance is for two-class models',
  'teacher-input-mismatch': "pass --mixup 0, or a --teacher with the student's input",
  diverged: 'lower the learning rate with --lr, or check the data',
  'emotion-model-missing': 'train one, pass --emotion-model <dir>, or disable the task with --no-emotion',
  'gender-model-missing': 'train one, pass --gender-model <dir>, or disable the task with --no-gender',
  'age-model-missing': 'train one, pass --age-model <dir>, or disable the task with --no-age',
  'task-disabled': 'choose another --saliency-task, or drop the --no-<task> that turns its model off',
  'backend-lacks-kernels': 'use --backend cpu',
};

/** The one line the CLI prints for a user error (after "facecls: error: "). */
export function cliErrorMessage(err: UserError): string {
  // A path list is only ever read for --files-from.
  if (err instanceof PathListError) return `--files-from ${err.list}: ${err.detail}`;
  const hint = FLAG_HINTS[err.reason];
  return hint === undefined ? err.message : `${err.message} (${hint})`;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof UserError ? EXIT_CODES[err.reason] : INTERNAL_ERROR_EXIT_CODE;
}

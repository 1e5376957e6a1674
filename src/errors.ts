/**
 * Errors caused by what the user asked for (a bad name, file, shape or setting). Each carries a typed
 * `reason`, which callers map to what they report: the CLI to exit codes and flag hints
 * (src/cli/errors.ts), the server to HTTP statuses (src/server/errors.ts). Nothing classifies an
 * error by its message text. Library messages name values and files, never command-line flags.
 */

/** Why an image could not be read or decoded (ImageDecodeError, src/data/decode.ts). */
export type DecodeErrorReason =
  | 'missing' // no such file
  | 'not-a-file' // a directory
  | 'special-file' // a FIFO, device or socket, refused by default
  | 'permission-denied'
  | 'too-large' // more bytes than the limit
  | 'too-many-pixels' // more pixels than the limit (decompression bomb)
  | 'empty' // zero bytes
  | 'unsupported-format' // not an image format the decoder knows
  | 'corrupt' // a known format that fails to decode
  | 'unreadable'; // any other read failure

/** Why a list of input paths could not be read (src/inputs/path-list.ts). */
export type PathListErrorReason = 'list-missing' | 'list-is-directory' | 'list-permission-denied' | 'list-not-paths' | 'list-unreadable';

/** Why a classifier runtime could not be made (src/runtime/factory.ts, ONNX export). */
export type RuntimeErrorReason =
  | 'unknown-runtime' // a runtime name that does not exist
  | 'runtime-unavailable' // the runtime's native library cannot be loaded on this machine
  | 'export-unsupported' // the model has a layer or shape the ONNX exporter cannot write
  | 'model-mismatch'; // the model and its metadata disagree

/** Any other user error. */
export type GeneralErrorReason =
  | 'invalid-argument' // a value out of range or of the wrong form (the default)
  | 'not-found' // a named file, directory, model or data set that does not exist
  | 'invalid-file' // a file that exists but whose content is wrong
  | 'unsupported' // a valid request this build or machine cannot do
  | 'invalid-setting' // an environment variable with a bad value (src/settings.ts)
  | 'output-exists' // an output that would replace something, without being asked to
  | 'labels-needed' // a model whose class count needs labels to be named
  | 'unreachable' // a service (the Redis queue) that does not answer
  | 'address-in-use' // a network port another program holds (the server cannot listen)
  | 'not-finished' // a batch whose results are still being written
  | 'too-much-bad-data' // more malformed entries or unreadable images than the allowed fraction
  | 'no-ages' // adults asked of a dataset that records no ages
  | 'no-dataset' // training asked for without a dataset
  | 'dataset-moved' // a run's dataset is no longer where the run recorded it
  | 'cannot-relocate' // a run trained on several datasets given one new dataset path
  | 'run-exists' // a new run asked for in a directory that holds one
  | 'run-unfinished' // a final model asked of a run still training
  | 'init-mismatch' // initial weights from a model of another architecture or shape
  | 'class-weights-count' // class weights that do not give one weight a class
  | 'needs-two-classes' // threshold balancing asked of a model with more than two classes
  | 'teacher-input-mismatch' // a teacher of another input size, with mixup on
  | 'diverged' // training whose loss is no longer finite
  | 'emotion-model-missing' // the emotion task on, without an emotion model
  | 'gender-model-missing' // the gender task on, without a gender model
  | 'age-model-missing' // the age task on, without an age model
  | 'task-disabled' // saliency asked of a task whose model is not loaded
  | 'backend-lacks-kernels'; // saliency on a compute backend without its gradient kernels

export type UserErrorReason = GeneralErrorReason | DecodeErrorReason | PathListErrorReason | RuntimeErrorReason;

export interface UserErrorOptions {
  cause?: unknown;
  reason?: UserErrorReason;
}

/**
 * An error caused by what the user asked for. The CLI prints its message without a stack trace and
 * exits non-zero; the server answers with a 4xx status.
 */
export class UserError extends Error {
  readonly reason: UserErrorReason;
  constructor(message: string, options: UserErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.reason = options.reason ?? 'invalid-argument';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

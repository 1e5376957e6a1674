/**
 * HTTP status and error code per user-error reason: how the server reports a library error. The
 * server's own refusals (rate limit, body size, content type) are HttpErrors made where they happen.
 */
import type { UserError, UserErrorReason } from '../errors.js';
import { HttpError } from './http-error.js';

type StatusAndCode = readonly [status: number, code: string];

const INVALID_REQUEST: StatusAndCode = [400, 'invalid_request'];
const CORRUPT_IMAGE: StatusAndCode = [400, 'corrupt_image'];

export const HTTP_STATUSES: Readonly<Record<UserErrorReason, StatusAndCode>> = {
  // Decoding the request's image (src/data/decode.ts).
  'too-many-pixels': [413, 'image_too_large'],
  'too-large': [413, 'payload_too_large'],
  'unsupported-format': [415, 'unsupported_image'],
  empty: [400, 'empty_body'],
  corrupt: CORRUPT_IMAGE,
  // File-system reasons: the server decodes request bodies, so these only come from a file it was given.
  missing: CORRUPT_IMAGE,
  'not-a-file': CORRUPT_IMAGE,
  'special-file': CORRUPT_IMAGE,
  'permission-denied': CORRUPT_IMAGE,
  unreadable: CORRUPT_IMAGE,
  // A request the pipeline cannot honour (e.g. an unknown class name), and reasons the server does not meet.
  'invalid-argument': INVALID_REQUEST,
  'not-found': INVALID_REQUEST,
  'invalid-file': INVALID_REQUEST,
  unsupported: INVALID_REQUEST,
  'invalid-setting': INVALID_REQUEST,
  'output-exists': INVALID_REQUEST,
  'labels-needed': INVALID_REQUEST,
  unreachable: [503, 'unavailable'],
  'address-in-use': INVALID_REQUEST,
  'not-finished': INVALID_REQUEST,
  'list-missing': INVALID_REQUEST,
  'list-is-directory': INVALID_REQUEST,
  'list-permission-denied': INVALID_REQUEST,
  'list-not-paths': INVALID_REQUEST,
  'list-unreadable': INVALID_REQUEST,
  'unknown-runtime': INVALID_REQUEST,
  'runtime-unavailable': [503, 'runtime_unavailable'],
  'export-unsupported': INVALID_REQUEST,
  'model-mismatch': INVALID_REQUEST,
  // Training, evaluation and model-loading reasons: the server meets them only through a bad setup.
  'too-much-bad-data': INVALID_REQUEST,
  'no-ages': INVALID_REQUEST,
  'no-dataset': INVALID_REQUEST,
  'dataset-moved': INVALID_REQUEST,
  'cannot-relocate': INVALID_REQUEST,
  'run-exists': INVALID_REQUEST,
  'run-unfinished': INVALID_REQUEST,
  'init-mismatch': INVALID_REQUEST,
  'class-weights-count': INVALID_REQUEST,
  'needs-two-classes': INVALID_REQUEST,
  'teacher-input-mismatch': INVALID_REQUEST,
  diverged: INVALID_REQUEST,
  'emotion-model-missing': INVALID_REQUEST,
  'gender-model-missing': INVALID_REQUEST,
  'age-model-missing': INVALID_REQUEST,
  'task-disabled': INVALID_REQUEST,
  'backend-lacks-kernels': INVALID_REQUEST,
};

/** The HTTP error a user error is answered with (its message unchanged). */
export function httpErrorOf(err: UserError): HttpError {
  const [status, code] = HTTP_STATUSES[err.reason];
  return new HttpError(status, code, err.message);
}

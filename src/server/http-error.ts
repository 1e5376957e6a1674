/** An HTTP error with a status, a stable machine-readable code and a message naming the problem. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(statusCode: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.code = code;
    this.headers = headers;
  }
}

/** Body of every error response. */
export interface ErrorBody {
  error: string;
  message: string;
  statusCode: number;
}

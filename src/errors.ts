/**
 * An error caused by what the user asked for (bad name, bad file, bad shape).
 * The CLI prints its message without a stack trace and exits non-zero.
 */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

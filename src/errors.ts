/** Codes callers match on (`err.code`). Every user-facing failure is one of these. */
export const ERROR_CODES = [
  'CONNDX_BAD_ARGUMENT', // unknown flag, bad option value
  'CONNDX_BAD_DURATION',
  'CONNDX_BAD_TARGET', // malformed host:port or address
  'CONNDX_BAD_CONFIG',
  'CONNDX_NOT_A_CAPTURE',
  'CONNDX_IO', // a file that cannot be read or written
  'CONNDX_INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ConndxErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Values involved, for scripts and for the message. */
  details?: Record<string, unknown>;
}

export class ConndxError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ConndxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ConndxError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }
}

export function isConndxError(e: unknown): e is ConndxError {
  return e instanceof ConndxError;
}

/** User errors (bad input) print one line; anything else is internal. */
export function isUserError(e: unknown): boolean {
  return isConndxError(e) && e.code !== 'CONNDX_INTERNAL';
}

/**
 * The one error type of Gatehouse. Every failure that crosses the control API
 * (IPC, web admin, CLI) carries a code from a closed set, a message that says
 * what was wrong (quoting the bad value), and where it has one, an HTTP status.
 */

export const ERROR_CODES = [
  'E_VALIDATION',
  'E_NOT_FOUND',
  'E_PORT_IN_USE',
  'E_UNAUTHORIZED',
  'E_FORBIDDEN',
  'E_UNKNOWN_METHOD',
  'E_UNAVAILABLE',
  'E_LOCKED',
  'E_STORAGE',
  'E_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const HTTP_STATUS: Record<ErrorCode, number> = {
  E_VALIDATION: 400,
  E_NOT_FOUND: 404,
  E_PORT_IN_USE: 409,
  E_UNAUTHORIZED: 401,
  E_FORBIDDEN: 403,
  E_UNKNOWN_METHOD: 404,
  E_UNAVAILABLE: 503,
  E_LOCKED: 409,
  E_STORAGE: 503,
  E_INTERNAL: 500,
};

export interface ErrorData {
  code: ErrorCode;
  message: string;
}

export class GatehouseError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'GatehouseError';
    this.code = code;
  }
  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }
  toData(): ErrorData {
    return { code: this.code, message: this.message };
  }
  static from(err: unknown): GatehouseError {
    if (err instanceof GatehouseError) return err;
    const e = err as NodeJS.ErrnoException | undefined;
    if (e?.code === 'EADDRINUSE') return new GatehouseError('E_PORT_IN_USE', e.message);
    return new GatehouseError('E_INTERNAL', e?.message ?? String(err));
  }
}

/** Results cross every transport as data, never as thrown exceptions. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: ErrorData };

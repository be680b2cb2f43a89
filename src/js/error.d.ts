import type { TidesyncErrorCode } from './tidesync.js';

export interface TidesyncErrorOptions {
  retryable?: boolean;
  path?: string;
  retryAfterMs?: number;
  status?: number;
  cause?: unknown;
}

/**
 * Every error tidesync rejects with. `instanceof TidesyncError` works for errors from the
 * engine, from HttpProvider and from `tidesync/testing`.
 */
export declare class TidesyncError extends Error {
  /** A provider may throw one: `throw new TidesyncError('RATE_LIMIT', 'slow down', { retryAfterMs: 1000 })`. */
  constructor(code: TidesyncErrorCode | (string & {}), message: string, options?: TidesyncErrorOptions);
  readonly name: 'TidesyncError';
  /** Stable: INVALID, CLOSED, STORAGE, QUOTA, AUTH, FORBIDDEN, RATE_LIMIT, CURSOR_EXPIRED, UNAVAILABLE. */
  readonly code: TidesyncErrorCode;
  /** Whether the same call may succeed later unchanged. */
  readonly retryable: boolean;
  /** For INVALID: where the bad value was, e.g. "records[3].id" or "config.autosync". */
  readonly path?: string;
  /** For RATE_LIMIT: how long the server asked to wait. */
  readonly retryAfterMs?: number;
  /** HttpProvider: the HTTP status, when the server answered. */
  readonly status?: number;
}

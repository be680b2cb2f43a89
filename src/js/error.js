// TidesyncError: the one error class of the package. The engine (Rust) and
// the providers reject with it; `instanceof TidesyncError` works for every
// error whose `name` is 'TidesyncError' and that has a string `code`, also
// one made by another copy of the package or by the `tidesync/testing`
// module (their wasm builds their own Error objects).

const RETRYABLE = new Set(['RATE_LIMIT', 'UNAVAILABLE', 'STORAGE']);

export class TidesyncError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{ retryable?: boolean, path?: string, retryAfterMs?: number, status?: number, cause?: unknown }} [options]
   */
  constructor(code, message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TidesyncError';
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    if (options.path !== undefined) this.path = options.path;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.status !== undefined) this.status = options.status;
  }

  static [Symbol.hasInstance](value) {
    return value !== null && typeof value === 'object' && value.name === 'TidesyncError' && typeof value.code === 'string';
  }
}

/**
 * The error an API call rejects with: a TidesyncError made by the engine gets
 * this class's prototype (its stack and fields stay); anything else is
 * returned as it is.
 */
export function asTidesyncError(e) {
  if (e instanceof TidesyncError && Object.getPrototypeOf(e) !== TidesyncError.prototype && e instanceof Error) {
    try {
      Object.setPrototypeOf(e, TidesyncError.prototype);
    } catch {
      // A frozen error keeps its prototype; instanceof still works.
    }
  }
  return e;
}

import type { SyncProvider } from '../tidesync.js';

/** Fault probabilities in [0, 1], per call or per subscription batch (see withFaults). */
export interface FaultOptions {
  /** Milliseconds before each call and each subscription batch: a number, or [min, max]. */
  latency?: number | [number, number];
  /** The backend did the call but the answer is lost (UNAVAILABLE); a subscription batch is not delivered. */
  drop?: number;
  /** A push (pull, updateCursor) is sent twice; a subscription batch is delivered twice. */
  duplicate?: number;
  /** A subscription batch is held back and delivered after the next one. */
  reorder?: number;
  /** The call rejects with UNAVAILABLE (status 503) without reaching the backend. */
  status5xx?: number;
  /** The call rejects with RATE_LIMIT and `retryAfterMs` without reaching the backend. */
  status429?: number;
  /** The call hangs for `timeoutMs`, then rejects with UNAVAILABLE; half of them reached the backend. */
  timeout?: number;
  /** For status429 (default 1000). */
  retryAfterMs?: number;
  /** For timeout (default 2000). */
  timeoutMs?: number;
  /** The random generator's seed (default 1): the same seed gives the same faults for the same calls. */
  seed?: number;
}

/** What withFaults returns: a SyncProvider, with the faults it injected counted. */
export interface FaultyProvider extends SyncProvider {
  readonly faults: {
    calls: number; dropped: number; duplicated: number; reordered: number;
    status5xx: number; status429: number; timeouts: number;
  };
  /** Replaces the fault options; `setFaults({})` heals the network. */
  setFaults(options?: FaultOptions): void;
}

/** Wraps any provider in fault injection. Unknown option keys throw a TidesyncError (INVALID). */
export function withFaults(provider: SyncProvider, options?: FaultOptions): FaultyProvider;

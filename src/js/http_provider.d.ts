// Types of HttpProvider (src/js/http_provider.js), shipped in the package.
import type { TidesyncError } from './error.js';
import type { PullRequest, PullResponse, PushBatch, PushResult, SyncChange, SyncProvider, SyncScope } from './tidesync.js';

export interface HttpProviderOptions {
  /** The server's base URL, e.g. `https://sync.example.com` (no trailing path). */
  url: string;
  /** Returns the bearer token; called again with `{ refresh: true }` after a 401. */
  getToken: (options: { refresh: boolean }) => string | Promise<string>;
  /** Pins the provider to one workspace: calls for another reject with FORBIDDEN. */
  workspace?: string;
  /** Per-request timeout (default 30 000 ms); a timeout rejects with UNAVAILABLE. */
  timeoutMs?: number;
  /** Watch reconnect delays, the last one repeating (default [250, 1000, 3000, 5000]), with ±25 % jitter. */
  backoffMs?: number[];
  /** Replaces the global fetch (tests, custom agents). */
  fetch?: typeof fetch;
  /** Replaces the global WebSocket (Node before 22, tests). */
  WebSocket?: typeof WebSocket;
  /** Called with every error a request rejects with (the engine retries; this lets the app show why). */
  onError?: (error: HttpProviderError) => void;
}

/** What HttpProvider's calls reject with: a TidesyncError with the HTTP status, or why the browser refused it. */
export interface HttpProviderError extends TidesyncError {
  readonly code: 'AUTH' | 'FORBIDDEN' | 'RATE_LIMIT' | 'CURSOR_EXPIRED' | 'INVALID' | 'UNAVAILABLE';
  /** The HTTP status, when the server answered. */
  readonly status?: number;
  /**
   * The browser refused the request: 'cors' (the server is up but does not allow this page's
   * origin; the message names it) or 'mixed-content' (an https: page calling an http: server).
   */
  readonly blocked?: 'cors' | 'mixed-content';
}

/** A SyncProvider over the reference server's HTTP API and WebSocket watch. */
export declare class HttpProvider implements SyncProvider {
  constructor(options: HttpProviderOptions);
  readonly id: string;
  readonly mode: 'direct';
  readonly url: string;
  pull(req: PullRequest): Promise<PullResponse>;
  push(batch: PushBatch): Promise<PushResult>;
  subscribe(scope: SyncScope, tables: string[],
            onChanges: (changes: SyncChange[], meta?: { fromCursor?: number }) => void,
            onStatus?: (s: 'connected' | 'disconnected' | 'error', error?: Error) => void): Promise<() => void>;
  updateCursor(scope: SyncScope, deviceId: string, version: number): Promise<void>;
  dispose(): void;
}

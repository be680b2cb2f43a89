// Types of live_query.js and sync_status.js (re-exported by the entry).
import type { ChangeStamp, SyncStatus } from './tidesync.js';
import type { Reader, SyncEngine } from './index.js';

export interface Observer<T> {
  next?(value: T): void;
  error?(err: unknown): void;
  complete?(): void;
}

export interface Unsubscribable {
  unsubscribe(): void;
  readonly closed: boolean;
}

/** The TC39/RxJS observable shape: Svelte stores, RxJS `from()` and `useSyncExternalStore` accept it. */
export interface Observable<T> {
  subscribe(observer: Observer<T> | ((value: T) => void), error?: (err: unknown) => void): Unsubscribable;
}

/**
 * `fn(reader)`'s result now and whenever a write that can change it commits (here, pulled,
 * or in another tab). One read-only transaction per run; only changed results are emitted.
 */
export function liveQuery<R>(engine: SyncEngine, fn: (reader: Reader) => R | Promise<R>): Observable<R>;

/** Resolves once the server has acknowledged this write; rejects with a TidesyncError if it is dead-lettered. */
export function synced(engine: SyncEngine, opIdOrStamp: string | ChangeStamp): Promise<void>;

/** `engine.status()` now, then whenever it changes. */
export function observeStatus(engine: SyncEngine): Observable<SyncStatus>;

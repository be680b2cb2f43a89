// Types of the package entry (`tidesync`). The value types come from the
// engine's generated declarations (tidesync.d.ts); docs/PROTOCOL.md section 4
// is the contract.
import type {
  ChangeStamp, Conflict, GcReport, GetAllOptions, OpStateInfo, PendingOp, PrimaryKey, QueryOptions, QueryPage,
  RecordStatus, SyncConfig, SyncEventMap, SyncEventName, SyncReport, SyncRun, SyncStatus,
} from './tidesync.js';
import type { Observable } from './live.js';
import type { ReadTable, Table } from './table.js';

export type {
  TableConfig, SyncConfig, ChangeStamp, PrimaryKey, GetAllOptions, PendingOp, SyncScope, SyncChange,
  PullRequest, PullResponse, PushOp, PushBatch, PushResult, SyncProvider, ChangeEvent, CapturedEvent,
  QueueFullEvent, SyncErrorEvent, SyncEventMap, SyncEventName, PullEvent, ProgressEvent,
  SubscriptionStatusEvent, ConflictVersion, Conflict, GcReport, SyncReport, SyncStatus, SyncRun, PushEvent,
  RetryEvent, StatsEvent, TidesyncErrorCode, IndexKey, QueryPosition, QueryOptions, QueryPage, SyncState,
  RecordStatus, OpStateInfo,
} from './tidesync.js';
export { liveQuery, synced, observeStatus, type Observable, type Observer, type Unsubscribable } from './live.js';
export {
  Table, ReadTable, Collection, type WhereClause, type IndexName, type IndexField, type FieldKey, type RangeKey,
} from './table.js';
export { HttpProvider, type HttpProviderOptions, type HttpProviderError } from './http_provider.js';
export { TidesyncError, type TidesyncErrorOptions } from './error.js';

/** How the engine looks after its storage (the `storage` option of `SyncEngine.open`). */
export interface StorageOptions {
  /** Ask the browser to keep the origin's storage (`navigator.storage.persist()`) at open. Default false. */
  persist?: boolean;
  /** The share of the quota above which usage is pressure (`sync.storage:action:pressure`). Default 0.8. */
  pressureRatio?: number;
}

/** `status().storage`; a field is absent where the browser lacks its API. */
export interface StorageStatus {
  /** Whether the browser keeps this origin's storage under pressure (persistent). */
  persisted?: boolean;
  /** Bytes used and the quota, for the whole origin (`navigator.storage.estimate()`), as of the last check. */
  usage?: number;
  quota?: number;
  /** Whether usage was above `pressureRatio` of the quota at the last check. */
  pressure: boolean;
  /**
   * Set when this open had to create the database although a device had used one of that
   * name here before: it was evicted or deleted from outside, and what it held that had not
   * reached the server is gone. `previousDeviceId` is that device's id.
   */
  evicted?: { previousDeviceId: string };
}

/** `sync.storage:action:pressure`: usage crossed `ratio` of the quota. */
export interface StoragePressureEvent { usage: number; quota: number; ratio: number }

/**
 * Forgets that this device used database `dbName` (the eviction marker). Call it when the
 * app deletes the database itself, or the next open reports it as evicted.
 */
export declare function forgetDevice(dbName: string): void;

/** What `init` accepts: the wasm module's URL, a Response, its bytes or a compiled module. */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/**
 * Loads the wasm module. Optional: `SyncEngine.open` loads it on first use. Call it to preload
 * or to pass the module yourself; later calls return the first call's Promise.
 */
export default function init(input?: InitInput | Promise<InitInput> | { module_or_path: InitInput | Promise<InitInput> }): Promise<void>;

/** Loads the wasm module synchronously (its bytes or a compiled module). */
export function initSync(module: BufferSource | WebAssembly.Module | { module: BufferSource | WebAssembly.Module }): void;

/** The package version. */
export function version(): string;

/** The fields the engine adds to every stored record (`order_key` on `orderKey` tables). */
export interface StoredFields {
  clock: number;
  hlc: string;
  order_key?: string;
}

/** A record as `get`/`getAll` return it: what the app wrote, plus the engine's fields. */
export type Stored<T> = T & StoredFields;

/** Options of `pendingOps`, `conflicts` and `syncRuns`. Any other key rejects with INVALID. */
export interface LimitOptions {
  limit?: number;
}

/**
 * The reads of one `read(fn)` call, all in one read-only transaction across every table:
 * what they return is one consistent state. Await only its calls inside `fn`.
 */
export declare class Reader {
  private constructor();
  get<T extends object = Record<string, unknown>>(table: string, pk: PrimaryKey): Promise<Stored<T> | undefined>;
  getAll<T extends object = Record<string, unknown>>(table: string, options?: QueryOptions): Promise<Stored<T>[]>;
  query<T extends object = Record<string, unknown>>(table: string, options?: QueryOptions): Promise<QueryPage<Stored<T>>>;
  count(table: string, options?: QueryOptions): Promise<number>;
  /** The sync state of each record, read with the records. */
  recordStatus(table: string, pks: readonly PrimaryKey[]): Promise<RecordStatus[]>;
  /**
   * What `getAll(table, options)` returns now, worked out from `rows` (what it returned
   * before) and the current rows of `pks` (every key changed since), without running the
   * query; `undefined` when that cannot be known (an `offset`, a multi-entry index, a
   * reached `limit` that a change left short). Live queries re-run with it.
   */
  patchAll<T extends object = Record<string, unknown>>(
    table: string, options: QueryOptions | undefined, rows: readonly Stored<T>[], pks: readonly PrimaryKey[],
  ): Promise<Stored<T>[] | undefined>;
  /**
   * The write sequence this snapshot sees: every transaction that changes rows advances it by
   * one, and `change` events carry the numbers they report (`seqs`).
   */
  writeSeq(): Promise<number>;
  /** One table's reads and query builder in this transaction, typed by its row. Throws INVALID for a bad name. */
  table<T extends object = Record<string, unknown>>(name: string): ReadTable<T>;
  /** The tables read so far. */
  readonly tables: string[];
  /** Whether a record's sync state was read. */
  readonly statusRead: boolean;
}

/**
 * A local-first database with sync, for one workspace. Every method returns a Promise that
 * rejects with a TidesyncError; only `on` is synchronous. Release it with `close()`.
 */
export declare class SyncEngine {
  private constructor();
  /**
   * Loads the wasm module if needed, then opens (creating or upgrading) the workspace's
   * database. `storage` asks for persistent storage and sets the pressure threshold.
   */
  static open(config: SyncConfig & { storage?: StorageOptions }): Promise<SyncEngine>;
  /** This device's id (a UUID kept in the database, unless the config set one). */
  readonly deviceId: string;
  /** The IndexedDB database name. */
  readonly dbName: string;

  /** Writes one record and its outbox entry in one transaction. Plain JSON data only. */
  put<T extends object>(table: string, record: T): Promise<ChangeStamp>;
  /** Writes records in one transaction; one bad record rejects them all. */
  bulkPut<T extends object>(table: string, records: readonly T[]): Promise<ChangeStamp[]>;
  /** Deletes one record, leaving a tombstone. */
  delete(table: string, pk: PrimaryKey): Promise<ChangeStamp>;
  /** Deletes records in one transaction. */
  bulkDelete(table: string, pks: readonly PrimaryKey[]): Promise<ChangeStamp[]>;
  /** The record with this key, or undefined. */
  get<T extends object = Record<string, unknown>>(table: string, pk: PrimaryKey): Promise<Stored<T> | undefined>;
  /** The rows of a query along the primary key or an index (all rows without options). */
  getAll<T extends object = Record<string, unknown>>(table: string, options?: QueryOptions): Promise<Stored<T>[]>;
  /** One page of a query: `{ rows, next }`; pass `next` as the next page's `after`. */
  query<T extends object = Record<string, unknown>>(table: string, options?: QueryOptions): Promise<QueryPage<Stored<T>>>;
  /** How many rows a query's condition selects (all rows of the table without options). */
  count(table: string, options?: QueryOptions): Promise<number>;
  /** Runs `fn(reader)` over one read-only transaction across every table; resolves to its result. */
  read<R>(fn: (reader: Reader) => R | Promise<R>): Promise<R>;
  /**
   * A table typed by its row: `get`, `put`, queries, the `where`/`orderBy` builder and live
   * queries carry `T`. Synchronous; throws INVALID for a name that is not a non-empty string
   * (an undeclared table rejects at the first call).
   */
  table<T extends object = Record<string, unknown>>(name: string): Table<T>;
  /** A live query: `fn` re-runs whenever a write that can change its result commits. */
  liveQuery<R>(fn: (reader: Reader) => R | Promise<R>): Observable<R>;
  /** The sync state of each record (`synced`, `pending`, `inFlight`, `failed`). */
  recordStatus(table: string, pks: readonly PrimaryKey[]): Promise<RecordStatus[]>;
  /** Where an op is while in the outbox; undefined once the server acknowledged it. */
  opState(opId: string): Promise<OpStateInfo | undefined>;
  /** Resolves once the server has acknowledged this write; rejects if it is dead-lettered. */
  synced(opIdOrStamp: string | ChangeStamp): Promise<void>;
  /** The status now, then whenever it changes. */
  observeStatus(): Observable<SyncStatus>;

  /** Pushes everything, then pulls until caught up. */
  syncNow(): Promise<SyncReport>;
  /** Starts or resumes syncing (after an AUTH pause, once the app has a fresh token). INVALID without a provider. */
  start(): Promise<void>;
  /** Pauses syncing; writes are still captured. INVALID without a provider. */
  stop(): Promise<void>;
  /** Closes the engine and its database and calls the provider's dispose(). Later calls reject with CLOSED. */
  close(): Promise<void>;

  status(): Promise<SyncStatus & { storage: StorageStatus }>;
  /** The outbox in FIFO order (pending, in-flight and failed ops). */
  pendingOps(options?: LimitOptions): Promise<PendingOp[]>;
  /** The dead letters: ops rejected permanently or past maxAttempts. */
  failedOps(): Promise<PendingOp[]>;
  /** Queues failed ops again (all, or these op ids); resolves to how many. */
  retryFailed(opIds?: readonly string[]): Promise<number>;
  /** Drops these failed ops and gives their records the server's version back; resolves to how many. */
  discardFailed(opIds: readonly string[]): Promise<number>;
  /** The conflict journal, newest first (default limit 100). */
  conflicts(options?: LimitOptions): Promise<Conflict[]>;
  /** The sync run log, newest first (default limit 20). `syncRuns(20)` (positional) still works. */
  syncRuns(options?: LimitOptions | number): Promise<SyncRun[]>;
  /** Purges tombstones and journal rows past retentionMs now (also done hourly). */
  collectGarbage(): Promise<GcReport>;

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends SyncEventName>(event: K, handler: (payload: SyncEventMap[K]) => void): () => void;
  on(event: 'sync.storage:action:pressure', handler: (payload: StoragePressureEvent) => void): () => void;
}

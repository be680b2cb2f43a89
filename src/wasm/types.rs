//! TypeScript declarations for the values that cross the JS boundary. They go
//! into the generated `tidesync.d.ts` beside the class declarations that
//! wasm-bindgen derives from the exported signatures; `tsc --noEmit` checks a
//! typed usage file against the result (tests/types).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** One app table. */
export interface TableConfig {
  name: string;
  /** Field holding the primary key (default "id"). Keys are strings or finite numbers. */
  primaryKey?: string;
  /**
   * Indexes to query by: a field (`'thread_id'`), a compound index as an array of fields
   * (`['thread_id', 'order_key']`, named `'[thread_id+order_key]'`) or in that string form,
   * `'&field'` for a unique index, `'*field'` for a multi-entry one. A change here upgrades
   * the database in place on the next open.
   */
  indexes?: (string | string[])[];
  /** Give records an `order_key` from the HLC at creation (stable order across devices). */
  orderKey?: boolean;
  /**
   * Your own merge for conflicts (a remote change meeting an unsynced local write).
   * Each side is the record, or null for a delete. Return the merged record (written
   * as a new local write, so every device converges on it), or null to keep LWW's choice.
   */
  resolve?: (local: Record<string, unknown> | null, remote: Record<string, unknown> | null) =>
    Record<string, unknown> | null | undefined;
}

/** Options of SyncEngine.open. Any other key rejects with INVALID, naming it. */
export interface SyncConfig {
  workspaceId: string;
  projectId?: string;
  deviceId?: string;
  /** Default `tidesync-${workspaceId}`. */
  dbName?: string;
  tables: TableConfig[];
  provider?: SyncProvider;
  autoSync?: boolean;
  batchSize?: number;
  pullLimit?: number;
  backoffMs?: number[];
  maxAttempts?: number;
  maxPendingOps?: number;
  maxClockDriftMs?: number;
  /** How long tombstones and journal rows are kept before local GC (default 30 days, at least 60000). */
  retentionMs?: number;
  /** The commit hint of every write transaction (IndexedDB's `durability`; default: the browser's own). */
  durability?: 'default' | 'strict' | 'relaxed';
}

/** The version of one write. */
export interface ChangeStamp {
  clock: number;
  hlc: string;
  deviceId: string;
  opId: string;
}

export type PrimaryKey = string | number;

/** The options of `getAll` (see `QueryOptions`). */
export type GetAllOptions = QueryOptions;

/**
 * One outbox entry, as pendingOps() and failedOps() return it. These fields and no others.
 */
export interface PendingOp {
  /** FIFO position in the outbox (ops are pushed in ascending seq). */
  seq: number;
  /** The op's id: the idempotency key the server sees, and what retryFailed/discardFailed take. */
  opId: string;
  tableName: string;
  pk: PrimaryKey;
  op: 'put' | 'delete';
  /** The version this op writes. */
  stamp: ChangeStamp;
  /** 'pending': queued (a newer write to the record still merges into it); 'inFlight': in a push
   *  awaiting its answer; 'failed': dead-lettered (see failedOps). */
  state: 'pending' | 'inFlight' | 'failed';
  /** Op-level failures (`success: false`) so far; transport failures count none. */
  attempts: number;
  /** When the op was queued, ms since the epoch. */
  createdAt: number;
  /** The last error the server or provider gave for this op. */
  lastError?: string;
  /** For a put: the record this op pushes (absent for a delete). */
  payload?: Record<string, unknown>;
}

export interface SyncScope { workspaceId: string; projectId?: string }

export interface SyncChange {
  tableName: string;
  pk: PrimaryKey;
  op: 'put' | 'delete';
  payload?: Record<string, unknown>;
  serverVersion: number;
  stamp: ChangeStamp;
}

/** `rescan: true` marks the pages of a full pull after CURSOR_EXPIRED: serve them below the purge watermark. */
export interface PullRequest { scope: SyncScope; cursor: number; limit: number; tables?: string[]; rescan?: boolean }
export interface PullResponse { changes: SyncChange[]; nextCursor: number; hasMore: boolean; remaining?: number }
export interface PushOp { opId: string; tableName: string; op: 'put' | 'delete'; pk: PrimaryKey; payload?: Record<string, unknown>; stamp: ChangeStamp }
export interface PushBatch { scope: SyncScope; deviceId: string; ops: PushOp[] }
/**
 * One answer per op. An op that was not applied (`success: true` without `serverVersion`)
 * carries `current`, the record's state on the server (docs/PROTOCOL.md section 2).
 */
export interface PushResult {
  results: { opId: string; success: boolean; serverVersion?: number; error?: string; code?: string;
             retryable?: boolean; current?: SyncChange }[];
  serverVersion?: number;
}

/** A backend, supplied by the app (docs/PROTOCOL.md section 3). */
export interface SyncProvider {
  id: string;
  mode: 'direct' | 'gateway';
  pull(req: PullRequest): Promise<PullResponse>;
  push(batch: PushBatch): Promise<PushResult>;
  subscribe(scope: SyncScope, tables: string[],
            onChanges: (changes: SyncChange[], meta?: { fromCursor?: number }) => void,
            onStatus?: (s: 'connected' | 'disconnected' | 'error', error?: Error) => void): Promise<() => void>;
  updateCursor(scope: SyncScope, deviceId: string, version: number): Promise<void>;
  dispose?(): void | Promise<void>;
}

/** `seqs`: the write sequence numbers of the transactions reported (see `Reader.writeSeq`). */
export interface ChangeEvent { table: string; pks: PrimaryKey[]; source: 'local' | 'remote' | 'tab'; seqs: number[] }
export interface CapturedEvent { table: string; opIds: string[]; coalesced: number; pending: number }
export interface QueueFullEvent { pending: number; maxPendingOps: number; waiting: number }
/** `code` is a TidesyncError code, or REJECTED (ops dead-lettered) or HANDLER (an event handler threw). */
export interface SyncErrorEvent { code: string; message: string; retryable: boolean; opIds?: string[] }

/** Event names and their payloads. */
export interface SyncEventMap {
  'change': ChangeEvent;
  'sync.op:action:captured': CapturedEvent;
  'sync.queue:action:full': QueueFullEvent;
  'sync.error:action': SyncErrorEvent;
  'sync.push:action:before': PushEvent;
  'sync.push:action:after': PushEvent;
  'sync.pull:action:received': PullEvent;
  'sync.conflict:action:detected': Conflict;
  'sync.retry:action': RetryEvent;
  'sync.stats:action': StatsEvent;
  'sync.subscription:action:statusChange': SubscriptionStatusEvent;
  'sync.bootstrap:action:progress': ProgressEvent;
}
export type SyncEventName = keyof SyncEventMap;

/** A pull page, subscription batch or rescan was applied. */
export interface PullEvent { changes: number; applied: number; cursor: number; source: 'pull' | 'subscription' | 'rescan' }
/** Bootstrap or rescan progress: changes in this page (they add up), what the server says is left. */
export interface ProgressEvent { applied: number; remaining?: number; cursor: number }
export interface SubscriptionStatusEvent { status: 'connected' | 'disconnected' | 'error'; attempt: number }
/** One side of a conflict. */
export interface ConflictVersion { op: 'put' | 'delete'; payload?: Record<string, unknown>; stamp: ChangeStamp }
/** A remote change that met an unsynced local write (the conflict journal, and its event). */
export interface Conflict {
  id?: number; table: string; pk: PrimaryKey;
  local: ConflictVersion; remote: ConflictVersion; winner: 'local' | 'remote';
  /** When it was detected, ms since the epoch. */
  at: number;
}

/** What collectGarbage() removed. */
export interface GcReport { tombstones: number; conflicts: number; runs: number }

/** What syncNow() resolves to. */
export interface SyncReport { pushed: number; pulled: number; conflicts: number; failed: number; durationMs: number }

/** What status() resolves to. */
export interface SyncStatus {
  online: boolean;
  /**
   * 'local' (no provider), 'idle', 'pushing', 'pulling', 'bootstrapping', 'rescanning',
   * 'backoff', 'paused' (AUTH), 'offline', 'closed'.
   */
  phase: string;
  pendingOps: number;
  failedOps: number;
  cursor: number;
  lastSyncAt: number | null;
  lastError: { code: string; message: string } | null;
  /** Whether this engine holds the database's lock and pushes its outbox. */
  leader: boolean;
}

/** One row of sync_runs. */
export interface SyncRun {
  id: number; startedAt: number; finishedAt: number;
  pushed: number; failed: number; retried: number; batches: number; error?: string;
}

export interface PushEvent { opIds: string[]; sent?: number; pushed?: number; failed?: number; retried?: number }
export interface RetryEvent { attempt: number; delayMs: number; opIds: string[]; code: string }
export interface StatsEvent { pending: number; failed: number; pushed: number; runMs: number; cursor: number }

/** The codes of TidesyncError (the class is exported by the package entry). */
export type TidesyncErrorCode = 'INVALID' | 'AUTH' | 'FORBIDDEN' | 'RATE_LIMIT' | 'CURSOR_EXPIRED' | 'UNAVAILABLE'
    | 'CLOCK_DRIFT' | 'QUOTA' | 'STORAGE' | 'CLOSED';
"#;

#[wasm_bindgen]
extern "C" {
    /// `{ limit }` options (`pendingOps`, `conflicts`, `syncRuns`).
    #[wasm_bindgen(typescript_type = "{ limit?: number }")]
    pub type LimitArg;
    /// A list of op ids.
    #[wasm_bindgen(typescript_type = "string[]")]
    pub type OpIdsArg;
}

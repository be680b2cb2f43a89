// The package entry (`tidesync`): SyncEngine, init, TidesyncError and
// HttpProvider. SyncEngine wraps the wasm engine (tidesync.js) so that
//   - `SyncEngine.open` loads the wasm module on first use (no `init()` first),
//   - every call returns a Promise and rejects with a TidesyncError (none
//     throws synchronously; `on` returns its unsubscribe function at once),
//   - `close()` is the one call that releases an engine.
import wasmInit, { initSync as wasmInitSync, SyncEngine as WasmEngine, version } from './tidesync.js';
import { TidesyncError, asTidesyncError } from './error.js';
import { liveQuery } from './live_query.js';
import { observeStatus, synced } from './sync_status.js';
import { ReadTable, Table } from './table.js';

export { HttpProvider } from './http_provider.js';
export { TidesyncError, version, liveQuery, synced, observeStatus };
export { Table, ReadTable, Collection, WhereClause } from './table.js';

let loading = null;

/**
 * Loads the wasm module. Optional: `SyncEngine.open` calls it. Call it to
 * preload, or to give the module's URL, Response, bytes or WebAssembly.Module
 * yourself. Later calls return the first call's Promise.
 */
export default function init(input) {
  if (loading === null) {
    const arg = input === undefined || isInitObject(input) ? input : { module_or_path: input };
    loading = wasmInit(arg).then(
      () => undefined,
      (e) => {
        loading = null;
        throw new TidesyncError('UNAVAILABLE',
          `tidesync: the wasm module (tidesync_bg.wasm) did not load: ${e?.message ?? e}. A bundler must ` +
          'serve it as an asset (Vite: exclude "tidesync" from optimizeDeps in dev), or pass its URL to init(url).',
          { cause: e });
      },
    );
  }
  return loading;
}

/** Loads the wasm module synchronously from its bytes or a compiled WebAssembly.Module. */
export function initSync(module) {
  wasmInitSync(isInitObject(module) ? module : { module });
  loading = Promise.resolve();
}

function isInitObject(v) {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

function fail(e) {
  throw asTidesyncError(e);
}

/** Runs a call on the wasm engine as a Promise that rejects with a TidesyncError. */
function call(engine, method, args) {
  try {
    return Promise.resolve(engine[method](...args)).then(undefined, fail);
  } catch (e) {
    return Promise.reject(asTidesyncError(e));
  }
}

const token = Symbol('SyncEngine');

/** The reads of one `read(fn)` call, all in one read-only transaction. */
class Reader {
  #r;

  constructor(reader) {
    this.#r = reader;
  }

  get(table, pk) { return call(this.#r, 'get', [table, pk]); }
  getAll(table, options) { return call(this.#r, 'getAll', [table, options]); }
  query(table, options) { return call(this.#r, 'query', [table, options]); }
  count(table, options) { return call(this.#r, 'count', [table, options]); }
  recordStatus(table, pks) { return call(this.#r, 'recordStatus', [table, pks]); }
  patchAll(table, options, rows, pks) { return call(this.#r, 'patchAll', [table, options, rows, pks]); }
  writeSeq() { return call(this.#r, 'writeSeq', []); }
  /** One table's reads (and the query builder) in this transaction: see table.js. */
  table(name) { return new ReadTable(this, name, (fn) => fn(this)); }
  /** The tables read so far. */
  get tables() { return this.#r.tables; }
  /** Whether a record's sync state was read. */
  get statusRead() { return this.#r.statusRead; }
}

/** A local-first database with sync, for one workspace (docs/PROTOCOL.md section 4). */
export class SyncEngine {
  #e;

  /** Use `await SyncEngine.open(config)`. */
  constructor(key, engine) {
    if (key !== token) throw new TypeError('SyncEngine: use `await SyncEngine.open(config)`');
    this.#e = engine;
  }

  /** Loads the wasm module if needed, then opens (creating or upgrading) the database. */
  static open(config) {
    return init()
      .then(() => WasmEngine.open(config))
      .then((engine) => new SyncEngine(token, engine), fail);
  }

  /** This device's id (kept in the database). */
  get deviceId() {
    return this.#e.deviceId;
  }

  /** The IndexedDB database name. */
  get dbName() {
    return this.#e.dbName;
  }

  put(table, record) { return call(this.#e, 'put', [table, record]); }
  bulkPut(table, records) { return call(this.#e, 'bulkPut', [table, records]); }
  delete(table, pk) { return call(this.#e, 'delete', [table, pk]); }
  bulkDelete(table, pks) { return call(this.#e, 'bulkDelete', [table, pks]); }
  get(table, pk) { return call(this.#e, 'get', [table, pk]); }
  getAll(table, options) { return call(this.#e, 'getAll', [table, options]); }
  query(table, options) { return call(this.#e, 'query', [table, options]); }
  count(table, options) { return call(this.#e, 'count', [table, options]); }
  /**
   * Runs `fn(reader)` over one read-only transaction across every table and
   * resolves to what it returns. `fn` must await only the reader's calls.
   */
  read(fn) {
    if (typeof fn !== 'function') {
      return Promise.reject(new TidesyncError('INVALID', 'fn: must be a function', { retryable: false, path: 'fn' }));
    }
    return call(this.#e, 'read', [(r) => fn(new Reader(r))]);
  }
  recordStatus(table, pks) { return call(this.#e, 'recordStatus', [table, pks]); }
  opState(opId) { return call(this.#e, 'opState', [opId]); }
  /** A table's reads, writes, query builder and live queries: see table.js. Throws INVALID for a bad name. */
  table(name) { return new Table(this, name); }
  /** A live query: see `liveQuery`. */
  liveQuery(fn) { return liveQuery(this, fn); }
  /** Resolves once the server has acknowledged this write: see `synced`. */
  synced(opIdOrStamp) { return synced(this, opIdOrStamp); }
  /** An observable of `status()`: see `observeStatus`. */
  observeStatus() { return observeStatus(this); }
  pendingOps(options) { return call(this.#e, 'pendingOps', [options]); }
  failedOps() { return call(this.#e, 'failedOps', []); }
  retryFailed(opIds) { return call(this.#e, 'retryFailed', [opIds]); }
  discardFailed(opIds) { return call(this.#e, 'discardFailed', [opIds]); }
  conflicts(options) { return call(this.#e, 'conflicts', [options]); }
  syncRuns(options) { return call(this.#e, 'syncRuns', [options]); }
  collectGarbage() { return call(this.#e, 'collectGarbage', []); }
  status() { return call(this.#e, 'status', []); }
  syncNow() { return call(this.#e, 'syncNow', []); }
  /** Starts (or resumes, after an AUTH pause) syncing; rejects with INVALID without a provider. */
  start() { return call(this.#e, 'start', []).then(() => undefined); }
  /** Pauses syncing; writes are still captured. */
  stop() { return call(this.#e, 'stop', []).then(() => undefined); }

  /**
   * Subscribes to an event; returns the function that unsubscribes. The one
   * synchronous call: an unknown event name throws a TidesyncError (INVALID).
   */
  on(event, handler) {
    if (typeof handler !== 'function') {
      throw new TidesyncError('INVALID', 'handler: must be a function', { retryable: false, path: 'handler' });
    }
    try {
      return this.#e.on(event, handler);
    } catch (e) {
      throw asTidesyncError(e);
    }
  }

  /**
   * Closes the engine and its database and disposes of its provider. Later
   * calls reject with CLOSED. The engine's memory is released when it is
   * garbage-collected; there is nothing else to call.
   */
  close() { return call(this.#e, 'close', []).then(() => undefined); }
}

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
import { checkEviction, forgetDevice, isPersisted, requestPersist, watchPressure } from './storage.js';
import { ReadTable, Table } from './table.js';

export { HttpProvider } from './http_provider.js';
export { TidesyncError, version, liveQuery, synced, observeStatus, forgetDevice };
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
const PRESSURE = 'sync.storage:action:pressure';

/** The `storage` option of `SyncEngine.open`, checked: `{ persist, pressureRatio }`. */
function storageOptions(v) {
  const bad = (path, rule) => new TidesyncError('INVALID', `${path}: ${rule}`, { retryable: false, path });
  if (v === undefined) return { persist: false, pressureRatio: 0.8 };
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad('storage', 'must be an object');
  for (const k of Object.keys(v)) {
    if (k !== 'persist' && k !== 'pressureRatio') throw bad(`storage.${k}`, 'is not an option (persist, pressureRatio)');
  }
  const { persist = false, pressureRatio = 0.8 } = v;
  if (typeof persist !== 'boolean') throw bad('storage.persist', 'must be a boolean');
  if (typeof pressureRatio !== 'number' || !(pressureRatio > 0 && pressureRatio <= 1)) {
    throw bad('storage.pressureRatio', 'must be a number above 0 and at most 1');
  }
  return { persist, pressureRatio };
}

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
  #storage = {};
  #pressure = new Set();
  #watch = null;

  /** Use `await SyncEngine.open(config)`. */
  constructor(key, engine) {
    if (key !== token) throw new TypeError('SyncEngine: use `await SyncEngine.open(config)`');
    this.#e = engine;
  }

  /**
   * Loads the wasm module if needed, then opens (creating or upgrading) the
   * database; `config.storage` asks for persistent storage and sets when
   * usage counts as pressure (see storage.js).
   */
  static async open(config) {
    let options;
    let rest = config;
    if (isInitObject(config)) {
      ({ storage: options, ...rest } = config);
    }
    const storage = storageOptions(options);
    await init();
    const engine = new SyncEngine(token, await WasmEngine.open(rest).catch(fail));
    await engine.#watchStorage(storage);
    return engine;
  }

  async #watchStorage({ persist, pressureRatio }) {
    const e = this.#e;
    this.#storage = {
      persisted: await isPersisted(),
      evicted: checkEviction(e.dbName, e.createdDatabase, e.deviceId),
    };
    // Not awaited: Firefox asks the user, and the answer may take forever.
    if (persist) {
      requestPersist().then((granted) => {
        if (granted !== undefined) this.#storage.persisted = granted;
      });
    }
    const report = (event) => {
      for (const handler of this.#pressure) handler(event);
    };
    this.#watch = watchPressure(e, pressureRatio, report);
    await this.#watch.first;
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
  /**
   * The sync status, with `storage`: `{ persisted, usage, quota, pressure,
   * evicted }`, usage and quota as of the pressure watch's last check (no
   * `estimate()` per call: observeStatus calls this after every write).
   */
  status() {
    return call(this.#e, 'status', []).then((s) => ({
      ...s,
      storage: { ...this.#storage, ...this.#watch?.last(), pressure: this.#watch?.over() ?? false },
    }));
  }
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
    if (event === PRESSURE) {
      this.#pressure.add(handler);
      return () => this.#pressure.delete(handler);
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
  close() {
    this.#watch?.stop();
    return call(this.#e, 'close', []).then(() => undefined);
  }
}

// Live queries: a read function that re-runs whenever a write that can
// change its result commits, in this tab, pulled from the server, or made
// in another tab (the engine's `change` events cover all three).
//
// - Each run is one `engine.read(fn)`: one read-only IndexedDB transaction
//   over every table, so a result never mixes the state before and after
//   one write.
// - Only the tables the function read are watched; a function that reads a
//   record's sync state (`reader.recordStatus`) also re-runs when the outbox
//   moves (captured, pushed, failed).
// - Re-runs are incremental where that is exact. A run records the reads
//   the function made and what they returned. When the notices since then
//   name a few keys per table and every read of a changed table was a `get`
//   or a `getAll`, the next run reads only those keys (`reader.patchAll`
//   works out each `getAll`'s new rows from its old ones) and calls the
//   function again on the recorded reads. It trusts that only if the
//   snapshot's write sequence (`reader.writeSeq`) shows the notice of every
//   transaction up to it was heard (a tab's notice can still be on its way);
//   otherwise, or if the function now reads something else, it reads in
//   full. Unchanged rows stay the same objects from one result to the next.
// - Bursts coalesce: notices that arrive while a run is waiting or running
//   cause one more run, not one per notice (a pulled page of 10,000 records
//   is one notice per table).
// - An observer hears only results that differ from the last one it got
//   (plain data compared in depth, stopping at the first difference; other
//   objects only equal themselves).
//
// The returned object has the TC39/RxJS observable shape:
// `subscribe(observer | next) -> { unsubscribe }`, which Svelte stores,
// RxJS `from()` and React's `useSyncExternalStore` (see tidesync/react)
// accept as they are.

const OUTBOX_EVENTS = ['sync.op:action:captured', 'sync.push:action:after', 'sync.stats:action'];

/** Nothing emitted yet. */
const NOTHING = Symbol('nothing');

/**
 * Whether two results are the same data: plain objects, arrays and
 * primitives compared in depth, stopping at the first difference (no
 * serialisation of a large result on every run). Anything else (a Map, a
 * Date, a class instance) is equal only to itself.
 */
function same(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
    return true;
  }
  const pa = Object.getPrototypeOf(a);
  if ((pa !== Object.prototype && pa !== null) || Object.getPrototypeOf(b) !== pa || Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || !same(a[k], b[k])) return false;
  return true;
}

/** Above this many changed keys in one table, a re-run reads in full. */
const MAX_PATCH_KEYS = 64;
/** Above this many transactions since the last run, a re-run reads in full. */
const MAX_PATCH_WRITES = 1024;

/** The reads a run made: recorded from a reader, or replayed from a record. */
class Reads {
  /** `reader`: the run's reader (recording); `replay`: recorded reads to serve instead. */
  constructor(reader, replay, tableOf) {
    this.reader = reader;
    this.replay = replay;
    this.calls = [];
    this.missed = false;
    const read = (method) => (table, ...args) => this.call(method, table, args);
    this.view = {
      get: read('get'),
      getAll: read('getAll'),
      query: read('query'),
      count: read('count'),
      recordStatus: read('recordStatus'),
      get tables() { return reader ? reader.tables : [...new Set(replay.map((c) => c.table))]; },
      get statusRead() { return reader ? reader.statusRead : false; },
    };
    // The typed handle reads through this view (the engine's reader has it).
    if (tableOf) this.view.table = (name) => tableOf.call(this.view, name);
  }

  call(method, table, args) {
    if (this.replay) {
      const c = this.replay[this.calls.length];
      if (!c || c.method !== method || c.table !== table || !same(c.args, args)) {
        this.missed = true;
        return Promise.reject(new Error('liveQuery: the read function read something else'));
      }
      this.calls.push(c);
      return Promise.resolve(Array.isArray(c.result) ? c.result.slice() : c.result);
    }
    const c = { method, table, args, result: undefined };
    this.calls.push(c);
    return this.reader[method](table, ...args).then((result) => {
      // A copy: the function may sort or splice what it got.
      c.result = Array.isArray(result) ? result.slice() : result;
      return result;
    });
  }
}

class Subscription {
  constructor(engine, querier, observer) {
    this.engine = engine;
    this.querier = querier;
    this.observer = observer;
    this.closed = false;
    this.running = false;
    this.again = false;
    this.tables = null;
    this.readsStatus = false;
    this.last = NOTHING;
    // What the last run read, the write sequence its snapshot saw, the
    // sequence numbers heard above it, and the keys changed since (by
    // table; `null`: too many or unknown).
    this.calls = null;
    this.tableOf = null;
    this.seq = -1;
    this.heard = new Set();
    this.dirty = new Map();
    this.offs = [];
    this.offs.push(engine.on('change', (e) => this.notice(e)));
    for (const name of OUTBOX_EVENTS) {
      this.offs.push(engine.on(name, () => {
        if (!this.readsStatus) return;
        this.calls = null;
        this.schedule();
      }));
    }
    this.schedule();
  }

  notice(e) {
    for (const s of e.seqs ?? []) if (s > this.seq) this.heard.add(s);
    if (this.tables !== null && !this.tables.includes(e.table)) return;
    const keys = this.dirty.has(e.table) ? this.dirty.get(e.table) : new Set();
    if (keys === null || !Array.isArray(e.pks) || keys.size + e.pks.length > MAX_PATCH_KEYS) {
      this.dirty.set(e.table, null);
    } else {
      for (const pk of e.pks) keys.add(pk);
      this.dirty.set(e.table, keys);
    }
    this.schedule();
  }

  schedule() {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    queueMicrotask(() => this.run());
  }

  async run() {
    // At most a few back-to-back runs before emitting: a stream of writes
    // must not keep the observer from ever seeing a value.
    for (let round = 0; round < 3 && !this.closed; round++) {
      this.again = false;
      const dirty = this.dirty;
      this.dirty = new Map();
      let out;
      try {
        out = (await this.patched(dirty)) ?? (await this.full());
      } catch (err) {
        this.fail(err);
        return;
      }
      if (this.again && round < 2) continue;
      this.emit(out.result);
      break;
    }
    this.running = false;
    if (this.again && !this.closed) this.schedule();
  }

  /** A run in one snapshot that records its reads. */
  async full() {
    let reads;
    const { result, seq } = await this.engine.read(async (r) => {
      reads = new Reads(r, null, typeof r.table === 'function' ? r.table : null);
      const seq = typeof r.writeSeq === 'function' ? r.writeSeq().catch(() => -1) : Promise.resolve(-1);
      const result = await this.querier(reads.view);
      return { result, seq: await seq };
    });
    this.tables = reads.reader.tables;
    this.readsStatus = !!reads.reader.statusRead;
    this.tableOf = reads.view.table ? reads.reader.table : null;
    this.calls = this.readsStatus ? null : reads.calls;
    this.saw(seq);
    return { result };
  }

  /**
   * A run from the last one's reads and the changed keys only; `null` when
   * that would not be exact (see the top of this file).
   */
  async patched(dirty) {
    const calls = this.calls;
    if (calls === null || this.seq < 0 || dirty.size === 0) return null;
    for (const keys of dirty.values()) if (keys === null) return null;
    for (const c of calls) {
      if (dirty.has(c.table) && c.method !== 'get' && c.method !== 'getAll') return null;
    }
    const { results, seq } = await this.engine.read(async (r) => {
      const seq = r.writeSeq();
      const results = await Promise.all(calls.map((c) => {
        const keys = dirty.get(c.table);
        if (!keys) return c.result;
        if (c.method === 'get') return keys.has(c.args[0]) ? r.get(c.table, c.args[0]) : c.result;
        return r.patchAll(c.table, c.args[0], c.result, [...keys]);
      }));
      return { results, seq: await seq };
    });
    if (seq - this.seq > MAX_PATCH_WRITES) return null;
    for (let s = this.seq + 1; s <= seq; s++) if (!this.heard.has(s)) return null;
    if (calls.some((c, i) => c.method === 'getAll' && results[i] === undefined)) return null;
    const reads = new Reads(null, calls.map((c, i) => ({ ...c, result: results[i] })), this.tableOf);
    let result;
    try {
      result = await this.querier(reads.view);
    } catch (err) {
      if (reads.missed) return null;
      throw err;
    }
    if (reads.missed) return null;
    this.calls = reads.calls;
    this.saw(seq);
    return { result };
  }

  /** The last run's snapshot saw the write sequence up to `seq`. */
  saw(seq) {
    this.seq = seq;
    for (const s of this.heard) if (s <= seq) this.heard.delete(s);
  }

  emit(result) {
    if (this.closed) return;
    if (this.last !== NOTHING && same(this.last, result)) return;
    this.last = result;
    this.observer.next?.(result);
  }

  fail(err) {
    if (this.closed) return;
    this.unsubscribe();
    if (this.observer.error) this.observer.error(err);
    else queueMicrotask(() => { throw err; });
  }

  unsubscribe() {
    if (this.closed) return;
    this.closed = true;
    for (const off of this.offs) off();
    this.offs = [];
  }
}

/**
 * An observable of `querier(reader)`'s result, re-run when what it read
 * changes. See the top of this file.
 */
export function liveQuery(engine, querier) {
  if (typeof querier !== 'function') throw new TypeError('liveQuery(engine, querier): querier must be a function');
  return {
    subscribe(observerOrNext, error, complete) {
      const observer = typeof observerOrNext === 'function'
        ? { next: observerOrNext, error, complete }
        : (observerOrNext ?? {});
      const sub = new Subscription(engine, querier, observer);
      return { unsubscribe: () => sub.unsubscribe(), get closed() { return sub.closed; } };
    },
    [Symbol.observable ?? '@@observable']() {
      return this;
    },
  };
}

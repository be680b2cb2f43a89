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
    this.offs = [];
    this.offs.push(engine.on('change', (e) => {
      if (this.tables === null || this.tables.includes(e.table)) this.schedule();
    }));
    for (const name of OUTBOX_EVENTS) {
      this.offs.push(engine.on(name, () => {
        if (this.readsStatus) this.schedule();
      }));
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
      let result;
      let reader;
      try {
        result = await this.engine.read((r) => {
          reader = r;
          return this.querier(r);
        });
      } catch (err) {
        this.fail(err);
        return;
      }
      this.tables = reader ? reader.tables : [];
      this.readsStatus = !!reader && reader.statusRead;
      if (this.again && round < 2) continue;
      this.emit(result);
      break;
    }
    this.running = false;
    if (this.again && !this.closed) this.schedule();
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

// Typed tables and a Dexie-shaped query builder over the engine's queries.
//
//   const notes = engine.table('notes');
//   await notes.where(['thread_id', 'index']).equals(['t1']).reverse().limit(20).toArray();
//   await notes.where('author').anyOf('ann', 'bob').count();
//   const { rows, next } = await notes.orderBy('updated_at').limit(50).page();
//
// Every builder call only assembles a QueryOptions object (`collection.options`)
// and every terminal call hands it to the engine's getAll/query/count: the
// index walk, ranges, order and pages are the engine's (docs/PROTOCOL.md
// section 4). The one thing done here is `filter(fn)`, which runs after the
// index step: rows are fetched in keyset pages (inside one read transaction)
// until `limit` rows pass, and `offset`/`limit` then count rows that pass.
//
// Builder calls are synchronous and throw a TidesyncError (INVALID) for a
// bad argument at once; terminal calls return Promises that reject with one.
import { TidesyncError } from './error.js';

/** The index name that walks the primary key (as Dexie spells it). */
const PRIMARY_KEY = ':id';
/** Rows fetched per request while a filter looks for matches. */
const SCAN_PAGE = 500;

function invalid(path, message) {
  return new TidesyncError('INVALID', `${path}: ${message}`, { retryable: false, path });
}

function checkIndex(index, path) {
  const ok = typeof index === 'string'
    ? index !== ''
    : Array.isArray(index) && index.length > 0 && index.every((f) => typeof f === 'string' && f !== '');
  if (!ok) throw invalid(path, "must be an index name ('author', '[a+b]', ':id') or an array of field names");
  return index === PRIMARY_KEY ? undefined : index;
}

function checkCount(n, path, min) {
  if (!Number.isSafeInteger(n) || n < min) throw invalid(path, `must be an integer of ${min} or more`);
  return n;
}

/** Whether an error is the engine refusing keyset pages on a multi-entry index. */
function cannotPage(err) {
  return err instanceof TidesyncError && err.code === 'INVALID' && /(^|\.)after$/.test(err.path ?? '');
}

/**
 * The rows of `base` (index, condition, reverse, after) that pass `test`,
 * skipping the first `skip` of them and keeping at most `take` (all when
 * undefined). `src` is a Reader or an engine: its `query` and `getAll`.
 * Returns `{ rows, next? }`, `next` being the position of the last row kept
 * when `take` was reached, as the engine's pages give it; with `countOnly`,
 * `{ count }` (no row is kept).
 */
async function scan(src, table, base, test, skip, take, countOnly = false) {
  const rows = [];
  let counted = 0;
  let skipped = 0;
  let after = base.after;
  const keep = (row) => {
    if (!test(row)) return false;
    if (skipped < skip) {
      skipped += 1;
      return false;
    }
    if (countOnly) counted += 1;
    else rows.push(row);
    return true;
  };
  const done = (result) => (countOnly ? { count: counted } : result);
  for (;;) {
    const options = { ...base, limit: SCAN_PAGE };
    if (after !== undefined) options.after = after;
    let page;
    try {
      page = await src.query(table, options);
    } catch (err) {
      // A multi-entry index cannot be walked in keyset pages: read the whole
      // selection once instead (a position cannot be given then).
      if (!cannotPage(err) || base.after !== undefined) throw err;
      const all = await src.getAll(table, base);
      rows.length = 0;
      counted = 0;
      skipped = 0;
      for (const row of all) {
        if (keep(row) && take !== undefined && rows.length === take) break;
      }
      return done({ rows });
    }
    for (let i = 0; i < page.rows.length; i++) {
      if (!keep(page.rows[i]) || take === undefined || rows.length < take) continue;
      if (i === page.rows.length - 1) return page.next === undefined ? { rows } : { rows, next: page.next };
      // Stopped inside a page: the engine gives the position of that row.
      const upTo = { ...base, limit: i + 1 };
      if (after !== undefined) upTo.after = after;
      const { next } = await src.query(table, upTo);
      return next === undefined ? { rows } : { rows, next };
    }
    if (page.next === undefined || page.rows.length === 0) return done({ rows });
    after = page.next;
  }
}

/**
 * An ordered, possibly bounded selection of a table's rows: what a
 * condition or `orderBy` gives. Each modifier returns a new Collection.
 */
export class Collection {
  #table;
  #options;
  #filters;

  /** Made by `table.where(..).equals(..)`, `table.orderBy(..)` and `table.toCollection()`. */
  constructor(table, options, filters = []) {
    this.#table = table;
    this.#options = options;
    this.#filters = filters;
  }

  #with(changes, filters = this.#filters) {
    const options = { ...this.#options, ...changes };
    for (const [k, v] of Object.entries(options)) if (v === undefined) delete options[k];
    return new Collection(this.#table, options, filters);
  }

  /** The QueryOptions sent to the engine (a copy; the filter is not part of it). */
  get options() {
    return structuredClone(this.#options);
  }

  /** Walks the index the other way (calling it twice restores the order). */
  reverse() {
    return this.#with({ reverse: this.#options.reverse ? undefined : true });
  }

  /** Skips `n` rows first (rows that pass the filter, when there is one). */
  offset(n) {
    return this.#with({ offset: checkCount(n, 'offset', 0) || undefined });
  }

  /** At most `n` rows (rows that pass the filter, when there is one). */
  limit(n) {
    return this.#with({ limit: checkCount(n, 'limit', 1) });
  }

  /** Continues after a previous page's `next` (undefined: from the start). */
  after(position) {
    if (position !== undefined && (position === null || typeof position !== 'object' || !('key' in position) || !('pk' in position))) {
      throw invalid('after', "must be a page's `next` ({ key, pk }) or undefined");
    }
    return this.#with({ after: position });
  }

  /** Keeps only rows for which `fn(row)` is true; applied after the index step. */
  filter(fn) {
    if (typeof fn !== 'function') throw invalid('filter', 'must be a function');
    return this.#with({}, [...this.#filters, fn]);
  }

  /** Same as `filter` (Dexie's name). */
  and(fn) {
    return this.filter(fn);
  }

  #test() {
    const filters = this.#filters;
    return (row) => filters.every((f) => f(row));
  }

  /** The base of a filtered walk: the options without offset and limit. */
  #base() {
    const { offset, limit, ...base } = this.#options;
    return { base, skip: offset ?? 0, take: limit };
  }

  /** The rows, in the walked index's order. */
  toArray() {
    if (this.#filters.length === 0) return this.#table._src.getAll(this.#table.name, this.#options);
    const { base, skip, take } = this.#base();
    const test = this.#test();
    return this.#table._atomic((src) => scan(src, this.#table.name, base, test, skip, take)).then((p) => p.rows);
  }

  /** The first row, or undefined. */
  first() {
    return this.limit(1).toArray().then((rows) => rows[0]);
  }

  /**
   * How many rows the condition selects and the filter passes. Like
   * `engine.count`, it leaves `offset`, `limit` and `after` aside.
   */
  count() {
    const { offset, limit, after, ...options } = this.#options;
    if (this.#filters.length === 0) return this.#table._src.count(this.#table.name, options);
    const test = this.#test();
    return this.#table._atomic((src) => scan(src, this.#table.name, options, test, 0, undefined, true))
      .then((p) => p.count);
  }

  /** One page: `{ rows, next }`; pass `next` to `.after(next)` for the following page. */
  page() {
    if (this.#filters.length === 0) return this.#table._src.query(this.#table.name, this.#options);
    const { base, skip, take } = this.#base();
    const test = this.#test();
    return this.#table._atomic((src) => scan(src, this.#table.name, base, test, skip, take));
  }
}

/** The conditions of `table.where(index)`; each gives a Collection in that index's order. */
export class WhereClause {
  #table;
  #index;

  constructor(table, index) {
    this.#table = table;
    this.#index = index;
  }

  #on(condition) {
    const options = this.#index === undefined ? { ...condition } : { index: this.#index, ...condition };
    return new Collection(this.#table, options);
  }

  /** Rows whose key equals `key` (on a compound index, a shorter array selects that prefix). */
  equals(key) { return this.#on({ equals: key }); }
  /** Rows whose key is one of these: `anyOf('a', 'b')` or `anyOf(['a', 'b'])`. */
  anyOf(...keys) {
    const list = keys.length === 1 && Array.isArray(keys[0]) ? keys[0] : keys;
    return this.#on({ anyOf: list });
  }
  /** Rows between two keys; by default the lower one is included and the upper one is not. */
  between(lower, upper, includeLower, includeUpper) {
    const condition = { between: [lower, upper] };
    if (includeLower !== undefined) condition.includeLower = includeLower;
    if (includeUpper !== undefined) condition.includeUpper = includeUpper;
    return this.#on(condition);
  }
  above(key) { return this.#on({ above: key }); }
  aboveOrEqual(key) { return this.#on({ aboveOrEqual: key }); }
  below(key) { return this.#on({ below: key }); }
  belowOrEqual(key) { return this.#on({ belowOrEqual: key }); }
  /** Rows whose (string) key starts with `prefix`. */
  startsWith(prefix) { return this.#on({ startsWith: prefix }); }
}

/**
 * The reads of one table: made by `reader.table(name)` inside `read` and
 * `liveQuery`, and the base of `engine.table(name)`.
 */
export class ReadTable {
  #src;
  #atomic;

  /** @internal `src` has get/getAll/query/count/recordStatus; `atomic(fn)` runs fn(reader) in one transaction. */
  constructor(src, name, atomic) {
    if (typeof name !== 'string' || name === '') throw invalid('table', 'must be a table name');
    this.#src = src;
    this.#atomic = atomic;
    /** The table's name. */
    this.name = name;
  }

  /** @internal */
  get _src() { return this.#src; }
  /** @internal */
  _atomic(fn) { return this.#atomic(fn); }

  get(pk) { return this.#src.get(this.name, pk); }
  getAll(options) { return this.#src.getAll(this.name, options); }
  query(options) { return this.#src.query(this.name, options); }
  count(options) { return this.#src.count(this.name, options); }
  recordStatus(pks) { return this.#src.recordStatus(this.name, pks); }

  /** Starts a query on an index: a field, `'[a+b]'`, `['a', 'b']`, or `':id'` (the primary key). */
  where(index) {
    return new WhereClause(this, checkIndex(index, 'index'));
  }

  /** Every row, in the order of this index (`':id'`: the primary key). */
  orderBy(index) {
    const name = checkIndex(index, 'index');
    return new Collection(this, name === undefined ? {} : { index: name });
  }

  /** Every row, in primary key order. */
  toCollection() {
    return new Collection(this, {});
  }

  /** Every row for which `fn(row)` is true, in primary key order. */
  filter(fn) {
    return this.toCollection().filter(fn);
  }

  /** Every row, in primary key order (`getAll()`). */
  toArray() {
    return this.getAll();
  }
}

/** A table of an engine: reads, writes and live queries, typed by its row in TypeScript. */
export class Table extends ReadTable {
  #engine;

  /** Made by `engine.table(name)`. */
  constructor(engine, name) {
    super(engine, name, (fn) => engine.read(fn));
    this.#engine = engine;
  }

  put(record) { return this.#engine.put(this.name, record); }
  bulkPut(records) { return this.#engine.bulkPut(this.name, records); }
  delete(pk) { return this.#engine.delete(this.name, pk); }
  bulkDelete(pks) { return this.#engine.bulkDelete(this.name, pks); }

  /**
   * A live query on this table: `liveQuery(t => t.where('a').equals(1).toArray())`
   * (`t` is this table inside the run's read transaction; the reader is the
   * second argument), or `liveQuery(options)` for `getAll(options)`.
   */
  liveQuery(querier) {
    if (typeof querier === 'function') {
      return this.#engine.liveQuery((reader) => querier(reader.table(this.name), reader));
    }
    if (querier !== undefined && (querier === null || typeof querier !== 'object')) {
      throw invalid('querier', 'must be a function or QueryOptions');
    }
    return this.#engine.liveQuery((reader) => reader.getAll(this.name, querier));
  }
}

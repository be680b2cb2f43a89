// Types of table.js: typed tables and the query builder (re-exported by the entry).
import type { ChangeStamp, IndexKey, PrimaryKey, QueryOptions, QueryPage, QueryPosition, RecordStatus } from './tidesync.js';
import type { Observable } from './live.js';
import type { Reader, Stored } from './index.js';

/** A row field usable in an index: a field of the row, or a dotted path under one (`'meta.kind'`). */
export type IndexField<T extends object> = (keyof Stored<T> & string) | `${keyof T & string}.${string}`;

/**
 * What `where` and `orderBy` take: a field (or dotted path), a compound index as `'[a+b]'` or
 * `['a', 'b']`, or `':id'` for the primary key.
 */
export type IndexName<T extends object> = IndexField<T> | `[${string}]` | ':id' | readonly IndexField<T>[];

/** The key type of a field's index: the field's type (an array's elements for a multi-entry index). */
export type FieldKey<F> = [Exclude<F, null | undefined>] extends [string | number]
  ? Exclude<F, null | undefined>
  : Exclude<F, null | undefined> extends readonly (infer E)[]
    ? (E extends string | number ? E : IndexKey)
    : IndexKey;

/** A key type widened for range bounds (`'open' | 'closed'` compares as any string). */
export type RangeKey<K> = K extends string ? string : K extends number ? number : IndexKey;

/** The conditions of `table.where(index)`. `K` is the index's key type. */
export interface WhereClause<T extends object, K = IndexKey> {
  /** Rows whose key equals `key`; on a compound index a shorter array selects that prefix. */
  equals(key: K): Collection<T>;
  /** Rows whose key is one of these: `anyOf('a', 'b')` or `anyOf(['a', 'b'])`. */
  anyOf(keys: readonly K[]): Collection<T>;
  anyOf(...keys: K[]): Collection<T>;
  /** Rows between two keys; by default `lower` is included and `upper` is not. */
  between(lower: RangeKey<K>, upper: RangeKey<K>, includeLower?: boolean, includeUpper?: boolean): Collection<T>;
  above(key: RangeKey<K>): Collection<T>;
  aboveOrEqual(key: RangeKey<K>): Collection<T>;
  below(key: RangeKey<K>): Collection<T>;
  belowOrEqual(key: RangeKey<K>): Collection<T>;
  /** Rows whose (string) key starts with `prefix`. */
  startsWith(prefix: string): Collection<T>;
}

/**
 * An ordered selection of rows. Modifiers return a new Collection; `toArray`, `first`, `count`
 * and `page` run it (rejecting with a TidesyncError). Modifiers throw INVALID for a bad argument.
 */
export declare class Collection<T extends object> {
  private constructor();
  /** The QueryOptions sent to the engine (the filter is not part of them). */
  readonly options: QueryOptions;
  /** Walks the index the other way (twice restores the order). */
  reverse(): Collection<T>;
  /** Skips `n` rows first (with a filter: rows that pass it). */
  offset(n: number): Collection<T>;
  /** At most `n` rows (with a filter: rows that pass it). */
  limit(n: number): Collection<T>;
  /** Continues after a previous page's `next` (undefined: from the start). */
  after(position: QueryPosition | undefined): Collection<T>;
  /** Keeps rows for which `fn(row)` is true; runs after the index step, in keyset pages. */
  filter(fn: (row: Stored<T>) => boolean): Collection<T>;
  /** Same as `filter` (Dexie's name). */
  and(fn: (row: Stored<T>) => boolean): Collection<T>;
  /** The rows, in the walked index's order. */
  toArray(): Promise<Stored<T>[]>;
  /** The first row, or undefined. */
  first(): Promise<Stored<T> | undefined>;
  /** How many rows the condition selects and the filter passes (`offset`, `limit`, `after` aside). */
  count(): Promise<number>;
  /** One page: `{ rows, next }`; `.after(next)` continues. */
  page(): Promise<QueryPage<Stored<T>>>;
}

/** The reads of one table: `reader.table<T>(name)` inside `read` and `liveQuery`, and the base of `Table`. */
export declare class ReadTable<T extends object = Record<string, unknown>> {
  protected constructor();
  /** The table's name. */
  readonly name: string;
  /** The row with this key, or undefined. */
  get(pk: PrimaryKey): Promise<Stored<T> | undefined>;
  /** The rows of a query (every row without options). */
  getAll(options?: QueryOptions): Promise<Stored<T>[]>;
  /** One page of a query: `{ rows, next }`. */
  query(options?: QueryOptions): Promise<QueryPage<Stored<T>>>;
  /** How many rows a query's condition selects. */
  count(options?: QueryOptions): Promise<number>;
  /** The sync state of each record (`synced`, `pending`, `inFlight`, `failed`). */
  recordStatus(pks: readonly PrimaryKey[]): Promise<RecordStatus[]>;
  /** A condition on a single-field index; its key type is the field's. */
  where<F extends keyof Stored<T> & string>(index: F): WhereClause<T, FieldKey<Stored<T>[F]>>;
  /** A condition on a compound index, a dotted path or the primary key (`':id'`). */
  where(index: IndexName<T>): WhereClause<T>;
  /** Every row in the order of this index (`':id'`: the primary key). */
  orderBy(index: IndexName<T>): Collection<T>;
  /** Every row, in primary key order. */
  toCollection(): Collection<T>;
  /** Every row for which `fn(row)` is true, in primary key order. */
  filter(fn: (row: Stored<T>) => boolean): Collection<T>;
  /** Every row, in primary key order (`getAll()`). */
  toArray(): Promise<Stored<T>[]>;
}

/** A table of an engine, typed by its row: `engine.table<Note>('notes')`. */
export declare class Table<T extends object = Record<string, unknown>> extends ReadTable<T> {
  private constructor();
  /** Writes one row and its outbox entry in one transaction. */
  put(record: T | Stored<T>): Promise<ChangeStamp>;
  /** Writes rows in one transaction; one bad row rejects them all. */
  bulkPut(records: readonly (T | Stored<T>)[]): Promise<ChangeStamp[]>;
  /** Deletes one row, leaving a tombstone. */
  delete(pk: PrimaryKey): Promise<ChangeStamp>;
  /** Deletes rows in one transaction. */
  bulkDelete(pks: readonly PrimaryKey[]): Promise<ChangeStamp[]>;
  /**
   * A live query: `fn(table, reader)` re-runs whenever a write that can change its result commits;
   * `table` is this table inside the run's read transaction.
   */
  liveQuery<R>(fn: (table: ReadTable<T>, reader: Reader) => R | Promise<R>): Observable<R>;
  /** A live `getAll(options)`. */
  liveQuery(options?: QueryOptions): Observable<Stored<T>[]>;
}

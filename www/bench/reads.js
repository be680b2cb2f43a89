// The read side against raw IndexedDB in the same page: a compound-index
// range query, keyset paging through a whole table, and a live query's
// latency from a committed put to the observer's new value.
import init, { SyncEngine } from '/pkg/tidesync.js';
import { liveQuery } from '/pkg/live_query.js';
import { compare, deleteDb, payload, withDurability } from './common.js';

const THREADS = 100;

/** Row i of the message table: thread t(i % 100), position i / 100 in it. */
function message(i) {
  return { id: `m${String(i).padStart(7, '0')}`, thread_id: `t${i % THREADS}`, index: Math.floor(i / THREADS), body: payload };
}

function openRawMessages(name) {
  return new Promise((ok, fail) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore('messages', { keyPath: 'id' }).createIndex('[thread_id+index]', ['thread_id', 'index']);
    };
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
}

const request = (req) => new Promise((ok, fail) => { req.onsuccess = () => ok(req.result); req.onerror = () => fail(req.error); });

/** Both databases holding the same n messages (untimed). */
async function seed(n) {
  await init();
  await deleteDb('bench-reads-raw');
  await deleteDb('bench-reads-engine');
  const raw = await openRawMessages('bench-reads-raw');
  const engine = await SyncEngine.open(withDurability({
    workspaceId: 'bench', dbName: 'bench-reads-engine', maxPendingOps: n + 1,
    tables: [{ name: 'messages', indexes: [['thread_id', 'index']] }],
  }));
  for (let i = 0; i < n; i += 10000) {
    const rows = [];
    for (let j = i; j < Math.min(n, i + 10000); j++) rows.push(message(j));
    const tx = raw.transaction(['messages'], 'readwrite');
    for (const r of rows) tx.objectStore('messages').put(r);
    await new Promise((ok) => { tx.oncomplete = ok; });
    await engine.bulkPut('messages', rows);
  }
  return { raw, engine };
}

async function done({ raw, engine }) {
  raw.close();
  engine.close();
  await deleteDb('bench-reads-raw');
  await deleteDb('bench-reads-engine');
}

/** One thread's rows (n / 100 of them) by the compound index, `queries` times over different threads. */
export async function runRange(n = 100000, runs = 5, queries = 20) {
  const dbs = await seed(n);
  const per = n / THREADS;
  const check = (rows) => { if (rows.length !== per) throw new Error(`got ${rows.length} rows, not ${per}`); };
  const raw = async () => {
    const t0 = performance.now();
    for (let q = 0; q < queries; q++) {
      const t = `t${q % THREADS}`;
      const index = dbs.raw.transaction(['messages'], 'readonly').objectStore('messages').index('[thread_id+index]');
      check(await request(index.getAll(IDBKeyRange.bound([t], [t, []]))));
    }
    return performance.now() - t0;
  };
  const engine = async () => {
    const t0 = performance.now();
    for (let q = 0; q < queries; q++) {
      check(await dbs.engine.getAll('messages', { index: ['thread_id', 'index'], equals: [`t${q % THREADS}`] }));
    }
    return performance.now() - t0;
  };
  const out = await compare('compound range query', n, runs, { raw, engine }, { raw, engine }, { rowsPerQuery: per, queries });
  await done(dbs);
  return out;
}

/** Every row, in pages of `pageSize`, along the primary key and along the compound index. */
export async function runPaging(n = 100000, runs = 3, pageSize = 100) {
  const dbs = await seed(n);
  const rawPk = async () => {
    const t0 = performance.now();
    let seen = 0;
    let last;
    for (;;) {
      const store = dbs.raw.transaction(['messages'], 'readonly').objectStore('messages');
      const rows = await request(store.getAll(last === undefined ? null : IDBKeyRange.lowerBound(last, true), pageSize));
      seen += rows.length;
      if (rows.length < pageSize) break;
      last = rows[rows.length - 1].id;
    }
    if (seen !== n) throw new Error(`raw paged ${seen} of ${n}`);
    return performance.now() - t0;
  };
  // The same walk along the compound index ([thread_id, index] is unique
  // here, so an open lower bound resumes exactly).
  const rawIndex = async () => {
    const t0 = performance.now();
    let seen = 0;
    let last;
    for (;;) {
      const index = dbs.raw.transaction(['messages'], 'readonly').objectStore('messages').index('[thread_id+index]');
      const rows = await request(index.getAll(last === undefined ? null : IDBKeyRange.lowerBound(last, true), pageSize));
      seen += rows.length;
      if (rows.length < pageSize) break;
      const end = rows[rows.length - 1];
      last = [end.thread_id, end.index];
    }
    if (seen !== n) throw new Error(`raw index paged ${seen} of ${n}`);
    return performance.now() - t0;
  };
  const enginePage = (index) => async () => {
    const t0 = performance.now();
    let seen = 0;
    let after;
    do {
      const page = await dbs.engine.query('messages', { index, limit: pageSize, after });
      seen += page.rows.length;
      after = page.next;
    } while (after);
    if (seen !== n) throw new Error(`engine paged ${seen} of ${n}`);
    return performance.now() - t0;
  };
  const byPk = enginePage(undefined);
  const byIndex = enginePage(['thread_id', 'index']);
  const sides = { raw: rawPk, engine: byPk, rawIndex, index: byIndex };
  const out = await compare('keyset paging', n, runs, sides, sides, { pageSize });
  out.indexRatio = out.indexMs / out.rawIndexMs;
  await done(dbs);
  return out;
}

/** A live query over one thread of `rows` messages: committed put to the observer's new value. */
export async function runLive(rows = 1000, writes = 200) {
  await init();
  await deleteDb('bench-live');
  const engine = await SyncEngine.open(withDurability({
    workspaceId: 'bench', dbName: 'bench-live', tables: [{ name: 'messages', indexes: [['thread_id', 'index']] }],
  }));
  const seedRows = [];
  for (let i = 0; i < rows; i++) seedRows.push({ id: `l${i}`, thread_id: 't', index: i, body: payload });
  await engine.bulkPut('messages', seedRows);
  let resolveNext = null;
  let runsCount = 0;
  const sub = liveQuery(engine, async (r) => {
    runsCount++;
    return r.getAll('messages', { index: ['thread_id', 'index'], equals: ['t'] });
  }).subscribe(() => { if (resolveNext) resolveNext(performance.now()); });
  await new Promise((ok) => { resolveNext = ok; });
  const lat = [];
  for (let w = 0; w < writes; w++) {
    const next = new Promise((ok) => { resolveNext = ok; });
    await engine.put('messages', { id: `l${w % rows}`, thread_id: 't', index: w % rows, body: `${payload}${w}` });
    const committed = performance.now();
    const seen = await next;
    lat.push(Math.max(0, seen - committed));
  }
  sub.unsubscribe();
  engine.close();
  await deleteDb('bench-live');
  // The floor beside it: the same 1,000 rows read once with raw IndexedDB
  // (one transaction, one getAll on the compound index), as often.
  await deleteDb('bench-live-raw');
  const raw = await openRawMessages('bench-live-raw');
  await new Promise((ok) => { const tx = raw.transaction(['messages'], 'readwrite'); for (const r of seedRows) tx.objectStore('messages').put(r); tx.oncomplete = ok; });
  const reads = [];
  for (let w = 0; w < writes; w++) {
    const t0 = performance.now();
    const index = raw.transaction(['messages'], 'readonly').objectStore('messages').index('[thread_id+index]');
    await request(index.getAll(IDBKeyRange.bound(['t'], ['t', []])));
    reads.push(performance.now() - t0);
  }
  raw.close();
  await deleteDb('bench-live-raw');
  const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
  return { scenario: 'live query', n: rows, writes, p50Ms: pct(lat, 0.5), p99Ms: pct(lat, 0.99), maxMs: Math.max(...lat),
    rawReadP50Ms: pct(reads, 0.5), rawReadP99Ms: pct(reads, 0.99), runs: runsCount };
}

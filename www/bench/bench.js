// Benchmark scenarios, each next to its baseline in the same page and session.
// ./scripts/bench drives this page with playwright-core and reads the results.
import init, { SyncEngine } from '/pkg/tidesync.js';
import initTesting, { MemoryServer } from '/pkg/testing/index.js';
import Dexie from '/node_modules/dexie/dist/dexie.mjs';
import { compare, deleteDb, leader, outboxRow, rawPagedWrite, records, timedOnRaw, txDone, withDurability } from './common.js';
import { runLatency } from './latency.js';
import { runScale } from './scale.js';
import { runLive, runPaging, runRange } from './reads.js';
import { runOpen } from './open.js';

// Baseline: a hand-written loop writing each record and an outbox entry that
// copies it, in one readwrite transaction. With `readFirst`, the floor of a
// stamped write (a stamp needs the record's current clock): every record is
// `get` first, and the writes start once all reads are back.
function rawCapture(n, run, readFirst = false) {
  const recs = records(n, 'r');
  return timedOnRaw(`bench-raw${readFirst ? 'read' : ''}-${run}`, (db) => {
    const tx = db.transaction(['notes', 'pending_ops'], 'readwrite');
    const notes = tx.objectStore('notes');
    const ops = tx.objectStore('pending_ops');
    const writeAll = () => {
      const now = Date.now();
      for (const r of recs) {
        notes.put(r);
        ops.add(outboxRow(r.id, 'put', r, now));
      }
    };
    if (readFirst) {
      let left = recs.length;
      for (const r of recs) notes.get(r.id).onsuccess = () => { if (--left === 0) writeAll(); };
    } else {
      writeAll();
    }
    return txDone(tx);
  });
}

async function engineCapture(n, run) {
  const dbName = `bench-engine-${run}`;
  await deleteDb(dbName);
  const engine = await SyncEngine.open(withDurability({ workspaceId: 'bench', dbName, tables: [{ name: 'notes', indexes: ['thread_id'] }] }));
  const recs = records(n, 'e');
  const t0 = performance.now();
  await engine.bulkPut('notes', recs);
  const ms = performance.now() - t0;
  engine.close();
  await deleteDb(dbName);
  return ms;
}

// The design tidesync replaces: Dexie 4 with hooks that write a pending op,
// carrying a copy of the record, in the same transaction as each write.
async function openDexie(name) {
  await Dexie.delete(name);
  const db = new Dexie(name);
  db.version(1).stores({ notes: 'id, thread_id', pending_ops: '++seq' });
  const queue = (op) => (primKey, obj, tx) => {
    tx.table('pending_ops').add(outboxRow(primKey ?? obj.id, op, obj));
  };
  db.notes.hook('creating', queue('put'));
  db.notes.hook('updating', (mods, primKey, obj, tx) => queue('put')(primKey, { ...obj, ...mods }, tx));
  await db.open();
  return db;
}

async function dexieCapture(n, run) {
  const name = `bench-dexie-${run}`;
  const db = await openDexie(name);
  const recs = records(n, 'd');
  const t0 = performance.now();
  await db.transaction('rw', db.notes, db.pending_ops, () => db.notes.bulkPut(recs));
  const ms = performance.now() - t0;
  db.close();
  await Dexie.delete(name);
  return ms;
}

export async function runCapture(n = 10000, runs = 5) {
  const w = Math.min(n, 1000);
  return compare('capture bulkPut', n, runs,
    { raw: (i) => rawCapture(n, i), readWrite: (i) => rawCapture(n, i, true), dexie: (i) => dexieCapture(n, i), engine: (i) => engineCapture(n, i) },
    { raw: (i) => rawCapture(w, i), readWrite: (i) => rawCapture(w, i, true), dexie: (i) => dexieCapture(w, i), engine: (i) => engineCapture(w, i) });
}

// 1,000 sequential awaited single puts, one transaction each, on all three.
// With `readFirst`, the single write's floor: `get` the record, then `put` it
// and `add` its outbox row.
function rawSingles(n, run, readFirst = false) {
  const recs = records(n, 's');
  return timedOnRaw(`bench-raw${readFirst ? 'read' : ''}single-${run}`, async (db) => {
    for (const r of recs) {
      const tx = db.transaction(['notes', 'pending_ops'], 'readwrite');
      const notes = tx.objectStore('notes');
      const write = () => {
        notes.put(r);
        tx.objectStore('pending_ops').add(outboxRow(r.id, 'put', r));
      };
      if (readFirst) notes.get(r.id).onsuccess = write;
      else write();
      await txDone(tx);
    }
  });
}

async function dexieSingles(n, run) {
  const name = `bench-dexiesingle-${run}`;
  const db = await openDexie(name);
  const recs = records(n, 's');
  const t0 = performance.now();
  for (const r of recs) await db.transaction('rw', db.notes, db.pending_ops, () => db.notes.put(r));
  const ms = performance.now() - t0;
  db.close();
  await Dexie.delete(name);
  return ms;
}

async function engineSingles(n, run) {
  const dbName = `bench-single-${run}`;
  await deleteDb(dbName);
  const engine = await SyncEngine.open(withDurability({ workspaceId: 'bench', dbName, tables: [{ name: 'notes', indexes: ['thread_id'] }] }));
  const recs = records(n, 's');
  const t0 = performance.now();
  for (const r of recs) await engine.put('notes', r);
  const ms = performance.now() - t0;
  engine.close();
  await deleteDb(dbName);
  return ms;
}

export async function runSingles(n = 1000, runs = 5) {
  const w = Math.min(n, 100);
  return compare('single writes', n, runs,
    { raw: (i) => rawSingles(n, i), readWrite: (i) => rawSingles(n, i, true), dexie: (i) => dexieSingles(n, i), engine: (i) => engineSingles(n, i) },
    { raw: (i) => rawSingles(w, i), readWrite: (i) => rawSingles(w, i, true), dexie: (i) => dexieSingles(w, i), engine: (i) => engineSingles(w, i) });
}

// Baseline: read the outbox rows and delete them, batchSize at a time, one
// transaction per batch (what any push loop must at least do locally).
function rawPush(n, batchSize, run) {
  const fill = (db) => {
    const tx = db.transaction(['notes', 'pending_ops'], 'readwrite');
    for (const r of records(n, 'p')) {
      tx.objectStore('notes').put(r);
      tx.objectStore('pending_ops').add(outboxRow(r.id, 'put', r));
    }
    return txDone(tx);
  };
  return timedOnRaw(`bench-rawpush-${run}`, async (db) => {
    for (;;) {
      const tx = db.transaction(['pending_ops'], 'readwrite');
      const store = tx.objectStore('pending_ops');
      const req = store.getAll(null, batchSize);
      let rows = [];
      req.onsuccess = () => {
        rows = req.result;
        for (const row of rows) store.delete(row.seq);
      };
      await txDone(tx);
      if (rows.length === 0) break;
    }
  }, fill);
}

async function enginePush(n, batchSize, run) {
  const dbName = `bench-push-${run}`;
  await deleteDb(dbName);
  await initTesting();
  const server = new MemoryServer();
  const engine = await SyncEngine.open(withDurability({
    workspaceId: 'bench', dbName, tables: [{ name: 'notes', indexes: ['thread_id'] }],
    provider: server.provider({}), autoSync: false, batchSize,
  }));
  await engine.bulkPut('notes', records(n, 'p'));
  await leader(engine);
  // Timed until the last batch is acknowledged (syncNow would also pull the
  // echo of all n changes back, which is the bootstrap scenario's business).
  let pushed = 0;
  const drained = new Promise((ok) => engine.on('sync.push:action:after', (e) => { pushed += e.pushed; if (pushed >= n) ok(); }));
  const t0 = performance.now();
  engine.start();
  await drained;
  const ms = performance.now() - t0;
  if (server.appliedOps('bench') !== n) throw new Error(`pushed ${pushed} of ${n}`);
  engine.close();
  await deleteDb(dbName);
  return ms;
}

export async function runPush(n = 10000, runs = 5, batchSize = 100) {
  const w = Math.min(n, 500);
  return compare('push flush', n, runs,
    { raw: (i) => rawPush(n, batchSize, i), engine: (i) => enginePush(n, batchSize, i) },
    { raw: (i) => rawPush(w, batchSize, i), engine: (i) => enginePush(w, batchSize, i) }, { batchSize });
}

// A server holding n records, written by one device (seeded once per scenario,
// untimed). The writer pushes every 2,000 writes: WebKit's in-memory
// IndexedDB (its private and automation sessions) deletes a row in time that
// grows with the size of the store's indexes, so one outbox of 100,000 would
// take that browser hours to flush.
export async function seededServer(n) {
  await initTesting();
  const server = new MemoryServer();
  const dbName = 'bench-seed';
  await deleteDb(dbName);
  const writer = await SyncEngine.open(withDurability({
    workspaceId: 'bench', dbName, tables: [{ name: 'notes', indexes: ['thread_id'] }],
    provider: server.provider({}), autoSync: false, batchSize: 1000,
  }));
  await leader(writer);
  for (let i = 0; i < n; i += 2000) {
    await writer.bulkPut('notes', records(Math.min(2000, n - i), `b${i}`));
    await writer.syncNow();
  }
  writer.close();
  await deleteDb(dbName);
  if (server.snapshot('bench').length !== n) throw new Error('seeding failed');
  return server;
}

// Baseline: the same records written in transactions of pullLimit records.
export const rawBootstrap = (rows, pullLimit, run) =>
  rawPagedWrite(`bench-rawboot-${run}`, rows.length, (i) => rows[i], pullLimit);

export async function engineBootstrap(server, n, pullLimit, run) {
  const dbName = `bench-boot-${run}`;
  await deleteDb(dbName);
  const engine = await SyncEngine.open(withDurability({
    workspaceId: 'bench', dbName, tables: [{ name: 'notes', indexes: ['thread_id'] }],
    provider: server.provider({}), autoSync: false, pullLimit,
  }));
  await leader(engine);
  const t0 = performance.now();
  const report = await engine.syncNow();
  const ms = performance.now() - t0;
  if (report.pulled !== n || (await engine.count('notes')) !== n) throw new Error(`bootstrapped ${report.pulled} of ${n}`);
  engine.close();
  await deleteDb(dbName);
  return ms;
}

export async function runBootstrap(n = 100000, runs = 5, pullLimit = 500) {
  await init();
  await initTesting();
  const server = await seededServer(n);
  const rows = server.snapshot('bench').map((r) => r.payload);
  const out = await compare('bootstrap pull', n, runs,
    { raw: (i) => rawBootstrap(rows, pullLimit, i), engine: (i) => engineBootstrap(server, n, pullLimit, i) },
    { raw: (i) => rawBootstrap(rows.slice(0, 2000), pullLimit, i) }, { pullLimit });
  return { ...out, recordsPerSecond: Math.round(n / (out.engineMs / 1000)) };
}

window.bench = { runCapture, runSingles, runPush, runBootstrap, runLatency, runScale, runRange, runPaging, runLive, runOpen };
window.benchReady = true;

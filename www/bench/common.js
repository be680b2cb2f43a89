// Helpers shared by the benchmark scenarios: the record shape, a raw
// IndexedDB database of the same layout, and the warm-up + interleaved-runs
// comparison every scenario with a baseline uses.
import init from '/pkg/tidesync.js';

// ~300 bytes per record once stored (the body dominates).
export const payload = 'x'.repeat(230);

export function record(i, tag) {
  return { id: `${tag}-${i}`, thread_id: `t${i % 50}`, title: `note ${i}`, body: payload };
}

export function records(n, tag) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = record(i, tag);
  return out;
}

/** The outbox entry a baseline writes beside a record: a copy of it. */
export function outboxRow(pk, op, payload, createdAt = Date.now()) {
  return { opId: crypto.randomUUID(), tableName: 'notes', pk, op, payload, createdAt };
}

export function openRaw(name) {
  return new Promise((ok, fail) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore('notes', { keyPath: 'id' }).createIndex('thread_id', 'thread_id');
      db.createObjectStore('pending_ops', { keyPath: 'seq', autoIncrement: true });
    };
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
}

export function deleteDb(name) {
  return new Promise((ok) => { const r = indexedDB.deleteDatabase(name); r.onsuccess = r.onerror = r.onblocked = () => ok(); });
}

// Resolves once the engine holds its database's Web Lock (only the holder
// syncs), so no scenario times the lock acquisition.
export async function leader(engine) {
  while (!(await engine.status()).leader) await new Promise((r) => setTimeout(r, 10));
}

/** Resolves when `tx` commits; rejects with its error. */
export function txDone(tx) {
  return new Promise((ok, fail) => {
    tx.oncomplete = ok;
    tx.onerror = () => fail(tx.error);
  });
}

// A raw baseline's frame: a fresh raw database `name`, `prepare(db)` untimed,
// then `body(db)` timed; the database is deleted after. Returns the ms taken.
export async function timedOnRaw(name, body, prepare = async () => {}) {
  await deleteDb(name);
  const db = await openRaw(name);
  await prepare(db);
  const t0 = performance.now();
  await body(db);
  const ms = performance.now() - t0;
  db.close();
  await deleteDb(name);
  return ms;
}

// The bootstrap baseline: n rows (row(i) builds row i) written in
// transactions of pullLimit, one after the other (what any bootstrap must at
// least do locally).
export function rawPagedWrite(name, n, row, pullLimit) {
  return timedOnRaw(name, async (db) => {
    for (let i = 0; i < n; i += pullLimit) {
      const tx = db.transaction(['notes'], 'readwrite');
      const notes = tx.objectStore('notes');
      for (let j = i; j < Math.min(i + pullLimit, n); j++) notes.put(row(j));
      await txDone(tx);
    }
  });
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Runs each side once to warm up, then `runs` times interleaved, and reports
// medians: `sides` maps raw / dexie / engine to (run) => ms.
export async function compare(scenario, n, runs, sides, warm, extra = {}) {
  await init();
  for (const side of Object.values(warm)) await side('warm');
  const all = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) {
    for (const [k, side] of Object.entries(sides)) all[k].push(await side(i));
  }
  const out = { scenario, n, runs, ...extra, rawMs: median(all.raw), engineMs: median(all.engine), rawAll: all.raw, engineAll: all.engine };
  out.ratio = out.engineMs / out.rawMs;
  if (all.dexie) Object.assign(out, { dexieMs: median(all.dexie), dexieAll: all.dexie, dexieRatio: out.engineMs / median(all.dexie) });
  // The raw read-then-write floor of a stamped write, where a scenario has it.
  if (all.readWrite) out.readWriteRatio = out.engineMs / median(all.readWrite);
  // Any further side (another way the engine does it) as `${side}Ms`.
  for (const k of Object.keys(all).filter((k) => !['raw', 'engine', 'dexie'].includes(k))) {
    Object.assign(out, { [`${k}Ms`]: median(all[k]), [`${k}All`]: all[k] });
  }
  return out;
}

// The `durability` the page was opened with (`./scripts/bench --durability`),
// added to every engine's config; none: the engine's default.
const durability = new URLSearchParams(location.search).get('durability');

export function withDurability(config) {
  return durability ? { ...config, durability } : config;
}

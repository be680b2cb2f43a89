// Scale: a new device bootstrapping 1,000,000 records of the bootstrap
// scenario's shape, against the same raw baseline (the records put in
// transactions of pullLimit), with the page's peak JS heap during the
// engine's bootstrap and the wasm memory the engine and the MemoryServer use.
//
// Nothing here holds all n records in JS: the server is seeded by pushing
// well-formed batches straight to its provider (a writer engine would first
// have to store and capture every record: minutes at 1M), and the baseline
// builds each transaction's rows when it needs them. Both produce, for index
// i, the very row the server holds (a writer engine's stored row: the record
// plus its clock and hlc fields).
import init, { MemoryServer, SyncEngine } from '/pkg/tidesync.js';
import { compare, deleteDb, leader, median, openRaw, record } from './common.js';

// The most ops one MemoryServer push accepts.
const PUSH_BATCH = 10000;

// The seeded records, as a function of their index. HLC counters stay within
// their five digits by moving to the next millisecond every 10,000 records.
function corpus(n, tag) {
  const deviceId = crypto.randomUUID();
  const base = Date.now();
  const hlc = (i) => `${String(base + Math.floor(i / 10000)).padStart(15, '0')}:${String(i % 10000).padStart(5, '0')}:${deviceId}`;
  return { n, deviceId, row: (i) => ({ ...record(i, tag), clock: 1, hlc: hlc(i) }) };
}

async function seed(c) {
  const server = new MemoryServer();
  const provider = server.provider({});
  for (let i = 0; i < c.n; i += PUSH_BATCH) {
    const ops = [];
    for (let j = i; j < Math.min(i + PUSH_BATCH, c.n); j++) {
      const payload = c.row(j);
      const opId = crypto.randomUUID();
      ops.push({ opId, tableName: 'notes', op: 'put', pk: payload.id, payload, stamp: { clock: 1, hlc: payload.hlc, deviceId: c.deviceId, opId } });
    }
    const res = await provider.push({ scope: { workspaceId: 'bench' }, deviceId: c.deviceId, ops });
    const bad = res.results.find((r) => !r.success || r.serverVersion === undefined);
    if (bad) throw new Error(`scale: seeding push was not applied: ${JSON.stringify(bad)}`);
  }
  if (server.serverVersion('bench') !== c.n) throw new Error(`scale: seeded ${server.serverVersion('bench')} of ${c.n}`);
  return server;
}

// Baseline: the same rows written in transactions of pullLimit, one after the
// other (what any bootstrap must at least do locally).
async function rawScale(c, pullLimit, run) {
  const name = `bench-rawscale-${run}`;
  await deleteDb(name);
  const db = await openRaw(name);
  const t0 = performance.now();
  for (let i = 0; i < c.n; i += pullLimit) {
    await new Promise((ok, fail) => {
      const tx = db.transaction(['notes'], 'readwrite');
      const notes = tx.objectStore('notes');
      for (let j = i; j < Math.min(i + pullLimit, c.n); j++) notes.put(c.row(j));
      tx.oncomplete = ok;
      tx.onerror = () => fail(tx.error);
    });
  }
  const ms = performance.now() - t0;
  db.close();
  await deleteDb(name);
  return ms;
}

function heapUsed() {
  if (!performance.memory) throw new Error('scale: performance.memory is missing (Chromium only)');
  return performance.memory.usedJSHeapSize;
}

// A collection first, where the page allows it (--js-flags=--expose-gc), so
// the baseline holds only live objects.
function collect() {
  if (typeof window.gc !== 'function') throw new Error('scale: window.gc is missing: launch Chromium with --js-flags=--expose-gc');
  window.gc();
}

// Samples the JS heap every 10 ms and after every bootstrap page. Without
// --enable-precise-memory-info Chromium rounds and caches these figures.
function heapSampler(engine) {
  collect();
  const base = heapUsed();
  let peak = base;
  const sample = () => { peak = Math.max(peak, heapUsed()); };
  const timer = setInterval(sample, 10);
  const off = engine.on('sync.bootstrap:action:progress', sample);
  return () => {
    clearInterval(timer);
    off();
    sample();
    return { baseBytes: base, peakBytes: peak, growthBytes: peak - base };
  };
}

async function wasmBytes() {
  return (await init()).memory.buffer.byteLength;
}

async function engineScale(server, n, pullLimit, run, heaps) {
  const dbName = `bench-scale-${run}`;
  await deleteDb(dbName);
  const engine = await SyncEngine.open({
    workspaceId: 'bench', dbName, tables: [{ name: 'notes', indexes: ['thread_id'] }],
    provider: server.provider({}), autoSync: false, pullLimit,
  });
  await leader(engine);
  const stop = heapSampler(engine);
  const t0 = performance.now();
  const report = await engine.syncNow();
  const ms = performance.now() - t0;
  const heap = stop();
  if (report.pulled !== n || (await engine.count('notes')) !== n) throw new Error(`scale: bootstrapped ${report.pulled} of ${n}`);
  engine.close();
  await deleteDb(dbName);
  if (run !== 'warm') heaps.push({ ...heap, wasmBytesAfter: await wasmBytes() });
  return ms;
}

// The MemoryServer answers the engine's pulls in this page, on the engine's
// clock, and each page it serves counts the changes left after it (a walk of
// the rest of its log): early pages of a large bootstrap cost it the most.
// Replaying every tenth page of the engine's requests alone estimates that
// share, which a device syncing with a real server does not pay.
async function serverPullMs(server, n, pullLimit) {
  const provider = server.provider({});
  const pages = Math.ceil(n / pullLimit);
  const step = Math.min(10, pages);
  let ms = 0;
  let sampled = 0;
  for (let page = 0; page < pages; page += step) {
    const t0 = performance.now();
    await provider.pull({ scope: { workspaceId: 'bench' }, cursor: page * pullLimit, limit: pullLimit, tables: ['notes'] });
    ms += performance.now() - t0;
    sampled += 1;
  }
  return (ms / sampled) * pages;
}

export async function runScale(n = 1000000, runs = 5, pullLimit = 500) {
  await init();
  const warmN = Math.min(n, 5000);
  const warm = corpus(warmN, 'w');
  const warmServer = await seed(warm);
  collect();
  const before = { wasm: await wasmBytes(), heap: heapUsed() };
  const c = corpus(n, 's');
  const t0 = performance.now();
  const server = await seed(c);
  const seedMs = performance.now() - t0;
  collect();
  const seeded = { wasm: await wasmBytes(), heap: heapUsed() };
  const heaps = [];
  const out = await compare('scale bootstrap', n, runs,
    { raw: (i) => rawScale(c, pullLimit, i), engine: (i) => engineScale(server, n, pullLimit, i, heaps) },
    { raw: (i) => rawScale(warm, pullLimit, i), engine: (i) => engineScale(warmServer, warmN, pullLimit, i, heaps) },
    { pullLimit });
  const serverMs = await serverPullMs(server, n, pullLimit);
  const peaks = heaps.map((h) => h.peakBytes);
  const growths = heaps.map((h) => h.growthBytes);
  return {
    ...out,
    recordsPerSecond: Math.round(n / (out.engineMs / 1000)),
    seedMs: Math.round(seedMs),
    serverPullMs: Math.round(serverMs),
    ratioWithoutServerPulls: (out.engineMs - serverMs) / out.rawMs,
    // What the seeded MemoryServer holds: its payloads live as JS objects,
    // the rest (keys, stamps, log) in wasm memory.
    server: { wasmBytes: seeded.wasm - before.wasm, jsHeapBytes: seeded.heap - before.heap },
    wasmBytesBeforeSeed: before.wasm,
    wasmBytesSeeded: seeded.wasm,
    wasmBytesAfter: heaps.at(-1).wasmBytesAfter,
    // The engine's share: heap growth above the page's state before syncNow
    // (which holds the MemoryServer's payloads), the highest over the runs.
    heapGrowthBytes: Math.max(...growths),
    heapGrowthMedianBytes: median(growths),
    heapPeakBytes: Math.max(...peaks),
    heapRuns: heaps,
  };
}

// Scale: a new device bootstrapping 1,000,000 records of the bootstrap
// scenario's shape, against the same raw baseline (the records put in
// transactions of pullLimit) at the same size, with the page's peak JS heap
// and its wasm memory during the engine's bootstrap.
//
// The engine pulls from a provider that generates each page when asked, like
// a server outside the page, so the time, heap and wasm figures are the
// engine's own. Once after the runs, the same bootstrap from a seeded
// MemoryServer (the bootstrap scenario's backend, in the page) shows what an
// in-page server adds and how much memory it takes. The scenario runs in a
// page of its own (scripts/bench.mjs).
import init, { SyncEngine } from '/pkg/tidesync.js';
import { compare, deleteDb, leader, median, rawPagedWrite, withDurability } from './common.js';
import { corpus, generatedProvider, memoryServerPullMs, seedMemoryServer } from './scale-corpus.js';

// Baseline: the same rows written in transactions of pullLimit.
const rawScale = (c, pullLimit, run) => rawPagedWrite(`bench-rawscale-${run}`, c.n, c.row, pullLimit);

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

// One bootstrap of `n` records from `provider` into a new database: its
// time, the JS heap during it and the wasm memory around it.
async function bootstrap(provider, n, pullLimit, run) {
  const dbName = `bench-scale-${run}`;
  await deleteDb(dbName);
  const engine = await SyncEngine.open(withDurability({
    workspaceId: 'bench', dbName, tables: [{ name: 'notes', indexes: ['thread_id'] }],
    provider, autoSync: false, pullLimit,
  }));
  await leader(engine);
  const wasmBefore = await wasmBytes();
  const stop = heapSampler(engine);
  const t0 = performance.now();
  const report = await engine.syncNow();
  const ms = performance.now() - t0;
  const heap = stop();
  const wasmAfter = await wasmBytes();
  if (report.pulled !== n || (await engine.count('notes')) !== n) throw new Error(`scale: bootstrapped ${report.pulled} of ${n}`);
  engine.close();
  await deleteDb(dbName);
  return { ms, ...heap, wasmBefore, wasmAfter };
}

// The same bootstrap from a MemoryServer holding the corpus, once: what the
// server takes to seed and to hold, and what serving pulls in the page adds.
async function viaMemoryServer(c, pullLimit, rawMs) {
  collect();
  const before = { wasm: await wasmBytes(), heap: heapUsed() };
  const t0 = performance.now();
  const server = await seedMemoryServer(c);
  const seedMs = performance.now() - t0;
  collect();
  const seeded = { wasm: await wasmBytes(), heap: heapUsed() };
  const run = await bootstrap(server.provider({}), c.n, pullLimit, 'memory');
  const pullMs = await memoryServerPullMs(server, c.n, pullLimit);
  return {
    seedMs: Math.round(seedMs),
    // Its payloads live as JS objects, the rest (keys, stamps, log) in wasm.
    wasmBytes: seeded.wasm - before.wasm,
    jsHeapBytes: seeded.heap - before.heap,
    engineMs: run.ms,
    ratio: run.ms / rawMs,
    heapPeakBytes: run.peakBytes,
    heapGrowthBytes: run.growthBytes,
    // Main-thread time it spent answering the pulls, replayed alone; the
    // engine overlaps part of it with its IndexedDB waits, so this is an
    // upper bound of what it added, not a figure to subtract.
    serverPullMs: Math.round(pullMs),
  };
}

export async function runScale(n = 1000000, runs = 5, pullLimit = 500) {
  await init();
  const wasmStart = await wasmBytes();
  const c = corpus(n, 's');
  const warm = corpus(Math.min(n, 5000), 'w');
  const engineRuns = [];
  const engine = async (source, run) => {
    const r = await bootstrap(generatedProvider(source), source.n, pullLimit, run);
    if (run !== 'warm') engineRuns.push(r);
    return r.ms;
  };
  const out = await compare('scale bootstrap', n, runs,
    { raw: (i) => rawScale(c, pullLimit, i), engine: (i) => engine(c, i) },
    { raw: (i) => rawScale(warm, pullLimit, i), engine: (i) => engine(warm, i) }, { pullLimit });
  const peaks = engineRuns.map((r) => r.peakBytes);
  return {
    ...out,
    recordsPerSecond: Math.round(n / (out.engineMs / 1000)),
    // The highest over the runs: the page holds the engine and the bench.
    heapPeakBytes: Math.max(...peaks),
    heapPeakMedianBytes: median(peaks),
    heapBaseBytes: median(engineRuns.map((r) => r.baseBytes)),
    wasmBytesStart: wasmStart,
    wasmBytesAfter: Math.max(...engineRuns.map((r) => r.wasmAfter)),
    engineRuns,
    memoryServer: await viaMemoryServer(c, pullLimit, out.rawMs),
  };
}

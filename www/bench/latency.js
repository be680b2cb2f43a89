// End-to-end latency: a put on device A until the `change` event on device B,
// through the reference server (tidesync-server) and its WebSocket watch.
// Both devices are engines with their own database and HttpProvider in this
// page, in one workspace; the driver (scripts/bench.mjs) starts the server,
// serves this page from it (same origin: no CORS) and passes a token.
import init, { HttpProvider, SyncEngine } from '/pkg/index.js';
import { deleteDb, payload, withDurability } from './common.js';

// A change that has not arrived by then is a failure, not a slow sample.
const TIMEOUT_MS = 5000;

// Nearest-rank percentile.
function percentile(sorted, p) {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

// Where the time goes, per write: the first of each mark after the put
// started (A's push leaving and acknowledged, B's watch delivering the batch).
const marks = { pushStart: null, pushAck: null, received: null };
const mark = (name) => { marks[name] ??= performance.now(); };

async function device(workspace, token, name) {
  const dbName = `bench-latency-${name}-${workspace}`;
  await deleteDb(dbName);
  const provider = new HttpProvider({ url: location.origin, getToken: () => token });
  // Notes when the watch hands a batch to the engine, before it is applied.
  const subscribe = provider.subscribe.bind(provider);
  provider.subscribe = (scope, tables, onChanges, onStatus) =>
    subscribe(scope, tables, (changes, meta) => { if (name === 'b') mark('received'); return onChanges(changes, meta); }, onStatus);
  const engine = await SyncEngine.open(withDurability({ workspaceId: workspace, dbName, tables: [{ name: 'notes' }], provider }));
  if (name === 'a') {
    engine.on('sync.push:action:before', () => mark('pushStart'));
    // The previous write's acknowledgement may come after B saw that write,
    // so only one after this write's push left counts.
    engine.on('sync.push:action:after', () => { if (marks.pushStart !== null) mark('pushAck'); });
  }
  return { engine, dbName };
}

// B's remote change events, awaited by pk.
function arrivals(engine) {
  const waiting = new Map();
  const off = engine.on('change', ({ table, pks, source }) => {
    if (table !== 'notes' || source !== 'remote') return;
    const at = performance.now();
    for (const pk of pks) waiting.get(pk)?.(at);
  });
  const next = (pk, what) => new Promise((ok, fail) => {
    const timer = setTimeout(() => {
      waiting.delete(pk);
      fail(new Error(`latency: ${what}: the change event for ${pk} did not reach device B within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    waiting.set(pk, (at) => { clearTimeout(timer); waiting.delete(pk); ok(at); });
  });
  return { next, off };
}

// One put on A, timed until B reports it; the local put's own time as well.
async function roundTrip(a, wait, i, what) {
  const id = `lat-${i}`;
  const arrived = wait(id, what);
  for (const k of Object.keys(marks)) marks[k] = null;
  const t0 = performance.now();
  await a.put('notes', { id, thread_id: 't0', title: `note ${i}`, body: payload });
  const putMs = performance.now() - t0;
  const ms = (await arrived) - t0;
  const since = (k) => (marks[k] === null ? NaN : marks[k] - t0);
  return { ms, putMs, pushStartMs: since('pushStart'), pushAckMs: since('pushAck'), receivedMs: since('received') };
}

function stats(xs) {
  const sorted = xs.filter(Number.isFinite).sort((x, y) => x - y);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), samples: sorted.length };
}

export async function runLatency(workspace, token, n = 500, warm = 20) {
  await init();
  const a = await device(workspace, token, 'a');
  const b = await device(workspace, token, 'b');
  const { next, off } = arrivals(b.engine);
  try {
    // The warm-up also waits out both watches connecting and the pulls that
    // follow; its first write may wait for B's subscription.
    for (let i = 0; i < warm; i++) await roundTrip(a.engine, next, `warm-${i}`, `warm-up write ${i}`);
    const writes = [];
    for (let i = 0; i < n; i++) writes.push(await roundTrip(a.engine, next, i, `write ${i + 1} of ${n}`));
    const ms = writes.map((w) => w.ms);
    const sorted = [...ms].sort((x, y) => x - y);
    return {
      scenario: 'e2e latency', n, warm,
      p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1), minMs: sorted[0],
      // Milliseconds from the put's start: its local commit, A's push leaving
      // and acknowledged, B's watch delivering the batch.
      stages: Object.fromEntries(['putMs', 'pushStartMs', 'pushAckMs', 'receivedMs'].map((k) => [k, stats(writes.map((w) => w[k]))])),
      allMs: ms,
    };
  } finally {
    off();
    for (const d of [a, b]) {
      d.engine.close();
      await deleteDb(d.dbName);
    }
  }
}

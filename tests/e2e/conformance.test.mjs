// The provider conformance kit (tidesync/testing: runProviderConformance)
// against MemoryServer (in Node), against HttpProvider with a real
// tidesync-server process, and against a deliberately broken provider,
// which must fail; and the fault wrapper (withFaults), alone and under two
// engines in headless Chromium that must still converge.
//   node --experimental-websocket --test tests/e2e/conformance.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToken, launchBrowser, pageOn, root, startServer, tempDb, uniqueName, until } from './harness.mjs';

const testing = await import(join(root, 'pkg', 'testing', 'index.js'));
const { default: initTesting, MemoryServer, runProviderConformance, withFaults } = testing;
const { HttpProvider } = await import(join(root, 'pkg', 'http_provider.js'));
const { PollingProvider } = await import(join(root, 'examples', 'polling-provider', 'polling_provider.js'));
await initTesting({ module_or_path: readFileSync(join(root, 'pkg', 'testing', 'testing_bg.wasm')) });

let browser;
let db;
let server;
before(async () => {
  db = tempDb();
  // A per-token rate limit the checks stay under; errors.rate-limit exceeds it on purpose.
  server = await startServer(db, { args: ['--rate-limit', '20', '--rate-burst', '80'] });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** makeProvider for a MemoryServer: one token per client, granted its workspace only. */
function memoryFactory(mem) {
  return ({ workspaceId, client }) => {
    const token = `${workspaceId}/${client}`;
    mem.grant(token, workspaceId);
    return mem.provider({ token });
  };
}

const names = (report, status) => report.checks.filter((c) => c.status === status).map((c) => c.name);

test('MemoryServer passes every check', async () => {
  const mem = new MemoryServer();
  const report = await runProviderConformance(memoryFactory(mem), {
    expireHistory: ({ workspaceId, below }) => mem.purgeHistory(workspaceId, below),
    provokeRateLimit: () => mem.failNextPushes(1, 'RATE_LIMIT', 1500),
  });
  assert.deepEqual(names(report, 'fail'), [], report.text);
  assert.deepEqual(names(report, 'skip'), []);
  assert.ok(report.passed >= 18, `${report.passed} checks`);
  assert.match(report.text, /PASS {2}push\.idempotent-by-opId/);
});

test('HttpProvider against tidesync-server passes every check it can run', async () => {
  const tokens = new Map();
  const report = await runProviderConformance(({ workspaceId, client }) => {
    const token = createToken(db, workspaceId);
    const provider = new HttpProvider({ url: server.url, getToken: () => token });
    tokens.set(provider, token);
    return provider;
  }, {
    timeoutMs: 30000,
    // Exhaust the token's burst from outside, as a busy client would.
    provokeRateLimit: async ({ provider, workspaceId }) => {
      const body = JSON.stringify({ scope: { workspaceId }, cursor: 0, limit: 1 });
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${tokens.get(provider)}` };
      await Promise.all(Array.from({ length: 120 }, () => fetch(`${server.url}/v1/pull`, { method: 'POST', headers, body })));
    },
  });
  assert.deepEqual(names(report, 'fail'), [], report.text);
  // The reference server has no hook to purge history on demand (its GC does, on a schedule).
  assert.deepEqual(names(report, 'skip'), ['cursor.expired-history']);
});

test('the polling provider of examples/ (docs/providers.md) passes against tidesync-server', async () => {
  const report = await runProviderConformance(({ workspaceId }) =>
    new PollingProvider({ url: server.url, token: createToken(db, workspaceId), intervalMs: 100 }), { timeoutMs: 30000 });
  assert.deepEqual(names(report, 'fail'), [], report.text);
  assert.deepEqual(names(report, 'skip'), ['cursor.expired-history', 'errors.rate-limit']);
});

test('a hint-only subscription passes the subscription checks; a silent one fails them', async () => {
  const mem = new MemoryServer();
  const make = memoryFactory(mem);
  const only = ['subscribe.batches', 'subscribe.table-filter'];
  const shaped = (onBatch) => async (ctx) => {
    const p = await make(ctx);
    return { id: p.id, mode: p.mode, pull: (r) => p.pull(r), push: (b) => p.push(b), updateCursor: (...a) => p.updateCursor(...a),
      subscribe: (scope, tables, onChanges, onStatus) => p.subscribe(scope, tables, (cs, meta) => onBatch(onChanges, cs, meta), onStatus) };
  };
  const hints = await runProviderConformance(shaped((onChanges) => onChanges([], {})), { only, log: null });
  assert.deepEqual(names(hints, 'pass'), only, hints.text);
  assert.match(hints.text, /hint-only subscription/);
  const silent = await runProviderConformance(shaped(() => {}), { only, log: null, subscribeWaitMs: 500 });
  assert.deepEqual(names(silent, 'fail'), only, silent.text);
  // A fromCursor that skips a change would make the engine miss it.
  const skips = await runProviderConformance(shaped((onChanges, cs, meta) => onChanges(cs, { fromCursor: meta.fromCursor - 1 })),
    { only: ['subscribe.batches'], log: null });
  assert.match(skips.checks[0].error ?? '', /fromCursor/, skips.text);
});

test('the kit refuses an unknown option or check name instead of running nothing', async () => {
  const mem = new MemoryServer();
  await assert.rejects(runProviderConformance(memoryFactory(mem), { only: ['push.idempotent'] }), /names no check/);
  await assert.rejects(runProviderConformance(memoryFactory(mem), { tabels: ['a', 'b'] }), /unknown option "tabels"/);
  const one = await runProviderConformance(memoryFactory(mem), { only: ['lww.tombstones'], log: null });
  assert.deepEqual(one.checks.map((c) => [c.name, c.status]), [['lww.tombstones', 'pass']]);
  assert.equal(one.provider.startsWith('memory'), true, one.provider);
});

/** A provider that reuses versions: version v of the server is reported as ceil(v / 2). */
function reusesVersions(p) {
  const v = (n) => Math.ceil(n / 2);
  const change = (c) => ({ ...c, serverVersion: v(c.serverVersion) });
  return {
    id: `reuses-versions:${p.id}`, mode: p.mode,
    async push(batch) {
      const r = await p.push(batch);
      return { ...r, serverVersion: r.serverVersion && v(r.serverVersion),
        results: r.results.map((x) => ({ ...x, serverVersion: x.serverVersion && v(x.serverVersion) })) };
    },
    async pull(req) {
      const r = await p.pull({ ...req, cursor: req.cursor * 2 });
      return { ...r, nextCursor: v(r.nextCursor), changes: r.changes.map(change) };
    },
    subscribe: (scope, tables, onChanges, onStatus) =>
      p.subscribe(scope, tables, (cs, meta) => onChanges(cs.map(change), meta && { fromCursor: v(meta.fromCursor) }), onStatus),
    updateCursor: (scope, device, version) => p.updateCursor(scope, device, version * 2),
  };
}

test('a provider that reuses versions fails, and the report says which checks', async () => {
  const mem = new MemoryServer();
  const make = memoryFactory(mem);
  const report = await runProviderConformance(async (ctx) => reusesVersions(await make(ctx)), { log: null });
  assert.equal(report.ok, false);
  const failed = names(report, 'fail');
  for (const name of ['push.results', 'versions.strictly-increasing', 'pull.paging']) {
    assert.ok(failed.includes(name), `${name} must fail:\n${report.text}`);
  }
  const strict = report.checks.find((c) => c.name === 'versions.strictly-increasing');
  assert.match(strict.error, /same version|strictly increase/);
  assert.match(report.text, /FAIL {2}versions\.strictly-increasing/);
});

test('withFaults injects what it is asked for, and heals', async () => {
  const mem = new MemoryServer();
  const ws = 'faults';
  const op = (pk) => {
    const opId = `${pk}-${Math.random()}`;
    return { opId, tableName: 'notes', op: 'put', pk, payload: { id: pk },
      stamp: { clock: 1, hlc: `${String(Date.now()).padStart(15, '0')}:00000:d`, deviceId: 'd', opId } };
  };
  const push = (p, pk) => p.push({ scope: { workspaceId: ws }, deviceId: 'd', ops: [op(pk)] });
  const f = withFaults(mem.provider(), { status5xx: 1 });
  await assert.rejects(push(f, 'a'), (e) => e.code === 'UNAVAILABLE' && e.status === 503);
  assert.equal(mem.serverVersion(ws), 0, 'a 5xx never reached the backend');
  f.setFaults({ status429: 1, retryAfterMs: 250 });
  await assert.rejects(push(f, 'a'), (e) => e.code === 'RATE_LIMIT' && e.retryAfterMs === 250);
  f.setFaults({ drop: 1 });
  await assert.rejects(push(f, 'b'), (e) => e.code === 'UNAVAILABLE');
  assert.equal(mem.serverVersion(ws), 1, 'a dropped answer: the push was applied');
  f.setFaults({ duplicate: 1 });
  const calls = mem.pushCalls().length;
  await push(f, 'c');
  assert.equal(mem.pushCalls().length - calls, 2, 'a duplicated push reaches the backend twice');
  f.setFaults({ timeout: 1, timeoutMs: 50 });
  await assert.rejects(push(f, 'd'), (e) => e.code === 'UNAVAILABLE' && /timed out/.test(e.message));
  // Subscription batches: dropped, duplicated, reordered.
  f.setFaults({ reorder: 1 });
  const got = [];
  const off = await f.subscribe({ workspaceId: ws }, ['notes'], (cs) => got.push(cs.map((c) => c.pk).join()));
  f.setFaults({});
  await push(f, 'e');
  f.setFaults({ reorder: 1 });
  await push(f, 'f');
  f.setFaults({});
  await push(f, 'g');
  await until(() => got.length >= 3, 3000, 'three batches');
  off();
  assert.deepEqual(got, ['e', 'g', 'f'], 'f was held back behind g');
  assert.deepEqual({ ...f.faults, calls: undefined },
    { calls: undefined, status5xx: 1, status429: 1, dropped: 1, duplicated: 1, timeouts: 1, reordered: 1 });
  assert.throws(() => withFaults(mem.provider(), { dorp: 0.5 }), (e) => e.code === 'INVALID' && e.path === 'options.dorp');
  // Latency alone keeps a provider conformant.
  const slow = await runProviderConformance((ctx) => withFaults(memoryFactory(mem)(ctx), { latency: [0, 3] }),
    { log: null, only: ['push.idempotent-by-opId', 'pull.paging-while-writing', 'subscribe.batches'] });
  assert.equal(slow.ok, true, slow.text);
});

test('two engines over a faulty network (drops, duplicates, reorders, 5xx, 429) converge once it heals', async () => {
  browser = await launchBrowser();
  const ws = uniqueName('faulty');
  const token = createToken(db, ws);
  const pages = [await pageOn(browser, server), await pageOn(browser, server)];
  await Promise.all(pages.map((page, i) => page.evaluate(async ({ ws, token, i }) => {
    const { SyncEngine, HttpProvider } = await import('/pkg/index.js');
    const { withFaults } = await import('/pkg/testing/index.js');
    window.net = withFaults(new HttpProvider({ url: location.origin, getToken: () => token }), {
      latency: [0, 20], drop: 0.2, duplicate: 0.2, reorder: 0.3, status5xx: 0.15, status429: 0.1, retryAfterMs: 50, seed: i + 1,
    });
    window.engine = await SyncEngine.open({ workspaceId: ws, dbName: `faulty-${i}`, tables: [{ name: 'notes' }],
      provider: window.net, backoffMs: [20, 50, 100] });
    for (let n = 0; n < 15; n += 1) await window.engine.put('notes', { id: `d${i}-${n}`, n });
    await window.engine.put('notes', { id: 'shared', by: i });
  }, { ws, token, i })));
  await new Promise((r) => setTimeout(r, 1500));
  const faults = await Promise.all(pages.map((p) => p.evaluate(() => window.net.faults)));
  for (const page of pages) await page.evaluate(() => window.net.setFaults({}));
  const snapshot = (page) => page.evaluate(async () => {
    await window.engine.syncNow();
    return (await window.engine.getAll('notes')).map((r) => `${r.id}:${r.n ?? r.by}`).sort();
  });
  await until(async () => {
    const [a, b] = [await snapshot(pages[0]), await snapshot(pages[1])];
    return a.length === 31 && JSON.stringify(a) === JSON.stringify(b);
  }, 20000, 'both engines to hold the same 31 records');
  const injected = faults.reduce((n, f) => n + f.dropped + f.duplicated + f.status5xx + f.status429, 0);
  assert.ok(injected > 5, `faults were injected: ${JSON.stringify(faults)}`);
});

// HttpProvider in headless Chromium against real tidesync-server processes
// (SQLite): push, pull, updateCursor, subscribe, the error mapping, CORS,
// the rate limit, and a watch that reconnects across a server restart.
//   node --test tests/e2e/
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, launchBrowser, pageOn, post, putBatch, startServer, tempDb, uniqueName, until } from './harness.mjs';

let browser;
let db;
let server;
before(async () => {
  browser = await launchBrowser();
  db = tempDb();
  server = await startServer(db);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('push, pull, updateCursor and subscribe through HttpProvider in the browser', async () => {
  const ws = uniqueName('w');
  const token = createToken(db, ws);
  const page = await pageOn(browser, server);
  await page.evaluate(async ({ ws, token }) => {
    const { HttpProvider } = await import('/pkg/index.js');
    window.provider = new HttpProvider({ url: location.origin, getToken: () => token, workspace: ws });
    window.seen = [];
    window.statuses = [];
  }, { ws, token });
  const batch = putBatch(ws, 'dev-a', [{ id: 'n1', text: 'one' }, { id: 'n2', text: 'two' }]);
  const pushed = await page.evaluate((b) => window.provider.push(b), batch);
  assert.deepEqual(pushed.results.map((r) => r.serverVersion), [1, 2]);
  assert.equal(pushed.serverVersion, 2);
  const again = await page.evaluate((b) => window.provider.push(b), batch);
  assert.deepEqual(again.results, pushed.results, 'idempotent');

  const page1 = await page.evaluate((ws) => window.provider.pull({ scope: { workspaceId: ws }, cursor: 0, limit: 1 }), ws);
  assert.deepEqual([page1.changes.length, page1.nextCursor, page1.hasMore], [1, 1, true]);
  const page2 = await page.evaluate((ws) => window.provider.pull({ scope: { workspaceId: ws }, cursor: 1, limit: 10 }), ws);
  assert.deepEqual(page2.changes.map((c) => c.payload.text), ['two']);
  assert.equal(await page.evaluate((ws) => window.provider.updateCursor({ workspaceId: ws }, 'dev-a', 2), ws), undefined);

  await page.evaluate(async (ws) => {
    window.unsubscribe = await window.provider.subscribe({ workspaceId: ws }, ['notes'],
      (changes, meta) => window.seen.push({ changes, meta }), (s) => window.statuses.push(s));
  }, ws);
  assert.deepEqual(await page.evaluate(() => window.statuses), ['connected'], 'subscribe resolves once connected');
  // A write from elsewhere (node) arrives through the WebSocket.
  await post(server.url, '/v1/push', token, putBatch(ws, 'dev-b', [{ id: 'n3', text: 'three' }]));
  await until(() => page.evaluate(() => window.seen.length === 1), 5000, 'the batch');
  const [got] = await page.evaluate(() => window.seen);
  assert.deepEqual(got.meta, { fromCursor: 2 });
  assert.deepEqual(got.changes.map((c) => [c.pk, c.serverVersion, c.payload.text]), [['n3', 3, 'three']]);
  // Unsubscribed: nothing more arrives, and no status is reported.
  await page.evaluate(() => window.unsubscribe());
  await post(server.url, '/v1/push', token, putBatch(ws, 'dev-b', [{ id: 'n4' }]));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await page.evaluate(() => window.seen.length), 1);
  assert.deepEqual(await page.evaluate(() => window.statuses), ['connected']);
  await page.context().close();
});

test('errors are Error objects with code, retryable and retryAfterMs', async () => {
  const ws = uniqueName('w');
  const other = uniqueName('w');
  const token = createToken(db, ws);
  createToken(db, other);
  const limited = await startServer(db, { args: ['--rate-limit', '1', '--rate-burst', '1', '--cors-origin', server.url] });
  try {
    const page = await pageOn(browser, server);
    const out = await page.evaluate(async ({ ws, other, token, limitedUrl }) => {
      const { HttpProvider } = await import('/pkg/index.js');
      const grab = async (p) => {
        try {
          await p;
          return 'resolved';
        } catch (e) {
          return { isError: e instanceof Error, name: e.name, code: e.code, retryable: e.retryable,
            retryAfterMs: e.retryAfterMs, status: e.status };
        }
      };
      const pullReq = (w, cursor = 0, limit = 10) => ({ scope: { workspaceId: w }, cursor, limit });
      const r = {};
      const good = new HttpProvider({ url: location.origin, getToken: () => token });
      r.forbidden = await grab(good.pull(pullReq(other)));
      r.invalid = await grab(good.pull({ scope: { workspaceId: ws }, cursor: 0, limit: 0 }));
      // A cursor above the server's version (a server restored from a backup): rescan.
      r.ahead = await grab(good.pull(pullReq(ws, 99)));
      const pinned = new HttpProvider({ url: location.origin, getToken: () => token, workspace: ws });
      r.pinned = await grab(pinned.pull(pullReq(other)));
      r.pinnedWatch = await grab(pinned.subscribe({ workspaceId: other }, [], () => {}));
      // The server refuses a watch on another workspace: the first attempt fails.
      const watchStatuses = [];
      const stop = await good.subscribe({ workspaceId: other }, [], () => {}, (st) => watchStatuses.push(st));
      stop();
      r.otherWatch = watchStatuses;
      // An expired token: one refresh, one retry, success.
      const calls = [];
      const refreshing = new HttpProvider({ url: location.origin,
        getToken: ({ refresh }) => { calls.push(refresh); return refresh ? token : 'expired-token'; } });
      r.refreshed = (await refreshing.pull(pullReq(ws))).nextCursor;
      r.refreshCalls = calls;
      // A token that stays bad: AUTH after exactly one refresh.
      const badCalls = [];
      const bad = new HttpProvider({ url: location.origin, getToken: ({ refresh }) => { badCalls.push(refresh); return 'nope-nope'; } });
      r.auth = await grab(bad.pull(pullReq(ws)));
      r.authCalls = badCalls;
      // Nothing listening: UNAVAILABLE, retryable.
      const down = new HttpProvider({ url: 'http://127.0.0.1:9', getToken: () => token });
      r.network = await grab(down.push({ scope: { workspaceId: ws }, deviceId: 'd', ops: [] }));
      // A real rate limit from another process (CORS allowed for this origin).
      const lim = new HttpProvider({ url: limitedUrl, getToken: () => token });
      r.firstLimited = (await lim.pull(pullReq(ws))).hasMore;
      r.rateLimit = await grab(lim.pull(pullReq(ws)));
      // Status mapping for answers this server only gives in rare states.
      const fake = (status, headers = {}, body = {}) => new HttpProvider({
        url: 'http://fake.invalid', getToken: () => 't',
        fetch: async () => new Response(JSON.stringify(body), { status, headers }),
      });
      r.expired = await grab(fake(410, {}, { code: 'CURSOR_EXPIRED', message: 'purged' }).pull(pullReq(ws, 5)));
      r.retryHeader = await grab(fake(429, { 'retry-after': '2' }, { message: 'slow down' }).pull(pullReq(ws)));
      r.server = await grab(fake(503).pull(pullReq(ws)));
      r.gateway = await grab(fake(502, {}, 'not json').pull(pullReq(ws)));
      return r;
    }, { ws, other, token, limitedUrl: limited.url });
    const err = (code, status, retryable, retryAfterMs) =>
      ({ isError: true, name: 'TidesyncError', code, retryable, retryAfterMs, status });
    assert.deepEqual(out.forbidden, err('FORBIDDEN', 403, false, undefined));
    assert.deepEqual(out.invalid, err('INVALID', 400, false, undefined));
    assert.deepEqual(out.ahead, err('CURSOR_EXPIRED', 410, false, undefined));
    assert.deepEqual(out.pinned, err('FORBIDDEN', undefined, false, undefined));
    assert.deepEqual(out.pinnedWatch, err('FORBIDDEN', undefined, false, undefined));
    // The first attempt fails (a browser cannot see why a handshake was
    // refused): the watch says it is down and keeps retrying on its own.
    assert.deepEqual(out.otherWatch, ['disconnected']);
    assert.equal(out.refreshed, 0);
    assert.deepEqual(out.refreshCalls, [false, true]);
    assert.deepEqual(out.auth, err('AUTH', 401, false, undefined));
    assert.deepEqual(out.authCalls, [false, true]);
    assert.deepEqual(out.network, err('UNAVAILABLE', undefined, true, undefined));
    assert.equal(out.firstLimited, false);
    assert.equal(out.rateLimit.code, 'RATE_LIMIT');
    assert.equal(out.rateLimit.status, 429);
    assert.equal(out.rateLimit.retryable, true);
    assert.ok(out.rateLimit.retryAfterMs > 0 && out.rateLimit.retryAfterMs <= 1000, `${out.rateLimit.retryAfterMs}`);
    assert.deepEqual(out.expired, err('CURSOR_EXPIRED', 410, false, undefined));
    assert.deepEqual(out.retryHeader, err('RATE_LIMIT', 429, true, 2000));
    assert.deepEqual(out.server, err('UNAVAILABLE', 503, true, undefined));
    assert.deepEqual(out.gateway, err('UNAVAILABLE', 502, true, undefined));
    await page.context().close();
  } finally {
    await limited.stop();
  }
});

test('the watch reconnects with backoff and resumes from its cursor after a restart', async () => {
  const ws = uniqueName('w');
  const token = createToken(db, ws);
  const own = await startServer(db);
  let restarted;
  try {
    const page = await pageOn(browser, server);
    await page.evaluate(async ({ ws, token, url }) => {
      const { HttpProvider } = await import('/pkg/index.js');
      window.p = new HttpProvider({ url, getToken: () => token, backoffMs: [100, 200] });
      window.seen = [];
      window.statuses = [];
      await window.p.subscribe({ workspaceId: ws }, [], (changes, meta) => window.seen.push({ changes, meta }),
        (s) => window.statuses.push(s));
    }, { ws, token, url: own.url });
    await post(own.url, '/v1/push', token, putBatch(ws, 'd', [{ id: 'a' }]));
    await until(() => page.evaluate(() => window.seen.length === 1), 5000, 'first batch');
    await own.stop();
    await until(() => page.evaluate(() => window.statuses.includes('disconnected')), 5000, 'disconnected');
    // Several reconnects fail (backoff 100, 200 ms): the watch keeps trying by
    // itself, reports the outage once, and never gives up with 'error'.
    await new Promise((r) => setTimeout(r, 800));
    const during = await page.evaluate(() => window.statuses);
    assert.deepEqual(during, ['connected', 'disconnected'], 'one report per outage, no error');
    // A write lands (through another process) while this watch is down.
    await post(server.url, '/v1/push', token, putBatch(ws, 'd', [{ id: 'b' }]));
    restarted = await startServer(db, { port: own.port, args: ['--cors-origin', server.url] });
    await until(() => page.evaluate(() => window.seen.length === 2), 10000, 'the missed batch');
    const seen = await page.evaluate(() => window.seen);
    assert.deepEqual(seen[1].meta, { fromCursor: 1 }, 'resumed from the last cursor');
    assert.deepEqual(seen[1].changes.map((c) => c.pk), ['b']);
    const statuses = await page.evaluate(() => window.statuses);
    assert.equal(statuses[0], 'connected');
    assert.equal(statuses.at(-1), 'connected');
    await page.evaluate(() => window.p.dispose());
    await page.context().close();
  } finally {
    await own.stop();
    await restarted?.stop();
  }
});

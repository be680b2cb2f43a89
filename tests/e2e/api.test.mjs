// The package's JS API as an app meets it, in
// headless Chromium against real tidesync-server processes: SyncEngine.open
// without init(), TidesyncError as a class, every call rejecting instead of
// throwing, option objects, the public PendingOp shape, close(), and
// HttpProvider naming the origin to allow when CORS refuses a request, and
// telling mixed content, CORS and a server that is down apart.
//   node --experimental-websocket --test tests/e2e/api.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, launchBrowser, pageOn, startServer, tempDb, uniqueName } from './harness.mjs';

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

test('open without init, TidesyncError instances, no synchronous throws, option objects, public op shape', async () => {
  const page = await pageOn(browser, server);
  const out = await page.evaluate(async (dbName) => {
    const { SyncEngine, TidesyncError } = await import('/pkg/index.js');
    const r = {};
    const engine = await SyncEngine.open({ workspaceId: 'w1', dbName, tables: [{ name: 'notes' }] });
    r.opened = typeof engine.put === 'function' && typeof engine.deviceId === 'string';
    r.noFree = !('free' in engine);
    const caught = async (f) => {
      let sync = false;
      let p;
      try {
        p = f();
      } catch (e) {
        sync = true;
        return { sync, name: e?.name };
      }
      try {
        await p;
        return { sync, resolved: true };
      } catch (e) {
        return { sync, isClass: e instanceof TidesyncError, isError: e instanceof Error, code: e.code, path: e.path, retryable: e.retryable, message: e.message };
      }
    };
    r.badPut = await caught(() => engine.put('notes', { title: 'no id' }));
    r.badTable = await caught(() => engine.put(42, { id: 'x' }));
    r.start = await caught(() => engine.start());
    r.stop = await caught(() => engine.stop());
    r.badOption = await caught(() => engine.pendingOps({ limt: 3 }));
    r.badRuns = await caught(() => engine.syncRuns({ limit: 0 }));
    await engine.put('notes', { id: 'n1', title: 'a' });
    await engine.put('notes', { id: 'n2', title: 'b' });
    const ops = await engine.pendingOps({ limit: 1 });
    r.opKeys = Object.keys(ops[0]).sort();
    r.opCount = ops.length;
    r.runsObject = Array.isArray(await engine.syncRuns({ limit: 3 }));
    r.runsNumber = Array.isArray(await engine.syncRuns(3));
    r.conflicts = Array.isArray(await engine.conflicts({ limit: 3 }));
    let threw = null;
    try {
      engine.on('chnage', () => {});
    } catch (e) {
      threw = { isClass: e instanceof TidesyncError, code: e.code };
    }
    r.badEvent = threw;
    r.closed = await engine.close();
    r.afterClose = await caught(() => engine.get('notes', 'n1'));
    r.made = new TidesyncError('RATE_LIMIT', 'slow down', { retryAfterMs: 5 });
    r.made = { isClass: r.made instanceof TidesyncError, code: r.made.code, retryable: r.made.retryable, retryAfterMs: r.made.retryAfterMs, name: r.made.name };
    r.plain = new Error('x') instanceof TidesyncError;
    return r;
  }, uniqueName('api'));
  assert.equal(out.opened, true);
  assert.equal(out.noFree, true, 'free() is not part of the API: close() is');
  assert.deepEqual(out.badPut, { sync: false, isClass: true, isError: true, code: 'INVALID', path: 'records[0].id', retryable: false, message: out.badPut.message });
  assert.equal(out.badTable.sync, false);
  for (const k of ['start', 'stop']) {
    assert.equal(out[k].sync, false, `${k}() must reject, not throw`);
    assert.equal(out[k].isClass, true);
    assert.equal(out[k].code, 'INVALID', `${k}() without a provider: ${out[k].message}`);
  }
  assert.equal(out.badOption.code, 'INVALID');
  assert.equal(out.badOption.path, 'options.limt', out.badOption.message);
  assert.equal(out.badRuns.code, 'INVALID');
  assert.deepEqual(out.opKeys, ['attempts', 'createdAt', 'op', 'opId', 'payload', 'pk', 'seq', 'stamp', 'state', 'tableName']);
  assert.equal(out.opCount, 1);
  assert.equal(out.runsObject && out.runsNumber && out.conflicts, true);
  assert.deepEqual(out.badEvent, { isClass: true, code: 'INVALID' });
  assert.equal(out.closed, undefined);
  assert.equal(out.afterClose.code, 'CLOSED');
  assert.equal(out.afterClose.isClass, true);
  assert.deepEqual(out.made, { isClass: true, code: 'RATE_LIMIT', retryable: true, retryAfterMs: 5, name: 'TidesyncError' });
  assert.equal(out.plain, false);
});

test('init() still preloads, takes a URL, and a bad URL rejects with a TidesyncError that says what to do', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${server.url}/healthz`);
  const out = await page.evaluate(async () => {
    const { default: init, TidesyncError } = await import('/pkg/index.js?bad');
    let bad;
    try {
      await init('/pkg/no-such.wasm');
    } catch (e) {
      bad = { isClass: e instanceof TidesyncError, code: e.code, message: e.message };
    }
    const ok = await init('/pkg/tidesync_bg.wasm');
    return { bad, ok };
  });
  await ctx.close();
  assert.equal(out.bad.isClass, true);
  assert.equal(out.bad.code, 'UNAVAILABLE');
  assert.match(out.bad.message, /tidesync_bg\.wasm did not load|wasm module/);
  assert.equal(out.ok, undefined);
});

test('a request CORS refuses is reported as such, naming the origin to allow; with --cors-origin it works', async () => {
  const ws = uniqueName('cors');
  const token = createToken(db, ws);
  const page = await pageOn(browser, server);
  const other = await startServer(db);
  const allowing = await startServer(db, { args: ['--cors-origin', server.url] });
  try {
    const out = await page.evaluate(async ({ ws, token, refusing, allowing }) => {
      const { HttpProvider, TidesyncError } = await import('/pkg/index.js');
      const seen = [];
      const push = async (url) => {
        const p = new HttpProvider({ url, getToken: () => token, onError: (e) => seen.push(e.code) });
        try {
          const r = await p.push({ scope: { workspaceId: ws }, deviceId: 'd', ops: [] });
          return { ok: true, results: r.results.length };
        } catch (e) {
          return { isClass: e instanceof TidesyncError, code: e.code, blocked: e.blocked, message: e.message };
        }
      };
      return { refused: await push(refusing), allowed: await push(allowing), down: await push('http://127.0.0.1:9'), seen };
    }, { ws, token, refusing: other.url, allowing: allowing.url });
    assert.equal(out.refused.isClass, true);
    assert.equal(out.refused.code, 'UNAVAILABLE');
    assert.equal(out.refused.blocked, 'cors', out.refused.message);
    assert.ok(out.refused.message.includes(`--cors-origin ${server.url}`), out.refused.message);
    assert.deepEqual(out.allowed, { ok: true, results: 0 });
    assert.equal(out.down.blocked, undefined, out.down.message);
    assert.match(out.down.message, /cannot reach http:\/\/127\.0\.0\.1:9/);
    assert.deepEqual(out.seen, ['UNAVAILABLE', 'UNAVAILABLE'], 'onError saw both failures');
  } finally {
    await other.stop();
    await allowing.stop();
  }
});

test('an engine whose server refuses CORS says so in sync.error:action and status().lastError', async () => {
  const ws = uniqueName('cors-engine');
  const token = createToken(db, ws);
  const page = await pageOn(browser, server);
  const other = await startServer(db);
  try {
    const out = await page.evaluate(async ({ ws, token, url, dbName }) => {
      const { SyncEngine, HttpProvider } = await import('/pkg/index.js');
      const errors = [];
      const engine = await SyncEngine.open({
        workspaceId: ws, dbName, tables: [{ name: 'notes' }], backoffMs: [50, 100],
        provider: new HttpProvider({ url, getToken: () => token }),
      });
      engine.on('sync.error:action', (e) => errors.push(e));
      await engine.put('notes', { id: 'n1' });
      const end = Date.now() + 5000;
      while (!errors.some((e) => /CORS/.test(e.message)) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      const status = await engine.status();
      await engine.close();
      return { errors: errors.map((e) => `${e.code}: ${e.message}`), lastError: status.lastError, pending: status.pendingOps };
    }, { ws, token, url: other.url, dbName: uniqueName('db') });
    assert.ok(out.errors.some((e) => e.startsWith('UNAVAILABLE') && e.includes('CORS') && e.includes(server.url)), out.errors.join('\n'));
    assert.match(out.lastError?.message ?? '', /CORS/);
    assert.equal(out.pending, 1, 'the write is kept');
  } finally {
    await other.stop();
  }
});

test('HttpProvider tells mixed content, CORS and a server that is down apart (page origin and fetch faked)', async () => {
  const { HttpProvider } = await import(new URL('../../pkg/http_provider.js', import.meta.url).href);
  const had = Object.getOwnPropertyDescriptor(globalThis, 'location');
  Object.defineProperty(globalThis, 'location', { value: { origin: 'https://app.example', protocol: 'https:' }, configurable: true });
  const refused = () => Promise.reject(new TypeError('Failed to fetch'));
  const batch = { scope: { workspaceId: 'w' }, deviceId: 'd', ops: [] };
  const push = (url, fetch) => new HttpProvider({ url, getToken: () => 't', fetch }).push(batch).then(() => null, (e) => e);
  try {
    const mixed = await push('http://sync.example', refused);
    assert.equal(mixed.blocked, 'mixed-content', mixed.message);
    assert.match(mixed.message, /https: and http:\/\/sync\.example over http:/);
    // Loopback is no mixed content; both requests fail: down.
    const down = await push('http://127.0.0.1:9', refused);
    assert.equal(down.blocked, undefined);
    assert.match(down.message, /cannot reach http:\/\/127\.0\.0\.1:9 .*allows this page's origin https:\/\/app\.example/);
    // The no-cors probe gets through: the server is up, CORS refused the request.
    let probes = 0;
    const corsOnly = (url, init) => {
      if (init?.mode !== 'no-cors') return refused();
      probes += 1;
      assert.equal(url, 'https://sync.example/healthz');
      return Promise.resolve(new Response(null));
    };
    const cors = await push('https://sync.example', corsOnly);
    assert.equal(cors.blocked, 'cors', cors.message);
    assert.match(cors.message, /--cors-origin https:\/\/app\.example/);
    assert.equal(cors.code, 'UNAVAILABLE');
    assert.equal(cors.retryable, true);
    assert.equal(probes, 1);
  } finally {
    if (had) Object.defineProperty(globalThis, 'location', had);
    else delete globalThis.location;
  }
});

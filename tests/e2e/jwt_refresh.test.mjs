// HttpProvider's getToken({ refresh: true }) with an expiring JWT, against a
// real tidesync-server process (SQLite) started with an HS256 secret and no
// leeway: an engine in headless Chromium gets a JWT that expires 4 s after it
// is minted (node mints it, with the secret, each time the page's getToken
// asks), writes through the engine, and then stays idle until the server's
// watch re-check (every 2 s) closes the watch with 4401. The provider must ask
// getToken({ refresh: true }) and reconnect: a write from another device then
// reaches this engine through the watch (no pull), the engine can still push,
// and the server holds every write exactly once.
//   node --experimental-websocket --test tests/e2e/jwt_refresh.test.mjs
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, pageOn, post, putBatch, startServer, tempDb, uniqueName, until } from './harness.mjs';

const secret = randomBytes(32).toString('hex');
/** Seconds the first token lives; refreshed tokens live two minutes. */
const SHORT_S = 4;

let browser;
let server;
before(async () => {
  browser = await launchBrowser();
  server = await startServer(tempDb(), { args: ['--jwt-secret', secret, '--jwt-leeway-s', '0'] });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** An HS256 JWT for `sub` in `ws`, expiring `ttlS` seconds from now. */
function jwt(sub, ws, ttlS) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const exp = Math.floor(Date.now() / 1000) + ttlS;
  const data = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub, exp, workspaces: [ws] })}`;
  return `${data}.${createHmac('sha256', secret).update(data).digest('base64url')}`;
}

/** Every change the server holds for `ws`, paging from cursor 0. */
async function serverChanges(ws, token) {
  const out = [];
  let cursor = 0;
  for (;;) {
    const { status, body } = await post(server.url, '/v1/pull', token, { scope: { workspaceId: ws }, cursor, limit: 1000 });
    assert.equal(status, 200, JSON.stringify(body));
    out.push(...body.changes);
    cursor = body.nextCursor;
    if (!body.hasMore) return out;
  }
}

test('an expired JWT closes the watch with 4401; getToken({ refresh: true }) reconnects it and nothing is lost or doubled', async () => {
  const ws = uniqueName('w');
  const other = jwt('bob', ws, 600);
  const page = await pageOn(browser, server);
  // The page's getToken asks node for a token; node keeps what it was asked.
  const asked = [];
  await page.exposeFunction('mintToken', (o) => {
    asked.push({ ...o, at: Date.now() });
    return jwt('alice', ws, o.refresh ? 120 : SHORT_S);
  });
  await page.evaluate(async ({ ws }) => {
    const { default: init, SyncEngine, HttpProvider } = await import('/pkg/index.js');
    await init();
    window.log = [];
    window.pulls = 0;
    window.changes = [];
    // Records how each watch socket closed.
    const Recording = class extends WebSocket {
      constructor(...args) {
        super(...args);
        this.addEventListener('close', (e) => window.log.push(['close', e.code, Date.now()]));
      }
    };
    const provider = new HttpProvider({
      url: location.origin,
      WebSocket: Recording,
      getToken: (o) => {
        window.log.push(['getToken', o, Date.now()]);
        return window.mintToken(o);
      },
      fetch: (url, opts) => {
        if (String(url).endsWith('/v1/pull')) window.pulls += 1;
        return fetch(url, opts);
      },
    });
    window.engine = await SyncEngine.open({
      workspaceId: ws, dbName: `e2e-jwt-${ws}`, tables: [{ name: 'notes' }], provider,
    });
    window.engine.on('change', (e) => window.changes.push(e));
    window.statuses = [];
    window.engine.on('sync.subscription:action:statusChange', (e) => window.statuses.push(e.status));
  }, { ws });
  await until(() => page.evaluate(() => window.statuses.at(-1) === 'connected'), 10000, 'subscribed');

  // A write through the engine while the first token is valid.
  await page.evaluate(() => window.engine.put('notes', { id: 'a1', text: 'before expiry' }));
  await until(async () => (await serverChanges(ws, other)).length === 1, 5000, 'a1 on the server');
  assert.deepEqual(asked.map((a) => a.refresh), [false], 'one token so far, not a refresh');

  // Idle until the server closes the watch for the expired token and the
  // provider reconnects with a refreshed one.
  await until(() => page.evaluate(() => window.statuses.length >= 3), (SHORT_S + 6) * 1000, 'the watch closed and reopened');
  assert.deepEqual(await page.evaluate(() => window.statuses.slice(0, 3)), ['connected', 'disconnected', 'connected']);
  const log = await page.evaluate(() => window.log.map(([what, v]) => [what, v]));
  assert.deepEqual(log, [['getToken', { refresh: false }], ['close', 4401], ['getToken', { refresh: true }]],
    'the watch closed with 4401, then exactly one refresh');
  assert.ok(asked[1].at >= asked[0].at + (SHORT_S - 1) * 1000, 'the refresh came when the token expired');

  // A write from another device reaches this engine through the reconnected
  // watch: no pull. Let the pull that follows the reconnect finish first.
  let last = -1;
  await until(async () => {
    const now = await page.evaluate(() => window.pulls);
    const still = now === last;
    last = now;
    return still;
  }, 10000, 'a quiet engine', 300);
  const pullsBefore = await page.evaluate(() => window.pulls);
  assert.equal((await post(server.url, '/v1/push', other, putBatch(ws, 'bob-device', [{ id: 'b1', text: 'from bob' }]))).status, 200);
  await until(() => page.evaluate(() => window.changes.some((c) => c.source === 'remote' && c.pks.includes('b1'))),
    5000, 'b1 on this engine');
  assert.equal((await page.evaluate(() => window.engine.get('notes', 'b1'))).text, 'from bob');
  assert.equal(await page.evaluate(() => window.pulls), pullsBefore, 'delivered by the watch, not by a pull');

  // The engine still pushes, on the refreshed token.
  await page.evaluate(() => window.engine.put('notes', { id: 'a2', text: 'after refresh' }));
  await until(async () => (await serverChanges(ws, other)).length === 3, 5000, 'a2 on the server');

  // Every write exactly once: three puts, three versions, no repeat.
  const held = await serverChanges(ws, other);
  assert.deepEqual(held.map((c) => [c.pk, c.serverVersion]), [['a1', 1], ['b1', 2], ['a2', 3]]);
  assert.deepEqual(held.map((c) => c.payload.text), ['before expiry', 'from bob', 'after refresh']);
  assert.deepEqual(asked.map((a) => a.refresh), [false, true], 'no further refresh');
  await page.evaluate(() => window.engine.close());
  await page.context().close();
});

// Two SyncEngines in two browser contexts (two IndexedDBs) syncing through a
// real tidesync-server process (SQLite): a write on one appears on the other
// through the WebSocket watch, with no pull in between.
//   node --test tests/e2e/engines.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, launchBrowser, pageOn, startServer, tempDb, uniqueName, until } from './harness.mjs';

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

/** Opens an engine in a fresh context; counts the provider's pull requests. */
async function device(ws, token, name) {
  const page = await pageOn(browser, server);
  await page.evaluate(async ({ ws, token, name }) => {
    const { default: init, SyncEngine, HttpProvider } = await import('/pkg/index.js');
    await init();
    window.pulls = 0;
    window.changes = [];
    window.statuses = [];
    const countingFetch = (url, opts) => {
      if (String(url).endsWith('/v1/pull')) window.pulls += 1;
      return fetch(url, opts);
    };
    const provider = new HttpProvider({ url: location.origin, getToken: () => token, fetch: countingFetch });
    window.engine = await SyncEngine.open({
      workspaceId: ws, dbName: `e2e-${name}-${ws}`, tables: [{ name: 'notes' }], provider,
    });
    window.engine.on('change', (e) => window.changes.push(e));
    window.engine.on('sync.subscription:action:statusChange', (e) => window.statuses.push(e));
    await window.engine.syncNow();
  }, { ws, token, name });
  return page;
}

test('a write on one engine reaches the other through the WebSocket, without a pull', async () => {
  const ws = uniqueName('w');
  const token = createToken(db, ws);
  const a = await device(ws, token, 'a');
  const b = await device(ws, token, 'b');
  for (const p of [a, b]) {
    await until(() => p.evaluate(() => window.statuses.at(-1)?.status === 'connected'), 10000, 'subscribed');
  }
  for (const [from, to, id] of [[a, b, 'n1'], [b, a, 'n2']]) {
    // Let the pull that follows (re)connecting finish: the count must hold still.
    let last = -1;
    await until(async () => {
      const now = await to.evaluate(() => window.pulls);
      const still = now === last;
      last = now;
      return still;
    }, 10000, 'a quiet engine', 300);
    const pullsBefore = await to.evaluate(() => window.pulls);
    const started = Date.now();
    await from.evaluate((id) => window.engine.put('notes', { id, text: `hello ${id}` }), id);
    await until(() => to.evaluate((id) => window.changes.some((c) => c.source === 'remote' && c.pks.includes(id)), id),
      5000, `${id} on the other engine`);
    const elapsed = Date.now() - started;
    const row = await to.evaluate((id) => window.engine.get('notes', id), id);
    assert.equal(row.text, `hello ${id}`);
    assert.equal(await to.evaluate(() => window.pulls), pullsBefore, 'delivered by the watch, not by a pull');
    assert.ok(elapsed < 5000, `${elapsed} ms`);
  }
  // Deletes travel the same way.
  await a.evaluate(() => window.engine.delete('notes', 'n2'));
  await until(async () => (await b.evaluate(() => window.engine.get('notes', 'n2'))) === undefined, 5000, 'delete');
  for (const p of [a, b]) {
    await p.evaluate(() => window.engine.close());
    await p.context().close();
  }
});

// Lifecycle paths where a device used to lose or strand writes silently,
// against real tidesync-server processes (SQLite) in headless Chromium,
// through HttpProvider: a key recreated after the server's GC purged its
// tombstone (three devices), a table added by an app update, a 40 s server
// outage with 20 writes, and one 6 MB record in a batch.
//   node --test tests/e2e/convergence.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, launchBrowser, pageOn, startServer, tempDb, uniqueName, until } from './harness.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Opens an engine in a fresh page on `server` (its own context: its own IndexedDB). */
async function device(server, { ws, token, name, tables = ['notes'], context }) {
  const page = context ? await context.newPage() : await pageOn(browser, server);
  if (context) await page.goto(`${server.url}/healthz`);
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.evaluate(async ({ ws, token, name, tables }) => {
    const { default: init, SyncEngine, HttpProvider } = await import('/pkg/index.js');
    await init();
    window.events = [];
    const provider = new HttpProvider({ url: location.origin, getToken: () => token });
    window.engine = await SyncEngine.open({
      workspaceId: ws, dbName: `e2e-${name}-${ws}`, tables: tables.map((t) => ({ name: t })), provider,
      backoffMs: [250, 1000, 2000],
    });
    for (const e of ['sync.conflict:action:detected', 'sync.error:action']) {
      window.engine.on(e, (payload) => window.events.push({ e, payload }));
    }
  }, { ws, token, name, tables });
  return page;
}

const sync = (page) => page.evaluate(() => window.engine.syncNow());
const get = (page, table, id) => page.evaluate(([t, id]) => window.engine.get(t, id), [table, id]);
const count = (page, table) => page.evaluate((t) => window.engine.count(t), table);
const close = async (page) => {
  await page.evaluate(() => window.engine.close());
  await page.close();
};

/** The server's current rows of `ws` (a full pull from node, with `token`). */
async function serverRows(server, ws, token, table = 'notes') {
  const rows = new Map();
  let cursor = 0;
  for (;;) {
    const res = await fetch(`${server.url}/v1/pull`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ scope: { workspaceId: ws }, cursor, limit: 1000, tables: [table], rescan: true }),
    });
    const page = await res.json();
    for (const c of page.changes) {
      if (c.op === 'put') rows.set(c.pk, c.payload);
      else rows.delete(c.pk);
    }
    cursor = page.nextCursor;
    if (!page.hasMore) return rows;
  }
}

test('a key recreated after the server GC purged its tombstone exists on all three devices', async () => {
  const db = tempDb();
  const server = await startServer(db, { args: ['--retention-ms', '60000', '--gc-interval-ms', '1000'] });
  try {
    const ws = uniqueName('w');
    const token = createToken(db, ws);
    const a = await device(server, { ws, token, name: 'a' });
    await a.evaluate(() => window.engine.put('notes', { id: 'fav', v: 1 }));
    await sync(a);
    await a.evaluate(() => window.engine.delete('notes', 'fav'));
    await sync(a);
    // The server purges the tombstone once it is past retention and every
    // device's cursor is past it (a reports its cursor as it syncs).
    await until(async () => {
      await sync(a);
      return /GC purged [1-9]/.test(server.stderr());
    }, 90000, 'the server GC purging the tombstone', 2000);
    // A device that bootstraps after the purge never sees the delete.
    const c = await device(server, { ws, token, name: 'c' });
    await sync(c);
    assert.equal(await get(c, 'notes', 'fav'), undefined);
    const stamp = await c.evaluate(() => window.engine.put('notes', { id: 'fav', v: 'again' }));
    assert.equal(stamp.clock, 1, 'written below the purged delete');
    await c.evaluate(() => {
      window.changes = [];
      window.engine.on('change', (change) => window.changes.push(change));
    });
    await sync(c);
    await until(async () => (await serverRows(server, ws, token)).get('fav')?.v === 'again', 10000, 'fav on the server');
    // The push's answer restamped the row above the purged delete: readers hear it.
    const restamps = await c.evaluate(() => window.changes.filter((ch) => ch.source === 'local'));
    assert.equal(restamps.length, 1, JSON.stringify(restamps));
    assert.deepEqual(restamps[0].pks, ['fav']);
    assert.equal(restamps[0].seqs.length, 1);
    assert.ok((await get(c, 'notes', 'fav')).clock > 1, 'the row carries the new stamp');
    await sync(a);
    assert.equal((await get(a, 'notes', 'fav'))?.v, 'again', 'on the device that deleted it');
    const b = await device(server, { ws, token, name: 'b' });
    await sync(b);
    assert.equal((await get(b, 'notes', 'fav'))?.v, 'again', 'on a third device');
    assert.equal((await get(c, 'notes', 'fav'))?.v, 'again');
    assert.deepEqual(await c.evaluate(() => window.engine.pendingOps()), []);
    for (const p of [a, b, c]) await close(p);
  } finally {
    await server.stop();
  }
});

test('a table added by an app update is backfilled from the server', async () => {
  const db = tempDb();
  const server = await startServer(db);
  try {
    const ws = uniqueName('w');
    const token = createToken(db, ws);
    const a = await device(server, { ws, token, name: 'a', tables: ['notes', 'tags'] });
    await a.evaluate(async () => {
      await window.engine.bulkPut('tags', Array.from({ length: 30 }, (_, i) => ({ id: `t${i}` })));
      await window.engine.bulkPut('notes', Array.from({ length: 10 }, (_, i) => ({ id: `n${i}` })));
    });
    await sync(a);
    const context = await browser.newContext();
    const old = await device(server, { ws, token, name: 'b', context });
    await sync(old);
    assert.equal(await count(old, 'notes'), 10);
    await close(old);
    const updated = await device(server, { ws, token, name: 'b', tables: ['notes', 'tags'], context });
    await sync(updated);
    assert.equal(await count(updated, 'tags'), 30, 'every earlier change of the new table arrives');
    assert.equal(await count(updated, 'notes'), 10);
    await close(updated);
    await context.close();
    await close(a);
  } finally {
    await server.stop();
  }
});

test('a 40 s server outage with 20 writes: nothing fails, everything arrives', async () => {
  const db = tempDb();
  let server = await startServer(db);
  const port = server.port;
  try {
    const ws = uniqueName('w');
    const token = createToken(db, ws);
    const a = await device(server, { ws, token, name: 'a' });
    await sync(a);
    await server.stop();
    const started = Date.now();
    for (let i = 0; i < 20; i++) {
      await a.evaluate((i) => window.engine.put('notes', { id: `o${i}`, i }), i);
      await new Promise((r) => setTimeout(r, 2000));
    }
    assert.ok(Date.now() - started >= 40000);
    assert.deepEqual(await a.evaluate(() => window.engine.failedOps()), [], 'nothing dead-lettered during the outage');
    server = await startServer(db, { port });
    await until(async () => (await serverRows(server, ws, token)).size === 20, 20000, 'all 20 writes on the server', 500);
    assert.deepEqual(await a.evaluate(() => window.engine.failedOps()), []);
    await until(async () => (await a.evaluate(() => window.engine.status())).pendingOps === 0, 10000, 'an empty outbox');
    await close(a);
  } finally {
    await server.stop();
  }
});

test('one 6 MB record fails alone; the rest of its batch is sent', async () => {
  const db = tempDb();
  const server = await startServer(db);
  try {
    const ws = uniqueName('w');
    const token = createToken(db, ws);
    const a = await device(server, { ws, token, name: 'a' });
    await a.evaluate(async () => {
      const rows = Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, i }));
      rows.splice(7, 0, { id: 'big', blob: 'x'.repeat(6 * 1024 * 1024) });
      await window.engine.bulkPut('notes', rows);
    });
    await sync(a).catch(() => {});
    await until(async () => (await a.evaluate(() => window.engine.failedOps())).length === 1, 20000, 'one failed op');
    const failed = await a.evaluate(() => window.engine.failedOps());
    assert.equal(failed[0].pk, 'big');
    assert.match(failed[0].lastError, /large|413/i);
    const rows = await serverRows(server, ws, token);
    assert.equal(rows.size, 20, 'the other 20 records reached the server');
    assert.ok(!rows.has('big'));
    const errors = await a.evaluate(() => window.events.filter((e) => e.e === 'sync.error:action'));
    assert.ok(errors.some((e) => e.payload.code === 'REJECTED' && e.payload.opIds.length === 1));
    await close(a);
  } finally {
    await server.stop();
  }
});

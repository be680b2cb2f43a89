// Two tabs of one browser (two Playwright pages of one context, so one
// IndexedDB, one BroadcastChannel and one Web Lock) on one database, against
// a real tidesync-server process (SQLite): only the leader tab pushes, and
// a write in the follower tab is on the server within a second, without a
// syncNow; syncNow in the follower resolves once the leader pushed and pulled.
//   node --experimental-websocket --test tests/e2e/tabs.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, launchBrowser, post, startServer, tempDb, uniqueName, until } from './harness.mjs';
import { openTab as openOn, serverPks as pksOn } from './tabs_support.mjs';

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

const openTab = (page, ws, token, dbName) => openOn(page, server, ws, token, dbName);
const serverPks = (ws, token) => pksOn(server, ws, token);

test("a write in a follower tab is on the server within a second", async () => {
  const ws = uniqueName('tabs');
  const token = createToken(db, ws);
  const dbName = `e2e-tabs-${ws}`;
  const context = await browser.newContext();
  const a = await context.newPage();
  const b = await context.newPage();
  await openTab(a, ws, token, dbName);
  await openTab(b, ws, token, dbName);
  const leaderOf = (p) => p.evaluate(async () => (await window.engine.status()).leader);
  await until(async () => (await leaderOf(a)) || (await leaderOf(b)), 10000, 'a leader tab');
  const [leader, follower] = (await leaderOf(a)) ? [a, b] : [b, a];
  assert.equal(await leaderOf(follower), false, 'exactly one tab leads');
  await until(() => leader.evaluate(async () => (await window.engine.status()).phase === 'idle'), 10000, 'an idle leader');

  const timings = [];
  for (const [i, write] of [
    ['put', (id) => window.engine.put('notes', { id, text: 'from the follower tab' })],
    ['bulkPut', (id) => window.engine.bulkPut('notes', [{ id }, { id: `${id}-2` }])],
  ].entries()) {
    const id = `f${i}`;
    const started = Date.now();
    await follower.evaluate(write[1], id);
    await until(async () => (await serverPks(ws, token)).includes(id), 5000, `${write[0]} on the server`, 10);
    timings.push([write[0], Date.now() - started]);
  }
  console.log('follower tab write -> server (ms):', JSON.stringify(timings));
  for (const [what, ms] of timings) assert.ok(ms < 1000, `${what}: ${ms} ms`);
  assert.equal(await follower.evaluate(() => window.pushes), 0, 'the follower tab never pushed');
  assert.ok((await leader.evaluate(() => window.pushes)) >= 2, 'the leader tab pushed');

  // syncNow in the follower: its op is on the server when it resolves, and
  // a write of another device is in the shared database.
  const other = createToken(db, ws);
  const batch = {
    scope: { workspaceId: ws }, deviceId: 'other-device',
    ops: [{ opId: `other-${ws}`, tableName: 'notes', op: 'put', pk: 'remote', payload: { id: 'remote' },
      stamp: { clock: 1, hlc: `${String(Date.now()).padStart(15, '0')}:00000:other-device`,
        deviceId: 'other-device', opId: `other-${ws}` } }],
  };
  assert.equal((await post(server.url, '/v1/push', other, batch)).status, 200);
  await follower.evaluate(() => window.engine.put('notes', { id: 'last' }));
  const report = await follower.evaluate(() => window.engine.syncNow());
  assert.ok((await serverPks(ws, token)).includes('last'), JSON.stringify(report));
  assert.ok(await follower.evaluate(async () => (await window.engine.get('notes', 'remote')) !== undefined));
  assert.equal(await follower.evaluate(() => window.pushes), 0, 'the follower tab never pushed');

  for (const p of [a, b]) await p.evaluate(() => window.engine.close());
  await context.close();
});

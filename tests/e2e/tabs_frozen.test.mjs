// Leadership that survives frozen and hung tabs: two Playwright pages of one
// context (one IndexedDB, one Web Lock) on one database against a real
// tidesync-server (SQLite). A leader that is frozen (its `freeze` event, then
// its scripts stopped: see tabs_support.mjs) hands over at once; a leader
// whose page stops running without warning loses the lock to the other tab
// once its heartbeat has been silent for 5 s. Writes in the other tab keep
// reaching the server meanwhile, the old leader stands down when it runs
// again, and the server applied every op exactly once.
//   node --experimental-websocket --test tests/e2e/tabs_frozen.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, launchBrowser, startServer, tempDb, uniqueName, until } from './harness.mjs';
import { appliedOps, freeze, hang, openTab, serverPks, thaw, unhang } from './tabs_support.mjs';

let browser;
let server;
let db;
before(async () => {
  browser = await launchBrowser();
  db = tempDb();
  server = await startServer(db);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const leads = (p) => p.evaluate(async () => (await window.engine.status()).leader);

/** Two tabs on one new database: `[leader, follower]` once one leads. */
async function twoTabs(ws, token) {
  const context = await browser.newContext();
  const dbName = `e2e-frozen-${ws}`;
  const a = await context.newPage();
  await openTab(a, server, ws, token, dbName);
  await until(() => leads(a), 10000, 'the first tab leads');
  const b = await context.newPage();
  await openTab(b, server, ws, token, dbName);
  assert.equal(await leads(b), false, 'the second tab follows');
  return { context, leader: a, follower: b };
}

/** Writes `ids` in `page`, one put each. */
const write = (page, ids) => page.evaluate(async (ids) => {
  for (const id of ids) await window.engine.put('notes', { id });
}, ids);

test('a frozen leader hands over at once, and pushes nothing twice when it thaws', async () => {
  const ws = uniqueName('frozen');
  const token = createToken(db, ws);
  const { context, leader, follower } = await twoTabs(ws, token);
  const applied = await appliedOps(server);
  await write(leader, ['before']);
  await until(async () => (await serverPks(server, ws, token)).includes('before'), 5000, 'the first write');

  const frozen = await freeze(context, leader);
  const started = Date.now();
  await write(follower, ['f1', 'f2', 'f3']);
  await until(async () => (await serverPks(server, ws, token)).includes('f3'), 8000, 'the follower\'s writes');
  const handover = Date.now() - started;
  assert.equal(await leads(follower), true, 'the follower leads while the leader is frozen');
  assert.ok(handover < 2000, `the frozen leader handed over at once (${handover} ms)`);

  await thaw(leader, frozen);
  await write(leader, ['l1', 'l2']);
  await until(async () => (await serverPks(server, ws, token)).includes('l2'), 8000, 'the thawed tab\'s writes');
  const states = [await leads(leader), await leads(follower)];
  assert.equal(states.filter(Boolean).length, 1, `exactly one leader after the thaw: ${states}`);
  const pks = await serverPks(server, ws, token);
  assert.deepEqual([...pks].sort(), ['before', 'f1', 'f2', 'f3', 'l1', 'l2']);
  assert.equal(await appliedOps(server) - applied, 6, 'each op applied once');
  console.log(`frozen leader: the follower's writes reached the server ${handover} ms after the freeze`);
  await context.close();
});

test('a leader that stops without warning loses the lock after 5 s of silence and stands down when it runs again', async () => {
  const ws = uniqueName('hung');
  const token = createToken(db, ws);
  const { context, leader, follower } = await twoTabs(ws, token);
  const applied = await appliedOps(server);
  const hung = await hang(context, leader);
  const started = Date.now();
  await write(follower, ['h1', 'h2']);
  await until(async () => (await serverPks(server, ws, token)).includes('h2'), 15000, 'the follower\'s writes');
  const takeover = Date.now() - started;
  assert.ok(takeover >= 3000, `the follower waited for the lease to lapse (${takeover} ms)`);
  assert.equal(await leads(follower), true);

  const resumed = Date.now();
  await unhang(hung);
  await until(async () => !(await leads(leader)), 5000, 'the old leader stands down');
  await write(leader, ['h3']);
  await until(async () => (await serverPks(server, ws, token)).includes('h3'), 8000, 'the old leader\'s write');
  assert.equal(await leads(follower), true, 'the new leader keeps leading');
  assert.equal(await leader.evaluate((t) => window.pushesAfter(t), resumed), 0, 'the old leader pushed nothing after it ran again');
  assert.deepEqual([...(await serverPks(server, ws, token))].sort(), ['h1', 'h2', 'h3']);
  assert.equal(await appliedOps(server) - applied, 3, 'each op applied once');
  console.log(`hung leader: the follower took over and pushed ${takeover} ms after the pause`);
  await context.close();
});

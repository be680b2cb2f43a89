// A fuzz of three tabs (Playwright pages of one context) on one database
// against a real tidesync-server (SQLite): for a fixed seed, 40 random steps
// of writes, tab closes (and a new tab in its place), reloads, freezes, hangs
// and thaws (tabs_support.mjs) and server outages (the process stopped, then
// started again on the same port and database), ending with an outage longer
// than the backoff schedule while two tabs write. Afterwards every tab, the
// database and the server hold the same records, every write is on the
// server, and the server applied each op exactly once (its own count, from
// /metrics, summed over its runs).
//   node --experimental-websocket --test tests/e2e/tabs_fuzz.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, launchBrowser, startServer, tempDb, uniqueName, until } from './harness.mjs';
import { appliedOps, freeze, hang, openTab, serverPks, thaw } from './tabs_support.mjs';

const STEPS = 40;
const SEED = Number(process.env.TIDESYNC_FUZZ_SEED ?? 7);

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

test(`three tabs through ${STEPS} random closes, reloads, freezes, hangs and server outages lose and double nothing (seed ${SEED})`, async () => {
  let x = SEED;
  const rnd = (n) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const ws = uniqueName('fuzz');
  const token = createToken(db, ws);
  const dbName = `e2e-fuzz-${ws}`;
  const context = await browser.newContext();
  // Ops the server applied during the test, over every run of the process.
  let applied = -(await appliedOps(server));
  const open = async () => {
    const page = await context.newPage();
    await openTab(page, server, ws, token, dbName);
    return { page, frozen: null };
  };
  const tabs = [await open(), await open(), await open()];
  const written = [];
  const log = [];
  let down = false;
  const port = server.port;
  const outage = async () => {
    // Hold the tabs' requests a moment, so that no push is half applied
    // when the count is read; then the real outage: connection refused.
    for (const t of tabs) if (!t.frozen) await t.page.evaluate(() => { window.offline = true; });
    await new Promise((r) => setTimeout(r, 300));
    applied += await appliedOps(server);
    await server.stop();
    for (const t of tabs) if (!t.frozen) await t.page.evaluate(() => { window.offline = false; });
    down = true;
  };
  const backOnline = async () => {
    server = await startServer(db, { port });
    down = false;
  };
  const active = () => tabs.filter((t) => !t.frozen);
  for (let step = 0; step < STEPS; step++) {
    const roll = rnd(100);
    const t = tabs[rnd(tabs.length)];
    if (roll < 50 || active().length === 0) {
      const on = active()[rnd(active().length)] ?? t;
      if (on.frozen) continue;
      const ids = Array.from({ length: 1 + rnd(3) }, (_, i) => `s${step}-${i}`);
      await on.page.evaluate((ids) => window.engine.bulkPut('notes', ids.map((id) => ({ id }))), ids);
      written.push(...ids);
      log.push(`write ${ids.length}`);
    } else if (roll < 60 && !t.frozen && !down) {
      // (A page cannot load while the server, which serves it, is down.)
      await t.page.close();
      tabs[tabs.indexOf(t)] = await open();
      log.push('close+open');
    } else if (roll < 70 && !t.frozen && !down) {
      await t.page.reload();
      await openTab(t.page, server, ws, token, dbName);
      log.push('reload');
    } else if (roll < 85) {
      if (t.frozen) {
        await thaw(t.page, t.frozen);
        t.frozen = null;
        log.push('thaw');
      } else if (roll < 78) {
        t.frozen = await freeze(context, t.page);
        log.push('freeze');
      } else {
        // Stopped without a `freeze` event: the others take over after 5 s.
        t.frozen = await hang(context, t.page);
        log.push('hang');
      }
    } else if (roll >= 85) {
      if (down) await backOnline(); else await outage();
      log.push(down ? 'outage' : 'back online');
    }
    await new Promise((r) => setTimeout(r, rnd(400)));
  }
  for (const t of tabs) {
    if (t.frozen) await thaw(t.page, t.frozen);
    t.frozen = null;
  }
  // Longer than the backoff schedule (250, 1000, 3000, 5000 ms) while two
  // tabs write; nothing is given up.
  if (!down) await outage();
  for (const [i, t] of tabs.slice(0, 2).entries()) {
    const ids = [`long-${i}-a`, `long-${i}-b`];
    await t.page.evaluate((ids) => window.engine.bulkPut('notes', ids.map((id) => ({ id }))), ids);
    written.push(...ids);
  }
  await new Promise((r) => setTimeout(r, 12000));
  await backOnline();
  log.push('12 s outage');
  const want = [...written].sort();
  await until(async () => (await serverPks(server, ws, token)).length >= want.length, 60000, 'every write on the server', 200);
  for (const t of tabs) await t.page.evaluate(() => window.engine.syncNow());
  const onServer = [...(await serverPks(server, ws, token))].sort();
  assert.deepEqual(onServer, want, `the server holds every write once (steps: ${log.join(', ')})`);
  applied += await appliedOps(server);
  assert.equal(applied, want.length, 'each op applied once');
  const leaders = [];
  for (const t of tabs) {
    const ids = await t.page.evaluate(async () => (await window.engine.getAll('notes')).map((r) => r.id).sort());
    assert.deepEqual(ids, want, 'every tab holds what the server holds');
    leaders.push(await t.page.evaluate(async () => (await window.engine.status()).leader));
  }
  assert.equal(leaders.filter(Boolean).length, 1, `exactly one leader at the end: ${leaders}`);
  console.log(`fuzz seed ${SEED}: ${want.length} writes, steps: ${log.join(', ')}`);
  await context.close();
});

// The demo app (www/) end to end: devices in headless Chromium syncing
// through a real tidesync-server (SQLite). Multi-device sync, offline edits
// on both devices then reconnect, delete propagation, a conflict in the
// journal, a reload in the middle of a flush, and a new device bootstrapping.
// Screenshots go to test-output/ (git-ignored).
//   node --experimental-websocket --test tests/e2e/demo.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createToken, launchBrowser, post, root, startServer, tempDb, uniqueName, until } from './harness.mjs';

const shots = join(root, 'test-output');
let browser;
let db;
let server;
before(async () => {
  mkdirSync(shots, { recursive: true });
  browser = await launchBrowser();
  db = tempDb();
  server = await startServer(db);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The demo with `devices` in a fresh browser context (fresh IndexedDB). */
async function demo(ws, token, devices, context) {
  const ctx = context ?? await browser.newContext({ viewport: { width: 1300, height: 900 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  const boot = [];
  // What the page says while it starts, in order (it must never sit blank).
  await page.exposeFunction('recordBoot', (text) => boot.push(text));
  await page.addInitScript(() => {
    new MutationObserver(() => window.recordBoot(document.getElementById('boot')?.textContent ?? ''))
      .observe(document, { subtree: true, childList: true, characterData: true });
  });
  await page.goto(`${server.url}/?workspace=${ws}&token=${token}&devices=${devices}`);
  await page.waitForFunction(() => window.demoReady === true, null, { timeout: 30000 });
  await page.waitForFunction(() => document.getElementById('boot').textContent.startsWith('Ready'), null, { timeout: 5000 });
  page.boot = [...new Set(boot.filter(Boolean))];
  return page;
}

const panel = (page, name) => page.locator(`[data-device=${name}]`);
const texts = (page, name) => panel(page, name).locator('.message-list .text').allTextContents();

async function thread(page, name, title) {
  await panel(page, name).locator('.new-thread input').fill(title);
  await panel(page, name).locator('.new-thread input').press('Enter');
}

async function say(page, name, text) {
  await panel(page, name).locator('.new-message input').fill(text);
  await panel(page, name).locator('.new-message input').press('Enter');
}

async function open(page, name, title) {
  await panel(page, name).locator('.thread-list button', { hasText: title }).click({ timeout: 15000 });
}

async function setOnline(page, name, on) {
  const box = panel(page, name).locator('.online');
  if (on) await box.check(); else await box.uncheck();
}

/** Every change the server holds for the workspace. */
async function serverChanges(ws, token) {
  const out = [];
  let cursor = 0;
  for (;;) {
    const { status, body } = await post(server.url, '/v1/pull', token, { scope: { workspaceId: ws }, cursor, limit: 1000 });
    assert.equal(status, 200);
    out.push(...body.changes);
    cursor = body.nextCursor;
    if (!body.hasMore) return out;
  }
}

test('a write on one device appears on the other', async () => {
  const ws = uniqueName('demo');
  const token = createToken(db, ws);
  const page = await demo(ws, token, 'laptop,phone');
  assert.ok(page.boot.some((t) => t.startsWith('Loading the sync engine')), page.boot.join(' | '));
  assert.ok(page.boot.some((t) => t.startsWith('Ready: 2 devices')), page.boot.join(' | '));
  await thread(page, 'laptop', 'Trip');
  await say(page, 'laptop', 'hello from the laptop');
  await open(page, 'phone', 'Trip');
  await until(async () => (await texts(page, 'phone')).includes('hello from the laptop'), 10000, 'the message on the phone');
  // The lists are live queries: the laptop's badge says the message is saved on the server.
  const badge = panel(page, 'laptop').locator('.message-list li .badge');
  await until(async () => (await badge.getAttribute('class'))?.includes('synced'), 10000, 'the saved badge');
  await page.context().close();
});

test('a message shows waiting while offline and saved once it is pushed', async () => {
  const ws = uniqueName('demo');
  const token = createToken(db, ws);
  const page = await demo(ws, token, 'solo');
  await thread(page, 'solo', 'Notes');
  await setOnline(page, 'solo', false);
  await say(page, 'solo', 'written offline');
  const item = panel(page, 'solo').locator('.message-list li', { hasText: 'written offline' });
  await until(async () => ['pending', 'inFlight'].includes(await item.getAttribute('data-sync')), 10000, 'a waiting badge');
  await setOnline(page, 'solo', true);
  await until(async () => (await item.getAttribute('data-sync')) === 'synced', 15000, 'the saved badge');
  await page.context().close();
});

test('offline edits on both devices converge after reconnecting', async () => {
  const ws = uniqueName('demo');
  const token = createToken(db, ws);
  const page = await demo(ws, token, 'laptop,phone');
  await thread(page, 'laptop', 'Plans');
  await open(page, 'phone', 'Plans');
  await setOnline(page, 'laptop', false);
  await setOnline(page, 'phone', false);
  await say(page, 'laptop', 'written offline on the laptop');
  await say(page, 'phone', 'written offline on the phone');
  // The list is a live query: wait for it to show the laptop's own write.
  await until(async () => (await texts(page, 'laptop')).length > 0, 10000, 'the laptop\'s own message');
  assert.deepEqual(await texts(page, 'laptop'), ['written offline on the laptop'], 'the phone\'s write is not here yet');
  await setOnline(page, 'laptop', true);
  await setOnline(page, 'phone', true);
  await until(async () => (await texts(page, 'laptop')).length === 2 && (await texts(page, 'phone')).length === 2,
    15000, 'both messages on both devices');
  assert.deepEqual(await texts(page, 'laptop'), await texts(page, 'phone'), 'the same order on both');
  await page.screenshot({ path: join(shots, 'demo-offline-edits-converged.png') });
  await page.context().close();
});

test('a delete reaches the other device', async () => {
  const ws = uniqueName('demo');
  const token = createToken(db, ws);
  const page = await demo(ws, token, 'laptop,phone');
  await thread(page, 'laptop', 'Chores');
  await say(page, 'laptop', 'take out the bins');
  await say(page, 'laptop', 'water the plants');
  await open(page, 'phone', 'Chores');
  await until(async () => (await texts(page, 'phone')).length === 2, 10000, 'both messages on the phone');
  await panel(page, 'phone').locator('.message-list li', { hasText: 'take out the bins' }).locator('button', { hasText: 'delete' }).click();
  await until(async () => (await texts(page, 'laptop')).join() === 'water the plants', 10000, 'the delete on the laptop');
  await page.context().close();
});

test('concurrent edits of one message land in the conflict journal', async () => {
  const ws = uniqueName('demo');
  const token = createToken(db, ws);
  const page = await demo(ws, token, 'laptop,phone');
  await thread(page, 'laptop', 'Dinner');
  await say(page, 'laptop', 'pasta?');
  await open(page, 'phone', 'Dinner');
  await until(async () => (await texts(page, 'phone')).includes('pasta?'), 10000, 'the message on the phone');
  await setOnline(page, 'laptop', false);
  await setOnline(page, 'phone', false);
  for (const [name, text] of [['laptop', 'pasta at 7'], ['phone', 'pizza at 8']]) {
    page.once('dialog', (d) => d.accept(text));
    await panel(page, name).locator('.message-list li', { hasText: 'pasta?' }).locator('button', { hasText: 'edit' }).click();
    await until(async () => (await texts(page, name)).includes(text), 5000, `the edit on the ${name}`);
  }
  await setOnline(page, 'laptop', true);
  await setOnline(page, 'phone', true);
  await until(async () => (await texts(page, 'laptop')).join() === (await texts(page, 'phone')).join(), 15000, 'agreement');
  const counts = await Promise.all(['laptop', 'phone'].map((n) => panel(page, n).locator('.conflict-count').textContent()));
  assert.ok(counts.some((c) => Number(c) >= 1), `a conflict is journalled: ${counts}`);
  await page.context().close();
});

test('a reload in the middle of a flush loses and duplicates nothing', async () => {
  const ws = uniqueName('demo');
  const token = createToken(db, ws);
  const page = await demo(ws, token, 'solo');
  await thread(page, 'solo', 'Log');
  await setOnline(page, 'solo', false);
  await page.evaluate(async () => {
    const { engine } = window.devices.solo;
    const [t] = await engine.getAll('threads');
    const rows = Array.from({ length: 300 }, (_, i) => ({ id: `m${i}`, thread_id: t.id, text: `line ${i}`, by: 'solo' }));
    await engine.bulkPut('messages', rows);
  });
  await setOnline(page, 'solo', true);
  await until(async () => (await serverChanges(ws, token)).length > 1, 10000, 'the flush to start');
  await page.reload();
  await page.waitForFunction(() => window.demoReady === true, null, { timeout: 30000 });
  await until(async () => (await page.evaluate(() => window.devices.solo.engine.status())).pendingOps === 0, 20000, 'the outbox to drain');
  const changes = await serverChanges(ws, token);
  const messages = changes.filter((c) => c.tableName === 'messages');
  assert.equal(messages.length, 300, 'every message arrived');
  assert.equal(new Set(messages.map((c) => c.pk)).size, 300, 'none twice');
  await page.context().close();
});

test('a new device bootstraps everything', async () => {
  const ws = uniqueName('demo');
  const token = createToken(db, ws);
  const first = await demo(ws, token, 'laptop');
  await thread(first, 'laptop', 'Archive');
  await first.evaluate(async () => {
    const { engine } = window.devices.laptop;
    const [t] = await engine.getAll('threads');
    await engine.bulkPut('messages', Array.from({ length: 120 }, (_, i) => ({ id: `a${i}`, thread_id: t.id, text: `old ${i}`, by: 'laptop' })));
    await engine.syncNow();
  });
  await first.context().close();
  const fresh = await demo(ws, token, 'newcomer');
  await open(fresh, 'newcomer', 'Archive');
  await until(async () => (await texts(fresh, 'newcomer')).length === 120, 15000, 'the bootstrap');
  await fresh.screenshot({ path: join(shots, 'demo-new-device.png') });
  await fresh.context().close();
});

test('devices in separate windows sync with each other', async () => {
  const ws = uniqueName('demo');
  const token = createToken(db, ws);
  const context = await browser.newContext({ viewport: { width: 800, height: 900 } });
  const one = await demo(ws, token, 'window-one', context);
  const two = await demo(ws, token, 'window-two', context);
  await thread(one, 'window-one', 'Across');
  await say(one, 'window-one', 'from the first window');
  await open(two, 'window-two', 'Across');
  await until(async () => (await texts(two, 'window-two')).includes('from the first window'), 10000, 'the second window');
  await context.close();
});

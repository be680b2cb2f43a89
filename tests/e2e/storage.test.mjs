// Storage durability through the package entry (pkg/index.js) in headless
// Chromium: `storage` options checked at open, `status().storage` with the
// persistence answer, usage, quota and pressure, the pressure event's
// subscription, and an evicted database reported on the next open (and not
// after `forgetDevice`).
//   node --experimental-websocket --test tests/e2e/storage.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, pageOn, startServer, tempDb, uniqueName } from './harness.mjs';

let browser;
let server;
let page;
before(async () => {
  browser = await launchBrowser();
  server = await startServer(tempDb());
  page = await pageOn(browser, server);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('storage options, status().storage and eviction through SyncEngine', async () => {
  const out = await page.evaluate(async (dbName) => {
    const { SyncEngine, forgetDevice } = await import('/pkg/index.js');
    const config = { workspaceId: 'w1', dbName, tables: [{ name: 'notes' }] };
    const refused = [];
    for (const storage of [{ persist: 'yes' }, { pressureRatio: 2 }, { pressureRatio: 0 }, { other: 1 }, 'all']) {
      try {
        await SyncEngine.open({ ...config, storage });
        refused.push('opened');
      } catch (err) {
        refused.push([err.name, err.code, err.path]);
      }
    }
    forgetDevice(dbName);
    const first = await SyncEngine.open({ ...config, storage: { persist: true, pressureRatio: 1e-9 } });
    const events = [];
    const off = first.on('sync.storage:action:pressure', (e) => events.push(e));
    const s1 = (await first.status()).storage;
    const id1 = first.deviceId;
    off();
    await first.close();
    await new Promise((ok, fail) => { const q = indexedDB.deleteDatabase(dbName); q.onsuccess = ok; q.onerror = () => fail(q.error); });
    const second = await SyncEngine.open(config);
    const s2 = (await second.status()).storage;
    await second.close();
    forgetDevice(dbName);
    await new Promise((ok, fail) => { const q = indexedDB.deleteDatabase(dbName); q.onsuccess = ok; q.onerror = () => fail(q.error); });
    const third = await SyncEngine.open(config);
    const s3 = (await third.status()).storage;
    await third.close();
    forgetDevice(dbName);
    return { refused, s1, id1, s2, s3, events: events.length };
  }, uniqueName('storage'));
  assert.deepEqual(out.refused, [
    ['TidesyncError', 'INVALID', 'storage.persist'],
    ['TidesyncError', 'INVALID', 'storage.pressureRatio'],
    ['TidesyncError', 'INVALID', 'storage.pressureRatio'],
    ['TidesyncError', 'INVALID', 'storage.other'],
    ['TidesyncError', 'INVALID', 'storage'],
  ]);
  assert.equal(typeof out.s1.persisted, 'boolean');
  assert.ok(out.s1.usage > 0 && out.s1.quota > out.s1.usage, JSON.stringify(out.s1));
  assert.equal(out.s1.pressure, true, 'usage is above a ratio of 1e-9 at open');
  assert.equal(out.s1.evicted, undefined, 'a first open is no eviction');
  assert.deepEqual(out.s2.evicted, { previousDeviceId: out.id1 });
  assert.equal(out.s2.pressure, false, 'the default ratio (0.8) is far');
  assert.equal(out.s3.evicted, undefined, 'forgetDevice before deleting: no eviction reported');
});

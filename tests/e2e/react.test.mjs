// tidesync/react in a real React render: tests/e2e/react_app.js, bundled by
// esbuild with React 19 and react-dom from npm against the built package
// (pkg/index.js, pkg/react.js), in headless Chromium against a real
// tidesync-server process. The list comes from useLiveQuery over the
// compound index [thread_id+index]; a put in the page updates the DOM; a
// write by another device (a second browser context, through the server)
// shows up; a row's badge (useRecordStatus) goes pending -> synced and the
// status line (useSyncStatus) follows; changing the hook's deps re-subscribes.
//   node --experimental-websocket --test tests/e2e/react.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { build } from 'esbuild';
import { createToken, launchBrowser, root, startServer, tempDb, uniqueName, until } from './harness.mjs';

let browser;
let db;
let server;
let bundle;
before(async () => {
  // The bundle is served as /pkg/__react_app.js so that the engine finds
  // tidesync_bg.wasm beside it (new URL('tidesync_bg.wasm', import.meta.url)).
  const out = await build({
    entryPoints: [join(root, 'tests/e2e/react_app.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'warning',
    alias: { tidesync: join(root, 'pkg/index.js'), 'tidesync/react': join(root, 'pkg/react.js') },
    // pkg/react.js imports 'react' too: one copy, from tests/node_modules.
    nodePaths: [join(root, 'tests/node_modules')],
    define: { 'process.env.NODE_ENV': '"development"' },
  });
  bundle = out.outputFiles[0].text;
  browser = await launchBrowser();
  db = tempDb();
  server = await startServer(db);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page of a fresh context (its own IndexedDB: another device) running the React app. */
async function appPage(ws, token) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  // The document is the server's own (a page of the loopback origin, as the
  // app's would be); only the bundle is handed to the page by Playwright.
  await page.route(`${server.url}/pkg/__react_app.js`, (route) =>
    route.fulfill({ body: bundle, contentType: 'text/javascript' }));
  await page.goto(`${server.url}/healthz`);
  await page.evaluate(() => {
    document.body.innerHTML = '<div id="root"></div>';
  });
  await page.addScriptTag({ url: '/pkg/__react_app.js', type: 'module' });
  await page.waitForFunction(() => typeof window.startApp === 'function');
  await page.evaluate((args) => window.startApp(args), { ws, token, dbName: `e2e-react-${uniqueName('db')}` });
  return { context, page, errors };
}

/** The rendered list: [id, text, badge state] per row, in DOM order. */
function listed(page) {
  return page.evaluate(() => [...document.querySelectorAll('#messages > li')].map((li) => [
    li.dataset.id, li.querySelector('.text').textContent, li.querySelector('.badge').dataset.state,
  ]));
}

test('useLiveQuery renders a compound-index order and follows local, remote and deps changes; badges go pending -> synced', async () => {
  const ws = uniqueName('react');
  const token = createToken(db, ws);
  const a = await appPage(ws, token);
  await a.page.waitForSelector('#messages', { state: 'attached' });
  assert.deepEqual(await listed(a.page), []);

  // A put in the page: the list re-renders in [thread_id+index] order, not write order.
  await a.page.evaluate(() => window.engine.bulkPut('messages', [
    { id: 'm2', thread_id: 't1', index: 2, text: 'third' },
    { id: 'm0', thread_id: 't1', index: 0, text: 'first' },
    { id: 'x0', thread_id: 't2', index: 0, text: 'other thread' },
    { id: 'm1', thread_id: 't1', index: 1, text: 'second' },
  ]));
  await until(async () => (await listed(a.page)).length === 3, 5000, 'three rows rendered');
  assert.deepEqual((await listed(a.page)).map((r) => r.slice(0, 2)),
    [['m0', 'first'], ['m1', 'second'], ['m2', 'third']]);
  await until(async () => (await listed(a.page)).every((r) => r[2] === 'synced'), 10000, 'the first rows pushed');
  await until(() => a.page.evaluate(() => document.querySelector('#status').dataset.pending === '0'), 5000, 'status 0 pending');

  // Sync paused: a new row shows as pending, and the status line counts it.
  await a.page.evaluate(() => window.engine.stop());
  await a.page.evaluate(() => window.engine.put('messages', { id: 'm3', thread_id: 't1', index: 3, text: 'fourth' }));
  await until(async () => (await listed(a.page)).some((r) => r[0] === 'm3' && r[2] === 'pending'), 5000, 'm3 pending');
  await until(() => a.page.evaluate(() => document.querySelector('#status').dataset.pending === '1'), 5000, 'status 1 pending');
  assert.equal(await a.page.textContent('#status'), '1 unsaved');
  // An edit of a row already shown: its text changes in place.
  await a.page.evaluate(async () => {
    const m1 = await window.engine.table('messages').get('m1');
    await window.engine.table('messages').put({ ...m1, text: 'second, edited' });
  });
  await until(async () => (await listed(a.page)).some((r) => r[0] === 'm1' && r[1] === 'second, edited'), 5000, 'm1 edited');
  // Sync resumed: the badges go to synced once the server acknowledged.
  await a.page.evaluate(() => window.engine.start());
  await until(async () => (await listed(a.page)).every((r) => r[2] === 'synced'), 10000, 'every badge synced');
  await until(() => a.page.evaluate(() => document.querySelector('#status').dataset.pending === '0'), 5000, 'status 0 pending');
  assert.equal(await a.page.textContent('#status'), 'All changes saved');

  // Another device (a second browser context, its own IndexedDB) writes into
  // the thread; the row arrives through the server and lands in index order.
  const b = await browser.newContext();
  const bp = await b.newPage();
  await bp.goto(`${server.url}/healthz`);
  await bp.evaluate(async ({ ws, token, dbName }) => {
    const { SyncEngine, HttpProvider } = await import('/pkg/index.js');
    const engine = await SyncEngine.open({
      workspaceId: ws, dbName, tables: [{ name: 'messages', indexes: ['[thread_id+index]'] }],
      provider: new HttpProvider({ url: location.origin, getToken: () => token }),
    });
    const stamp = await engine.table('messages').put({ id: 'b1', thread_id: 't1', index: 1.5, text: 'from device B' });
    await engine.synced(stamp);
    await engine.close();
  }, { ws, token: createToken(db, ws), dbName: `e2e-react-b-${ws}` });
  await b.close();
  await until(async () => (await listed(a.page)).some((r) => r[0] === 'b1'), 15000, "device B's row on device A");
  assert.deepEqual((await listed(a.page)).map((r) => r[0]), ['m0', 'm1', 'b1', 'm2', 'm3']);
  await until(async () => (await listed(a.page)).find((r) => r[0] === 'b1')[2] === 'synced', 5000, 'b1 synced');

  // Changing the hook's deps re-subscribes: thread t2, then a write there shows.
  await a.page.evaluate(() => window.showThread('t2'));
  await until(() => a.page.evaluate(() => document.querySelector('#messages')?.dataset.thread === 't2'), 5000, 'thread t2');
  assert.deepEqual((await listed(a.page)).map((r) => r.slice(0, 2)), [['x0', 'other thread']]);
  await a.page.evaluate(() => window.engine.put('messages', { id: 'x1', thread_id: 't2', index: 1, text: 'more' }));
  await until(async () => (await listed(a.page)).length === 2, 5000, 'x1 in t2');
  // A write to the thread no longer shown does not appear.
  await a.page.evaluate(() => window.engine.put('messages', { id: 'm4', thread_id: 't1', index: 4, text: 'hidden' }));
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual((await listed(a.page)).map((r) => r[0]), ['x0', 'x1']);

  const renders = await a.page.evaluate(() => window.renders);
  console.log('renders:', JSON.stringify(renders));
  assert.ok(renders.thread < 60, `Thread rendered ${renders.thread} times`);
  await a.page.evaluate(() => window.engine.close());
  assert.deepEqual(a.errors.map(String), [], 'no page errors');
  await a.context.close();
});

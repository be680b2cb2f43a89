// The dev overlay (tidesync/devtools, the built and minified pkg/devtools.js)
// on the package's SyncEngine with HttpProvider, in headless Chromium against
// a real tidesync-server process that caps `notes` payloads at 300 bytes
// (`--table notes:300`), so a large put is refused (413 INVALID) and
// dead-lettered. The main entry loads without it; the overlay lists a pending
// op, the failed op with its error and a conflict; its retry and discard
// buttons (clicked through the shadow DOM) move the op back to the outbox and
// out of the engine; a screenshot of the element goes to
// target/test-logs/devtools.png.
//   node --experimental-websocket --test tests/e2e/devtools.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createToken, launchBrowser, root, startServer, tempDb, uniqueName, until } from './harness.mjs';

const logs = join(root, 'target', 'test-logs');
const shot = join(logs, 'devtools.png');
let browser;
let db;
let server;
before(async () => {
  mkdirSync(logs, { recursive: true });
  rmSync(shot, { force: true });
  browser = await launchBrowser();
  db = tempDb();
  server = await startServer(db, { args: ['--table', 'notes:300'] });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the package declares the entry and the main entry does not import it', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'pkg', 'package.json'), 'utf8'));
  assert.deepEqual(manifest.exports['./devtools'], { types: './devtools.d.ts', import: './devtools.js', default: './devtools.js' });
  assert.ok(manifest.files.includes('devtools.js') && manifest.files.includes('devtools.d.ts'));
  assert.doesNotMatch(readFileSync(join(root, 'pkg', 'index.js'), 'utf8'), /devtools/);
});

test('the overlay shows the outbox, a failed op and a conflict, and retries and discards the op', async () => {
  const ws = uniqueName('devtools');
  const token = createToken(db, ws);
  const context = await browser.newContext({ viewport: { width: 900, height: 1400 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${server.url}/healthz`);
  const loadedFirst = await page.evaluate(async ({ ws, token }) => {
    document.body.replaceChildren();
    const { SyncEngine, HttpProvider } = await import('/pkg/index.js');
    const open = (name) => SyncEngine.open({
      workspaceId: ws, dbName: `e2e-devtools-${ws}-${name}`, tables: [{ name: 'notes' }], backoffMs: [100],
      provider: new HttpProvider({ url: location.origin, getToken: () => token }),
    });
    window.engine = await open('a');
    window.other = await open('b');
    const before = performance.getEntriesByType('resource').map((r) => r.name).filter((n) => n.includes('devtools'));
    const { attachDevtools } = await import('/pkg/devtools.js');
    window.overlay = attachDevtools(window.engine);
    return before;
  }, { ws, token });
  assert.deepEqual(loadedFirst, [], 'the main entry loaded nothing of the overlay');

  const overlay = page.locator('tidesync-devtools');
  const field = (name) => overlay.locator(`[data-field=${name}]`);
  const failedRow = (opId) => overlay.locator(`.failed li[data-op-id="${opId}"]`);
  const outboxRow = (opId) => overlay.locator(`.outbox li[data-op-id="${opId}"]`);
  const engine = (fn, arg) => page.evaluate(fn, arg);
  await until(async () => (await field('phase').textContent()) === 'idle', 15000, 'an idle engine in the overlay');
  assert.equal(await field('leader').textContent(), 'yes (pushes)');

  // A conflict: both devices write `x`, the other one later; it wins.
  await engine(async () => {
    await window.engine.stop();
    await window.engine.put('notes', { id: 'x', by: 'a' });
    await new Promise((r) => setTimeout(r, 5));
    await window.other.put('notes', { id: 'x', by: 'b' });
    await window.other.syncNow();
    await window.engine.start();
    await window.engine.syncNow();
  });
  const conflict = overlay.locator(".conflicts li[data-pk='x']");
  await conflict.waitFor({ timeout: 15000 });
  assert.equal(await conflict.getAttribute('data-winner'), 'remote');
  assert.match(await conflict.locator('.remote').textContent(), /"by":"b"/);

  // A failed op: a put above the server's 300-byte limit for notes.
  const big = await engine(async () => (await window.engine.put('notes', { id: 'big', text: 'x'.repeat(1000) })).opId);
  await failedRow(big).waitFor({ timeout: 15000 });
  const error = await failedRow(big).locator('.error').textContent();
  assert.match(error, /limit|413|INVALID/, error);
  assert.equal(await field('failedOps').textContent(), '1');

  // A pending op: written while syncing is stopped. Retry the failed one meanwhile:
  // it waits in the outbox too.
  const pending = await engine(async () => {
    await window.engine.stop();
    return (await window.engine.put('notes', { id: 'small', text: 'waits' })).opId;
  });
  await until(async () => (await outboxRow(pending).getAttribute('data-state')) === 'pending', 10000, 'the pending op');
  await failedRow(big).locator('button[data-action=retryFailed]').click();
  await until(async () => (await engine(() => window.engine.failedOps())).length === 0, 10000, 'the retry');
  const states = await engine(async () => (await window.engine.pendingOps()).map((op) => [op.pk, op.state]));
  assert.deepEqual(states, [['big', 'pending'], ['small', 'pending']]);
  await until(async () => (await outboxRow(big).getAttribute('data-state')) === 'pending'
    && (await failedRow(big).count()) === 0, 10000, 'the retried op in the outbox');

  // Syncing again: the small op is pushed, the big one fails again.
  await engine(() => window.engine.start());
  await failedRow(big).waitFor({ timeout: 15000 });
  await until(async () => (await outboxRow(pending).count()) === 0, 10000, 'the small op pushed');
  await engine(async () => {
    await window.engine.stop();
    await window.engine.put('notes', { id: 'later', text: 'waits too' });
  });
  await overlay.locator('.outbox li[data-state=pending]').waitFor();
  await until(async () => (await overlay.locator('.runs svg rect').count()) >= 2, 10000, 'the runs chart');

  for (const name of ['status', 'outbox', 'failed', 'conflicts', 'pull', 'runs']) {
    assert.equal(await overlay.locator(`details.${name}`).count(), 1, `the ${name} section`);
  }
  assert.equal(await overlay.locator('[data-field=cursor]').textContent(),
    String(await engine(async () => (await window.engine.status()).cursor)));
  const shown = await overlay.evaluate((el) => [...el.shadowRoot.querySelectorAll('details')].map((d) => d.textContent).join(' '));
  assert.doesNotMatch(shown, /null|undefined|NaN|\[object/, 'nothing shown as a missing value');
  await overlay.screenshot({ path: shot });
  const png = readFileSync(shot);
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  assert.ok(statSync(shot).size > 8000, `a real picture: ${statSync(shot).size} bytes`);

  // Discard: the op leaves the engine and the overlay.
  await failedRow(big).locator('button[data-action=discardFailed]').click();
  await until(async () => (await engine(() => window.engine.failedOps())).length === 0, 10000, 'the discard');
  await until(async () => (await failedRow(big).count()) === 0 && (await field('failedOps').textContent()) === '0',
    10000, 'the op gone from the overlay');
  assert.equal(await outboxRow(big).count(), 0);
  assert.equal(await overlay.locator('.failed button[data-action=discardFailed]:not([data-op-id])').isDisabled(), true);

  await engine(async () => {
    window.overlay.remove();
    await window.engine.close();
    await window.other.close();
  });
  assert.deepEqual(errors, []);
  await context.close();
});

test("the demo's dev overlay switch loads the overlay on first use and attaches it to the device's engine", async () => {
  // The demo syncs tables the notes-only server above refuses: a server of its own.
  const demoDb = tempDb();
  const demoServer = await startServer(demoDb);
  try {
    const ws = uniqueName('devtools-demo');
    const token = createToken(demoDb, ws);
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    await page.goto(`${demoServer.url}/?workspace=${ws}&token=${token}&devices=solo`);
    await page.waitForFunction(() => window.demoReady === true, null, { timeout: 30000 });
    const loaded = () => page.evaluate(() => performance.getEntriesByType('resource').some((r) => r.name.endsWith('/pkg/devtools.js')));
    assert.equal(await loaded(), false, 'not loaded with the page');
    const device = page.locator('[data-device=solo]');
    await device.locator('.devtools-toggle').check();
    const overlay = device.locator('.devtools tidesync-devtools');
    await until(async () => (await overlay.locator('[data-field=phase]').textContent().catch(() => '')) === 'idle',
      15000, 'the overlay showing the device');
    assert.equal(await loaded(), true);
    assert.equal(await page.evaluate(() => document.querySelector('[data-device=solo] tidesync-devtools').engine
      === window.devices.solo.engine), true, "attached to the device's engine");
    // A write in the demo is pushed: a run in the chart.
    await device.locator('.new-thread input').fill('From the overlay test');
    await device.locator('.new-thread input').press('Enter');
    await until(async () => (await overlay.locator('.runs g[data-run-id]').count()) > 0, 15000, 'a sync run in the chart');
    await device.locator('.devtools-toggle').uncheck();
    assert.equal(await overlay.count(), 0, 'switched off, the overlay is gone');
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await demoServer.stop();
  }
});

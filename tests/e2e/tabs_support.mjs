// What the tab tests share: an engine opened in a page with a provider that
// counts and times its pushes and can be cut off (a server outage as the tab
// sees it), the pks the server holds, how many ops it applied, and tabs that
// freeze, thaw and hang.
import assert from 'node:assert/strict';
import { post } from './harness.mjs';

/**
 * Opens an engine on `dbName` in `page`, syncing `ws` through `server`.
 * `window.pushes` counts its push requests and `window.pushTimes` holds when
 * each started (`Date.now()`); while `window.offline` is true its requests
 * fail as a network error would.
 */
export async function openTab(page, server, ws, token, dbName) {
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.url}/healthz`);
  await page.evaluate(async ({ ws, token, dbName }) => {
    const { default: init, SyncEngine, HttpProvider } = await import('/pkg/index.js');
    await init();
    window.pushes = 0;
    window.pushTimes = [];
    window.offline = false;
    window.pushesAfter = (t) => window.pushTimes.filter((at) => at >= t).length;
    const tabFetch = (url, opts) => {
      if (window.offline) return Promise.reject(new TypeError('Failed to fetch (offline)'));
      if (String(url).endsWith('/v1/push')) {
        window.pushes += 1;
        window.pushTimes.push(Date.now());
      }
      return fetch(url, opts);
    };
    const provider = new HttpProvider({ url: location.origin, getToken: () => token, fetch: tabFetch });
    window.engine = await SyncEngine.open({ workspaceId: ws, dbName, tables: [{ name: 'notes' }], provider });
  }, { ws, token, dbName });
}

/** The pks the server holds for the workspace, one per change in its log. */
export async function serverPks(server, ws, token) {
  const pks = [];
  let cursor = 0;
  for (;;) {
    const { status, body } = await post(server.url, '/v1/pull', token, { scope: { workspaceId: ws }, cursor, limit: 1000 });
    assert.equal(status, 200);
    pks.push(...body.changes.map((c) => c.pk));
    cursor = body.nextCursor;
    if (!body.hasMore) return pks;
  }
}

/** The server's count of ops it applied (every workspace), from /metrics. */
export async function appliedOps(server) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('tidesync_push_ops_applied_total'));
  return Number(line?.split(' ').at(-1) ?? 0);
}

/**
 * Freezes `page` as a browser freezes a background tab: fires `freeze`, then
 * stops its scripts (timers, messages, IndexedDB and fetch callbacks) by
 * pausing it in the debugger. (This headless Chromium accepts the DevTools
 * protocol's `Page.setWebLifecycleState` but neither fires `freeze` nor
 * stops the page's timers, so the test does both itself.) Returns what
 * `thaw` needs.
 */
export async function freeze(context, page) {
  const cdp = await context.newCDPSession(page);
  await quiet(page);
  await page.evaluate(() => document.dispatchEvent(new Event('freeze')));
  await new Promise((r) => setTimeout(r, 300));
  await cdp.send('Debugger.enable');
  await cdp.send('Debugger.pause');
  return cdp;
}

/** Lets a page `freeze` stopped run again and fires `resume`. */
export async function thaw(page, cdp) {
  await unhang(cdp);
  await page.evaluate(() => document.dispatchEvent(new Event('resume')));
}

/** Stops `page`'s scripts without warning, as in a hung tab (no `freeze` event). */
export async function hang(context, page) {
  const cdp = await context.newCDPSession(page);
  await quiet(page);
  await cdp.send('Debugger.enable');
  await cdp.send('Debugger.pause');
  return cdp;
}

/** Lets a page `hang` stopped run again. */
export async function unhang(cdp) {
  // A page that ran no script since the pause request is not paused yet;
  // disabling the debugger drops the request.
  await cdp.send('Debugger.resume').catch(() => {});
  await cdp.send('Debugger.disable');
}

/**
 * Waits (up to 5 s) until the tab's engine is not pushing or pulling, and
 * 300 ms more. A page stopped in the middle of an IndexedDB transaction
 * keeps it open, and Chromium lets it block every other tab's transactions
 * for 60 s before it aborts it: the tests stop pages between transactions,
 * as a browser freezes them, not in the middle of one.
 */
async function quiet(page) {
  const busy = ['pushing', 'pulling', 'bootstrapping', 'rescanning'];
  const end = Date.now() + 5000;
  while (Date.now() < end && busy.includes(await page.evaluate(async () => (await window.engine.status()).phase))) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
}

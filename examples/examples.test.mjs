// The example apps in headless Chromium against a real tidesync-server:
// examples/vite-app (built by Vite from the npm tarball) and
// examples/plain-html (a <script type="module"> page, no bundler). For
// each: the app on its own origin (a static server), the sync server on
// another that allows it (--cors-origin), two browser contexts (two
// devices, separate IndexedDB), and a note added in one appears in the other.
// Also: the Vite app under `vite dev`, the README's Quickstart and Sync code
// blocks run verbatim in a page, and the tarball's manifest. Run by scripts/test-examples, which
// builds the Vite app first.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createServer as netServer } from 'node:net';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { createToken, launchBrowser, root, startServer, tempDb, uniqueName } from '../tests/e2e/harness.mjs';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };

/** A static file server on its own origin, as an app's host would be: `mounts` maps URL prefixes to directories. */
function serveStatic(mounts) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const mount = mounts.find(([prefix]) => path.startsWith(prefix));
    const rel = mount && normalize(path.slice(mount[0].length)).replace(/^(\.\.[/\\])+/, '');
    const file = mount && join(mount[1], rel === '.' || rel.endsWith('/') ? join(rel, 'index.html') : rel);
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((done) => server.close(done)),
  })));
}

/** A free TCP port on loopback. */
function freePort() {
  return new Promise((ok) => {
    const s = netServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** `vite` (the dev server) in examples/vite-app; resolves once it serves. */
async function viteDev() {
  const port = await freePort();
  const dir = join(root, 'examples', 'vite-app');
  const proc = spawn(join(dir, 'node_modules', '.bin', 'vite'), ['--host', '127.0.0.1', '--port', String(port), '--strictPort'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i += 1) {
    if (proc.exitCode !== null) throw new Error(`vite exited: ${log}`);
    if (await fetch(url).then((r) => r.ok, () => false)) break;
    if (i > 300) throw new Error(`vite did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, close: () => new Promise((done) => { proc.once('exit', done); proc.kill('SIGTERM'); }) };
}

let browser;
let db;
let sync;
let viteSite;
let plainSite;
let dev;
before(async () => {
  browser = await launchBrowser();
  db = tempDb();
  // Each app on its own origin, the sync server on another, which allows them (CORS).
  viteSite = await serveStatic([['/', join(root, 'examples', 'vite-app', 'dist')]]);
  plainSite = await serveStatic([['/pkg/', join(root, 'pkg')], ['/examples/', join(root, 'examples')]]);
  dev = await viteDev();
  sync = await startServer(db, { args: ['--cors-origin', viteSite.url, '--cors-origin', plainSite.url, '--cors-origin', dev.url] });
});
after(async () => {
  await browser?.close();
  await sync?.stop();
  await viteSite?.close();
  await plainSite?.close();
  await dev?.close();
});

async function device(url) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 30000 }).catch((e) => {
    throw new Error(`the app did not start: ${errors.join('; ') || e.message}`);
  });
  return { ctx, page, errors };
}

async function twoDevices(base) {
  const ws = uniqueName('ex');
  const token = createToken(db, ws);
  const url = (d) => `${base}?server=${encodeURIComponent(sync.url)}&workspace=${ws}&token=${token}&device=${d}`;
  const a = await device(url('a'));
  const b = await device(url('b'));
  try {
    await a.page.fill('#new-note input', 'written on a');
    await a.page.press('#new-note input', 'Enter');
    await b.page.waitForFunction(() => [...document.querySelectorAll('#notes li')].some((li) => li.textContent === 'written on a'),
      null, { timeout: 15000 });
    await b.page.fill('#new-note input', 'written on b');
    await b.page.press('#new-note input', 'Enter');
    await a.page.waitForFunction(() => document.querySelectorAll('#notes li').length === 2, null, { timeout: 15000 });
    const texts = await a.page.locator('#notes li').allTextContents();
    assert.deepEqual(texts.sort(), ['written on a', 'written on b']);
    assert.deepEqual([...a.errors, ...b.errors], []);
  } finally {
    await a.ctx.close();
    await b.ctx.close();
  }
}

test('examples/vite-app: the production build syncs a note between two browsers', async () => {
  await twoDevices(`${viteSite.url}/`);
});

test('examples/vite-app under `vite dev` syncs too', async () => {
  await twoDevices(`${dev.url}/`);
});

test('examples/plain-html: the page without a bundler syncs a note between two browsers', async () => {
  await twoDevices(`${plainSite.url}/examples/plain-html/index.html`);
});

/** The first ```js block after the README heading `heading`. */
function readmeBlock(text, heading) {
  const at = text.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README has no heading ${heading}`);
  const m = /```js\n([\s\S]*?)```/.exec(text.slice(at));
  return m[1];
}

test("the README's Quickstart and Sync snippets run verbatim in a page", async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  for (const heading of ['### Use', '### Sync']) {
    const code = readmeBlock(readme, heading);
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // The snippet as the page's module, the package named by an import map;
    // `render` is the app's own function in the Quickstart.
    const html = `<!doctype html><script type="importmap">{ "imports": { "tidesync": "/pkg/index.js",
      "tidesync/testing": "/pkg/testing/index.js" } }</script>
      <script>window.render = () => {};</script>
      <script type="module">${code}\nwindow.done = true;</script>`;
    await page.route(`${plainSite.url}/quickstart.html`, (r) => r.fulfill({ contentType: 'text/html', body: html }));
    await page.goto(`${plainSite.url}/quickstart.html`);
    await page.waitForFunction(() => window.done === true, null, { timeout: 15000 }).catch(() => {
      throw new Error(`${heading} did not run to its end: ${errors.join('; ')}`);
    });
    assert.deepEqual(errors, [], heading);
    await ctx.close();
  }
});

test("the tarball's package.json exports . and ./testing with types, and holds every file it names", () => {
  const tgz = join(root, 'dist', 'tidesync.tgz');
  const files = new Set(execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).split('\n').filter(Boolean));
  const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tgz, 'package/package.json'], { encoding: 'utf8' }));
  for (const entry of ['.', './testing']) {
    const e = manifest.exports[entry];
    assert.ok(e?.types && e?.import, `exports[${JSON.stringify(entry)}] needs types and import: ${JSON.stringify(e)}`);
  }
  for (const [name, target] of Object.entries(manifest.exports)) {
    for (const path of typeof target === 'string' ? [target] : Object.values(target)) {
      assert.ok(files.has(`package/${path.replace(/^\.\//, '')}`), `exports[${JSON.stringify(name)}] names ${path}, not in the tarball`);
    }
  }
  for (const f of ['index.js', 'index.d.ts', 'error.js', 'tidesync_bg.wasm', 'testing/conformance.js', 'testing/faults.d.ts', 'README.md', 'LICENSE-MIT', 'LICENSE-APACHE']) {
    assert.ok(files.has(`package/${f}`), `the tarball has no ${f}`);
  }
  assert.equal(manifest.license, 'MIT OR Apache-2.0');
});

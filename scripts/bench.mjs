// Drives www/bench/ in headless Chromium (or Firefox, or WebKit) and prints
// each figure next to its baseline from the same browser session, and its
// goal. Writes bench-results.json (bench-results-firefox.json,
// bench-results-webkit.json; with --only, the other scenarios' earlier
// results stay).
//   node scripts/bench.mjs [--quick] [--only NAME] [--runs N] [--browser B] [--durability D]
//   NAME: capture singles push bootstrap latency size scale range paging live open
//   --browser chromium|firefox|webkit: the browser (default chromium). The
//     goals are Chromium's; in the other two each scenario with a
//     Dexie-hooks baseline is held to no slower than it. scale is
//     Chromium's only (its heap figures need performance.memory and gc()).
//   --durability default|strict|relaxed: every engine opens with this
//     `durability` (the baselines keep the browser's default); results in
//     bench-results[-BROWSER]-D.json
//   --quick: tiny sizes, one run, results in target/bench-quick.json
//   --runs N: runs per figure after the warm-up (default 5)
//   --profile: record a CPU profile of each scenario that runs beside its
//     baseline in one page (capture, singles, push, bootstrap, range, paging;
//     baseline and tidesync together) to target/bench-profile-NAME.cpuprofile, which
//     Chrome DevTools opens, and print where its time went. Wasm functions
//     have their names when the package is built with TIDESYNC_KEEP_NAMES=1.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { serve } from './serve.mjs';
import { serverBinary, startSyncServer } from './bench-sync-server.mjs';
import { runSize } from './bench-size.mjs';
import { checkGoals, printTable } from './bench-report.mjs';
import { launchWebDriver } from './bench-webdriver.mjs';

const require = createRequire(new URL('../tests/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const NAMES = ['capture', 'singles', 'push', 'bootstrap', 'latency', 'size', 'scale', 'range', 'paging', 'live', 'open'];
function option(name) {
  const at = process.argv.indexOf(name);
  if (at < 0) return undefined;
  const value = process.argv[at + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`bench: ${name} needs a value`);
  return value;
}
const quick = process.argv.includes('--quick');
const only = option('--only');
if (only && !NAMES.includes(only)) throw new Error(`bench: unknown scenario ${only} (${NAMES.join(', ')})`);
const profile = process.argv.includes('--profile');
const browserName = option('--browser') ?? 'chromium';
if (!['chromium', 'firefox', 'webkit'].includes(browserName)) {
  throw new Error(`bench: --browser takes chromium, firefox or webkit, not ${browserName}`);
}
if (profile && browserName !== 'chromium') throw new Error('bench: --profile needs Chromium (its DevTools protocol)');
if (only === 'scale' && browserName !== 'chromium') throw new Error('bench: scale runs in Chromium only');
// WebKitGTK's MiniBrowser needs a display, even headless: run again under xvfb-run.
if (browserName === 'webkit' && !process.env.DISPLAY) {
  console.error('bench: WebKit needs a display; running again under xvfb-run');
  const again = spawnSync('xvfb-run', ['-a', process.execPath, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(again.status ?? 1);
}
const durability = option('--durability');
if (durability && !['default', 'strict', 'relaxed'].includes(durability)) {
  throw new Error(`bench: --durability takes default, strict or relaxed, not ${durability}`);
}
const runs = Number(option('--runs') ?? (quick ? 1 : 5));
if (!Number.isInteger(runs) || runs < 1) throw new Error('bench: --runs needs a positive integer');
const size = quick
  ? { capture: 200, singles: 50, push: 200, bootstrap: 500, latency: 30, latencyWarm: 5, scale: 2000, range: 2000, paging: 2000, live: 100, liveWrites: 20, open: 5 }
  : { capture: 10000, singles: 1000, push: 10000, bootstrap: 100000, latency: 500, latencyWarm: 20, scale: 1000000, range: 100000, paging: 100000, live: 1000, liveWrites: 200, open: 50 };

// The latency scenario's server, built (when stale) before anything is timed.
const serverBin = !only || only === 'latency' ? serverBinary(!quick) : null;

/** Chromium through Playwright, with pages shaped like bench-webdriver.mjs's. */
async function launchChromium() {
  const chromiumBrowser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      // For the scale scenario's heap figures: gc() before sampling, and
      // performance.memory figures that are neither rounded nor cached.
      '--js-flags=--expose-gc', '--enable-precise-memory-info'],
  });
  return {
    version: () => `chromium ${chromiumBrowser.version()}`,
    async newPage() {
      const page = await (await chromiumBrowser.newContext()).newPage();
      page.on('console', (m) => { if (m.type() === 'error') console.error('page:', m.text()); });
      page.on('pageerror', (e) => console.error('page error:', e));
      return {
        playwright: page,
        goto: (url) => page.goto(url),
        waitReady: () => page.waitForFunction(() => window.benchReady === true, null, { timeout: 60000 }),
        call: (fn, args) => page.evaluate(([f, a]) => window.bench[f](...a), [fn, args]),
        close: () => page.context().close(),
      };
    },
    close: () => chromiumBrowser.close(),
  };
}

const browser = browserName === 'chromium' ? await launchChromium() : await launchWebDriver(browserName);
const pageServer = await serve(0);

/** A fresh page of the bench at `origin`, ready to run. */
async function benchPage(origin) {
  const page = await browser.newPage();
  await page.goto(`${origin}/bench/${durability ? `?durability=${durability}` : ''}`);
  await page.waitReady();
  return page;
}

/** Runs `window.bench[fn](...args)` in a fresh page at `origin`. */
async function inFreshPage(origin, fn, args) {
  const page = await benchPage(origin);
  try {
    return await page.call(fn, args);
  } finally {
    await page.close();
  }
}


// Latency: the page is served by the sync server itself, so HttpProvider
// calls its own origin.
async function latency() {
  const server = await startSyncServer(serverBin);
  try {
    const r = await inFreshPage(server.url, 'runLatency', [server.workspace, server.token, size.latency, size.latencyWarm]);
    return { ...r, server: server.bin };
  } finally {
    await server.stop();
  }
}

// Scale gets a page of its own: its heap figures must not carry what other
// scenarios left behind, and its million-record server goes with the page.
async function scale() {
  return inFreshPage(`http://127.0.0.1:${pageServer.address().port}`, 'runScale', [size.scale, runs]);
}

// Each scenario runs in a fresh page of the same browser: what one leaves
// behind (wasm memory, garbage, open databases) does not weigh on the next.
// Its baseline runs in the same page, interleaved with it.
const inPage = (fn, n) => async () => {
  const page = await benchPage(`http://127.0.0.1:${pageServer.address().port}`);
  try {
    const profiler = profile ? await startProfile(page.playwright) : null;
    const r = await page.call(fn, [n, runs]);
    if (profiler) await stopProfile(profiler, fn);
    return r;
  } finally {
    await page.close();
  }
};

/** Starts Chromium's sampling profiler (CDP) on `page`. */
async function startProfile(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  await cdp.send('Profiler.start');
  return cdp;
}

/** Writes the profile and prints the functions with the most self time. */
async function stopProfile(cdp, fn) {
  const { profile: p } = await cdp.send('Profiler.stop');
  const file = new URL(`../target/bench-profile-${fn}.cpuprofile`, import.meta.url);
  mkdirSync(new URL('.', file), { recursive: true });
  writeFileSync(file, JSON.stringify(p));
  const self = new Map();
  const byId = new Map(p.nodes.map((node) => [node.id, node]));
  const deltas = p.timeDeltas;
  p.samples.forEach((id, i) => {
    const { callFrame: f } = byId.get(id);
    const where = f.url ? `${f.url.split('/').pop()}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + (deltas[i + 1] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.error(`bench: profile of ${fn} in ${file.pathname} (${(total / 1000).toFixed(0)} ms sampled); most self time:`);
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.error(`  ${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${key}`);
  }
}
const scenarios = {
  capture: inPage('runCapture', size.capture),
  singles: inPage('runSingles', size.singles),
  push: inPage('runPush', size.push),
  bootstrap: inPage('runBootstrap', size.bootstrap),
  latency,
  size: async () => runSize(quick),
  scale,
  range: inPage('runRange', size.range),
  paging: inPage('runPaging', size.paging),
  open: inPage('runOpen', size.open),
  live: () => inFreshPage(`http://127.0.0.1:${pageServer.address().port}`, 'runLive', [size.live, size.liveWrites]),
};
if (browserName !== 'chromium') delete scenarios.scale;

const suffix = (browserName === 'chromium' ? '' : `-${browserName}`) + (durability ? `-${durability}` : '');
const out = new URL(quick ? `../target/bench-quick${suffix}.json` : `../bench-results${suffix}.json`, import.meta.url);
// With --only, the other scenarios keep their last results.
const previous = only && existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : {};
const results = { ...previous, date: new Date().toISOString(), quick, durability: durability ?? 'default' };
try {
  for (const [name, run] of Object.entries(scenarios)) {
    if (only && only !== name) continue;
    const t0 = Date.now();
    results[name] = { ...(await run()), date: new Date().toISOString() };
    results[name].wallMs = Date.now() - t0;
    console.error(`bench: ${name} done in ${(results[name].wallMs / 1000).toFixed(1)} s`);
  }
  results.browser = browser.version();
} finally {
  await browser.close();
  pageServer.close();
}
checkGoals(results, browserName);
// The table shows this session's figures only.
printTable(only ? { quick, [only]: results[only] } : results);
mkdirSync(new URL('.', out), { recursive: true });
writeFileSync(out, JSON.stringify(results, null, 2) + '\n');

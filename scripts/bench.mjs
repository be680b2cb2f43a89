// Drives www/bench/ in headless Chromium and prints each figure next to its
// baseline from the same browser session. Writes bench-results.json.
//   node scripts/bench.mjs [--quick] [--only capture|push|bootstrap]
//   (--quick: tiny sizes, results in target/)
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { serve } from './serve.mjs';

const require = createRequire(new URL('../tests/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const quick = process.argv.includes('--quick');
const n = quick ? 200 : 10000;
const runs = quick ? 1 : 5;
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt > 0 ? process.argv[onlyAt + 1] : null;

const server = await serve(0);
const port = server.address().port;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('page:', m.text()); });
  await page.goto(`http://127.0.0.1:${port}/bench/`);
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 60000 });
  const scenarios = {
    capture: () => page.evaluate(([n, runs]) => window.bench.runCapture(n, runs), [n, runs]),
    singles: () => page.evaluate(([n, runs]) => window.bench.runSingles(n, runs), [quick ? 50 : 1000, runs]),
    push: () => page.evaluate(([n, runs]) => window.bench.runPush(n, runs), [n, runs]),
    bootstrap: () => page.evaluate(([n, runs]) => window.bench.runBootstrap(n, runs), [quick ? 500 : 100000, runs]),
  };
  const results = { date: new Date().toISOString(), browser: browser.version(), quick };
  for (const [name, run] of Object.entries(scenarios)) {
    if (!only || only === name) results[name] = await run();
  }
  console.log(`scenario           n       baseline(raw IDB)   tidesync    ratio   Dexie-hooks  vs Dexie`);
  for (const r of Object.values(results).filter((r) => r && r.scenario)) {
    const dexie = r.dexieMs === undefined ? '' : `${r.dexieMs.toFixed(1).padStart(9)} ms   ${r.dexieRatio.toFixed(2)}`;
    console.log(`${r.scenario.padEnd(19)}${String(r.n).padEnd(8)}${r.rawMs.toFixed(1).padStart(10)} ms   ${r.engineMs.toFixed(1).padStart(8)} ms   ${r.ratio.toFixed(2).padEnd(6)}  ${dexie}`);
  }
  if (results.bootstrap) console.log(`bootstrap: ${results.bootstrap.recordsPerSecond} records/s`);
  const out = quick ? '../target/bench-quick.json' : '../bench-results.json';
  writeFileSync(new URL(out, import.meta.url), JSON.stringify(results, null, 2) + '\n');
} finally {
  await browser.close();
  server.close();
}

// The bench's pages in Firefox (geckodriver) and WebKit (WebKitWebDriver),
// through the W3C WebDriver protocol: the same drivers and the same options
// (webdriver.json) as the browser test suites. Playwright drives Chromium
// only here: it cannot launch Debian's Firefox or WebKitGTK.
//
// A page is one WebDriver session (a fresh browser, a fresh profile), so
// what one scenario leaves behind does not weigh on the next, as with
// Chromium's fresh contexts.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';

/** The driver binary and the capabilities of each browser. */
function driverFor(name) {
  const options = JSON.parse(readFileSync(new URL('../webdriver.json', import.meta.url), 'utf8'));
  if (name === 'firefox') {
    return {
      bin: process.env.TIDESYNC_GECKODRIVER || process.env.GECKODRIVER || 'geckodriver',
      capabilities: { browserName: 'firefox', 'moz:firefoxOptions': options['moz:firefoxOptions'] },
    };
  }
  if (name === 'webkit') {
    return {
      bin: process.env.TIDESYNC_WEBKITDRIVER || process.env.SAFARIDRIVER || '/usr/bin/WebKitWebDriver',
      // MiniBrowser 2.50 refuses --headless (it exits at once and the
      // session never starts); under xvfb-run it needs none.
      capabilities: { 'webkitgtk:browserOptions': withoutHeadless(options['webkitgtk:browserOptions']) },
    };
  }
  throw new Error(`bench: --browser takes chromium, firefox or webkit, not ${name}`);
}

function withoutHeadless(options) {
  return { ...options, args: (options.args ?? []).filter((a) => a !== '--headless') };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One WebDriver command; throws the driver's error with its message. Plain
 * `http`, not `fetch`: a scenario's script runs for minutes, past fetch's
 * fixed five-minute wait for the answer's headers.
 */
function command(base, method, path, body) {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => {
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          reject(new Error(`webdriver ${method} ${path}: ${res.statusCode}: ${text.slice(0, 200)}`));
          return;
        }
        if (res.statusCode >= 400 || json.value?.error) {
          reject(new Error(`webdriver ${method} ${path}: ${json.value?.error ?? res.statusCode}: ${json.value?.message ?? ''}`));
        } else {
          resolve(json.value);
        }
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

// Runs window.bench[fn](...args) and hands back its result, or its error's
// stack (a rejected promise would otherwise reach the driver as a bare
// "javascript error").
const CALL = `const done = arguments[arguments.length - 1];
const [fn, args] = arguments;
Promise.resolve().then(() => window.bench[fn](...args)).then(
  (ok) => done({ ok }),
  (e) => done({ error: String((e && e.stack) || e) }));`;

/** Starts the driver for `name`; its pages run the bench like Playwright's. */
export async function launchWebDriver(name) {
  const { bin, capabilities } = driverFor(name);
  const port = await freePort();
  const driver = spawn(bin, [`--port=${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  driver.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
  const exited = new Promise((resolve) => driver.on('exit', resolve));
  driver.on('error', (e) => { log += String(e); });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await command(base, 'GET', '/status')).ready !== false) break;
    } catch (e) {
      if (i >= 100 || driver.exitCode !== null) throw new Error(`bench: ${bin} did not start: ${e.message}\n${log}`);
    }
    await sleep(100);
  }
  let version = name;
  return {
    version: () => version,
    async newPage() {
      const created = await command(base, 'POST', '/session', { capabilities: { alwaysMatch: capabilities } });
      const session = `/session/${created.sessionId}`;
      version = `${created.capabilities.browserName} ${created.capabilities.browserVersion}`;
      // A full-size scenario runs for minutes.
      await command(base, 'POST', `${session}/timeouts`, { script: 3_600_000, pageLoad: 120_000 });
      return {
        async goto(url) {
          await command(base, 'POST', `${session}/url`, { url });
        },
        async waitReady() {
          for (let i = 0; i < 600; i++) {
            if (await command(base, 'POST', `${session}/execute/sync`, { script: 'return window.benchReady === true', args: [] })) return;
            await sleep(100);
          }
          throw new Error('bench: the page did not get ready within 60 s');
        },
        async call(fn, args) {
          const r = await command(base, 'POST', `${session}/execute/async`, { script: CALL, args: [fn, args] });
          if (r.error) throw new Error(`bench: ${fn} failed in ${version}: ${r.error}`);
          return r.ok;
        },
        async close() {
          await command(base, 'DELETE', session).catch(() => {});
        },
      };
    },
    async close() {
      driver.kill();
      await exited;
    },
  };
}

// Shared helpers of the end-to-end tests: real tidesync-server processes
// (server/target/debug/tidesync-server, built by scripts/test), tokens made
// with its `token create` command, and headless Chromium via playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const root = resolve(new URL('../..', import.meta.url).pathname);
export const serverBin = process.env.TIDESYNC_SERVER_BIN ?? join(root, 'server', 'target', 'debug', 'tidesync-server');

/** A fresh SQLite file path. */
export function tempDb() {
  return join(mkdtempSync(join(tmpdir(), 'tidesync-e2e-')), 'sync.db');
}

let counter = 0;
/** A workspace name unique to this run. */
export function uniqueName(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now()}-${counter}`;
}

/** `--database PATH` or `--database-url URL` for a database spec. */
function dbArgs(db) {
  return db.startsWith('postgres://') ? ['--database-url', db] : ['--database', db];
}

/** Creates a token for a fresh user in `workspaces` (the CLI, as a user would). */
export function createToken(db, ...workspaces) {
  const args = ['token', 'create', ...dbArgs(db), ...workspaces.flatMap((w) => ['--workspace', w])];
  return execFileSync(serverBin, args, { encoding: 'utf8' }).trim();
}

/**
 * Starts a server process on `db`; resolves once it listens.
 * @returns {Promise<{ url: string, port: number, stop: () => Promise<void> }>}
 */
export function startServer(db, { port = 0, args = [] } = {}) {
  const proc = spawn(serverBin, [
    '--listen', `127.0.0.1:${port}`, ...dbArgs(db), '--static', root,
    '--rate-limit', '0', '--gc-interval-ms', '600000', ...args,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`server did not start: ${stderr}`)), 30000);
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[\d.]+:(\d+))\//.exec(out);
      if (m) {
        clearTimeout(timer);
        ok({
          url: m[1],
          port: Number(m[2]),
          /** What the process wrote to stderr so far (GC reports, errors). */
          stderr: () => stderr,
          stop: () => new Promise((done) => {
            if (proc.exitCode !== null || proc.signalCode !== null) return done();
            proc.once('exit', () => done());
            proc.kill('SIGTERM');
          }),
        });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`server exited with ${code}: ${stderr}`));
    });
  });
}

/** Headless Chromium with the flags this machine needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page on the server's origin (so `/pkg/index.js` imports same-origin). */
export async function pageOn(browser, server) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.url}/healthz`);
  return page;
}

/** A push batch of puts. */
export function putBatch(workspaceId, deviceId, rows, ms = Date.now()) {
  return {
    scope: { workspaceId },
    deviceId,
    ops: rows.map((row, i) => {
      const opId = `${deviceId}-${uniqueName('op')}`;
      const hlc = `${String(ms).padStart(15, '0')}:${String(i).padStart(5, '0')}:${deviceId}`;
      return { opId, tableName: 'notes', op: 'put', pk: row.id, payload: row,
        stamp: { clock: 1, hlc, deviceId, opId } };
    }),
  };
}

/** POSTs JSON with a bearer token from node. */
export async function post(url, path, token, body) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Resolves when `predicate()` is truthy (checked every `every` ms), or rejects after `ms`. */
export async function until(predicate, ms = 10000, what = 'condition', every = 20) {
  const end = Date.now() + ms;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

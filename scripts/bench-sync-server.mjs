// The reference server for the latency scenario: its binary (built here when
// needed), one process on a free loopback port over a fresh SQLite file, and
// a token for a fresh workspace, made with its own `token create` command.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);

// Full runs measure the release build; --quick (run by ./scripts/test) takes
// the debug binary that scripts/test-server has already built. cargo is a
// no-op when the binary is fresh; TIDESYNC_SKIP_BUILD=1 skips it when the
// binary exists; TIDESYNC_SERVER_BIN names another binary.
export function serverBinary(release) {
  if (process.env.TIDESYNC_SERVER_BIN) return process.env.TIDESYNC_SERVER_BIN;
  const profile = release ? 'release' : 'debug';
  const bin = join(root, 'server', 'target', profile, 'tidesync-server');
  if (process.env.TIDESYNC_SKIP_BUILD === '1' && existsSync(bin)) return bin;
  console.error(`bench: building tidesync-server (${profile})`);
  execFileSync('cargo', ['build', '--locked', '--bins', '-q', ...(release ? ['--release'] : [])],
    { cwd: join(root, 'server'), stdio: 'inherit' });
  return bin;
}

/**
 * Starts the server `bin`; resolves once it listens.
 * @returns {Promise<{ url: string, token: string, workspace: string, bin: string, stop: () => Promise<void> }>}
 */
export async function startSyncServer(bin) {
  const dir = mkdtempSync(join(tmpdir(), 'tidesync-bench-'));
  const db = join(dir, 'bench.db');
  const workspace = `bench-${process.pid}`;
  const token = execFileSync(bin, ['token', 'create', '--database', db, '--workspace', workspace,
    '--user', 'bench', '--token', `bench-token-${process.pid}`], { encoding: 'utf8' }).trim();
  // No rate limit (one token sends every write) and no GC during the run.
  const proc = spawn(bin, ['--listen', '127.0.0.1:0', '--database', db, '--static', root,
    '--rate-limit', '0', '--gc-interval-ms', '600000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const stop = () => new Promise((done) => {
    const cleanup = () => { rmSync(dir, { recursive: true, force: true }); done(); };
    if (proc.exitCode !== null || proc.signalCode !== null) return cleanup();
    proc.once('exit', cleanup);
    proc.kill('SIGTERM');
  });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`bench: tidesync-server did not start within 30 s: ${stderr}`)), 30000);
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[\d.]+:\d+)\//.exec(out);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); fail(new Error(`bench: tidesync-server exited with ${code}: ${stderr}`)); });
  }).catch(async (e) => { await stop(); throw e; });
  // A crash mid-run must not pass for a slow sample.
  proc.once('exit', (code, signal) => {
    if (signal !== 'SIGTERM') console.error(`bench: tidesync-server exited (${code ?? signal}): ${stderr}`);
  });
  return { url, token, workspace, bin, stop };
}

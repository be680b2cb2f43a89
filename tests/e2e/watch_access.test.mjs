// HttpProvider's watch when access is taken away, against a real
// tidesync-server process (SQLite) and its CLI: after `token revoke` the
// server closes the watch with 4401 and the provider reconnects at once with
// getToken({ refresh: true }), resuming from its cursor; after `member
// remove` it closes with 4403 and the provider reports a FORBIDDEN error and
// stops reconnecting. Runs in Node (WebSocket: Node 22, or Node 20 with
// --experimental-websocket), on the provider's source file.
//   node --experimental-websocket --test tests/e2e/watch_access.test.mjs
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpProvider } from '../../src/js/http_provider.js';
import { post, putBatch, serverBin, startServer, tempDb, uniqueName, until } from './harness.mjs';

let db;
let server;
before(async () => {
  db = tempDb();
  server = await startServer(db);
});
after(async () => {
  await server?.stop();
});

const cli = (...args) => execFileSync(serverBin, [...args, '--database', db], { encoding: 'utf8' }).trim();

/** A WebSocket class that counts the sockets it opens. */
function countingWebSocket() {
  const Counted = class extends WebSocket {
    constructor(...args) {
      super(...args);
      Counted.opened += 1;
    }
  };
  Counted.opened = 0;
  return Counted;
}

test('after token revoke (4401) the watch reconnects with a refreshed token and keeps delivering', async () => {
  const ws = uniqueName('w');
  const old = cli('token', 'create', '--workspace', ws);
  const fresh = cli('token', 'create', '--workspace', ws);
  const calls = [];
  const statuses = [];
  const seen = [];
  const provider = new HttpProvider({
    url: server.url,
    getToken: ({ refresh }) => { calls.push(refresh); return refresh ? fresh : old; },
  });
  await provider.subscribe({ workspaceId: ws }, [], (changes, meta) => seen.push({ changes, meta }),
    (s) => statuses.push(s));
  await post(server.url, '/v1/push', fresh, putBatch(ws, 'd', [{ id: 'a' }]));
  await until(() => seen.length === 1, 5000, 'the first batch');

  const revoked = Date.now();
  assert.equal(cli('token', 'revoke', '--token', old), 'revoked 1 token(s)');
  // A write while the old socket is being closed: nothing may reach the
  // revoked token, and the reconnect (from the last cursor) brings it.
  await post(server.url, '/v1/push', fresh, putBatch(ws, 'd', [{ id: 'b' }]));
  await until(() => statuses.length >= 3, 5000, 'disconnected, then connected again');
  const took = Date.now() - revoked;
  assert.deepEqual(statuses, ['connected', 'disconnected', 'connected']);
  assert.deepEqual(calls, [false, true], 'one refresh, at the 4401');
  await until(() => seen.length === 2, 5000, 'the write made around the revoke');
  assert.deepEqual(seen[1].meta, { fromCursor: 1 });
  assert.deepEqual(seen[1].changes.map((c) => c.pk), ['b']);
  // And it keeps delivering on the new token.
  await post(server.url, '/v1/push', fresh, putBatch(ws, 'd', [{ id: 'c' }]));
  await until(() => seen.length === 3, 5000, 'a batch after the reconnect');
  assert.deepEqual(seen[2].changes.map((c) => [c.pk, c.serverVersion]), [['c', 3]]);
  console.log(`token revoke -> reconnected with a fresh token in ${took} ms`);
  provider.dispose();
});

test('after member remove (4403) the watch reports FORBIDDEN and stops reconnecting', async () => {
  const ws = uniqueName('w');
  const user = uniqueName('alice');
  const token = cli('token', 'create', '--workspace', ws, '--user', user);
  const writer = cli('token', 'create', '--workspace', ws);
  const reports = [];
  const seen = [];
  const Counted = countingWebSocket();
  const provider = new HttpProvider({ url: server.url, getToken: () => token, WebSocket: Counted, backoffMs: [50] });
  await provider.subscribe({ workspaceId: ws }, [], (changes) => seen.push(changes),
    (s, error) => reports.push({ s, code: error?.code, name: error?.name }));
  assert.equal(cli('member', 'remove', '--user', user, '--workspace', ws), `removed ${user} from ${ws}`);
  await post(server.url, '/v1/push', writer, putBatch(ws, 'd', [{ id: 'secret' }]));
  await until(() => reports.length >= 2, 5000, 'the error');
  assert.deepEqual(reports, [
    { s: 'connected', code: undefined, name: undefined },
    { s: 'error', code: 'FORBIDDEN', name: 'TidesyncError' },
  ]);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(Counted.opened, 1, 'no reconnect after 4403');
  assert.equal(reports.length, 2);
  assert.deepEqual(seen, [], 'the removed member received nothing');
  provider.dispose();
});

// Two tidesync-server processes on one PostgreSQL: an HttpProvider watching
// each process sees writes made through the other, live (LISTEN/NOTIFY).
// Runs when TIDESYNC_TEST_DATABASE_URL is set (scripts/test starts the
// database with scripts/pg); node needs --experimental-websocket before 22.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpProvider } from '../../src/js/http_provider.js';
import { createToken, putBatch, startServer, uniqueName, until } from './harness.mjs';

const url = process.env.TIDESYNC_TEST_DATABASE_URL;
const skip = url ? false : 'set TIDESYNC_TEST_DATABASE_URL (./scripts/pg start)';

test('a client on each of two processes sees the other process\'s writes live', { skip }, async () => {
  const ws = uniqueName('w');
  const token = createToken(url, ws);
  const one = await startServer(url);
  const two = await startServer(url);
  try {
    const seen = { one: [], two: [] };
    const providers = { one: new HttpProvider({ url: one.url, getToken: () => token }),
      two: new HttpProvider({ url: two.url, getToken: () => token }) };
    for (const name of ['one', 'two']) {
      const statuses = [];
      await providers[name].subscribe({ workspaceId: ws }, ['notes'], (changes, meta) => seen[name].push({ changes, meta }),
        (s) => statuses.push(s));
      assert.deepEqual(statuses, ['connected']);
    }
    const r1 = await providers.one.push(putBatch(ws, 'dev-1', [{ id: 'from-one' }]));
    assert.equal(r1.results[0].serverVersion, 1);
    await until(() => seen.two.length === 1 && seen.one.length === 1, 5000, 'the write through process one');
    assert.deepEqual(seen.two[0].meta, { fromCursor: 0 });
    assert.equal(seen.two[0].changes[0].pk, 'from-one');
    const r2 = await providers.two.push(putBatch(ws, 'dev-2', [{ id: 'from-two' }]));
    assert.equal(r2.results[0].serverVersion, 2);
    await until(() => seen.one.length === 2 && seen.two.length === 2, 5000, 'the write through process two');
    assert.deepEqual(seen.one[1].meta, { fromCursor: 1 });
    assert.equal(seen.one[1].changes[0].pk, 'from-two');
    providers.one.dispose();
    providers.two.dispose();
  } finally {
    await one.stop();
    await two.stop();
  }
});

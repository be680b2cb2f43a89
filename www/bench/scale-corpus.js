// The scale scenario's records and the two servers that hold them.
//
// A corpus is n records described by their index: for index i, the row a
// writer engine would have stored and pushed (the bootstrap scenario's record
// plus its clock and hlc fields) and its stamp. Nothing keeps all n in JS:
// the raw baseline, the generated provider and the seeding each build the
// rows they need when they need them.
import initTesting, { MemoryServer } from '/pkg/testing/index.js';
import { record } from './common.js';

// The most ops one MemoryServer push accepts.
const PUSH_BATCH = 10000;

// HLC counters stay within their five digits by moving to the next
// millisecond every 10,000 records; opIds are UUID v4-shaped, unique to the
// corpus and fixed per index, so a page generated twice is the same page.
export function corpus(n, tag) {
  const deviceId = crypto.randomUUID();
  const base = Date.now();
  const hlc = (i) => `${String(base + Math.floor(i / 10000)).padStart(15, '0')}:${String(i % 10000).padStart(5, '0')}:${deviceId}`;
  const prefix = crypto.randomUUID().slice(0, 23);
  const opId = (i) => `${prefix}-${String(i).padStart(12, '0')}`;
  return {
    n,
    deviceId,
    row: (i) => ({ ...record(i, tag), clock: 1, hlc: hlc(i) }),
    stamp: (i) => ({ clock: 1, hlc: hlc(i), deviceId, opId: opId(i) }),
  };
}

/**
 * A provider that answers pulls as a server holding the corpus would
 * (versions 1..n in order), generating each page when asked and keeping
 * nothing. With it, the page holds only what the engine holds, and the
 * engine's time carries no server work, as the raw baseline carries none.
 */
export function generatedProvider(c) {
  return {
    id: 'bench-generated',
    mode: 'direct',
    async pull({ cursor, limit }) {
      const end = Math.min(cursor + limit, c.n);
      const changes = [];
      for (let i = cursor; i < end; i++) {
        const payload = c.row(i);
        changes.push({ tableName: 'notes', pk: payload.id, op: 'put', payload, serverVersion: i + 1, stamp: c.stamp(i) });
      }
      return { changes, nextCursor: end, hasMore: end < c.n, remaining: c.n - end };
    },
    async push() {
      throw Object.assign(new Error('scale: the generated server takes no pushes'), { code: 'INVALID' });
    },
    async subscribe(scope, tables, onChanges, onStatus) {
      onStatus?.('connected');
      return () => {};
    },
    async updateCursor() {},
  };
}

/**
 * A MemoryServer holding the corpus, seeded by pushing well-formed batches
 * straight to its provider (a writer engine would first store and capture
 * every record: minutes at 1M, and the outbox in memory besides).
 */
export async function seedMemoryServer(c) {
  await initTesting();
  const server = new MemoryServer();
  const provider = server.provider({});
  for (let i = 0; i < c.n; i += PUSH_BATCH) {
    const ops = [];
    for (let j = i; j < Math.min(i + PUSH_BATCH, c.n); j++) {
      const payload = c.row(j);
      const stamp = c.stamp(j);
      ops.push({ opId: stamp.opId, tableName: 'notes', op: 'put', pk: payload.id, payload, stamp });
    }
    const res = await provider.push({ scope: { workspaceId: 'bench' }, deviceId: c.deviceId, ops });
    const bad = res.results.find((r) => !r.success || r.serverVersion === undefined);
    if (bad) throw new Error(`scale: a seeding push was not applied: ${JSON.stringify(bad)}`);
  }
  if (server.serverVersion('bench') !== c.n) throw new Error(`scale: seeded ${server.serverVersion('bench')} of ${c.n}`);
  return server;
}

/**
 * The MemoryServer answers an engine's pulls in the engine's page, on its
 * clock. Replaying the engine's requests alone, page after page from each
 * page's nextCursor as the engine asks them, measures that share.
 */
export async function memoryServerPullMs(server, n, pullLimit) {
  const provider = server.provider({});
  const t0 = performance.now();
  let cursor = 0;
  for (;;) {
    const page = await provider.pull({ scope: { workspaceId: 'bench' }, cursor, limit: pullLimit, tables: ['notes'] });
    cursor = page.nextCursor;
    if (!page.hasMore) break;
  }
  return performance.now() - t0;
}

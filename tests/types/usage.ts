// A small typed usage of the package, checked by `tsc --noEmit` against the
// generated declarations (pkg/index.d.ts, pkg/testing/index.d.ts). It is
// compiled, never run.
import initTesting, { MemoryServer, type ServerRecord } from 'tidesync/testing';
import init, { SyncEngine, type ChangeStamp, type SyncConfig, type SyncReport, type Conflict, type GcReport, type SyncStatus, type TidesyncError } from 'tidesync';

interface Note { id: string; title: string; thread_id: string }

export async function example(): Promise<void> {
  await init();
  const config: SyncConfig = {
    workspaceId: 'w1',
    tables: [{ name: 'notes', indexes: ['thread_id'] }, { name: 'messages', orderKey: true }],
    maxPendingOps: 10_000,
  };
  const engine: SyncEngine = await SyncEngine.open(config);
  const stamp: ChangeStamp = await engine.put('notes', { id: 'n1', title: 'hello', thread_id: 't1' });
  const clock: number = stamp.clock;
  const stamps: ChangeStamp[] = await engine.bulkPut('notes', [{ id: 'n2', title: 'x', thread_id: 't1' }]);
  const note = (await engine.get('notes', 'n1')) as Note | undefined;
  const inThread = await engine.getAll('notes', { index: 'thread_id', equals: 't1', limit: 10 });
  const n: number = await engine.count('notes');
  await engine.delete('notes', 'n2');
  await engine.bulkDelete('notes', ['n1', 5]);
  const off: () => void = engine.on('change', (e) => console.log(e.table, e.pks, e.source));
  off();
  const ops = await engine.pendingOps({ limit: 5 });
  const all = await engine.pendingOps();
  const everything = await engine.getAll('notes');
  console.log(all.length, everything.length);
  console.log(clock, stamps.length, note?.title, inThread.length, n, ops[0]?.state, engine.deviceId);
  try {
    await engine.put('notes', { title: 'no id' });
  } catch (err) {
    const e = err as TidesyncError;
    if (e.code === 'INVALID') console.log(e.path);
  }
  engine.close();
}

export async function withServer(): Promise<void> {
  await init();
  await initTesting();
  const server = new MemoryServer();
  server.grant('token-1', 'w1');
  server.failNextPushes(2, 'RATE_LIMIT', 1000);
  const engine = await SyncEngine.open({
    workspaceId: 'w1',
    tables: [{ name: 'notes' }],
    provider: server.provider({ token: 'token-1' }),
    backoffMs: [100, 500],
  });
  engine.on('sync.retry:action', (e) => console.log(e.attempt, e.delayMs));
  await engine.put('notes', { id: 'a' });
  const report: SyncReport = await engine.syncNow();
  const status: SyncStatus = await engine.status();
  const failed = await engine.failedOps();
  await engine.retryFailed(failed.map((op) => op.opId));
  await engine.discardFailed([]);
  engine.stop();
  engine.start();
  const held: ServerRecord[] = server.snapshot('w1');
  console.log(report.pushed, status.leader, held.length, server.serverVersion('w1'));
  engine.close();
}

export async function pullSide(): Promise<void> {
  await init();
  await initTesting();
  const server = new MemoryServer();
  const engine = await SyncEngine.open({
    workspaceId: 'w1',
    tables: [{
      name: 'notes',
      resolve: (local, remote) => (local && remote ? { ...remote, merged: true } : null),
    }],
    provider: server.provider(),
    pullLimit: 200,
    retentionMs: 7 * 86_400_000,
  });
  engine.on('sync.bootstrap:action:progress', (p) => console.log(p.applied, p.remaining ?? 0, p.cursor));
  engine.on('sync.pull:action:received', (p) => console.log(p.source, p.applied));
  engine.on('sync.subscription:action:statusChange', (s) => console.log(s.status, s.attempt));
  engine.on('sync.conflict:action:detected', (c: Conflict) => console.log(c.winner, c.local.stamp.hlc));
  const journal: Conflict[] = await engine.conflicts({ limit: 10 });
  const gc: GcReport = await engine.collectGarbage();
  const status: SyncStatus = await engine.status();
  console.log(journal.length, gc.tombstones, status.cursor);
  engine.close();
}

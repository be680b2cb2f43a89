// A small typed usage of the package, checked by `tsc --noEmit` against the
// generated declarations (pkg/index.d.ts, pkg/testing/index.d.ts), under
// `strict` with `skipLibCheck: false`, once with lib ESNext (tsconfig.json)
// and once with ES2022 + DOM, what a Vite app uses (tsconfig.es2022.json).
// It is compiled, never run. `@ts-expect-error` lines must stay errors.
import initTesting, { MemoryServer, runProviderConformance, withFaults, type ConformanceReport, type ServerRecord } from 'tidesync/testing';
import init, {
  SyncEngine, TidesyncError, HttpProvider, type ChangeStamp, type SyncConfig, type SyncReport, type Conflict, type GcReport,
  type SyncStatus, type PendingOp, type SyncRun, type Stored, type HttpProviderError,
  type Table, type ReadTable, type Collection, type QueryPage, type QueryPosition, type RecordStatus, type Observable,
  type Reader, type Unsubscribable,
} from 'tidesync';
import { createElement, type ReactElement } from 'react';
import { TidesyncProvider, useEngine, useLiveQuery, useRecordStatus, useSyncStatus } from 'tidesync/react';

// An ordinary interface, without an index signature.
interface Note { id: string; title: string; thread_id: string }

export async function example(): Promise<void> {
  // No init() needed: open loads the wasm module.
  const config: SyncConfig = {
    workspaceId: 'w1',
    tables: [{ name: 'notes', indexes: ['thread_id'] }, { name: 'messages', orderKey: true }],
    maxPendingOps: 10_000,
  };
  const engine: SyncEngine = await SyncEngine.open(config);
  const note: Note = { id: 'n1', title: 'hello', thread_id: 't1' };
  const stamp: ChangeStamp = await engine.put('notes', note);
  const clock: number = stamp.clock;
  const notes: Note[] = [{ id: 'n2', title: 'x', thread_id: 't1' }];
  const stamps: ChangeStamp[] = await engine.bulkPut('notes', notes);
  const got: Stored<Note> | undefined = await engine.get<Note>('notes', 'n1');
  const title: string | undefined = got?.title;
  const hlc: string | undefined = got?.hlc;
  const inThread = await engine.getAll<Note>('notes', { index: 'thread_id', equals: 't1', limit: 10 });
  const firstThread: string | undefined = inThread[0]?.thread_id;
  const n: number = await engine.count('notes');
  await engine.delete('notes', 'n2');
  await engine.bulkDelete('notes', ['n1', 5]);
  const off: () => void = engine.on('change', (e) => console.log(e.table, e.pks, e.source));
  off();
  // @ts-expect-error: a change event has no `code`.
  engine.on('change', (e) => console.log(e.code));
  engine.on('sync.error:action', (e) => console.log(e.code, e.message, e.retryable));
  // @ts-expect-error: not an event name.
  engine.on('chnage', () => {});
  const ops: PendingOp[] = await engine.pendingOps({ limit: 5 });
  const op = ops[0];
  if (op) console.log(op.seq, op.opId, op.tableName, op.pk, op.op, op.stamp.hlc, op.state, op.attempts, op.createdAt, op.lastError);
  // @ts-expect-error: storage fields are not part of PendingOp.
  console.log(op?.base);
  const runs: SyncRun[] = await engine.syncRuns({ limit: 5 });
  const everything = await engine.getAll('notes');
  console.log(runs.length, everything.length, clock, stamps.length, title, hlc, firstThread, n, engine.deviceId, engine.dbName);
  try {
    await engine.put('notes', { title: 'no id' });
  } catch (err) {
    if (err instanceof TidesyncError && err.code === 'INVALID') console.log(err.path, err.retryable);
  }
  // @ts-expect-error: a number is not a record.
  await engine.put('notes', 5);
  await engine.close();
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
    provider: withFaults(server.provider({ token: 'token-1' }), { latency: [0, 20], drop: 0.1, status429: 0.05 }),
    backoffMs: [100, 500],
  });
  engine.on('sync.retry:action', (e) => console.log(e.attempt, e.delayMs));
  await engine.put('notes', { id: 'a' });
  const report: SyncReport = await engine.syncNow();
  const status: SyncStatus = await engine.status();
  const failed = await engine.failedOps();
  await engine.retryFailed(failed.map((op) => op.opId));
  await engine.discardFailed([]);
  await engine.stop();
  await engine.start();
  const held: ServerRecord[] = server.snapshot('w1');
  console.log(report.pushed, status.leader, held.length, server.serverVersion('w1'));
  await engine.close();
}

export async function pullSide(): Promise<void> {
  const engine = await SyncEngine.open({
    workspaceId: 'w1',
    tables: [{
      name: 'notes',
      resolve: (local, remote) => (local && remote ? { ...remote, merged: true } : null),
    }],
    provider: new HttpProvider({
      url: 'https://sync.example.com',
      getToken: async () => 'token',
      onError: (e: HttpProviderError) => console.log(e.code, e.status, e.blocked),
    }),
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
  await engine.close();
}

export async function conformance(): Promise<boolean> {
  await initTesting();
  const server = new MemoryServer();
  const report: ConformanceReport = await runProviderConformance(({ workspaceId, client }) => {
    server.grant(`${workspaceId}/${client}`, workspaceId);
    return server.provider({ token: `${workspaceId}/${client}` });
  }, { expireHistory: ({ workspaceId, below }) => server.purgeHistory(workspaceId, below), log: null });
  for (const check of report.checks) console.log(check.name, check.status, check.error ?? '');
  return report.ok;
}

// Typed tables, the query builder, read and live queries.
interface Message { id: string; thread_id: string; index: number; author: string; tags: string[]; status: 'open' | 'done'; text?: string }

export async function tables(): Promise<void> {
  const engine = await SyncEngine.open({
    workspaceId: 'w1',
    tables: [{ name: 'messages', orderKey: true, indexes: ['author', '[thread_id+index]', '&text', '*tags', 'status'] }],
  });
  const messages: Table<Message> = engine.table<Message>('messages');
  const stamp: ChangeStamp = await messages.put({ id: 'm1', thread_id: 't1', index: 0, author: 'ann', tags: ['a'], status: 'open' });
  await messages.bulkPut([{ id: 'm2', thread_id: 't1', index: 1, author: 'bob', tags: [], status: 'done' }]);
  // @ts-expect-error: a Message needs its fields.
  await messages.put({ id: 'm3' });
  const one: Stored<Message> | undefined = await messages.get('m1');
  const order: string | undefined = one?.order_key;
  // Back from `get`, changed, put again.
  if (one) await messages.put({ ...one, text: 'edited' });
  const byAuthor: Stored<Message>[] = await messages.where('author').equals('ann').toArray();
  // @ts-expect-error: the author index holds strings.
  messages.where('author').equals(5);
  // @ts-expect-error: not a field of Message.
  messages.where('autor');
  const tagged = await messages.where('tags').anyOf('a', 'b').count();
  const tagged2: number = await messages.where('tags').anyOf(['a']).count();
  const open = await messages.where('status').equals('open').first();
  const ranged = await messages.where('status').between('a', 'z', true, true).toArray();
  const thread: Stored<Message>[] = await messages.where(['thread_id', 'index']).equals(['t1']).reverse().limit(20).toArray();
  const thread2 = await messages.where('[thread_id+index]').between(['t1', 0], ['t1', 10]).offset(5).toArray();
  const firstPage: QueryPage<Stored<Message>> = await messages.orderBy('[thread_id+index]').limit(50).page();
  const next: QueryPosition | undefined = firstPage.next;
  const secondPage = await messages.orderBy(['thread_id', 'index']).limit(50).after(next).page();
  const bobs: Collection<Message> = messages.where('author').startsWith('b').filter((m) => m.tags.length > 0);
  const bobCount: number = await bobs.count();
  const byPk = await messages.where(':id').above('m1').toArray();
  const everything = await messages.toCollection().filter((m) => m.status === 'done').limit(3).toArray();
  const metaPath = messages.orderBy('author.first');
  const raw = await messages.getAll({ index: 'author', anyOf: ['ann', 'bob'] });
  const counted: number = await messages.count({ index: 'status', equals: 'open' });
  const states: RecordStatus[] = await messages.recordStatus(['m1', 'm2']);
  await messages.delete('m2');
  await messages.bulkDelete(['m1']);

  // read: one transaction; reader.table is typed the same way.
  const [inThread, total] = await engine.read(async (r: Reader) => {
    const t: ReadTable<Message> = r.table<Message>('messages');
    return [await t.where(['thread_id', 'index']).equals(['t1']).toArray(), await t.count()] as const;
  });
  const firstText: string | undefined = inThread[0]?.text;
  const n2: number = total;

  // liveQuery: typed by what the querier resolves to (an async querier is not an observable of promises).
  const live: Observable<Stored<Message>[]> = engine.liveQuery((r) => r.table<Message>('messages').where('author').equals('ann').toArray());
  const sub: Unsubscribable = live.subscribe((rows) => console.log(rows[0]?.author.toUpperCase()));
  sub.unsubscribe();
  const liveCount: Observable<number> = engine.liveQuery(async (r) => (await r.getAll('messages')).length);
  liveCount.subscribe({ next: (c: number) => console.log(c + 1), error: (e) => console.log(e) });
  const tableLive: Observable<number> = messages.liveQuery((t) => t.where('status').equals('open').count());
  const allLive: Observable<Stored<Message>[]> = messages.liveQuery({ index: 'author', equals: 'ann' });
  // @ts-expect-error: the rows are messages, not numbers.
  const wrong: Observable<number[]> = messages.liveQuery();
  console.log(stamp, order, byAuthor, tagged, tagged2, open?.status, ranged, thread, thread2, secondPage.rows, bobCount,
    byPk, everything, metaPath.options, raw, counted, states, firstText, n2, tableLive, allLive, wrong);
  await engine.close();
}

// tidesync/react: hooks in function components (createElement, no JSX).
function MessageList({ threadId }: { threadId: string }): ReactElement {
  const rows: Stored<Message>[] = useLiveQuery(
    (r) => r.table<Message>('messages').where(['thread_id', 'index']).equals([threadId]).toArray(),
    [threadId],
    [],
  );
  const maybe: number | undefined = useLiveQuery((r) => r.count('messages'), []);
  const status: SyncStatus | undefined = useSyncStatus();
  const engine: SyncEngine = useEngine();
  const badges: RecordStatus[] | undefined = useRecordStatus('messages', rows.map((m) => m.id));
  const single = useRecordStatus('messages', 'm1', { engine });
  // @ts-expect-error: the rows are messages.
  const bad: number[] = useLiveQuery((r) => r.table<Message>('messages').toArray(), [], []);
  return createElement('ul', { 'data-pending': status?.pendingOps, 'data-count': maybe, 'data-bad': bad.length },
    rows.map((m, i) => createElement('li', { key: m.id }, m.text ?? '', ' ', badges?.[i]?.state ?? '…', single?.[0]?.state)));
}

export function app(engine: SyncEngine): ReactElement {
  return createElement(TidesyncProvider, { engine }, createElement(MessageList, { threadId: 't1' }));
}

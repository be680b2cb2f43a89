// Start-up: opening an existing database, n times one after the other, as an
// app does on every page load. The raw side opens the database and closes it;
// Dexie declares its schema and opens; tidesync opens the engine (schema
// check, state, outbox recovery, tab coordination) and closes it.
import { SyncEngine } from '/pkg/tidesync.js';
import Dexie from '/node_modules/dexie/dist/dexie.mjs';
import { compare, deleteDb, openRaw, withDurability } from './common.js';

const config = (dbName) => ({ workspaceId: 'bench', dbName, tables: [{ name: 'notes', indexes: ['thread_id'] }] });

async function timedOpens(n, create, open) {
  await create();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await open();
  return (performance.now() - t0) / n;
}

const rawOpen = (n, run) => {
  const name = `bench-rawopen-${run}`;
  return timedOpens(n, async () => { await deleteDb(name); (await openRaw(name)).close(); }, async () => (await openRaw(name)).close());
};

const dexieOpen = (n, run) => {
  const name = `bench-dexieopen-${run}`;
  const open = async () => {
    const db = new Dexie(name);
    db.version(1).stores({ notes: 'id, thread_id', pending_ops: '++seq' });
    await db.open();
    db.close();
  };
  return timedOpens(n, async () => { await Dexie.delete(name); await open(); }, open);
};

const engineOpen = (n, run) => {
  const name = `bench-engineopen-${run}`;
  const open = async () => (await SyncEngine.open(withDurability(config(name)))).close();
  return timedOpens(n, async () => { await deleteDb(name); await open(); }, open);
};

/** Milliseconds per open (medians of interleaved runs of n opens each). */
export async function runOpen(n = 50, runs = 5) {
  const w = Math.min(n, 5);
  return compare('open an existing database (per open)', n, runs,
    { raw: (i) => rawOpen(n, i), dexie: (i) => dexieOpen(n, i), engine: (i) => engineOpen(n, i) },
    { raw: (i) => rawOpen(w, i), dexie: (i) => dexieOpen(w, i), engine: (i) => engineOpen(w, i) });
}

// The demo: one device (a SyncEngine on this browser's IndexedDB) pushing to
// an in-page MemoryServer. Everything shown comes from the public API.
import init, { MemoryServer, SyncEngine, version } from '/pkg/tidesync.js';

const $ = (id) => document.getElementById(id);
let server;
let engine;

function fail(e) {
  $('error').hidden = false;
  $('error').textContent = `${e.name ?? 'Error'} ${e.code ?? ''}: ${e.message ?? e}`;
}

function log(name, payload) {
  const li = document.createElement('li');
  const brief = payload.opIds ? `${payload.opIds.length} op(s)` : payload.code ?? payload.source ?? '';
  li.textContent = `${new Date().toLocaleTimeString()} ${name} ${brief}`;
  $('events').prepend(li);
  while ($('events').children.length > 40) $('events').lastChild.remove();
}

async function renderNotes() {
  const notes = (await engine.getAll('notes', { index: 'order_key' })).reverse();
  $('note-count').textContent = `${notes.length} note(s), newest first`;
  $('notes').replaceChildren(...notes.slice(0, 8).map((n) => {
    const li = document.createElement('li');
    li.textContent = n.title;
    const del = document.createElement('button');
    del.textContent = 'delete';
    del.onclick = () => engine.delete('notes', n.id).catch(fail);
    li.append(del);
    return li;
  }));
}

async function renderStatus() {
  const s = await engine.status();
  const rows = {
    online: s.online, phase: s.phase, pending: s.pendingOps, failed: s.failedOps, leader: s.leader,
    'last sync': s.lastSyncAt ? new Date(s.lastSyncAt).toLocaleTimeString() : '–',
    'last error': s.lastError ? `${s.lastError.code}: ${s.lastError.message}` : '–',
  };
  $('status').replaceChildren(...Object.entries(rows).flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = k;
    dd.textContent = String(v);
    return [dt, dd];
  }));
  const failed = await engine.failedOps();
  $('failed').replaceChildren(...failed.map((op) => {
    const li = document.createElement('li');
    li.textContent = `${op.op} ${op.pk}: ${op.lastError ?? ''}`;
    for (const [label, act] of [['retry', () => engine.retryFailed([op.opId])], ['discard', () => engine.discardFailed([op.opId])]]) {
      const b = document.createElement('button');
      b.textContent = label;
      b.onclick = () => act().then(refresh).catch(fail);
      li.append(b);
    }
    return li;
  }));
}

function renderServer() {
  const rows = server.snapshot('demo').filter((r) => !r.deleted).sort((a, b) => b.version - a.version);
  $('server-count').textContent = `${rows.length} record(s), latest first`;
  $('server-version').textContent = server.serverVersion('demo');
  $('applied').textContent = server.appliedOps('demo');
  $('server-rows').replaceChildren(...rows.slice(0, 12).map((r) => {
    const tr = document.createElement('tr');
    for (const v of [String(r.pk).slice(0, 8), r.payload?.title ?? '', r.version]) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    return tr;
  }));
}

async function refresh() {
  await Promise.all([renderNotes(), renderStatus()]);
  renderServer();
}

try {
  await init();
  server = new MemoryServer();
  $('version').textContent = `v${version()}`;
  engine = await SyncEngine.open({
    workspaceId: 'demo',
    tables: [{ name: 'notes', orderKey: true }],
    provider: server.provider(),
    backoffMs: [500, 1000, 2000],
  });
  $('device-id').textContent = engine.deviceId.slice(0, 8);
  for (const name of ['change', 'sync.push:action:after', 'sync.retry:action', 'sync.error:action', 'sync.queue:action:full']) {
    engine.on(name, (p) => { log(name, p); refresh().catch(fail); });
  }
  $('add').onsubmit = (ev) => {
    ev.preventDefault();
    const title = $('title').value.trim();
    $('title').value = '';
    engine.put('notes', { id: crypto.randomUUID(), title }).catch(fail);
  };
  $('burst').onclick = () => {
    const batch = Array.from({ length: 100 }, (_, i) => ({ id: crypto.randomUUID(), title: `note ${i + 1} of a burst` }));
    engine.bulkPut('notes', batch).catch(fail);
  };
  $('online').onchange = (ev) => {
    server.setUnreachable(!ev.target.checked);
    document.body.classList.toggle('offline', !ev.target.checked);
    if (ev.target.checked) engine.syncNow().catch(() => {});
  };
  $('reject').onclick = () => server.failNextPushes(1, 'INVALID');
  setInterval(() => refresh().catch(fail), 1000);
  await refresh();
} catch (e) {
  fail(e);
}

// The demo: devices (separate databases and device ids) syncing through the
// reference server with HttpProvider. Query parameters: `devices` (names,
// comma separated; default "laptop,phone"), `token`, `workspace`.
import init, { SyncEngine, HttpProvider } from '/pkg/index.js';

const boot = document.getElementById('boot');
const say = (text) => { boot.textContent = text; };

const params = new URLSearchParams(location.search);
const workspace = params.get('workspace') || 'demo';
const token = params.get('token') || 'demo-token-change-me';
const names = (params.get('devices') || 'laptop,phone').split(',').map((s) => s.trim()).filter(Boolean);
// Messages are read in order through the compound index [thread_id+order_key].
const tables = [{ name: 'threads', orderKey: true }, { name: 'messages', indexes: [['thread_id', 'order_key']], orderKey: true }];
const BADGES = { synced: '✓ saved', pending: '• waiting', inFlight: '↑ sending', failed: '⚠ failed' };

document.getElementById('another').href = `?devices=window-${Math.floor(Math.random() * 1e4)}`;

// A provider that a device's switch can take offline: calls reject as a
// network failure would, and subscription batches are not delivered.
function switchable(provider) {
  const state = { online: true, status: [] };
  const gate = async (call) => {
    if (!state.online) throw Object.assign(new Error('offline (demo switch)'), { code: 'UNAVAILABLE' });
    return call();
  };
  return {
    state,
    id: provider.id, mode: provider.mode,
    pull: (req) => gate(() => provider.pull(req)),
    push: (batch) => gate(() => provider.push(batch)),
    updateCursor: (...a) => gate(() => provider.updateCursor(...a)),
    subscribe: async (scope, tbls, onChanges, onStatus) => {
      state.status.push(onStatus);
      return gate(() => provider.subscribe(scope, tbls, (c, m) => { if (state.online) onChanges(c, m); }, onStatus));
    },
  };
}

const el = (tag, { dataset, ...props } = {}, ...kids) => {
  const e = Object.assign(document.createElement(tag), props);
  Object.assign(e.dataset, dataset);
  e.append(...kids);
  return e;
};
const time = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '-');

// The dev overlay (tidesync/devtools) is its own entry: loaded on the first
// use of a device's "dev overlay" switch, never with the page.
let devtools = null;
const loadDevtools = () => {
  devtools ??= import('/pkg/devtools.js').catch((e) => {
    devtools = null;
    throw e;
  });
  return devtools;
};

async function device(name) {
  const root = document.getElementById('device-template').content.firstElementChild.cloneNode(true);
  root.dataset.device = name;
  document.getElementById('devices').append(root);
  const $ = (sel) => root.querySelector(sel);
  $('.name').textContent = name;

  $('.status').replaceChildren(el('dt', { textContent: 'starting' }), el('dd', { textContent: 'opening the local database…' }));
  const http = new HttpProvider({ url: location.origin, getToken: () => token });
  const provider = switchable(http);
  const engine = await SyncEngine.open({
    workspaceId: workspace, dbName: `tidesync-demo-${workspace}-${name}`, tables, provider, backoffMs: [250, 1000, 2000],
  });
  let thread = null;
  let progress = { applied: 0, total: 0 };

  async function renderStatus() {
    const s = await engine.status().catch(() => null);
    if (!s) return;
    const rows = [['online', provider.state.online ? 'yes' : 'no'], ['phase', s.phase], ['pending', s.pendingOps],
      ['failed', s.failedOps], ['cursor', s.cursor], ['last sync', time(s.lastSyncAt)]];
    $('.status').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: String(v) })]));
    const err = s.lastError;
    if (err) $('.status').append(el('dt', { textContent: 'last error' }), el('dd', { className: 'error', textContent: `${err.code}: ${err.message}` }));
  }

  // Live queries: each list re-renders when a write that changes it commits,
  // here, in another tab, or pulled from the server.
  let threads = [];
  function renderThreads() {
    $('.thread-list').replaceChildren(...threads.map((t) => el('li', {}, el('button', {
      type: 'button', textContent: t.title, className: thread === t.id ? 'selected' : '', onclick: () => select(t),
    }))));
  }
  engine.liveQuery((r) => r.getAll('threads', { index: 'order_key' })).subscribe((list) => {
    threads = list;
    renderThreads();
  });

  // The selected thread's messages, in order, each with its sync state.
  let messages = null;
  function watchMessages() {
    messages?.unsubscribe();
    const id = thread;
    messages = engine.liveQuery(async (r) => {
      const list = await r.getAll('messages', { index: ['thread_id', 'order_key'], equals: [id] });
      const states = await r.recordStatus('messages', list.map((m) => m.id));
      return list.map((m, i) => ({ ...m, sync: states[i].state }));
    }).subscribe((list) => {
      $('.message-list').replaceChildren(...list.map((m) => el('li', { dataset: { id: m.id, sync: m.sync } },
        el('span', { className: 'text', textContent: m.text }), el('span', { className: 'by', textContent: m.by }),
        el('span', { className: `badge ${m.sync}`, textContent: BADGES[m.sync] }),
        el('button', { type: 'button', textContent: 'edit', onclick: () => edit(m) }),
        el('button', { type: 'button', textContent: 'delete', onclick: () => engine.delete('messages', m.id) }))));
    });
  }

  async function renderJournal() {
    const conflicts = await engine.conflicts({ limit: 20 });
    $('.conflict-count').textContent = conflicts.length;
    $('.conflicts').replaceChildren(...conflicts.map((c) => el('li', {},
      `${c.table} ${c.pk}: local "${c.local.payload?.text ?? c.local.payload?.title ?? '(deleted)'}" vs remote "${c.remote.payload?.text ?? c.remote.payload?.title ?? '(deleted)'}" → `,
      el('span', { className: 'winner', textContent: c.winner }))));
    const failed = await engine.failedOps();
    $('.failed-count').textContent = failed.length;
    $('.failed').replaceChildren(...failed.map((op) => el('li', {}, `${op.op} ${op.tableName} ${op.pk}: ${op.lastError ?? ''} `,
      el('button', { type: 'button', textContent: 'retry', onclick: () => engine.retryFailed([op.opId]).then(renderJournal) }),
      el('button', { type: 'button', textContent: 'discard', onclick: () => engine.discardFailed([op.opId]).then(renderJournal) }))));
  }

  function select(t) {
    thread = t.id;
    $('.thread-title').textContent = t.title;
    for (const input of root.querySelectorAll('.new-message input, .new-message button')) input.disabled = false;
    renderThreads();
    watchMessages();
  }

  async function edit(m) {
    const text = prompt('Edit message', m.text);
    if (text === null || !text.trim()) return;
    const { sync: _state, ...row } = m;
    await engine.put('messages', { ...row, text: text.trim(), by: name });
  }

  $('.new-thread').onsubmit = async (e) => {
    e.preventDefault();
    const title = e.target.title.value.trim();
    e.target.reset();
    const t = { id: crypto.randomUUID(), title, by: name };
    await engine.put('threads', t);
    select(t);
  };
  $('.new-message').onsubmit = async (e) => {
    e.preventDefault();
    const text = e.target.text.value.trim();
    e.target.reset();
    if (thread) await engine.put('messages', { id: crypto.randomUUID(), thread_id: thread, text, by: name });
  };
  $('.online').onchange = async (e) => {
    provider.state.online = e.target.checked;
    root.classList.toggle('offline', !provider.state.online);
    for (const report of provider.state.status) report?.(provider.state.online ? 'connected' : 'disconnected');
    if (provider.state.online) await engine.syncNow().catch(() => {});
    renderStatus();
  };

  let overlay = null;
  $('.devtools-toggle').onchange = async (e) => {
    if (!e.target.checked) {
      overlay?.remove();
      overlay = null;
      return;
    }
    const { attachDevtools } = await loadDevtools();
    if (e.target.checked && !overlay) overlay = attachDevtools(engine, $('.devtools'));
  };

  engine.on('change', renderStatus);
  engine.on('sync.bootstrap:action:progress', ({ applied, remaining }) => {
    progress = { applied: progress.applied + applied, total: progress.applied + applied + (remaining ?? 0) };
    const bar = $('.bootstrap');
    bar.hidden = !remaining;
    bar.max = Math.max(progress.total, 1);
    bar.value = progress.applied;
  });
  engine.on('sync.conflict:action:detected', renderJournal);
  engine.on('sync.error:action', () => { renderStatus(); renderJournal(); });
  for (const ev of ['sync.push:action:after', 'sync.pull:action:received', 'sync.stats:action']) engine.on(ev, renderStatus);

  window.devices = Object.assign(window.devices || {}, { [name]: { engine, provider, select } });
  await Promise.all([renderStatus(), renderJournal()]);
  setInterval(renderStatus, 1000);
}

// Progress while it starts: the wasm module first (init is optional, SyncEngine.open
// would load it; called here to say so), then every device at once.
say('Loading the sync engine (WebAssembly)…');
const t0 = performance.now();
await init();
document.getElementById('version').textContent = 'offline-first sync for IndexedDB';
say(`Engine loaded in ${Math.round(performance.now() - t0)} ms; opening ${names.length} device${names.length > 1 ? 's' : ''}…`);
let opened = 0;
try {
  await Promise.all(names.map((name) => device(name).then(() => {
    opened += 1;
    say(`Opened ${opened} of ${names.length} devices…`);
  })));
} catch (e) {
  say(`Could not start: ${e.code ?? e.name}: ${e.message}`);
  boot.classList.add('error');
  throw e;
}
say(`Ready: ${names.length} device${names.length > 1 ? 's' : ''}, engine loaded and opened in ${Math.round(performance.now() - t0)} ms.`);
window.demoReady = true;

// The React app of tests/e2e/react.test.mjs, bundled by esbuild with React
// and react-dom from npm against the built package (tidesync -> pkg/index.js,
// tidesync/react -> pkg/react.js). Plain createElement, no JSX.
//
// It renders one thread's messages through useLiveQuery, ordered by the
// compound index [thread_id+index], each with a sync badge from
// useRecordStatus, and the pending count from useSyncStatus. The test drives
// it through `window.startApp`, `window.engine` and `window.showThread`.
import { createElement as h, StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { HttpProvider, SyncEngine } from 'tidesync';
import { TidesyncProvider, useLiveQuery, useRecordStatus, useSyncStatus } from 'tidesync/react';

/** Renders counts of each component, so the test can see re-renders stay bounded. */
window.renders = { thread: 0, badge: 0 };

function Badge({ id }) {
  window.renders.badge += 1;
  const status = useRecordStatus('messages', [id]);
  const state = status?.[0]?.state ?? 'loading';
  return h('span', { className: 'badge', 'data-state': state }, state);
}

function Thread({ threadId }) {
  window.renders.thread += 1;
  const rows = useLiveQuery(
    (r) => r.table('messages').where(['thread_id', 'index']).equals([threadId]).toArray(),
    [threadId],
    null,
  );
  if (rows === null) return h('p', { id: 'loading' }, 'loading');
  return h('ol', { id: 'messages', 'data-thread': threadId },
    rows.map((m) => h('li', { key: m.id, 'data-id': m.id },
      h('span', { className: 'text' }, m.text), ' ', h(Badge, { id: m.id }))));
}

function Status() {
  const status = useSyncStatus();
  return h('p', { id: 'status', 'data-pending': status === undefined ? '' : String(status.pendingOps) },
    status === undefined ? '…' : status.pendingOps === 0 ? 'All changes saved' : `${status.pendingOps} unsaved`);
}

function App() {
  const [threadId, setThreadId] = useState('t1');
  window.showThread = setThreadId;
  return h('main', null, h(Status), h(Thread, { threadId }));
}

window.startApp = async ({ ws, token, dbName }) => {
  const engine = await SyncEngine.open({
    workspaceId: ws,
    dbName,
    tables: [{ name: 'messages', indexes: [['thread_id', 'index']] }],
    provider: new HttpProvider({ url: location.origin, getToken: () => token }),
  });
  window.engine = engine;
  createRoot(document.getElementById('root')).render(
    h(StrictMode, null, h(TidesyncProvider, { engine }, h(App))),
  );
};

// A notes app on tidesync: a local IndexedDB database that syncs through
// tidesync-server with HttpProvider. Query parameters: `server` (default:
// this page's origin), `token`, `workspace`, `device` (its own database).
import { HttpProvider, SyncEngine, TidesyncError } from 'tidesync';

interface Note {
  id: string;
  text: string;
  createdAt: number;
}

const params = new URLSearchParams(location.search);
const server = params.get('server') ?? location.origin;
const token = params.get('token') ?? 'demo-token-change-me';
const workspaceId = params.get('workspace') ?? 'demo';
const device = params.get('device') ?? 'this-browser';

const status = document.querySelector<HTMLParagraphElement>('#status')!;
const list = document.querySelector<HTMLUListElement>('#notes')!;
const form = document.querySelector<HTMLFormElement>('#new-note')!;
const input = form.querySelector('input')!;

async function main(): Promise<void> {
  status.textContent = 'Opening the local database…';
  const engine = await SyncEngine.open({
    workspaceId,
    dbName: `notes-${workspaceId}-${device}`,
    tables: [{ name: 'notes' }],
    provider: new HttpProvider({ url: server, getToken: () => token }),
  });

  async function render(): Promise<void> {
    const notes = await engine.getAll<Note>('notes');
    notes.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    list.replaceChildren(...notes.map((n) => Object.assign(document.createElement('li'), { textContent: n.text })));
    const s = await engine.status();
    status.textContent = `${s.phase} · ${s.pendingOps} pending · ${notes.length} notes` +
      (s.lastError ? ` · ${s.lastError.code}: ${s.lastError.message}` : '');
  }

  engine.on('change', () => void render());
  engine.on('sync.stats:action', () => void render());
  engine.on('sync.error:action', (e) => {
    status.textContent = `${e.code}: ${e.message}`;
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    form.reset();
    const note: Note = { id: crypto.randomUUID(), text, createdAt: Date.now() };
    await engine.put('notes', note);
  });
  input.disabled = false;
  form.querySelector('button')!.disabled = false;
  await render();
  Object.assign(window, { engine, ready: true });
}

main().catch((e: unknown) => {
  status.textContent = e instanceof TidesyncError ? `${e.code}: ${e.message}` : String(e);
});

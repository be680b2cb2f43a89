// A typed use of the package entry (pkg/index.d.ts): init, the engine and
// HttpProvider together, checked by `tsc --noEmit`; compiled, never run.
import init, { HttpProvider, SyncEngine, type HttpProviderError, type SyncProvider } from 'tidesync';

export async function example(token: () => Promise<string>): Promise<void> {
  await init();
  const provider: SyncProvider = new HttpProvider({
    url: 'https://sync.example.com',
    getToken: ({ refresh }) => (refresh ? token() : token()),
    workspace: 'w1',
    backoffMs: [250, 1000],
  });
  const engine = await SyncEngine.open({ workspaceId: 'w1', tables: [{ name: 'notes' }], provider });
  try {
    await provider.pull({ scope: { workspaceId: 'w1' }, cursor: 0, limit: 100 });
  } catch (e) {
    const err = e as HttpProviderError;
    const wait: number | undefined = err.code === 'RATE_LIMIT' ? err.retryAfterMs : undefined;
    console.log(err.retryable, wait, err.status);
  }
  const off = await provider.subscribe({ workspaceId: 'w1' }, ['notes'], (changes, meta) => {
    console.log(changes.length, meta?.fromCursor);
  }, (s) => console.log(s));
  off();
  (provider as HttpProvider).dispose();
  await engine.close();
}

// tidesync/react: React bindings over the engine's observables.
//
//   <TidesyncProvider engine={engine}> ... </TidesyncProvider>
//   const messages = useLiveQuery(
//     (r) => r.table('messages').where(['thread_id', 'index']).equals([threadId]).toArray(),
//     [threadId], []);
//   const status = useSyncStatus();            // engine.status(), live
//   const [badge] = useRecordStatus('messages', [id]) ?? [];
//
// Each hook subscribes through `useSyncExternalStore` to an observable
// (`liveQuery`, `observeStatus`), so React renders a value the engine
// emitted, never a torn one, and unsubscribes on unmount. No JSX here: the
// file ships as it is. React (18 or later) is a peer dependency.
import { createContext, createElement, useContext, useMemo, useSyncExternalStore } from 'react';
import { TidesyncError } from './error.js';

/** The engine the hooks use; `TidesyncProvider` sets it. */
export const TidesyncContext = createContext(null);

/** Makes `engine` the one the hooks below it use: `createElement(TidesyncProvider, { engine }, children)`. */
export function TidesyncProvider({ engine, children }) {
  return createElement(TidesyncContext.Provider, { value: engine ?? null }, children);
}

/**
 * The engine: `engine` when given, else the nearest TidesyncProvider's.
 * Throws a TidesyncError (INVALID) when there is neither.
 */
export function useEngine(engine) {
  const provided = useContext(TidesyncContext);
  const found = engine ?? provided;
  if (!found) {
    throw new TidesyncError('INVALID',
      'tidesync/react: no engine: render the component inside <TidesyncProvider engine={engine}>, or pass { engine }',
      { retryable: false, path: 'engine' });
  }
  return found;
}

/**
 * A store for useSyncExternalStore over an observable made by `make()`:
 * one subscription while React listens, the latest value (or error) as a
 * snapshot object that changes only when the observable emits.
 */
function observableStore(make, initial) {
  let snapshot = { value: initial };
  let subscription = null;
  const listeners = new Set();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  return {
    getSnapshot: () => snapshot,
    subscribe(listener) {
      listeners.add(listener);
      if (subscription === null) {
        subscription = make().subscribe({
          next(value) {
            snapshot = { value };
            notify();
          },
          error(error) {
            snapshot = { value: snapshot.value, error };
            notify();
          },
        });
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && subscription !== null) {
          subscription.unsubscribe();
          subscription = null;
        }
      };
    },
  };
}

function useObservable(make, deps, initial) {
  // A new store (and so a new subscription) whenever a dependency changes.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const store = useMemo(() => observableStore(make, initial), deps);
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  if (snapshot.error !== undefined) throw snapshot.error;
  return snapshot.value;
}

function engineOption(options) {
  return options && typeof options === 'object' ? options.engine : undefined;
}

/**
 * The result of `querier(reader)`, kept current: it re-runs whenever a write
 * that can change it commits (here, pulled from the server, or in another
 * tab). `initial` (default undefined) until the first result, and again
 * after `deps` change until the new query's first result. A failing query
 * throws during render (for an error boundary).
 */
export function useLiveQuery(querier, deps = [], initial = undefined, options = undefined) {
  const engine = useEngine(engineOption(options));
  if (typeof querier !== 'function') {
    throw new TidesyncError('INVALID', 'useLiveQuery: querier must be a function', { retryable: false, path: 'querier' });
  }
  if (!Array.isArray(deps)) {
    throw new TidesyncError('INVALID', 'useLiveQuery: deps must be an array', { retryable: false, path: 'deps' });
  }
  return useObservable(() => engine.liveQuery(querier), [engine, ...deps], initial);
}

/** `engine.status()`, kept current (undefined until the first read). */
export function useSyncStatus(options = undefined) {
  const engine = useEngine(engineOption(options));
  return useObservable(() => engine.observeStatus(), [engine], undefined);
}

/**
 * The sync state of these records (`recordStatus(table, pks)`), kept
 * current as they are written, pushed, acknowledged or fail: what a
 * per-row "saved" badge shows. Undefined until the first read.
 */
export function useRecordStatus(table, pks, options = undefined) {
  const engine = useEngine(engineOption(options));
  const list = Array.isArray(pks) ? pks : [pks];
  const key = JSON.stringify([table, list]);
  return useObservable(() => engine.liveQuery((r) => r.recordStatus(table, list)), [engine, key], undefined);
}

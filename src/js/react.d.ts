// Types of tidesync/react (react.js). React 18 or later is a peer dependency; its types
// come from @types/react.
import type { Context, ReactElement, ReactNode } from 'react';
import type { PrimaryKey, RecordStatus, SyncStatus } from './tidesync.js';
import type { Reader, SyncEngine } from './index.js';

/** The engine the hooks use, as TidesyncProvider sets it (null outside one). */
export declare const TidesyncContext: Context<SyncEngine | null>;

export interface TidesyncProviderProps {
  engine: SyncEngine;
  children?: ReactNode;
}

/** Makes `engine` the one every hook below it uses. */
export declare function TidesyncProvider(props: TidesyncProviderProps): ReactElement;

/** Where a hook takes its engine from, when not from the provider. */
export interface EngineOption {
  engine?: SyncEngine;
}

/** The engine given, else the nearest TidesyncProvider's; throws a TidesyncError (INVALID) without one. */
export declare function useEngine(engine?: SyncEngine): SyncEngine;

/**
 * `querier(reader)`'s result, kept current: it re-runs whenever a write that can change it
 * commits (here, pulled, or in another tab) and when `deps` change. `initial` until the first
 * result. A failing query throws during render.
 */
export declare function useLiveQuery<R>(
  querier: (reader: Reader) => R | Promise<R>,
  deps?: readonly unknown[],
): R | undefined;
export declare function useLiveQuery<R, I>(
  querier: (reader: Reader) => R | Promise<R>,
  deps: readonly unknown[],
  initial: I,
  options?: EngineOption,
): R | I;

/** `engine.status()`, kept current; undefined until the first read. */
export declare function useSyncStatus(options?: EngineOption): SyncStatus | undefined;

/**
 * The sync state of these records, kept current (what a per-row "saved" badge shows), in the
 * order of `pks`; undefined until the first read.
 */
export declare function useRecordStatus(
  table: string,
  pks: readonly PrimaryKey[] | PrimaryKey,
  options?: EngineOption,
): RecordStatus[] | undefined;

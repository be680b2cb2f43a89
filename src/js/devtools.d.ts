// Types of tidesync/devtools (devtools.js): <tidesync-devtools>, a development overlay that
// shows one engine's status, outbox, failed ops, conflict journal, pull progress and recent
// sync runs, live. Importing the module defines the element.
import type { Conflict, PendingOp, SyncEventName, SyncRun, SyncStatus } from './tidesync.js';

/**
 * What the overlay reads and calls. The package's `SyncEngine` fits, and so does the wasm
 * engine under it; anything without these methods is refused with a TypeError.
 */
export interface DevtoolsEngine {
  /** Subscribes to an event; returns the function that unsubscribes. */
  on(event: SyncEventName, handler: (payload: any) => void): () => void;
  status(): Promise<SyncStatus>;
  pendingOps(options?: { limit?: number }): Promise<PendingOp[]>;
  failedOps(): Promise<PendingOp[]>;
  retryFailed(opIds?: string[]): Promise<number>;
  discardFailed(opIds: string[]): Promise<number>;
  conflicts(options?: { limit?: number }): Promise<Conflict[]>;
  syncRuns(options?: { limit?: number }): Promise<SyncRun[]>;
  /** Shown in the overlay's header when present. */
  readonly dbName?: string;
}

/**
 * `<tidesync-devtools>`. Set `engine` and it shows that engine, re-reading it after its
 * events (coalesced: one refresh at a time, one more for whatever arrived meanwhile). It
 * subscribes while in the document and unsubscribes when removed. It renders into an open
 * shadow root; its sections (`status`, `outbox`, `failed`, `conflicts`, `pull`, `runs`) are
 * exposed as CSS parts of those names. With the `floating` attribute it is fixed to the
 * bottom right corner of the viewport.
 */
export declare class TidesyncDevtools extends HTMLElement {
  /** The engine shown, or null. */
  get engine(): DevtoolsEngine | null;
  /** Shows this engine (null or undefined: none). Throws a TypeError for anything that is not an engine. */
  set engine(engine: DevtoolsEngine | null | undefined);
  /** Reads the engine again now (its events do this by themselves). */
  refresh(): void;
  connectedCallback(): void;
  disconnectedCallback(): void;
}

/**
 * Creates a `<tidesync-devtools>` showing `engine`, appends it to `parent` and returns it.
 * Without `parent` it goes to `document.body` with the `floating` attribute. `el.remove()`
 * detaches it. Throws a TypeError for an `engine` that is not an engine or a `parent` that is
 * not a node.
 */
export declare function attachDevtools(engine: DevtoolsEngine, parent?: ParentNode): TidesyncDevtools;

/**
 * Defines `<tidesync-devtools>` unless the name is already defined (by another copy of the
 * module). Importing the module calls it; calling it again does nothing.
 */
export declare function define(): void;

declare global {
  interface HTMLElementTagNameMap {
    'tidesync-devtools': TidesyncDevtools;
  }
}

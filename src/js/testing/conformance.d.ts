import type { SyncProvider } from '../tidesync.js';

/** What makeProvider is given: the workspace to act in and a client name ('a', 'b', ...). */
export interface ConformanceContext {
  workspaceId: string;
  client: string;
}

/** Returns a provider for one client, authorised for `workspaceId` only (a fresh id per check). */
export type MakeProvider = (context: ConformanceContext) => SyncProvider | Promise<SyncProvider>;

export interface ConformanceOptions {
  /** Two table names the backend accepts (default ['notes', 'files']). */
  tables?: [string, string, ...string[]];
  /** Run only these checks (by name). */
  only?: string[];
  /** Leave these checks out (by name). */
  skip?: string[];
  /** Per check (default 15000 ms). */
  timeoutMs?: number;
  /** How long a subscription may take to deliver a change (default 5000 ms). */
  subscribeWaitMs?: number;
  /** Where the text report goes (default console.log; null: nowhere). */
  log?: ((text: string) => void) | null;
  /** The start of every workspace id (default 'conformance'). */
  prefix?: string;
  /**
   * Purges the workspace's history below `below` (a version), as the backend's GC would, so
   * that older cursors get CURSOR_EXPIRED. Without it, `cursor.expired-history` is skipped.
   */
  expireHistory?: (args: { workspaceId: string; below: number; provider: SyncProvider }) => void | Promise<void>;
  /** Makes the backend rate-limit this client's next calls. Without it, `errors.rate-limit` is skipped. */
  provokeRateLimit?: (args: { workspaceId: string; client: string; provider: SyncProvider }) => void | Promise<void>;
}

export interface ConformanceCheck {
  /** e.g. 'push.idempotent-by-opId'. */
  name: string;
  description: string;
  status: 'pass' | 'fail' | 'skip';
  /** Why it failed. */
  error?: string;
  /** Why it was skipped. */
  reason?: string;
  /** What the check observed (notes, counts). */
  details?: string[];
  durationMs: number;
}

export interface ConformanceReport {
  /** The first provider's id. */
  provider: string;
  /** No check failed. */
  ok: boolean;
  passed: number;
  failed: number;
  skipped: number;
  checks: ConformanceCheck[];
  /** The report as text, one line per check. */
  text: string;
}

/**
 * Drives a provider through the contract of docs/PROTOCOL.md; resolves to the report (never rejects for a
 * failing check). Rejects with a TypeError for an unknown option or check name.
 */
export function runProviderConformance(makeProvider: MakeProvider, options?: ConformanceOptions): Promise<ConformanceReport>;

/** The report as text (what runProviderConformance logs). */
export function formatReport(report: ConformanceReport): string;

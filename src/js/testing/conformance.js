// runProviderConformance(makeProvider, options): drives any SyncProvider
// through the contract of docs/PROTOCOL.md (sections 1 to 3) and reports
// each check by name with pass, fail or skip. See docs/providers.md.
//
// `makeProvider({ workspaceId, client })` returns (or resolves to) a
// provider acting for one client, authorised for that workspace only. Each
// check uses fresh workspaces, so the backend must accept new workspace ids
// (the factory may create them, or grant a token, first).

import { CHECKS } from './conformance_checks.js';

const CODES = new Set(['AUTH', 'FORBIDDEN', 'RATE_LIMIT', 'CURSOR_EXPIRED', 'INVALID', 'UNAVAILABLE']);
const SKIP = Symbol('skip');
const OPTION_KEYS = ['tables', 'only', 'skip', 'timeoutMs', 'log', 'expireHistory', 'provokeRateLimit', 'prefix',
  'subscribeWaitMs'];

class CheckFailed extends Error {}
function assert(cond, message) {
  if (!cond) throw new CheckFailed(message);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isInt = (v) => Number.isSafeInteger(v);
const json = (v) => JSON.stringify(v);

function uuid() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`;
}

/** An HLC string as the engine writes it: 15-digit ms, 5-digit counter, device. */
function hlc(ms, counter, device) {
  return `${String(ms).padStart(15, '0')}:${String(counter).padStart(5, '0')}:${device}`;
}

/** Checks one pull page against its request (section 2); returns its changes. */
function checkPage(req, res, where) {
  assert(res && Array.isArray(res.changes), `${where}: the answer has no changes array: ${json(res)?.slice(0, 200)}`);
  assert(isInt(res.nextCursor) && res.nextCursor >= req.cursor,
    `${where}: nextCursor ${json(res.nextCursor)} must be an integer >= the request's cursor ${req.cursor}`);
  assert(typeof res.hasMore === 'boolean', `${where}: hasMore must be a boolean`);
  assert(res.changes.length <= req.limit, `${where}: ${res.changes.length} changes for limit ${req.limit}`);
  let last = req.cursor;
  for (const [i, c] of res.changes.entries()) {
    const at = `${where}: changes[${i}]`;
    assert(typeof c.tableName === 'string' && c.tableName, `${at}.tableName must be a non-empty string`);
    assert(typeof c.pk === 'string' || Number.isFinite(c.pk), `${at}.pk must be a string or a finite number`);
    assert(c.op === 'put' || c.op === 'delete', `${at}.op must be 'put' or 'delete'`);
    if (c.op === 'put') assert(c.payload !== null && typeof c.payload === 'object', `${at}.payload must be an object for a put`);
    assert(isInt(c.serverVersion) && c.serverVersion > 0, `${at}.serverVersion must be a positive integer`);
    assert(c.serverVersion > last,
      `${at}.serverVersion ${c.serverVersion} must be above ${last} (the cursor, or the change before): versions strictly increase`);
    last = c.serverVersion;
    assert(c.stamp && isInt(c.stamp.clock) && typeof c.stamp.hlc === 'string' && typeof c.stamp.deviceId === 'string'
      && typeof c.stamp.opId === 'string', `${at}.stamp must be { clock, hlc, deviceId, opId }`);
    if (req.tables) assert(req.tables.includes(c.tableName), `${at}: table ${c.tableName} was not asked for (tables ${json(req.tables)})`);
  }
  assert(res.nextCursor >= last, `${where}: nextCursor ${res.nextCursor} is below the page's last version ${last}`);
  if (res.remaining !== undefined && res.remaining !== null) {
    assert(isInt(res.remaining) && res.remaining >= 0, `${where}: remaining must be a non-negative integer`);
    assert((res.remaining === 0) === !res.hasMore, `${where}: remaining is ${res.remaining} with hasMore ${res.hasMore} (0 exactly when hasMore is false)`);
  }
  return res.changes;
}

/** What one check works with: fresh workspaces, clients, ops, pulls. */
class Context {
  constructor(run, check, makeProvider, options, seen) {
    this.run = run;
    this.check = check;
    this.make = makeProvider;
    this.options = options;
    this.tables = options.tables;
    this.seen = seen;
    this.providers = [];
    this.unsubscribes = [];
    this.counter = 0;
    this.ms = Date.now();
    this.details = [];
  }

  /** A workspace id unique to this run and check. */
  workspace(tag = 'w') {
    return `${this.options.prefix}-${this.run}-${this.check}-${tag}`.replace(/[^A-Za-z0-9_.-]/g, '-');
  }

  /** A provider for one client of `workspaceId`, whose rejections are recorded. */
  async client(workspaceId, client = 'a') {
    const p = await this.make({ workspaceId, client });
    assert(p && typeof p.pull === 'function' && typeof p.push === 'function' && typeof p.subscribe === 'function'
      && typeof p.updateCursor === 'function', 'makeProvider must return an object with pull, push, subscribe, updateCursor');
    this.providers.push(p);
    const record = (method) => (...args) => Promise.resolve().then(() => p[method](...args)).catch((e) => {
      this.seen.push({ check: this.check, method, code: e?.code, message: e?.message ?? String(e) });
      throw e;
    });
    return { raw: p, pull: record('pull'), push: record('push'), subscribe: record('subscribe'),
      updateCursor: record('updateCursor') };
  }

  /** A push op with a stamp: `{ table, pk, payload, clock, ms, device, op }`. */
  op({ table = this.tables[0], pk, payload, clock = 1, ms = this.ms, device = 'dev-a', op = 'put' }) {
    const opId = uuid();
    this.counter += 1;
    const out = { opId, tableName: table, op, pk, stamp: { clock, hlc: hlc(ms, this.counter, device), deviceId: device, opId } };
    if (op === 'put') out.payload = { id: pk, ...(payload ?? { n: this.counter }) };
    return out;
  }

  /** Pushes ops and checks the answer's shape: one result per op sent. */
  async push(client, workspaceId, ops, { projectId, device } = {}) {
    const scope = projectId === undefined ? { workspaceId } : { workspaceId, projectId };
    const res = await client.push({ scope, deviceId: device ?? ops[0]?.stamp.deviceId ?? 'dev-a', ops });
    assert(res && Array.isArray(res.results), `push: the answer has no results array: ${json(res)?.slice(0, 200)}`);
    const sent = new Set(ops.map((o) => o.opId));
    for (const r of res.results) assert(sent.has(r.opId), `push: a result names op ${json(r.opId)}, which was not sent`);
    assert(res.results.length === ops.length, `push: ${res.results.length} results for ${ops.length} ops`);
    const byId = new Map(res.results.map((r) => [r.opId, r]));
    assert(byId.size === ops.length, 'push: two results name the same op');
    for (const r of res.results) {
      assert(typeof r.success === 'boolean', `push: result for ${r.opId} has no boolean success`);
      if (r.serverVersion !== undefined && r.serverVersion !== null) {
        assert(isInt(r.serverVersion) && r.serverVersion > 0, `push: serverVersion ${json(r.serverVersion)} must be a positive integer`);
      }
    }
    return ops.map((o) => byId.get(o.opId));
  }

  /** Pulls until hasMore is false, checking every page; returns every change. */
  async pullAll(client, workspaceId, { cursor = 0, limit = 100, tables, projectId, onPage, rescan } = {}) {
    const scope = projectId === undefined ? { workspaceId } : { workspaceId, projectId };
    const all = [];
    for (let page = 0; ; page += 1) {
      assert(page < 1000, 'pull: more than 1000 pages; hasMore never became false');
      const req = { scope, cursor, limit };
      if (tables) req.tables = tables;
      if (rescan) req.rescan = true;
      const res = await client.pull(req);
      const changes = checkPage(req, res, `pull from ${cursor}`);
      all.push(...changes);
      if (onPage) await onPage(res, page);
      if (!res.hasMore) return { changes: all, cursor: res.nextCursor };
      assert(res.nextCursor > cursor, `pull from ${cursor}: hasMore is true but nextCursor did not move`);
      cursor = res.nextCursor;
    }
  }

  /** The state a pull gives: the last change of each record. */
  async state(client, workspaceId, opts) {
    const { changes } = await this.pullAll(client, workspaceId, opts);
    const out = new Map();
    for (const c of changes) out.set(`${c.tableName}/${typeof c.pk}:${c.pk}`, c);
    return out;
  }

  /** Resolves with the error a promise rejects with; fails if it resolves. */
  async rejects(promise, codes, what) {
    try {
      const v = await promise;
      throw new CheckFailed(`${what}: resolved (${json(v)?.slice(0, 120)}) instead of rejecting with ${codes.join(' or ')}`);
    } catch (e) {
      if (e instanceof CheckFailed) throw e;
      assert(codes.includes(e?.code), `${what}: rejected with code ${json(e?.code)} (${e?.message}), expected ${codes.join(' or ')}`);
      return e;
    }
  }

  note(text) {
    this.details.push(text);
  }

  async cleanup() {
    for (const u of this.unsubscribes) {
      try {
        await u();
      } catch {
        // cleanup only
      }
    }
    for (const p of this.providers) {
      try {
        await p.dispose?.();
      } catch {
        // cleanup only
      }
    }
  }
}

/** Formats a report as text, one line per check. */
export function formatReport(report) {
  const mark = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' };
  const lines = [`provider conformance: ${report.provider}`];
  for (const c of report.checks) {
    const why = c.error ? `: ${c.error}` : c.reason ? `: ${c.reason}` : '';
    lines.push(`  ${mark[c.status]}  ${c.name.padEnd(30)} ${String(c.durationMs).padStart(5)} ms${why}`);
    for (const d of c.details ?? []) lines.push(`        ${d}`);
  }
  lines.push(`${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`);
  return lines.join('\n');
}

/**
 * Runs the checks one after another. Resolves to the report (it never
 * rejects for a failing check; see `report.ok`).
 */
export async function runProviderConformance(makeProvider, options = {}) {
  if (typeof makeProvider !== 'function') throw new TypeError('runProviderConformance: makeProvider must be a function');
  for (const k of Object.keys(options)) {
    if (!OPTION_KEYS.includes(k)) {
      throw new TypeError(`runProviderConformance: unknown option ${json(k)} (accepted: ${OPTION_KEYS.join(', ')})`);
    }
  }
  const opts = {
    tables: ['notes', 'files'], timeoutMs: 15000, prefix: 'conformance', subscribeWaitMs: 5000,
    log: typeof console !== 'undefined' ? (t) => console.log(t) : null, ...options,
  };
  if (!Array.isArray(opts.tables) || opts.tables.length < 2) {
    throw new TypeError('runProviderConformance: options.tables must name two tables the backend accepts');
  }
  const known = CHECKS.map((c) => c.name);
  for (const list of ['only', 'skip']) {
    const unknown = (opts[list] ?? []).filter((n) => !known.includes(n));
    if (unknown.length) {
      throw new TypeError(`runProviderConformance: options.${list} names no check ${json(unknown)} (checks: ${known.join(', ')})`);
    }
  }
  const run = uuid().slice(0, 8);
  const seen = [];
  const checks = [];
  let provider = '?';
  for (const check of CHECKS) {
    if (opts.only && !opts.only.includes(check.name)) continue;
    if (opts.skip && opts.skip.includes(check.name)) continue;
    const ctx = new Context(run, check.name.replace(/[^a-z0-9]+/gi, '-'), makeProvider, opts, seen);
    const started = Date.now();
    const entry = { name: check.name, description: check.description, status: 'pass' };
    let timer;
    try {
      const timeout = new Promise((_, fail) => {
        timer = setTimeout(() => fail(new CheckFailed(`timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
      });
      const out = await Promise.race([check.run(ctx, { SKIP, assert, sleep, seen, CODES }), timeout]);
      if (out && out[SKIP]) {
        entry.status = 'skip';
        entry.reason = out.reason;
      }
    } catch (e) {
      entry.status = 'fail';
      entry.error = e instanceof CheckFailed ? e.message : `threw ${e?.code ? `${e.code}: ` : ''}${e?.message ?? e}`;
    } finally {
      clearTimeout(timer);
      await ctx.cleanup();
    }
    if (provider === '?' && ctx.providers[0]?.id) provider = ctx.providers[0].id;
    entry.durationMs = Date.now() - started;
    if (ctx.details.length) entry.details = ctx.details;
    checks.push(entry);
  }
  const count = (s) => checks.filter((c) => c.status === s).length;
  const report = { provider, ok: count('fail') === 0, passed: count('pass'), failed: count('fail'), skipped: count('skip'), checks };
  report.text = formatReport(report);
  if (opts.log) opts.log(report.text);
  return report;
}



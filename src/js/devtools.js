// tidesync/devtools: <tidesync-devtools>, a development overlay for one
// engine. It shows, live:
//   - the status: phase, online, leader, pending and failed counts, the last
//     sync and the last error (engine.status());
//   - the outbox: pending and in-flight ops (engine.pendingOps());
//   - the failed ops (dead letters) with their errors, and a retry and a
//     discard button for each and for all (retryFailed, discardFailed);
//   - the conflict journal: both sides and the winner (engine.conflicts());
//   - the pull side: the cursor, the realtime subscription's state and the
//     bootstrap's progress (sync.bootstrap:action:progress);
//   - the recent sync runs as an inline SVG chart: duration and ops per run.
//
// It is its own entry, so the main entry carries none of it; load it when
// it is wanted:
//   const { attachDevtools } = await import('tidesync/devtools');
//   const el = attachDevtools(engine);     // floating, appended to <body>
// or place <tidesync-devtools> anywhere and set `el.engine = engine`.
//
// - Any object with the engine's inspection methods works: the package's
//   SyncEngine, or the wasm engine under it. Anything else is a TypeError.
// - It reads the engine again after its events, coalesced: the first event
//   queues a refresh on a microtask, and events that arrive while that
//   refresh is reading cause one more refresh, not one per event. While a
//   run is under way (phase pushing, pulling, bootstrapping or rescanning)
//   it also reads again every BUSY_POLL_MS, since a phase changes without
//   an event of its own, so the phase it shows settles when the run ends.
// - It subscribes while it is in the document and unsubscribes when removed.
// - It stands alone (no imports), so a page can load it by itself. It
//   renders into an open shadow root with its own stylesheet, and writes
//   what it reads only as text, never as HTML.
// - Importing it defines the element, once: a second copy of the module
//   (two bundles) leaves the first definition in place.

const TAG = 'tidesync-devtools';
const SVG_NS = 'http://www.w3.org/2000/svg';

/** The engine methods the overlay calls: an engine must have them all. */
const METHODS = ['on', 'status', 'pendingOps', 'failedOps', 'retryFailed', 'discardFailed', 'conflicts', 'syncRuns'];

/** The events after which what it shows may have changed. */
const EVENTS = [
  'change', 'sync.op:action:captured', 'sync.push:action:after', 'sync.pull:action:received',
  'sync.stats:action', 'sync.error:action', 'sync.retry:action', 'sync.queue:action:full',
  'sync.conflict:action:detected', 'sync.bootstrap:action:progress', 'sync.subscription:action:statusChange',
];

/** How many ops, conflicts and runs it reads and shows. */
const OUTBOX_LIMIT = 50;
const CONFLICT_LIMIT = 20;
const RUN_LIMIT = 20;
/** The phases of a run under way, and how often the overlay reads again during one. */
const BUSY_PHASES = ['pushing', 'pulling', 'bootstrapping', 'rescanning'];
const BUSY_POLL_MS = 200;

/** The sections, in order: class name and heading. */
const SECTIONS = [
  ['status', 'Status'], ['outbox', 'Outbox'], ['failed', 'Failed ops'], ['conflicts', 'Conflicts'],
  ['pull', 'Pull'], ['runs', 'Sync runs'],
];

// Compact on purpose: this string ships as it is (the minifier leaves it alone).
const STYLE = `
:host{display:block;box-sizing:border-box;max-width:100%;padding:4px 8px;color:#1d232a;background:#fff;
border:1px solid #c5ccd4;border-radius:6px;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
:host([floating]){position:fixed;right:12px;bottom:12px;z-index:2147483000;width:420px;max-height:80vh;overflow:auto;box-shadow:0 4px 18px #0003}
:host([hidden]){display:none}
details{border-top:1px solid #e4e8ec;padding:2px 0}
header,summary{font-weight:600}
summary{cursor:pointer}
summary b{margin-left:6px}
dl{display:grid;grid-template-columns:auto 1fr auto 1fr;gap:0 8px;margin:2px 0}
dd{margin:0}
ul{list-style:none;margin:2px 0;padding:0;max-height:12em;overflow:auto}
li{border-bottom:1px dotted #e4e8ec}
dd,li{overflow-wrap:anywhere}
p{margin:2px 0}
button{font:inherit;padding:0 6px;margin-left:4px;cursor:pointer}
small,summary b,dt,.muted,.side{color:#6b7785;font-weight:400}
.won{color:#1d232a;font-weight:600}
.error,.set{color:#b3261e}
progress{width:100%}
svg{display:block;width:100%;height:64px;background:#f7f9fb}
.duration{fill:#1d5fbf;color:#1d5fbf}
.bad{fill:#b3261e}
.ops{fill:#2e7d32;color:#2e7d32}
`;

/** An element with properties (`data`: its dataset) and children (strings become text). */
function h(tag, props = {}, ...children) {
  const { data, ...rest } = props;
  const el = Object.assign(document.createElement(tag), rest);
  if (data) Object.assign(el.dataset, data);
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}

/** A line of secondary text. */
const note = (text) => h('p', { className: 'muted' }, text);

/** An SVG element with attributes. */
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/**
 * Calls an engine method as a Promise: the package's SyncEngine returns one,
 * the wasm engine may also throw at once (a bad argument).
 */
function call(engine, method, ...args) {
  try {
    return Promise.resolve(engine[method](...args));
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Throws a TypeError unless `engine` has every method the overlay calls. */
function checkEngine(engine) {
  const isObject = engine !== null && (typeof engine === 'object' || typeof engine === 'function');
  const missing = isObject ? METHODS.filter((m) => typeof engine[m] !== 'function') : METHODS;
  if (missing.length === 0) return;
  const what = isObject ? `an object without ${missing.join(', ')}` : String(engine);
  throw new TypeError(`${TAG}: expected a tidesync engine (what SyncEngine.open resolves to), got ${what}`);
}

const time = (ms) => (ms ? new Date(ms).toLocaleTimeString() : 'never');
const errorText = (e) => (e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? e));

/** A record in one line, without the engine's own fields, cut at 80 characters. */
function brief(payload) {
  if (payload === null || typeof payload !== 'object') return String(payload);
  const { clock: _c, hlc: _h, order_key: _o, ...fields } = payload;
  const text = JSON.stringify(fields);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** One side of a conflict: `put {...} (clock 3)` or `delete (clock 4)`. */
function side(version) {
  const what = version.op === 'delete' ? 'delete' : `put ${brief(version.payload)}`;
  return `${what} (clock ${version.stamp?.clock ?? '?'})`;
}

/** An op in one line: `put notes "n1"`. */
const opLine = (op) => `${op.op} ${op.tableName} ${JSON.stringify(op.pk)}`;

/**
 * What one element shows and how it keeps it current. It lives beside the
 * element (in `overlays`) rather than in private fields, which the
 * package's minifier would lower to WeakMaps one by one.
 */
class Overlay {
  constructor(el) {
    this.el = el;
    this.engine = null;
    this.offs = [];
    this.dirty = false;
    this.running = false;
    /** The timer of the next read while a run is under way. */
    this.poll = null;
    /** The bootstrap's pages seen since attached: `{ applied, remaining, cursor }`, summed. */
    this.progress = null;
    /** The last `sync.subscription:action:statusChange` payload. */
    this.realtime = null;
    /** The last read that failed (cleared by the next that succeeds) and the last failed button action. */
    this.readError = null;
    this.actionError = null;
    const root = el.attachShadow({ mode: 'open' });
    this.title = h('small');
    this.errorLine = h('p', { className: 'error', hidden: true });
    this.bodies = {};
    this.counts = {};
    root.append(h('style', {}, STYLE), h('header', {}, 'tidesync devtools ', this.title), this.errorLine);
    for (const [name, heading] of SECTIONS) {
      this.bodies[name] = h('div', { className: 'body' });
      this.counts[name] = h('b');
      const section = h('details', { className: name, open: true },
        h('summary', {}, heading, this.counts[name]), this.bodies[name]);
      section.setAttribute('part', name);
      root.append(section);
    }
    // One listener for every button: the lists are rebuilt on each refresh.
    root.addEventListener('click', (e) => {
      const button = e.target.closest?.('button[data-action]');
      if (button) this.act(button);
    });
  }

  setEngine(engine) {
    const next = engine ?? null;
    if (next !== null) checkEngine(next);
    if (next === this.engine) return;
    this.unsubscribe();
    this.engine = next;
    this.progress = null;
    this.realtime = null;
    this.readError = null;
    this.actionError = null;
    this.title.textContent = typeof next?.dbName === 'string' ? next.dbName : '';
    if (next === null) this.clear();
    else if (this.el.isConnected) this.subscribe();
  }

  subscribe() {
    const engine = this.engine;
    if (engine === null || this.offs.length > 0) return;
    try {
      for (const name of EVENTS) this.offs.push(engine.on(name, (payload) => this.heard(name, payload)));
    } catch (e) {
      this.unsubscribe();
      this.readError = e;
      this.showError();
      return;
    }
    this.schedule();
  }

  unsubscribe() {
    for (const off of this.offs.splice(0)) {
      if (typeof off === 'function') off();
    }
  }

  heard(name, payload) {
    if (name === 'sync.bootstrap:action:progress') {
      // A page after a finished bootstrap starts a new one (a rescan).
      const last = this.progress?.remaining === 0 ? null : this.progress;
      this.progress = {
        applied: (last?.applied ?? 0) + (payload?.applied ?? 0),
        remaining: payload?.remaining,
        cursor: payload?.cursor,
      };
    } else if (name === 'sync.subscription:action:statusChange') {
      this.realtime = payload;
    }
    this.schedule();
  }

  /** One refresh at a time; anything heard meanwhile makes one more. */
  schedule() {
    this.dirty = true;
    if (this.running || this.engine === null || !this.el.isConnected) return;
    this.running = true;
    queueMicrotask(async () => {
      try {
        while (this.dirty && this.engine !== null && this.el.isConnected) {
          this.dirty = false;
          // A render that fails (an engine answering in another shape) shows as an error too.
          await this.refresh().catch((e) => {
            this.readError = e;
            this.showError();
          });
        }
      } finally {
        this.running = false;
      }
    });
  }

  async refresh() {
    const engine = this.engine;
    let read;
    try {
      read = await Promise.all([
        call(engine, 'status'),
        call(engine, 'pendingOps', { limit: OUTBOX_LIMIT }),
        call(engine, 'failedOps'),
        call(engine, 'conflicts', { limit: CONFLICT_LIMIT }),
        call(engine, 'syncRuns', { limit: RUN_LIMIT }),
      ]);
    } catch (e) {
      if (engine === this.engine) {
        this.readError = e;
        this.showError();
      }
      return;
    }
    if (engine !== this.engine) return; // switched or detached meanwhile
    const [status, outbox, failed, conflicts, runs] = read;
    this.readError = null;
    this.showError();
    this.renderStatus(status);
    if (BUSY_PHASES.includes(status.phase) && this.poll === null) {
      this.poll = setTimeout(() => {
        this.poll = null;
        this.schedule();
      }, BUSY_POLL_MS);
    }
    this.renderOutbox(status, outbox.filter((op) => op.state !== 'failed'));
    this.renderFailed(failed);
    this.renderConflicts(conflicts);
    this.renderPull(status);
    this.renderRuns(runs);
  }

  /** A button: `data-action` is the engine method, `data-op-id` the op (none: all of them). */
  async act(button) {
    const engine = this.engine;
    if (engine === null) return;
    const { action, opId } = button.dataset;
    button.disabled = true;
    this.actionError = null;
    try {
      // retryFailed() takes every failed op; discardFailed needs their ids:
      // the ids now, not those last shown, since ops may have failed since.
      let ids = opId === undefined ? undefined : [opId];
      if (ids === undefined && action === 'discardFailed') ids = (await call(engine, 'failedOps')).map((op) => op.opId);
      if (ids?.length !== 0) await call(engine, action, ids);
    } catch (e) {
      this.actionError = e;
    }
    this.showError();
    this.schedule();
  }

  /** The failed action's error, else the failed read's, else nothing. */
  showError() {
    const e = this.actionError ?? this.readError;
    this.errorLine.hidden = e === null;
    this.errorLine.textContent = e === null ? '' : errorText(e);
  }

  clear() {
    this.showError();
    for (const name of Object.keys(this.bodies)) {
      this.bodies[name].replaceChildren();
      this.counts[name].textContent = '';
    }
  }

  renderStatus(s) {
    const fields = [
      ['phase', 'phase', s.phase],
      ['online', 'online', s.online ? 'yes' : 'no'],
      ['leader', 'leader', s.leader ? 'yes (pushes)' : 'no (follower)'],
      ['pendingOps', 'pending', s.pendingOps],
      ['failedOps', 'failed', s.failedOps],
      ['lastSyncAt', 'last sync', time(s.lastSyncAt)],
      ['lastError', 'last error', s.lastError ? errorText(s.lastError) : 'none'],
    ];
    const list = h('dl');
    for (const [key, label, value] of fields) {
      list.append(h('dt', {}, label), h('dd', { data: { field: key } }, String(value)));
    }
    if (s.lastError) list.lastChild.classList.add('set');
    this.counts.status.textContent = s.phase;
    this.bodies.status.replaceChildren(list);
  }

  renderOutbox(status, ops) {
    this.counts.outbox.textContent = String(status.pendingOps);
    const items = ops.map((op) => h('li', { data: { opId: op.opId, state: op.state } },
      h('span', { className: 'state' }, op.state), ` ${opLine(op)}`,
      h('small', {}, ` · queued ${time(op.createdAt)}${op.attempts ? ` · attempts: ${op.attempts}` : ''}`)));
    const more = status.pendingOps - ops.length;
    this.bodies.outbox.replaceChildren(ops.length ? h('ul', {}, ...items) : note('empty'));
    if (more > 0) this.bodies.outbox.append(note(`and ${more} more`));
  }

  renderFailed(ops) {
    this.counts.failed.textContent = String(ops.length);
    const none = ops.length === 0;
    const toolbar = h('p', {},
      h('button', { type: 'button', disabled: none, data: { action: 'retryFailed' } }, 'Retry all'),
      h('button', { type: 'button', disabled: none, data: { action: 'discardFailed' } }, 'Discard all'));
    const items = ops.map((op) => h('li', { data: { opId: op.opId } },
      opLine(op), h('small', {}, ` · attempts: ${op.attempts}`),
      h('button', { type: 'button', data: { action: 'retryFailed', opId: op.opId } }, 'retry'),
      h('button', { type: 'button', data: { action: 'discardFailed', opId: op.opId } }, 'discard'),
      h('div', { className: 'error' }, op.lastError ?? 'no error recorded')));
    this.bodies.failed.replaceChildren(toolbar, none ? note('none') : h('ul', {}, ...items));
  }

  renderConflicts(conflicts) {
    this.counts.conflicts.textContent = conflicts.length === CONFLICT_LIMIT ? `${CONFLICT_LIMIT}+` : String(conflicts.length);
    const items = conflicts.map((c) => h('li', { data: { table: c.table, pk: String(c.pk), winner: c.winner } },
      `${c.table} ${JSON.stringify(c.pk)} · winner `, h('b', { className: 'winner' }, c.winner),
      h('small', {}, ` · ${time(c.at)}`),
      h('div', { className: `side local${c.winner === 'local' ? ' won' : ''}` }, `local: ${side(c.local)}`),
      h('div', { className: `side remote${c.winner === 'remote' ? ' won' : ''}` }, `remote: ${side(c.remote)}`)));
    this.bodies.conflicts.replaceChildren(conflicts.length ? h('ul', {}, ...items) : note('none'));
  }

  renderPull(status) {
    const r = this.realtime;
    const realtime = r ? `${r.status}${r.attempt ? `, attempt ${r.attempt}` : ''}` : 'no change seen';
    this.counts.pull.textContent = `cursor ${status.cursor}`;
    const list = h('dl', {},
      h('dt', {}, 'cursor'), h('dd', { data: { field: 'cursor' } }, String(status.cursor)),
      h('dt', {}, 'realtime'), h('dd', { data: { field: 'realtime' } }, realtime));
    const p = this.progress;
    if (p === null) {
      this.bodies.pull.replaceChildren(list, note('no bootstrap seen since attached'));
      return;
    }
    const bar = h('progress');
    // Without `remaining` from the server, the bar is indeterminate.
    if (typeof p.remaining === 'number') {
      bar.max = Math.max(p.applied + p.remaining, 1);
      bar.value = p.remaining === 0 ? bar.max : p.applied;
    }
    const left = typeof p.remaining === 'number' ? `${p.remaining} left` : 'remaining unknown';
    this.bodies.pull.replaceChildren(list, bar,
      h('p', { className: 'bootstrap' }, `bootstrap: ${p.applied} applied, ${left}, at cursor ${p.cursor}`));
  }

  renderRuns(runs) {
    this.counts.runs.textContent = String(runs.length);
    if (runs.length === 0) {
      this.bodies.runs.replaceChildren(note('none yet'));
      return;
    }
    // Oldest on the left, in a fixed number of 20-unit slots (one run is not one wide bar).
    const chronological = runs.slice().reverse();
    const duration = (r) => Math.max(0, r.finishedAt - r.startedAt);
    const ops = (r) => r.pushed + r.failed;
    const maxDuration = Math.max(1, ...chronological.map(duration));
    const maxOps = Math.max(1, ...chronological.map(ops));
    const bar = (x, value, max, cls) => {
      const height = Math.max(1, Math.round((value / max) * 56));
      return svg('rect', { class: cls, x, y: 60 - height, width: 8, height });
    };
    const chart = svg('svg', { viewBox: `0 0 ${RUN_LIMIT * 20} 60`, preserveAspectRatio: 'none', role: 'img',
      'aria-label': 'sync runs: duration and ops' });
    chronological.forEach((r, i) => {
      const about = `run ${r.id}: ${duration(r)} ms, ${r.pushed} pushed, ${r.failed} failed, ${r.retried} retried` +
        (r.error ? `, ${r.error}` : '');
      chart.append(svg('g', { 'data-run-id': r.id, 'data-duration': duration(r), 'data-ops': ops(r) },
        svg('title', {}, about),
        bar(i * 20 + 2, duration(r), maxDuration, r.error || r.failed ? 'bad' : 'duration'),
        bar(i * 20 + 10, ops(r), maxOps, 'ops')));
    });
    const last = runs[0];
    this.bodies.runs.replaceChildren(chart, h('p', { className: 'muted' },
      h('span', { className: 'duration' }, 'duration'), ` (max ${maxDuration} ms), `,
      h('span', { className: 'ops' }, 'ops'), ` (max ${maxOps}); last: ${duration(last)} ms, ${ops(last)} ops`));
  }
}

// Where custom elements do not exist (a server render), importing the module
// still works; the element is simply not defined there.
const Base = typeof HTMLElement === 'undefined' ? class {} : HTMLElement;
const overlays = new WeakMap();

/** `<tidesync-devtools>`: set `engine` to the engine it shows. */
export class TidesyncDevtools extends Base {
  constructor() {
    super();
    overlays.set(this, new Overlay(this));
    // An `engine` set before the element was defined sits on the instance and
    // hides the accessor: hand it to the accessor.
    if (Object.prototype.hasOwnProperty.call(this, 'engine')) {
      const engine = this.engine;
      delete this.engine;
      this.engine = engine;
    }
  }

  /** The engine shown, or null. */
  get engine() {
    return overlays.get(this).engine;
  }

  /** Shows `engine` (null or undefined: none). Throws a TypeError for anything that is not an engine. */
  set engine(engine) {
    overlays.get(this).setEngine(engine);
  }

  connectedCallback() {
    overlays.get(this).subscribe();
  }

  disconnectedCallback() {
    overlays.get(this).unsubscribe();
  }

  /** Reads everything again now (events do this by themselves). */
  refresh() {
    overlays.get(this).schedule();
  }
}

/**
 * Defines `<tidesync-devtools>` unless the name is taken (by another copy of
 * this module). Importing the module calls it.
 */
export function define() {
  if (typeof customElements !== 'undefined' && !customElements.get(TAG)) customElements.define(TAG, TidesyncDevtools);
}

/**
 * Creates a `<tidesync-devtools>` showing `engine` and appends it to `parent`
 * (default: `document.body`, floating in the bottom right corner). Returns it;
 * `el.remove()` detaches it. Throws a TypeError for anything that is not an
 * engine or a parent node.
 */
export function attachDevtools(engine, parent) {
  checkEngine(engine);
  if (parent !== undefined && typeof parent?.append !== 'function') {
    throw new TypeError(`${TAG}: parent must be a DOM node to append the overlay to, got ${String(parent)}`);
  }
  define();
  const el = document.createElement(TAG);
  if (parent === undefined) el.setAttribute('floating', '');
  el.engine = engine;
  (parent ?? document.body).append(el);
  return el;
}

define();

// HttpProvider: a SyncProvider (docs/PROTOCOL.md section 3) that talks to the
// reference server (server/) over HTTP and a WebSocket.
//
//   import init, { SyncEngine, HttpProvider } from 'tidesync';
//   const provider = new HttpProvider({ url: 'https://sync.example.com', getToken });
//   const engine = await SyncEngine.open({ workspaceId: 'w1', tables, provider });
//
// Errors it rejects with are TidesyncError objects carrying `code`,
// `retryable`, `retryAfterMs` and, for HTTP answers, `status`:
//   401 -> AUTH (after one token refresh through getToken and one retry)
//   403 -> FORBIDDEN, 410 -> CURSOR_EXPIRED, 400/413 -> INVALID,
//   429 -> RATE_LIMIT (retryAfterMs from the body or Retry-After),
//   5xx, timeouts and network failures -> UNAVAILABLE (retryable).
// A request the browser refused (fetch threw a TypeError) is told apart:
// mixed content (an https: page calling an http: server) and CORS (the
// server answers a no-cors probe, so it is up but does not allow this
// page's origin) reject with UNAVAILABLE, `blocked: 'mixed-content' | 'cors'`
// and a message naming the origin to allow; `onError` sees every failure.
// The watch (subscribe) owns its reconnection: it reconnects with backoff,
// resumes from the last cursor it saw, and reports 'connected' when it is
// up and 'disconnected' (once per outage) while it retries; 'error' means it
// gave up, after which the engine subscribes again on its own schedule. When
// the server closes it because the token was revoked or expired (close code
// 4401) it reconnects at once with getToken({ refresh: true }); when the
// user is no longer a member of the workspace (4403) it reports
// onStatus('error', error) with a FORBIDDEN error and stops.
// One expired token costs one refresh: requests and watches that are refused
// at once share one getToken({ refresh: true }) call, and one refused after
// another already refreshed takes the new token.

import { TidesyncError } from './error.js';

const CODES = new Set(['AUTH', 'FORBIDDEN', 'RATE_LIMIT', 'CURSOR_EXPIRED', 'INVALID', 'UNAVAILABLE']);
const RETRYABLE = new Set(['RATE_LIMIT', 'UNAVAILABLE']);
const STATUS_CODES = { 400: 'INVALID', 401: 'AUTH', 403: 'FORBIDDEN', 410: 'CURSOR_EXPIRED', 413: 'INVALID', 429: 'RATE_LIMIT' };
// WebSocket close codes of the server's watch.
const CLOSE_AUTH = 4401;
const CLOSE_FORBIDDEN = 4403;

/** A typed provider error. */
function providerError(code, message, extra = {}) {
  const e = new TidesyncError(code, message, { retryable: RETRYABLE.has(code), retryAfterMs: extra.retryAfterMs, status: extra.status });
  if (extra.blocked !== undefined) e.blocked = extra.blocked;
  return e;
}

const LOOPBACK = /^(localhost|127(\.\d+){3}|\[::1\])$/;

/** The typed error for an HTTP answer that is not 2xx. */
async function errorFromResponse(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const message = (body && typeof body.message === 'string' && body.message) || `HTTP ${res.status}`;
  let code = STATUS_CODES[res.status];
  if (!code) code = res.status >= 500 ? 'UNAVAILABLE' : (CODES.has(body?.code) ? body.code : 'UNAVAILABLE');
  let retryAfterMs;
  if (code === 'RATE_LIMIT') {
    if (body && Number.isFinite(body.retryAfterMs)) retryAfterMs = body.retryAfterMs;
    else {
      const seconds = Number(res.headers.get('retry-after'));
      if (Number.isFinite(seconds) && seconds >= 0) retryAfterMs = seconds * 1000;
    }
  }
  return providerError(code, message, { retryAfterMs, status: res.status });
}

export class HttpProvider {
  /**
   * @param {object} options
   * @param {string} options.url the server's base URL (http: or https:)
   * @param {(o: { refresh: boolean }) => string | Promise<string>} options.getToken
   * @param {string} [options.workspace] pins the provider to one workspace
   * @param {number} [options.timeoutMs] per request (default 30 000)
   * @param {number[]} [options.backoffMs] watch reconnect delays
   * @param {(error: Error) => void} [options.onError] sees every failed request
   */
  constructor(options) {
    if (!options || typeof options.url !== 'string' || !options.url) {
      throw providerError('INVALID', 'HttpProvider: options.url must be a non-empty string');
    }
    if (typeof options.getToken !== 'function') {
      throw providerError('INVALID', 'HttpProvider: options.getToken must be a function');
    }
    this.url = options.url.replace(/\/+$/, '');
    this.id = `http:${this.url}`;
    this.mode = 'direct';
    this._getToken = options.getToken;
    this._workspace = options.workspace;
    this._timeoutMs = options.timeoutMs ?? 30000;
    this._backoffMs = options.backoffMs ?? [250, 1000, 3000, 5000];
    this._fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this._token = null;
    /** The getToken call in progress, shared by everyone who needs a token. */
    this._asking = null;
    this._watches = new Set();
    this._disposed = false;
    this._onError = typeof options.onError === 'function' ? options.onError : null;
    /** The last diagnosis of a refused request: { at, promise }. */
    this._diagnosis = null;
  }

  pull(req) {
    return this._call('/v1/pull', req, req?.scope);
  }

  push(batch) {
    return this._call('/v1/push', batch, batch?.scope);
  }

  async updateCursor(scope, deviceId, version) {
    await this._call('/v1/cursor', { scope, deviceId, version }, scope);
  }

  /** Opens the watch; resolves once it is connected or its first attempt failed. */
  subscribe(scope, tables, onChanges, onStatus) {
    try {
      this._check(scope);
      if (typeof onChanges !== 'function') throw providerError('INVALID', 'onChanges must be a function');
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve) => {
      const watch = new Watch(this, scope, tables, onChanges, onStatus, () => resolve(() => watch.close()));
      this._watches.add(watch);
      watch.connect();
    });
  }

  dispose() {
    this._disposed = true;
    for (const w of [...this._watches]) w.close();
  }

  /**
   * The current token; a fresh one from getToken when `refresh`. A refresh
   * because `stale` was refused takes the current token instead when someone
   * already replaced it, and calls running at once share one getToken call:
   * one expiry, one refresh, however many requests and watches saw it.
   */
  async _tokenFor(refresh, stale) {
    if (this._token !== null && (!refresh || (stale !== undefined && this._token !== stale))) return this._token;
    if (this._asking) return this._asking;
    const asking = (async () => {
      let token;
      try {
        token = await this._getToken({ refresh });
      } catch (e) {
        throw providerError('AUTH', `getToken failed: ${e?.message ?? e}`);
      }
      if (typeof token !== 'string' || !token) throw providerError('AUTH', 'getToken returned no token');
      this._token = token;
      return token;
    })();
    this._asking = asking;
    try {
      return await asking;
    } finally {
      if (this._asking === asking) this._asking = null;
    }
  }

  _check(scope) {
    if (this._disposed) throw providerError('UNAVAILABLE', 'the provider was disposed');
    if (!scope || typeof scope.workspaceId !== 'string') {
      throw providerError('INVALID', 'scope.workspaceId must be a string');
    }
    if (this._workspace !== undefined && scope.workspaceId !== this._workspace) {
      throw providerError('FORBIDDEN', `this provider serves workspace ${JSON.stringify(this._workspace)} only`);
    }
  }

  async _call(path, body, scope) {
    this._check(scope);
    let text;
    try {
      text = JSON.stringify(body);
    } catch (e) {
      throw providerError('INVALID', `the request cannot be sent as JSON: ${e.message}`);
    }
    const token = await this._tokenFor(false);
    try {
      let res = await this._send(path, text, token);
      if (res.status === 401) {
        // One refresh, one retry; a second 401 is final.
        res = await this._send(path, text, await this._tokenFor(true, token));
      }
      if (!res.ok) throw await errorFromResponse(res);
      try {
        return await res.json();
      } catch {
        throw providerError('UNAVAILABLE', `the server's answer to ${path} is not JSON`, { status: res.status });
      }
    } catch (e) {
      if (this._onError) {
        try {
          this._onError(e);
        } catch {
          // The app's handler must not change the error.
        }
      }
      throw e;
    }
  }

  async _send(path, text, token) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this._timeoutMs);
    try {
      return await this._fetch(`${this.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: text,
        signal: abort.signal,
      });
    } catch (e) {
      if (abort.signal.aborted) throw providerError('UNAVAILABLE', `${path}: timed out after ${this._timeoutMs} ms`);
      throw await this._refused(path, e);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Why fetch threw. In a page, a TypeError is a network failure or a
   * request the browser refused; the two look alike, so ask: an https: page
   * calling an http: server that is not loopback is mixed content; for a
   * cross-origin server, a no-cors request that succeeds shows the server is
   * up, so CORS refused the real one. The diagnosis is reused for 2 s.
   */
  async _refused(path, e) {
    const why = e?.message ?? String(e);
    const page = globalThis.location;
    let target;
    try {
      target = new URL(this.url);
    } catch {
      return providerError('UNAVAILABLE', `${path}: ${why}`);
    }
    if (!page || typeof page.origin !== 'string' || page.origin === 'null' || !(e instanceof TypeError)) {
      return providerError('UNAVAILABLE', `${path}: ${why}`);
    }
    if (page.protocol === 'https:' && target.protocol === 'http:' && !LOOPBACK.test(target.hostname)) {
      return providerError('UNAVAILABLE',
        `${path}: the browser blocked the request as mixed content: this page is served over https: and ` +
        `${target.origin} over http:. Serve the sync server over https:.`, { blocked: 'mixed-content' });
    }
    if (target.origin === page.origin) return providerError('UNAVAILABLE', `${path}: ${why}`);
    const now = Date.now();
    if (!this._diagnosis || now - this._diagnosis.at > 2000) {
      const probe = new AbortController();
      const timer = setTimeout(() => probe.abort(), 3000);
      const promise = this._fetch(`${this.url}/healthz`, { mode: 'no-cors', signal: probe.signal })
        .then(() => true, () => false)
        .finally(() => clearTimeout(timer));
      this._diagnosis = { at: now, promise };
    }
    if (await this._diagnosis.promise) {
      return providerError('UNAVAILABLE',
        `${path}: the browser blocked the response (CORS): ${target.origin} is up but does not allow ` +
        `this page's origin ${page.origin}. Allow it on the server: tidesync-server --cors-origin ${page.origin} ` +
        '(or TIDESYNC_CORS_ORIGINS).', { blocked: 'cors' });
    }
    return providerError('UNAVAILABLE',
      `${path}: cannot reach ${target.origin} (${why}). If it is up, check that it allows this page's origin ` +
      `${page.origin} (CORS).`);
  }
}

/** One subscription's WebSocket, reconnecting with backoff. */
class Watch {
  constructor(provider, scope, tables, onChanges, onStatus, settled) {
    this.p = provider;
    this.scope = scope;
    this.tables = Array.isArray(tables) && tables.length ? tables : null;
    this.onChanges = onChanges;
    this.onStatus = typeof onStatus === 'function' ? onStatus : () => {};
    this.settled = settled;
    this.cursor = null;
    this.attempt = 0;
    this.failedBefore = false;
    /** Whether 'disconnected' was reported for the current outage. */
    this.down = false;
    this.socket = null;
    this.timer = null;
    this.closed = false;
  }

  status(s, error) {
    try {
      this.onStatus(s, error);
    } catch {
      // An app's handler that throws must not break the watch.
    }
  }

  settle() {
    if (this.settled) {
      const s = this.settled;
      this.settled = null;
      s();
    }
  }

  async connect() {
    if (this.closed) return;
    let token;
    try {
      // After a failed attempt (perhaps an expired token: a browser cannot
      // see the 401 of a refused WebSocket), ask for a fresh token.
      token = await this.p._tokenFor(this.failedBefore, this.token);
      this.token = token;
    } catch {
      this.fail();
      return;
    }
    if (this.closed) return;
    const q = new URLSearchParams({ token, workspaceId: this.scope.workspaceId });
    if (this.scope.projectId !== undefined) q.set('projectId', this.scope.projectId);
    if (this.tables) q.set('tables', JSON.stringify(this.tables));
    if (this.cursor !== null) q.set('cursor', String(this.cursor));
    const base = this.p.url.replace(/^http/, 'ws');
    let ready = false;
    let socket;
    try {
      socket = new this.p._WebSocket(`${base}/v1/watch?${q}`);
    } catch {
      this.fail();
      return;
    }
    this.socket = socket;
    socket.onmessage = (ev) => {
      if (this.closed) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === 'ready') {
        ready = true;
        this.attempt = 0;
        this.failedBefore = false;
        this.cursor = msg.cursor;
        this.down = false;
        this.status('connected');
        this.settle();
      } else if (msg.type === 'changes' && Array.isArray(msg.changes)) {
        this.cursor = msg.nextCursor;
        try {
          this.onChanges(msg.changes, { fromCursor: msg.fromCursor });
        } catch {
          // The engine validates and reports; a throwing handler must not kill the socket.
        }
      }
    };
    let ended = false;
    // A refused handshake fires error, and in browsers then close; some
    // WebSocket implementations (Node 20's) fire only the error.
    socket.onerror = () => {
      if (ready || ended) return;
      socket.onerror = null;
      socket.onclose({ code: 1006 });
      try {
        socket.close();
      } catch {
        // never opened
      }
    };
    socket.onclose = (ev) => {
      if (ended) return;
      ended = true;
      if (this.socket === socket) this.socket = null;
      if (this.closed) return;
      if (ev?.code === CLOSE_FORBIDDEN) {
        this.forbidden();
      } else if (ev?.code === CLOSE_AUTH && ready) {
        // The token was revoked or expired: reconnect now with a fresh one.
        this.failedBefore = true;
        this.disconnected();
        this.connect();
      } else if (ready) {
        this.disconnected();
        this.schedule();
      } else {
        this.fail();
      }
    };
  }

  /** No longer a member of the workspace: report FORBIDDEN and stop. */
  forbidden() {
    const error = providerError('FORBIDDEN', `no longer a member of workspace ${JSON.stringify(this.scope.workspaceId)}`);
    this.closed = true;
    clearTimeout(this.timer);
    this.p._watches.delete(this);
    this.status('error', error);
    this.settle();
  }

  /** Reports the outage once; the reconnection is this watch's own. */
  disconnected() {
    if (this.down) return;
    this.down = true;
    this.status('disconnected');
  }

  /** An attempt failed: report the outage (once), and try again later. */
  fail() {
    this.failedBefore = true;
    this.disconnected();
    this.settle();
    this.schedule();
  }

  schedule() {
    if (this.closed || this.p._disposed) return;
    const steps = this.p._backoffMs;
    const base = steps[Math.min(this.attempt, steps.length - 1)] ?? 1000;
    this.attempt += 1;
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.timer = setTimeout(() => this.connect(), delay);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.p._watches.delete(this);
    if (this.socket) {
      try {
        this.socket.close(1000);
      } catch {
        // already closing
      }
    }
    this.socket = null;
    this.settle();
  }
}

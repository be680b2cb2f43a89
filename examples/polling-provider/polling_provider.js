// A provider written from scratch, as docs/providers.md describes: plain
// fetch to a REST backend, and a subscription that polls instead of a
// WebSocket. It speaks the reference server's endpoints (POST /v1/pull,
// /v1/push, /v1/cursor with a bearer token); change the three paths and the
// error mapping for your own API. ./scripts/test runs the conformance kit
// against it and tidesync-server.

/** A typed error, as the contract asks: an Error with a code (TidesyncError from 'tidesync' works too). */
function fail(code, message, extra = {}) {
  return Object.assign(new Error(message), { code, ...extra });
}

const CODES = { 400: 'INVALID', 401: 'AUTH', 403: 'FORBIDDEN', 410: 'CURSOR_EXPIRED', 413: 'INVALID', 429: 'RATE_LIMIT' };

export class PollingProvider {
  /** @param {{ url: string, token: string, intervalMs?: number }} options */
  constructor({ url, token, intervalMs = 250 }) {
    this.id = `polling:${url}`;
    this.mode = 'direct';
    this.url = url;
    this.token = token;
    this.intervalMs = intervalMs;
    this.stops = new Set();
  }

  async call(path, body) {
    let res;
    try {
      res = await fetch(`${this.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
        body: JSON.stringify(body),
      });
    } catch (e) {
      throw fail('UNAVAILABLE', `${path}: ${e.message}`);
    }
    const answer = await res.json().catch(() => null);
    if (res.ok) return answer;
    const code = CODES[res.status] ?? 'UNAVAILABLE';
    const retryAfterMs = code === 'RATE_LIMIT' ? (answer?.retryAfterMs ?? 1000) : undefined;
    throw fail(code, answer?.message ?? `${path}: HTTP ${res.status}`, { status: res.status, retryAfterMs });
  }

  pull(req) {
    return this.call('/v1/pull', req);
  }

  push(batch) {
    return this.call('/v1/push', batch);
  }

  async updateCursor(scope, deviceId, version) {
    await this.call('/v1/cursor', { scope, deviceId, version });
  }

  /**
   * Pages to the head first (nothing delivered: the engine pulls what it
   * lacks), then polls. Each delivered page carries fromCursor, the cursor
   * it was pulled from, so the engine can apply it without a pull.
   */
  async subscribe(scope, tables, onChanges, onStatus) {
    const limit = 500;
    const page = (cursor) => this.pull({ scope, cursor, limit, tables });
    let cursor = 0;
    for (let r = await page(0); ; r = await page(cursor)) {
      cursor = r.nextCursor;
      if (!r.hasMore) break;
    }
    let stopped = false;
    let timer = null;
    const poll = async () => {
      try {
        for (;;) {
          const r = await page(cursor);
          if (stopped) return;
          if (r.changes.length) onChanges(r.changes, { fromCursor: cursor });
          cursor = r.nextCursor;
          if (!r.hasMore) break;
        }
        onStatus?.('connected');
      } catch (e) {
        onStatus?.('error', e);
      }
      if (!stopped) timer = setTimeout(poll, this.intervalMs);
    };
    timer = setTimeout(poll, this.intervalMs);
    onStatus?.('connected');
    const stop = () => {
      stopped = true;
      clearTimeout(timer);
      this.stops.delete(stop);
    };
    this.stops.add(stop);
    return stop;
  }

  dispose() {
    for (const stop of [...this.stops]) stop();
  }
}

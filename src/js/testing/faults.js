// withFaults(provider, options): wraps any SyncProvider in a misbehaving
// network, to see how an app (and the engine) copes. Every fault is a
// probability in [0, 1] per call (or per subscription batch), drawn from a
// seeded generator so a run can be repeated:
//   latency     ms before each call: a number, or [min, max]
//   drop        a call reaches the backend but its answer is lost (rejects
//               UNAVAILABLE); a subscription batch is not delivered
//   duplicate   a push is sent twice; a subscription batch is delivered twice
//   reorder     a subscription batch is held back and delivered after the next
//   status5xx   a call rejects UNAVAILABLE (status 503) without reaching the backend
//   status429   a call rejects RATE_LIMIT with retryAfterMs (option retryAfterMs, default 1000)
//   timeout     a call waits timeoutMs (default 2000), then rejects UNAVAILABLE;
//               half of them reached the backend
// The wrapper counts what it did in `faults` ({ calls, dropped, duplicated,
// reordered, status5xx, status429, timeouts }); `setFaults(options)` changes
// the faults on the fly (`setFaults({})` heals the network).

import { TidesyncError } from '../error.js';

const KEYS = ['latency', 'drop', 'duplicate', 'reorder', 'status5xx', 'status429', 'timeout', 'retryAfterMs',
  'timeoutMs', 'seed'];

/** A small seeded generator (mulberry32): numbers in [0, 1). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function check(options) {
  for (const k of Object.keys(options)) {
    if (!KEYS.includes(k)) {
      throw new TidesyncError('INVALID', `withFaults: unknown option ${JSON.stringify(k)} (accepted: ${KEYS.join(', ')})`,
        { retryable: false, path: `options.${k}` });
    }
  }
  for (const k of ['drop', 'duplicate', 'reorder', 'status5xx', 'status429', 'timeout']) {
    const v = options[k];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) {
      throw new TidesyncError('INVALID', `withFaults: options.${k} must be a probability in [0, 1]`,
        { retryable: false, path: `options.${k}` });
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * @param {object} provider any SyncProvider
 * @param {object} [options] see the header of this file
 */
export function withFaults(provider, options = {}) {
  check(options);
  let opts = { ...options };
  let random = rng(options.seed ?? 1);
  const faults = { calls: 0, dropped: 0, duplicated: 0, reordered: 0, status5xx: 0, status429: 0, timeouts: 0 };
  const chance = (k) => (opts[k] ?? 0) > 0 && random() < opts[k];
  const delay = () => {
    const l = opts.latency;
    if (Array.isArray(l)) return l[0] + random() * (l[1] - l[0]);
    return typeof l === 'number' ? l : 0;
  };

  /** One request-response call through the faults. */
  async function call(name, args, { idempotent }) {
    faults.calls += 1;
    const ms = delay();
    if (ms > 0) await sleep(ms);
    if (chance('status5xx')) {
      faults.status5xx += 1;
      throw new TidesyncError('UNAVAILABLE', `${name}: 503 (injected by withFaults)`, { status: 503 });
    }
    if (chance('status429')) {
      faults.status429 += 1;
      const retryAfterMs = opts.retryAfterMs ?? 1000;
      throw new TidesyncError('RATE_LIMIT', `${name}: 429 (injected by withFaults)`, { status: 429, retryAfterMs });
    }
    if (chance('timeout')) {
      faults.timeouts += 1;
      const reached = random() < 0.5;
      const sent = reached ? Promise.resolve().then(() => provider[name](...args)).catch(() => {}) : null;
      await sleep(opts.timeoutMs ?? 2000);
      await sent;
      throw new TidesyncError('UNAVAILABLE', `${name}: timed out (injected by withFaults)`);
    }
    const result = await provider[name](...args);
    if (idempotent && chance('duplicate')) {
      faults.duplicated += 1;
      await provider[name](...args);
    }
    if (chance('drop')) {
      faults.dropped += 1;
      throw new TidesyncError('UNAVAILABLE', `${name}: the answer was lost (injected by withFaults)`);
    }
    return result;
  }

  const wrapped = {
    id: `faults:${provider.id}`,
    mode: provider.mode,
    faults,
    /** Replaces the fault options (same keys); `{}` heals the network. */
    setFaults(next = {}) {
      check(next);
      opts = { ...next };
      if (next.seed !== undefined) random = rng(next.seed);
    },
    pull: (req) => call('pull', [req], { idempotent: true }),
    push: (batch) => call('push', [batch], { idempotent: true }),
    updateCursor: (...args) => call('updateCursor', args, { idempotent: true }),
    async subscribe(scope, tables, onChanges, onStatus) {
      const ms = delay();
      if (ms > 0) await sleep(ms);
      if (chance('status5xx')) {
        faults.status5xx += 1;
        throw new TidesyncError('UNAVAILABLE', 'subscribe: 503 (injected by withFaults)', { status: 503 });
      }
      let held = null;
      const deliver = (changes, meta) => {
        try {
          onChanges(changes, meta);
        } catch {
          // The receiver's problem; the network goes on.
        }
      };
      return provider.subscribe(scope, tables, (changes, meta) => {
        if (chance('drop')) {
          faults.dropped += 1;
          return;
        }
        if (held === null && chance('reorder')) {
          faults.reordered += 1;
          held = [changes, meta];
          return;
        }
        const lag = delay();
        const send = () => {
          deliver(changes, meta);
          if (chance('duplicate')) {
            faults.duplicated += 1;
            deliver(changes, meta);
          }
          if (held !== null) {
            const [c, m] = held;
            held = null;
            deliver(c, m);
          }
        };
        if (lag > 0) setTimeout(send, lag);
        else send();
      }, onStatus);
    },
  };
  if (typeof provider.dispose === 'function') wrapped.dispose = () => provider.dispose();
  return wrapped;
}

// "Are my changes saved?": a promise per write and an observable of the
// engine's status, so an app can show a per-row badge and a global "all
// changes saved" indicator without polling.

// Errors are made here rather than with error.js's class, so that this file
// stands alone (the browser tests load it by itself); `instanceof
// TidesyncError` holds for them all the same (name and code).
function tidesyncError(code, message, path) {
  const err = new Error(message);
  err.name = 'TidesyncError';
  err.code = code;
  err.retryable = false;
  if (path !== undefined) err.path = path;
  return err;
}

const OUTBOX_EVENTS = [
  'sync.op:action:captured',
  'sync.push:action:after',
  'sync.stats:action',
  'sync.error:action',
  'sync.subscription:action:statusChange',
  'sync.pull:action:received',
];
/** How often `synced` looks again when no event arrives (another tab may push). */
const RECHECK_MS = 1000;

function failure(opId, lastError) {
  const match = /^([A-Z_]+): /.exec(lastError ?? '');
  const err = tidesyncError(match ? match[1] : 'INVALID',
    `op ${opId} was not accepted by the server: ${lastError ?? 'failed'}`);
  err.opId = opId;
  return err;
}

/**
 * Resolves once the server has acknowledged the write with this op id (a
 * stamp from `put`/`delete` works too), immediately when it already has.
 * Rejects when the op is dead-lettered (see `failedOps`), with its error.
 */
export async function synced(engine, opIdOrStamp) {
  const opId = typeof opIdOrStamp === 'string' ? opIdOrStamp : opIdOrStamp?.opId;
  if (typeof opId !== 'string' || opId === '') {
    throw tidesyncError('INVALID', 'opIdOrStamp: give an op id or the stamp a write returned', 'opIdOrStamp');
  }
  let wake = () => {};
  const offs = OUTBOX_EVENTS.map((name) => engine.on(name, () => wake()));
  try {
    for (;;) {
      const moved = new Promise((resolve) => {
        wake = resolve;
        setTimeout(resolve, RECHECK_MS);
      });
      const op = await engine.opState(opId);
      if (op === undefined) return;
      if (op.state === 'failed') throw failure(opId, op.lastError);
      await moved;
    }
  } finally {
    for (const off of offs) off();
  }
}

/**
 * An observable of `engine.status()`: the current status on subscribe, then
 * each time an outbox, push, pull or connection event may have changed it
 * (bursts coalesce into one read; equal statuses are not repeated).
 */
export function observeStatus(engine) {
  return {
    subscribe(observerOrNext, error) {
      const observer = typeof observerOrNext === 'function' ? { next: observerOrNext, error } : (observerOrNext ?? {});
      let closed = false;
      let queued = false;
      let lastText;
      const read = () => {
        if (closed || queued) return;
        queued = true;
        queueMicrotask(async () => {
          queued = false;
          try {
            const status = await engine.status();
            const text = JSON.stringify(status);
            if (!closed && text !== lastText) {
              lastText = text;
              observer.next?.(status);
            }
          } catch (err) {
            if (!closed) observer.error?.(err);
          }
        });
      };
      const offs = [...OUTBOX_EVENTS, 'change'].map((name) => engine.on(name, read));
      read();
      return {
        unsubscribe() {
          closed = true;
          for (const off of offs) off();
        },
        get closed() {
          return closed;
        },
      };
    },
  };
}

// Storage durability: ask the browser to keep the database, report how much
// of the origin's quota is used, warn when usage nears it, and notice when a
// database this device used has vanished.
//
// - Browsers may evict an origin's storage under pressure unless it is
//   persistent (`navigator.storage.persist()`), and Safari deletes
//   script-writable storage after 7 days without a visit. Nothing is synced
//   then but what reached the server.
// - Eviction detection: after each open, a marker (in localStorage and in a
//   first-party cookie, `tidesync-device-<dbName>`) records which device used
//   the database. Quota eviction clears localStorage with IndexedDB but not
//   cookies, so an open that had to create the database while a marker is
//   there means the database this device used is gone. Safari's 7-day rule
//   also ends script-set cookies; only the app's server can tell then (it has
//   seen this user's earlier devices).
// - Every call degrades to `undefined` where the browser lacks the API.

const MARK = 'tidesync-device-';
const COOKIE_MAX_AGE = 400 * 24 * 3600;

const manager = () => globalThis.navigator?.storage;

/**
 * Asks the browser to keep this origin's storage: `true` if it will,
 * `undefined` without the API. Firefox asks the user first, so the answer
 * can take long (or never come): do not make anything wait for it.
 */
export async function requestPersist() {
  const m = manager();
  if (typeof m?.persist !== 'function') return undefined;
  try {
    return await m.persist();
  } catch {
    return false;
  }
}

/** Whether this origin's storage is persistent (`undefined` without the API). */
export async function isPersisted() {
  const m = manager();
  if (typeof m?.persisted !== 'function') return undefined;
  try {
    return await m.persisted();
  } catch {
    return undefined;
  }
}

/** `{ usage, quota }` in bytes for the origin (empty without the API). */
export async function estimate() {
  const m = manager();
  if (typeof m?.estimate !== 'function') return {};
  try {
    const { usage, quota } = await m.estimate();
    return { usage, quota };
  } catch {
    return {};
  }
}

function cookieName(dbName) {
  return MARK + encodeURIComponent(dbName);
}

function readMark(dbName) {
  try {
    const kept = globalThis.localStorage?.getItem(MARK + dbName);
    if (kept) return kept;
  } catch {
    // localStorage refused (a sandboxed frame): the cookie may still be there.
  }
  const prefix = `${cookieName(dbName)}=`;
  let cookies = '';
  try {
    cookies = globalThis.document?.cookie ?? '';
  } catch {
    // A sandboxed frame may not read cookies.
  }
  const cookie = cookies.split('; ').find((c) => c.startsWith(prefix));
  return cookie ? decodeURIComponent(cookie.slice(prefix.length)) : undefined;
}

function writeMark(dbName, deviceId) {
  try {
    globalThis.localStorage?.setItem(MARK + dbName, deviceId);
  } catch {
    // Only the cookie, then.
  }
  setCookie(`${cookieName(dbName)}=${encodeURIComponent(deviceId)}; max-age=${COOKIE_MAX_AGE}`);
}

function setCookie(value) {
  try {
    if (globalThis.document) document.cookie = `${value}; path=/; samesite=strict`;
  } catch {
    // A sandboxed frame may not set cookies: detection then rests on localStorage.
  }
}

/** Removes the marker of `dbName` (call it when the app deletes the database itself). */
export function forgetDevice(dbName) {
  try {
    globalThis.localStorage?.removeItem(MARK + dbName);
  } catch {
    // Nothing kept there.
  }
  setCookie(`${cookieName(dbName)}=; max-age=0`);
}

/**
 * After an open of `dbName`: `{ previousDeviceId }` if the open had to create
 * the database (`created`) although a device had used one of that name here,
 * else `undefined`. Records `deviceId` as the database's device.
 */
export function checkEviction(dbName, created, deviceId) {
  const before = readMark(dbName);
  writeMark(dbName, deviceId);
  return created && before ? { previousDeviceId: before } : undefined;
}

/**
 * Watches usage against `ratio` of the quota: checked now, then on the
 * engine's writes and sync runs, at most once per `everyMs`. `report` gets
 * `{ usage, quota, ratio }` each time usage crosses above the ratio (once,
 * until it falls below again). Returns `{ first, last, over, stop }`:
 * `first` settles after the first check, `last()` is its latest
 * `{ usage, quota }` and `over()` whether that was above the ratio.
 */
export function watchPressure(engine, ratio, report, everyMs = 30000) {
  let last = -Infinity;
  let over = false;
  let latest = {};
  let checking = false;
  const check = async () => {
    if (checking || Date.now() - last < everyMs) return;
    checking = true;
    last = Date.now();
    latest = await estimate();
    const { usage, quota } = latest;
    checking = false;
    if (!quota) return;
    const now = usage / quota >= ratio;
    if (now && !over) report({ usage, quota, ratio });
    over = now;
  };
  const offs = ['sync.op:action:captured', 'sync.stats:action'].map((name) => engine.on(name, check));
  const first = check();
  return {
    first,
    last: () => latest,
    over: () => over,
    stop: () => offs.forEach((off) => off()),
  };
}

// Typed tables and the query builder (src/js/table.js) in headless Chromium
// on the built package (pkg/index.js) and real IndexedDB: each builder chain
// sends the QueryOptions it says and returns what engine.getAll/query/count
// return for them; filter(fn) runs after the index step, in keyset pages,
// with offset/limit counting matches, pages that continue without gaps or
// repeats, and a fallback on a multi-entry index; bad use is a TidesyncError
// (INVALID); reader.table works inside read(); table.liveQuery re-runs; the
// README's first query example runs as it is.
//   node --experimental-websocket --test tests/e2e/table.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launchBrowser, pageOn, root, startServer, tempDb, uniqueName } from './harness.mjs';

let browser;
let server;
let page;
before(async () => {
  browser = await launchBrowser();
  server = await startServer(tempDb());
  page = await pageOn(browser, server);
  await page.evaluate(async (dbName) => {
    const { SyncEngine } = await import('/pkg/index.js');
    window.engine = await SyncEngine.open({
      workspaceId: 'w1', dbName,
      tables: [{ name: 'messages', indexes: [['thread_id', 'index'], 'author', '*tags'] }],
    });
    // 1,200 messages over three threads (more than one scan page of 500).
    const rows = [];
    for (let i = 0; i < 1200; i++) {
      rows.push({
        id: `m${String(i).padStart(4, '0')}`, thread_id: `t${i % 3}`, index: Math.floor(i / 3),
        author: ['ann', 'bob', 'cy', 'dee'][i % 4], tags: i % 10 === 0 ? ['ten', `n${i}`] : [`n${i}`], n: i,
      });
    }
    await window.engine.bulkPut('messages', rows);
  }, uniqueName('table'));
});
after(async () => {
  await page?.evaluate(() => window.engine.close());
  await browser?.close();
  await server?.stop();
});

test('each builder chain sends its QueryOptions and returns what the engine returns for them', async () => {
  const out = await page.evaluate(async () => {
    const t = window.engine.table('messages');
    const ids = (rows) => rows.map((r) => r.id);
    const chains = {
      prefix: [t.where(['thread_id', 'index']).equals(['t1']).reverse().offset(2).limit(5),
        { index: ['thread_id', 'index'], equals: ['t1'], reverse: true, offset: 2, limit: 5 }],
      between: [t.where('[thread_id+index]').between(['t0', 10], ['t0', 20], false, true),
        { index: '[thread_id+index]', between: [['t0', 10], ['t0', 20]], includeLower: false, includeUpper: true }],
      anyOf: [t.where('author').anyOf('ann', 'cy').limit(7), { index: 'author', anyOf: ['ann', 'cy'], limit: 7 }],
      anyOfArray: [t.where('author').anyOf(['bob']), { index: 'author', anyOf: ['bob'] }],
      above: [t.where(':id').above('m1190'), { above: 'm1190' }],
      aboveOrEqual: [t.where(':id').aboveOrEqual('m1190'), { aboveOrEqual: 'm1190' }],
      below: [t.where(':id').below('m0003'), { below: 'm0003' }],
      belowOrEqual: [t.where(':id').belowOrEqual('m0003'), { belowOrEqual: 'm0003' }],
      startsWith: [t.where('author').startsWith('d').limit(3), { index: 'author', startsWith: 'd', limit: 3 }],
      orderBy: [t.orderBy('author').reverse().limit(4), { index: 'author', reverse: true, limit: 4 }],
      multiEntry: [t.where('tags').equals('ten').limit(3), { index: 'tags', equals: 'ten', limit: 3 }],
      reverseTwice: [t.orderBy(':id').reverse().reverse().limit(2), { limit: 2 }],
    };
    const r = {};
    for (const [name, [c, options]] of Object.entries(chains)) {
      r[name] = {
        options: c.options, expected: options,
        rows: ids(await c.toArray()), engineRows: ids(await window.engine.getAll('messages', options)),
        count: await c.count(), engineCount: await window.engine.count('messages', options),
        first: (await c.first())?.id,
      };
    }
    const page1 = await t.orderBy(['thread_id', 'index']).limit(10).page();
    const page2 = await t.orderBy(['thread_id', 'index']).limit(10).after(page1.next).page();
    r.pages = { page1: ids(page1.rows), page2: ids(page2.rows),
      engine: ids(await window.engine.getAll('messages', { index: ['thread_id', 'index'], limit: 20 })) };
    r.all = (await t.toArray()).length;
    r.get = (await t.get('m0007')).n;
    return r;
  });
  for (const [name, c] of Object.entries(out).filter(([k]) => !['pages', 'all', 'get'].includes(k))) {
    assert.deepEqual(c.options, c.expected, `${name}: options`);
    assert.deepEqual(c.rows, c.engineRows, `${name}: rows`);
    assert.ok(c.rows.length > 0, `${name}: some rows`);
    assert.equal(c.count, c.engineCount, `${name}: count`);
    assert.equal(c.first, c.rows[0], `${name}: first`);
  }
  assert.deepEqual(out.prefix.rows, ['m1192', 'm1189', 'm1186', 'm1183', 'm1180']);
  assert.deepEqual([...out.pages.page1, ...out.pages.page2], out.pages.engine);
  assert.equal(out.all, 1200);
  assert.equal(out.get, 7);
});

test('filter runs after the index step: limit and offset count matches, pages continue exactly, count counts matches', async () => {
  const out = await page.evaluate(async () => {
    const t = window.engine.table('messages');
    const ids = (rows) => rows.map((r) => r.id);
    // Every row of thread t2 with n % 7 === 0, in index order, by the engine alone.
    const t2 = await t.where(['thread_id', 'index']).equals(['t2']).toArray();
    const expected = ids(t2.filter((m) => m.n % 7 === 0));
    const sevens = t.where(['thread_id', 'index']).equals(['t2']).filter((m) => m.n % 7 === 0);
    const r = { expected };
    r.all = ids(await sevens.toArray());
    r.limited = ids(await sevens.limit(5).toArray());
    r.offset = ids(await sevens.offset(3).limit(4).toArray());
    r.count = await sevens.count();
    r.countWithLimit = await sevens.limit(2).count();
    r.first = (await sevens.filter((m) => m.n > 600).first())?.id;
    // Pages of 7 matches: together exactly the matches, each page but the last with `next`.
    r.paged = [];
    r.nexts = [];
    let next;
    for (let i = 0; i < 100; i++) {
      const p = await sevens.limit(7).after(next).page();
      r.paged.push(...ids(p.rows));
      r.nexts.push(p.next !== undefined);
      next = p.next;
      if (!next) break;
    }
    // A late match (the last rows) is found across several scan pages.
    r.late = ids(await t.filter((m) => m.n >= 1195).limit(10).toArray());
    // A multi-entry index cannot be keyset-paged: the filter reads the selection at once.
    // (1,200 rows under 'n…': past one scan page, so a second page is asked for and refused.)
    const tagged = t.where('tags').startsWith('n').filter((m) => m.n % 20 === 0);
    r.multi = ids(await tagged.limit(100).toArray());
    r.multiExpected = ids((await t.where('tags').startsWith('n').toArray()).filter((m) => m.n % 20 === 0));
    r.multiCount = await tagged.count();
    r.multiPage = await tagged.limit(5).page().then((p) => p.rows.length, (e) => e.code);
    r.and = ids(await t.where('author').equals('ann').filter((m) => m.n < 100).and((m) => m.n % 3 === 0).toArray());
    return r;
  });
  assert.ok(out.expected.length > 40);
  assert.deepEqual(out.all, out.expected);
  assert.deepEqual(out.limited, out.expected.slice(0, 5));
  assert.deepEqual(out.offset, out.expected.slice(3, 7));
  assert.equal(out.count, out.expected.length);
  assert.equal(out.countWithLimit, out.expected.length, 'count leaves limit aside, as engine.count');
  assert.deepEqual(out.paged, out.expected, 'filtered pages: no gap, no repeat');
  assert.equal(out.nexts.at(-1), false);
  assert.ok(out.nexts.slice(0, -1).every(Boolean));
  assert.deepEqual(out.late, ['m1195', 'm1196', 'm1197', 'm1198', 'm1199']);
  assert.ok(out.multi.length > 0);
  assert.deepEqual(out.multi, out.multiExpected);
  assert.equal(out.multi.length, 60);
  assert.equal(out.multiCount, 60);
  assert.equal(out.multiPage, 5);
  assert.deepEqual(out.and, ['m0000', 'm0012', 'm0024', 'm0036', 'm0048', 'm0060', 'm0072', 'm0084', 'm0096']);
  assert.ok(out.first > 'm0600');
});

test('bad use is a TidesyncError (INVALID): builder calls throw at once, engine-side faults reject', async () => {
  const out = await page.evaluate(async () => {
    const { TidesyncError } = await import('/pkg/index.js');
    const t = window.engine.table('messages');
    const thrown = (f) => {
      try {
        const v = f();
        return { returned: typeof v };
      } catch (e) {
        return { isClass: e instanceof TidesyncError, code: e.code, path: e.path, message: e.message };
      }
    };
    const rejected = async (f) => {
      let p;
      try {
        p = f();
      } catch (e) {
        return { sync: true, message: e.message };
      }
      try {
        await p;
        return { resolved: true };
      } catch (e) {
        return { isClass: e instanceof TidesyncError, code: e.code, path: e.path, message: e.message };
      }
    };
    return {
      table: thrown(() => window.engine.table('')),
      index: thrown(() => t.where(5)),
      emptyIndex: thrown(() => t.orderBy([])),
      limit: thrown(() => t.orderBy('author').limit(0)),
      offset: thrown(() => t.orderBy('author').offset(-1)),
      filter: thrown(() => t.orderBy('author').filter('x')),
      after: thrown(() => t.orderBy('author').after({ key: 1 })),
      liveQuery: thrown(() => t.liveQuery(5)),
      undeclared: await rejected(() => t.where('nope').equals(1).toArray()),
      undeclaredFiltered: await rejected(() => t.where('nope').equals(1).filter(() => true).toArray()),
      twoConditions: await rejected(() => t.getAll({ equals: 'a', above: 'b' })),
      badKey: await rejected(() => t.where('author').equals({}).count()),
      unknownTable: await rejected(() => window.engine.table('nope').toArray()),
    };
  });
  for (const k of ['table', 'index', 'emptyIndex', 'limit', 'offset', 'filter', 'after', 'liveQuery']) {
    assert.equal(out[k].isClass, true, `${k}: ${JSON.stringify(out[k])}`);
    assert.equal(out[k].code, 'INVALID', k);
  }
  assert.equal(out.limit.path, 'limit');
  assert.equal(out.index.path, 'index');
  for (const k of ['undeclared', 'undeclaredFiltered', 'twoConditions', 'badKey', 'unknownTable']) {
    assert.equal(out[k].isClass, true, `${k}: ${JSON.stringify(out[k])}`);
    assert.equal(out[k].code, 'INVALID', `${k}: ${out[k].message}`);
  }
  assert.equal(out.twoConditions.path, 'options.above');
  assert.match(out.undeclared.message, /no index "nope"/);
});

test('reader.table inside read() is one snapshot; table.liveQuery re-runs on writes and stops on unsubscribe', async () => {
  const out = await page.evaluate(async () => {
    const t = window.engine.table('messages');
    const r = {};
    r.read = await window.engine.read(async (reader) => {
      const rt = reader.table('messages');
      return { writable: typeof rt.put, count: await rt.where('author').equals('ann').count(),
        filtered: (await rt.where('author').equals('ann').filter((m) => m.n < 40).toArray()).length, tables: reader.tables };
    });
    const seen = [];
    const sub = t.liveQuery((table) => table.where(['thread_id', 'index']).equals(['t9']).toArray())
      .subscribe((rows) => seen.push(rows.map((m) => m.id)));
    const options = [];
    const sub2 = t.liveQuery({ index: 'author', equals: 'zed' }).subscribe((rows) => options.push(rows.length));
    const wait = (pred) => new Promise((ok, fail) => {
      const end = Date.now() + 5000;
      const tick = () => (pred() ? ok() : Date.now() > end ? fail(new Error(JSON.stringify(seen))) : setTimeout(tick, 10));
      tick();
    });
    await wait(() => seen.length === 1 && options.length === 1);
    await t.put({ id: 'z1', thread_id: 't9', index: 1, author: 'zed', tags: [], n: -1 });
    await wait(() => seen.length === 2 && options.length === 2);
    await t.put({ id: 'z0', thread_id: 't9', index: 0, author: 'ann', tags: [], n: -2 });
    await wait(() => seen.length === 3);
    sub.unsubscribe();
    sub2.unsubscribe();
    await t.bulkDelete(['z0', 'z1']);
    await new Promise((ok) => setTimeout(ok, 200));
    r.seen = seen;
    r.options = options;
    r.closed = sub.closed;
    r.gone = await t.get('z1');
    return r;
  });
  assert.deepEqual(out.read, { writable: 'undefined', count: 300, filtered: 10, tables: ['messages'] });
  assert.deepEqual(out.seen, [[], ['z1'], ['z0', 'z1']]);
  assert.deepEqual(out.options, [0, 1], 'an unrelated write (z0 by ann) emits no equal result');
  assert.equal(out.closed, true);
  assert.equal(out.gone, undefined);
});

test("the README's Reading and querying snippet runs verbatim in a page", async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('\n### Reading and querying\n');
  assert.ok(at >= 0, 'README has the section');
  const code = /```js\n([\s\S]*?)```/.exec(readme.slice(at))[1];
  const context = await browser.newContext();
  const p = await context.newPage();
  const errors = [];
  p.on('pageerror', (e) => errors.push(String(e)));
  await p.route(`${server.url}/pkg/__readme.html`, (r) => r.fulfill({
    contentType: 'text/html',
    body: `<!doctype html><script type="importmap">{ "imports": { "tidesync": "/pkg/index.js" } }</script>
      <script type="module">${code}\nwindow.done = true;</script>`,
  }));
  await p.goto(`${server.url}/pkg/__readme.html`);
  await p.waitForFunction(() => window.done === true, null, { timeout: 15000 }).catch(() => {
    throw new Error(`the snippet did not run to its end: ${errors.join('; ')}`);
  });
  assert.deepEqual(errors, []);
  await context.close();
});

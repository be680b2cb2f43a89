// The checks of runProviderConformance (conformance.js), in the order they
// run. Each gets the check's context (fresh workspaces, clients, op and
// pull helpers) and the helpers { SKIP, assert, sleep, seen, CODES }; it
// throws to fail and returns { [SKIP]: true, reason } to skip.

const skip = (h, reason) => ({ [h.SKIP]: true, reason });
const versions = (changes) => changes.map((c) => c.serverVersion);
const key = (c) => `${c.tableName}/${typeof c.pk}:${c.pk}`;

export const CHECKS = [
  {
    name: 'push.results',
    description: 'a push answers once per op sent, each success with a positive serverVersion',
    async run(ctx, h) {
      const ws = ctx.workspace();
      const a = await ctx.client(ws);
      const ops = [ctx.op({ pk: 'r1' }), ctx.op({ pk: 'r2' }), ctx.op({ pk: 7, table: ctx.tables[1] })];
      const results = await ctx.push(a, ws, ops);
      for (const r of results) h.assert(r.success === true && Number.isSafeInteger(r.serverVersion), `op ${r.opId}: ${JSON.stringify(r)}`);
      const vs = results.map((r) => r.serverVersion);
      h.assert(new Set(vs).size === vs.length, `the ops of one batch got the same version: ${vs}`);
      const { changes } = await ctx.pullAll(a, ws);
      h.assert(changes.length === 3, `a pull from 0 gives ${changes.length} changes, expected 3`);
      h.assert(changes.some((c) => c.pk === 7 && c.tableName === ctx.tables[1]), 'the numeric key 7 did not come back as the number 7');
    },
  },
  {
    name: 'push.idempotent-by-opId',
    description: 're-sending ops that were applied answers success and changes nothing',
    async run(ctx, h) {
      const ws = ctx.workspace();
      const a = await ctx.client(ws);
      const ops = [ctx.op({ pk: 'x' }), ctx.op({ pk: 'y' })];
      const first = await ctx.push(a, ws, ops);
      const head = (await ctx.pullAll(a, ws)).cursor;
      const again = await ctx.push(a, ws, ops);
      for (const [i, r] of again.entries()) {
        h.assert(r.success === true, `the re-sent op ${r.opId} was answered ${JSON.stringify(r)}`);
        if (r.serverVersion != null) h.assert(r.serverVersion === first[i].serverVersion, `the re-sent op got a new version ${r.serverVersion} (was ${first[i].serverVersion})`);
      }
      // A re-sent op beside a new one: only the new one is applied.
      const fresh = ctx.op({ pk: 'z' });
      await ctx.push(a, ws, [ops[0], fresh]);
      const after = await ctx.pullAll(a, ws, { cursor: head });
      h.assert(after.changes.length === 1 && after.changes[0].pk === 'z',
        `after re-sending, the log gained ${JSON.stringify(after.changes.map((c) => c.pk))}, expected only z`);
    },
  },
  {
    name: 'versions.strictly-increasing',
    description: 'concurrent pushes from two clients get unique versions, pulled in ascending order',
    async run(ctx, h) {
      const ws = ctx.workspace();
      const [a, b] = [await ctx.client(ws, 'a'), await ctx.client(ws, 'b')];
      const batches = [];
      for (let i = 0; i < 6; i += 1) {
        batches.push(ctx.push(a, ws, [ctx.op({ pk: `a${i}`, device: 'dev-a' }), ctx.op({ pk: `a${i}b`, device: 'dev-a' })]));
        batches.push(ctx.push(b, ws, [ctx.op({ pk: `b${i}`, device: 'dev-b' })]));
      }
      const results = (await Promise.all(batches)).flat();
      const vs = results.map((r) => r.serverVersion);
      h.assert(vs.every(Number.isSafeInteger), 'every op must be applied with a version');
      h.assert(new Set(vs).size === vs.length, `two ops got the same version: ${[...vs].sort((x, y) => x - y)}`);
      const { changes } = await ctx.pullAll(a, ws, { limit: 5 });
      h.assert(changes.length === 18, `a pull gives ${changes.length} changes, expected 18`);
      const pulled = new Set(versions(changes));
      for (const v of vs) h.assert(pulled.has(v), `version ${v}, answered to a push, is not in the pull`);
    },
  },
  {
    name: 'lww.higher-stamp-wins',
    description: 'the server keeps the greater stamp (clock, then hlc); a losing op is acknowledged, not applied',
    async run(ctx, h) {
      const ws = ctx.workspace();
      const [a, b] = [await ctx.client(ws, 'a'), await ctx.client(ws, 'b')];
      const win = ctx.op({ pk: 'k', clock: 2, device: 'dev-a', payload: { v: 'a' } });
      await ctx.push(a, ws, [win]);
      // Later in time but a lower clock: loses.
      const lose = ctx.op({ pk: 'k', clock: 1, ms: ctx.ms + 60000, device: 'dev-b', payload: { v: 'b' } });
      const [r] = await ctx.push(b, ws, [lose]);
      h.assert(r.success === true && r.serverVersion == null, `the losing op must be acknowledged without a version, got ${JSON.stringify(r)}`);
      if (r.current) {
        h.assert(r.current.stamp?.opId === win.opId && r.current.payload?.v === 'a', `current must be the winning version, got ${JSON.stringify(r.current)}`);
      } else ctx.note('no `current` in the answer of a losing op (allowed; the engine then waits for a pull)');
      // Same clock: the greater hlc wins, whatever the order of arrival.
      const early = ctx.op({ pk: 'h', clock: 1, ms: ctx.ms + 1000, device: 'dev-a', payload: { v: 'late-hlc' } });
      const late = ctx.op({ pk: 'h', clock: 1, ms: ctx.ms, device: 'dev-b', payload: { v: 'early-hlc' } });
      await ctx.push(a, ws, [early]);
      const [r2] = await ctx.push(b, ws, [late]);
      h.assert(r2.serverVersion == null, 'an op with the same clock and a smaller hlc was applied');
      const state = await ctx.state(a, ws);
      h.assert(state.get(`${ctx.tables[0]}/string:k`)?.payload?.v === 'a', 'record k must hold the higher clock');
      h.assert(state.get(`${ctx.tables[0]}/string:h`)?.payload?.v === 'late-hlc', 'record h must hold the higher hlc');
      const up = ctx.op({ pk: 'k', clock: 3, device: 'dev-b', payload: { v: 'b3' } });
      const [r3] = await ctx.push(b, ws, [up]);
      h.assert(Number.isSafeInteger(r3.serverVersion), 'a higher clock must be applied');
    },
  },
  {
    name: 'lww.tombstones',
    description: 'a delete is a write: an older put never brings the record back, a newer one does',
    async run(ctx, h) {
      const ws = ctx.workspace();
      const a = await ctx.client(ws);
      await ctx.push(a, ws, [ctx.op({ pk: 'd', clock: 1 })]);
      const [del] = await ctx.push(a, ws, [ctx.op({ pk: 'd', clock: 2, op: 'delete' })]);
      h.assert(Number.isSafeInteger(del.serverVersion), 'the delete must be applied with a version');
      const [stale] = await ctx.push(a, ws, [ctx.op({ pk: 'd', clock: 1, ms: ctx.ms + 5000, device: 'dev-z' })]);
      h.assert(stale.success === true && stale.serverVersion == null, `a put below the tombstone was applied: ${JSON.stringify(stale)}`);
      let s = await ctx.state(a, ws);
      h.assert(s.get(`${ctx.tables[0]}/string:d`)?.op === 'delete', 'the record must stay deleted');
      await ctx.push(a, ws, [ctx.op({ pk: 'd', clock: 3, payload: { back: true } })]);
      s = await ctx.state(a, ws);
      h.assert(s.get(`${ctx.tables[0]}/string:d`)?.payload?.back === true, 'a put above the tombstone must recreate the record');
    },
  },
  {
    name: 'pull.paging',
    description: 'pages of at most `limit`, hasMore until the end, nextCursor moving on, remaining consistent',
    async run(ctx, h) {
      const ws = ctx.workspace();
      const a = await ctx.client(ws);
      const ops = Array.from({ length: 23 }, (_, i) => ctx.op({ pk: `p${i}` }));
      await ctx.push(a, ws, ops.slice(0, 12));
      await ctx.push(a, ws, ops.slice(12));
      let pages = 0;
      let withRemaining = 0;
      // (pullAll also fails a page with hasMore whose nextCursor did not move: the engine would loop.)
      const { changes } = await ctx.pullAll(a, ws, {
        limit: 5,
        onPage: (res) => {
          pages += 1;
          if (res.remaining != null) withRemaining += 1;
        },
      });
      h.assert(changes.length === 23, `paging gave ${changes.length} changes, expected 23`);
      h.assert(new Set(changes.map(key)).size === 23, 'paging gave a record twice');
      h.assert(pages >= 5, `23 changes in ${pages} pages of 5`);
      ctx.note(`${pages} pages; remaining reported on ${withRemaining}`);
      const head = await a.pull({ scope: { workspaceId: ws }, cursor: versions(changes).at(-1), limit: 5 });
      h.assert(head.changes.length === 0 && head.hasMore === false, 'a pull from the head must be empty with hasMore false');
      h.assert(head.remaining == null || head.remaining === 0, 'remaining must be 0 (or absent) at the head');
    },
  },
  {
    name: 'pull.paging-while-writing',
    description: 'writes made while a client pages are all seen, each once, in order',
    async run(ctx, h) {
      const ws = ctx.workspace();
      const [a, b] = [await ctx.client(ws, 'a'), await ctx.client(ws, 'b')];
      await ctx.push(a, ws, Array.from({ length: 20 }, (_, i) => ctx.op({ pk: `w${i}` })));
      let n = 0;
      const { changes } = await ctx.pullAll(b, ws, {
        limit: 4,
        onPage: async () => {
          if (n < 6) {
            // Another client writes new records and updates old ones meanwhile.
            await ctx.push(a, ws, [ctx.op({ pk: `new${n}` }), ctx.op({ pk: `w${n}`, clock: 2 })]);
            n += 1;
          }
        },
      });
      const full = await ctx.pullAll(a, ws, { limit: 1000 });
      const got = new Map(changes.map((c) => [key(c), c]));
      for (const c of full.changes) {
        h.assert(got.has(key(c)), `the pager never saw ${key(c)}`);
      }
      const last = new Map();
      for (const c of changes) last.set(key(c), c.stamp.clock);
      for (let i = 0; i < n; i += 1) h.assert(last.get(`${ctx.tables[0]}/string:w${i}`) === 2, `the pager ended on an old version of w${i}`);
      h.assert(new Set(versions(changes)).size === changes.length, 'the pager saw one version twice');
    },
  },
  {
    name: 'pull.table-filter',
    description: 'pull({ tables }) returns only those tables, and all of their changes',
    async run(ctx, h) {
      const ws = ctx.workspace();
      const a = await ctx.client(ws);
      const [t0, t1] = ctx.tables;
      await ctx.push(a, ws, [ctx.op({ table: t0, pk: 1 }), ctx.op({ table: t1, pk: 1 }), ctx.op({ table: t0, pk: 2 }), ctx.op({ table: t1, pk: 2 }), ctx.op({ table: t1, pk: 3 })]);
      const only1 = await ctx.pullAll(a, ws, { tables: [t1], limit: 2 });
      h.assert(only1.changes.length === 3 && only1.changes.every((c) => c.tableName === t1), `tables [${t1}] gave ${JSON.stringify(only1.changes.map(key))}`);
      const only0 = await ctx.pullAll(a, ws, { tables: [t0] });
      h.assert(only0.changes.length === 2, `tables [${t0}] gave ${only0.changes.length} changes, expected 2`);
    },
  },
  {
    name: 'pull.project-filter',
    description: "a scope with projectId pulls only that project's changes; without it, every project's",
    async run(ctx, h) {
      const ws = ctx.workspace();
      const a = await ctx.client(ws);
      await ctx.push(a, ws, [ctx.op({ pk: 'p1-a' }), ctx.op({ pk: 'p1-b' })], { projectId: 'p1' });
      await ctx.push(a, ws, [ctx.op({ pk: 'p2-a' })], { projectId: 'p2' });
      const p1 = await ctx.pullAll(a, ws, { projectId: 'p1' });
      h.assert(p1.changes.length === 2 && p1.changes.every((c) => String(c.pk).startsWith('p1')), `project p1 pulled ${JSON.stringify(p1.changes.map((c) => c.pk))}`);
      const p2 = await ctx.pullAll(a, ws, { projectId: 'p2' });
      h.assert(p2.changes.length === 1 && p2.changes[0].pk === 'p2-a', `project p2 pulled ${JSON.stringify(p2.changes.map((c) => c.pk))}`);
      const all = await ctx.pullAll(a, ws);
      h.assert(all.changes.length === 3, `without a project, a pull gave ${all.changes.length} changes, expected 3`);
    },
  },
  {
    name: 'subscribe.batches',
    description: 'subscribe delivers every later change; meta.fromCursor, when given, is where the batch starts',
    async run(ctx, h) {
      const ws = ctx.workspace();
      const [a, b] = [await ctx.client(ws, 'a'), await ctx.client(ws, 'b')];
      await ctx.push(a, ws, [ctx.op({ pk: 'before' })]);
      const batches = [];
      const unsubscribe = await b.subscribe({ workspaceId: ws }, ctx.tables,
        (changes, meta) => batches.push({ changes, meta, at: Date.now() }));
      h.assert(typeof unsubscribe === 'function', 'subscribe must resolve to an unsubscribe function');
      ctx.unsubscribes.push(unsubscribe);
      const pushed = [];
      let acked = 0;
      for (let i = 0; i < 3; i += 1) {
        const rs = await ctx.push(a, ws, [ctx.op({ pk: `s${i}` }), ctx.op({ pk: `s${i}b`, table: ctx.tables[1] })]);
        acked = Date.now();
        pushed.push(...rs.map((r) => r.serverVersion));
        await h.sleep(50);
      }
      // Either every change arrives in batches, or (a hint-only subscription) an
      // empty batch arrives after the last push was acknowledged: the engine then
      // pulls, and that pull sees every change.
      const end = Date.now() + ctx.options.subscribeWaitMs;
      const got = () => new Set(batches.flatMap((x) => versions(x.changes ?? [])));
      const delivered = () => pushed.every((v) => got().has(v));
      const hinted = () => batches.some((x) => x.at >= acked && Array.isArray(x.changes) && x.changes.length === 0);
      while (!delivered() && !hinted() && Date.now() < end) await h.sleep(20);
      const missing = pushed.filter((v) => !got().has(v));
      h.assert(missing.length === 0 || hinted(),
        `versions ${missing} never arrived through the subscription, nor a hint after the last push (${batches.length} batches)`);
      if (missing.length) ctx.note('hint-only subscription: empty batches, the engine pulls on each');
      let withMeta = 0;
      for (const [i, x] of batches.entries()) {
        h.assert(Array.isArray(x.changes), `batch ${i} is not an array`);
        if (x.changes.length === 0) continue;
        const vs = versions(x.changes);
        h.assert(vs.every((v, j) => j === 0 || v > vs[j - 1]), `batch ${i}: versions not ascending: ${vs}`);
        const from = x.meta?.fromCursor;
        if (from == null) continue;
        withMeta += 1;
        h.assert(Number.isSafeInteger(from) && from < vs[0], `batch ${i}: fromCursor ${from} is not below its first version ${vs[0]}`);
        // The batch must be exactly what a pull from fromCursor returns: a
        // wrong fromCursor would make the engine skip changes.
        const res = await a.pull({ scope: { workspaceId: ws }, cursor: from, limit: x.changes.length, tables: ctx.tables });
        h.assert(JSON.stringify(versions(res.changes)) === JSON.stringify(vs),
          `batch ${i} (fromCursor ${from}) holds versions ${vs}, but a pull from ${from} gives ${versions(res.changes)}`);
      }
      ctx.note(`${batches.length} batches, ${withMeta} with meta.fromCursor`);
      await unsubscribe();
      const n = batches.length;
      await ctx.push(a, ws, [ctx.op({ pk: 'after-unsubscribe' })]);
      await h.sleep(300);
      h.assert(batches.length === n, 'a batch arrived after unsubscribing');
    },
  },
  {
    name: 'subscribe.table-filter',
    description: 'a subscription to some tables receives no change of the others',
    async run(ctx, h) {
      const ws = ctx.workspace();
      const [a, b] = [await ctx.client(ws, 'a'), await ctx.client(ws, 'b')];
      const [t0, t1] = ctx.tables;
      const seen = [];
      let hints = 0;
      ctx.unsubscribes.push(await b.subscribe({ workspaceId: ws }, [t1], (changes) => {
        if (changes.length === 0) hints += 1;
        seen.push(...changes);
      }));
      await ctx.push(a, ws, [ctx.op({ table: t0, pk: 'no' })]);
      const [r] = await ctx.push(a, ws, [ctx.op({ table: t1, pk: 'yes' })]);
      const end = Date.now() + ctx.options.subscribeWaitMs;
      while (!seen.some((c) => c.serverVersion === r.serverVersion) && hints === 0 && Date.now() < end) await h.sleep(20);
      h.assert(seen.some((c) => c.pk === 'yes') || hints > 0, `the ${t1} change never arrived (nor a hint)`);
      h.assert(seen.every((c) => c.tableName === t1), `a subscription to [${t1}] received ${JSON.stringify(seen.map(key))}`);
    },
  },
  {
    name: 'cursor.updateCursor',
    description: 'updateCursor resolves for a cursor the client has',
    async run(ctx) {
      const ws = ctx.workspace();
      const a = await ctx.client(ws);
      await ctx.push(a, ws, [ctx.op({ pk: 'c' })]);
      const { cursor } = await ctx.pullAll(a, ws);
      await a.updateCursor({ workspaceId: ws }, 'dev-a', cursor);
    },
  },
  {
    name: 'cursor.expired-above-head',
    description: "a cursor above the server's version rejects with CURSOR_EXPIRED (a server restored from a backup)",
    async run(ctx) {
      const ws = ctx.workspace();
      const a = await ctx.client(ws);
      await ctx.push(a, ws, [ctx.op({ pk: 'c' })]);
      const { cursor } = await ctx.pullAll(a, ws);
      await ctx.rejects(a.pull({ scope: { workspaceId: ws }, cursor: cursor + 1_000_000, limit: 10 }), ['CURSOR_EXPIRED'], 'a pull above the head');
    },
  },
  {
    name: 'cursor.expired-history',
    description: 'after history is purged, an older cursor gets CURSOR_EXPIRED and a rescan (rescan: true) is served',
    async run(ctx, h) {
      if (typeof ctx.options.expireHistory !== 'function') return skip(h, 'no options.expireHistory hook to purge history');
      const ws = ctx.workspace();
      const a = await ctx.client(ws);
      await ctx.push(a, ws, Array.from({ length: 6 }, (_, i) => ctx.op({ pk: `e${i}` })));
      const { changes } = await ctx.pullAll(a, ws);
      const vs = versions(changes);
      await ctx.options.expireHistory({ workspaceId: ws, below: vs[3], provider: a.raw });
      await ctx.rejects(a.pull({ scope: { workspaceId: ws }, cursor: vs[0], limit: 10 }), ['CURSOR_EXPIRED'], 'a pull below the purge');
      const rescan = await ctx.pullAll(a, ws, { cursor: 0, rescan: true });
      h.assert(rescan.changes.length === 6, `a rescan from 0 gave ${rescan.changes.length} records, expected 6`);
    },
  },
  {
    name: 'errors.invalid-request',
    description: 'a malformed op (no stamp) is refused (INVALID, or success: false) and changes nothing',
    async run(ctx, h) {
      const ws = ctx.workspace();
      const a = await ctx.client(ws);
      await ctx.push(a, ws, [ctx.op({ pk: 'ok' })]);
      const before = await ctx.pullAll(a, ws);
      const bad = ctx.op({ pk: 'bad' });
      delete bad.stamp;
      let res = null;
      try {
        res = await a.push({ scope: { workspaceId: ws }, deviceId: 'dev-a', ops: [bad] });
      } catch (e) {
        h.assert(e?.code === 'INVALID', `rejected with ${JSON.stringify(e?.code)} (${e?.message}), expected INVALID`);
      }
      if (res) {
        const r = res.results?.find((x) => x.opId === bad.opId);
        h.assert(r && r.success === false, `a malformed op was answered ${JSON.stringify(r)}`);
      }
      const after = await ctx.pullAll(a, ws, { cursor: before.cursor });
      h.assert(after.changes.length === 0, 'the malformed op changed the log');
    },
  },
  {
    name: 'errors.rate-limit',
    description: 'RATE_LIMIT carries retryAfterMs',
    async run(ctx, h) {
      if (typeof ctx.options.provokeRateLimit !== 'function') return skip(h, 'no options.provokeRateLimit hook');
      const ws = ctx.workspace();
      const a = await ctx.client(ws);
      await ctx.options.provokeRateLimit({ workspaceId: ws, client: 'a', provider: a.raw });
      for (let i = 0; i < 50; i += 1) {
        try {
          await a.push({ scope: { workspaceId: ws }, deviceId: 'dev-a', ops: [ctx.op({ pk: `r${i}` })] });
        } catch (e) {
          h.assert(e?.code === 'RATE_LIMIT', `rejected with ${JSON.stringify(e?.code)}, expected RATE_LIMIT`);
          h.assert(Number.isFinite(e.retryAfterMs) && e.retryAfterMs >= 0, `RATE_LIMIT without a retryAfterMs (${JSON.stringify(e.retryAfterMs)})`);
          ctx.note(`retryAfterMs ${e.retryAfterMs}`);
          return undefined;
        }
      }
      throw new Error('50 pushes after provokeRateLimit, none rejected with RATE_LIMIT');
    },
  },
  {
    name: 'tenant.isolation',
    description: "a client of one workspace can neither read, write nor watch another's",
    async run(ctx, h) {
      const [wa, wb] = [ctx.workspace('a'), ctx.workspace('b')];
      const [a, b] = [await ctx.client(wa, 'a'), await ctx.client(wb, 'b')];
      await ctx.push(b, wb, [ctx.op({ pk: 'secret', payload: { s: 1 } })]);
      const denied = ['FORBIDDEN', 'AUTH'];
      try {
        const res = await a.pull({ scope: { workspaceId: wb }, cursor: 0, limit: 10 });
        h.assert(Array.isArray(res?.changes) && res.changes.length === 0, "a client read another workspace's changes");
      } catch (e) {
        h.assert(denied.includes(e?.code), `a foreign pull rejected with ${JSON.stringify(e?.code)}, expected FORBIDDEN or AUTH`);
      }
      try {
        await a.push({ scope: { workspaceId: wb }, deviceId: 'dev-a', ops: [ctx.op({ pk: 'secret', clock: 9, payload: { s: 'overwritten' } })] });
      } catch (e) {
        h.assert(denied.includes(e?.code), `a foreign push rejected with ${JSON.stringify(e?.code)}, expected FORBIDDEN or AUTH`);
      }
      const seen = [];
      try {
        ctx.unsubscribes.push(await a.subscribe({ workspaceId: wb }, ctx.tables, (c) => seen.push(...c)));
      } catch (e) {
        h.assert(denied.includes(e?.code), `a foreign subscribe rejected with ${JSON.stringify(e?.code)}, expected FORBIDDEN or AUTH`);
      }
      await ctx.push(b, wb, [ctx.op({ pk: 'secret2' })]);
      await h.sleep(300);
      h.assert(seen.length === 0, "a client watched another workspace's changes");
      const state = await ctx.state(b, wb);
      h.assert(state.get(`${ctx.tables[0]}/string:secret`)?.payload?.s === 1, "a client wrote into another workspace");
    },
  },
  {
    name: 'errors.typed',
    description: 'every rejection seen in this run carries a code of the contract',
    async run(ctx, h) {
      const bad = h.seen.filter((s) => !h.CODES.has(s.code));
      h.assert(bad.length === 0, `untyped rejections: ${bad.slice(0, 3).map((s) => `${s.check} ${s.method}: code ${JSON.stringify(s.code)} (${s.message})`).join('; ')}`);
      ctx.note(`${h.seen.length} rejections, all typed`);
    },
  },
];

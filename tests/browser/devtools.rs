//! The dev overlay (src/js/devtools.js, `tidesync/devtools`) on real engines
//! and a `MemoryServer`: a failed op is listed with its error, its retry and
//! discard buttons (and the ones for all) move it back to the outbox or out
//! of the engine; the status, a conflict, the sync runs chart and a real
//! bootstrap's progress are rendered; bursts of events make one refresh;
//! removing the element unsubscribes; bad input is a TypeError; a second copy
//! of the module leaves the first definition in place.

use js_sys::{Array, Function, Promise};
use serde_json::json;
use tidesync::wasm::MemoryServer;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::util::*;

/// The module, loaded from its source as a blob module (as tests/browser/live.rs does).
const DEVTOOLS_JS: &str = include_str!("../../src/js/devtools.js");

/// Helpers for the JS bodies: `dt` and `dt2` (two copies of the module), `until(check, what)`
/// (`check` may be async), `sleep(ms)`, and `$`, `$$`, `text` to read an overlay's shadow root.
const HELPERS: &str = r#"
    const [dt, dt2] = mods;
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const until = async (check, what) => {
        const t0 = Date.now();
        while (!(await check())) {
            if (Date.now() - t0 > 10000) throw new Error('timed out waiting for ' + what);
            await sleep(10);
        }
    };
    const $ = (el, sel) => el.shadowRoot.querySelector(sel);
    const $$ = (el, sel) => [...el.shadowRoot.querySelectorAll(sel)];
    const text = (el, sel) => $(el, sel)?.textContent;
    // No value rendered as what JS makes of a missing one.
    const clean = (el) => !/null|undefined|NaN|\[object/.test($$(el, 'details').map((d) => d.textContent).join(' '));
"#;

/// Runs `body` as an async function of `a`, `b` and the helpers; resolves to what it returns.
async fn run(a: &JsValue, b: &JsValue, body: &str) -> String {
    let mods = Array::of2(&module(DEVTOOLS_JS).await, &module(DEVTOOLS_JS).await);
    let f = Function::new_with_args("a, b, mods", &format!("{HELPERS} return (async () => {{ {body} }})();"));
    let p: Promise = f.call3(&JsValue::NULL, a, b, &mods).unwrap().into();
    let v = await_js(p).await.unwrap_or_else(|e| panic!("{:?}\n{:?}", get(&e, "message"), get(&e, "stack")));
    js_sys::JSON::stringify(&v).unwrap().as_string().unwrap()
}

#[wasm_bindgen_test]
async fn a_failed_op_is_listed_with_its_error_and_retried_and_discarded_from_the_overlay() {
    let server = MemoryServer::new();
    let e: JsValue = open_synced(&unique("devtools-failed"), &server, json!({ "autoSync": false })).await.into();
    let s: JsValue = server.into();
    let body = "
        const el = dt.attachDevtools(a);
        const row = (section, opId) => $(el, `.${section} li[data-op-id='${opId}']`);
        const button = (section, opId, action) => row(section, opId).querySelector(`button[data-action=${action}]`);
        const allButton = (action) => $(el, `.failed button[data-action=${action}]:not([data-op-id])`);
        const phase = (await a.status()).phase;
        await until(() => text(el, '[data-field=phase]') === phase, 'the status');
        const noneYet = [allButton('retryFailed').disabled, allButton('discardFailed').disabled];

        const { opId } = await a.put('notes', { id: 'refused', text: 'no' });
        await until(() => row('outbox', opId)?.dataset.state === 'pending', 'the op in the outbox');
        b.rejectOps([opId], false);
        await a.syncNow();
        await until(() => row('failed', opId)?.querySelector('.error')?.textContent.includes('rejected by the test switch'),
            'the failed op with its error');
        const listed = [!row('outbox', opId), text(el, '[data-field=failedOps]'), text(el, '.failed summary b'),
            allButton('retryFailed').disabled];

        button('failed', opId, 'retryFailed').click();
        await until(async () => (await a.failedOps()).length === 0, 'the retry');
        const retried = (await a.pendingOps()).map((op) => [op.opId === opId, op.state]);
        await until(() => row('outbox', opId)?.dataset.state === 'pending' && !row('failed', opId), 'the overlay to show it pending');

        await a.syncNow();
        await until(() => row('failed', opId), 'the op failed again');
        button('failed', opId, 'discardFailed').click();
        await until(async () => (await a.failedOps()).length === 0, 'the discard');
        const discarded = (await a.pendingOps()).length;
        await until(() => !row('failed', opId) && !row('outbox', opId) && text(el, '[data-field=failedOps]') === '0',
            'the op gone from the overlay');

        // The buttons for all: two failed ops, both retried, then both discarded.
        const ids = [];
        for (const id of ['r1', 'r2']) ids.push((await a.put('notes', { id })).opId);
        b.rejectOps(ids, false);
        await a.syncNow();
        await until(() => ids.every((id) => row('failed', id)), 'two failed ops');
        allButton('retryFailed').click();
        await until(() => ids.every((id) => row('outbox', id)?.dataset.state === 'pending'), 'both pending again');
        const retriedAll = (await a.failedOps()).length;
        await a.syncNow();
        await until(() => ids.every((id) => row('failed', id)), 'both failed again');
        allButton('discardFailed').click();
        await until(() => $$(el, '.failed li').length === 0 && allButton('discardFailed').disabled, 'both discarded');
        const left = [(await a.failedOps()).length, (await a.pendingOps()).length];
        el.remove();
        a.close();
        return [noneYet, listed, retried, discarded, retriedAll, left];";
    let got = run(&e, &s, body).await;
    assert_eq!(
        got,
        r#"[[true,true],[true,"1","1",false],[[true,"pending"]],0,0,[0,0]]"#,
        "[buttons for all without failed ops, the failed op listed, after retry, after discard, after retry all, after discard all]"
    );
}

#[wasm_bindgen_test]
async fn the_overlay_shows_the_status_a_conflict_the_sync_runs_and_a_bootstrap() {
    let server = MemoryServer::new();
    let extra = json!({ "autoSync": false });
    let a: JsValue = open_synced(&unique("devtools-a"), &server, extra.clone()).await.into();
    let b = open_synced(&unique("devtools-b"), &server, extra).await;
    let fresh = open_synced(&unique("devtools-fresh"), &server, json!({ "autoSync": false, "pullLimit": 2 })).await;
    let pair = Array::of2(&b.into(), &fresh.into());
    let body = "
        const [other, fresh] = b;
        const el = dt.attachDevtools(a, document.body);
        // a and the other device write the same key; the other's write is later and wins.
        await a.put('notes', { id: 'x', by: 'a' });
        await sleep(5);
        await other.put('notes', { id: 'x', by: 'other' });
        for (let i = 0; i < 4; i++) await other.put('notes', { id: 'y' + i });
        await other.syncNow();
        await a.syncNow();
        // A second run, so the chart has an order to get right.
        await a.put('notes', { id: 'z' });
        await a.syncNow();

        await until(() => $(el, `.conflicts li[data-pk='x']`), 'the conflict');
        const c = $(el, `.conflicts li[data-pk='x']`);
        const conflict = [c.dataset.table, c.dataset.winner, $(el, '.conflicts summary b').textContent,
            c.querySelector('.local').textContent.includes('\"by\":\"a\"'),
            c.querySelector('.remote').textContent.includes('\"by\":\"other\"'),
            c.querySelector('.won').classList.contains('remote')];

        // The overlay reads again while a run is under way: its phase settles.
        let phaseSettled = false;
        await until(async () => (phaseSettled = text(el, '[data-field=phase]') === (await a.status()).phase), 'the phase');
        const s = await a.status();
        await until(() => text(el, '[data-field=cursor]') === String(s.cursor), 'the cursor');
        const status = [s.leader, s.cursor > 0, phaseSettled,
            text(el, '[data-field=leader]'), text(el, '[data-field=pendingOps]'), text(el, '[data-field=online]'),
            text(el, '[data-field=lastSyncAt]') !== 'never', text(el, '[data-field=lastError]')];

        const runs = await a.syncRuns();
        await until(() => $$(el, '.runs g[data-run-id]').length === runs.length, 'the runs chart');
        const bars = $$(el, '.runs g[data-run-id]').reverse();
        const chart = [runs.length >= 2, $$(el, '.runs svg rect').length === 2 * runs.length,
            runs.every((r, i) => bars[i].dataset.runId === String(r.id)
                && bars[i].dataset.duration === String(r.finishedAt - r.startedAt)
                && bars[i].dataset.ops === String(r.pushed + r.failed)
                && bars[i].querySelector('title').textContent.startsWith(`run ${r.id}: `)),
            runs.some((r) => r.pushed > 0)];

        // A device that never synced bootstraps in pages of 2 while its overlay watches.
        const pages = [];
        fresh.on('sync.bootstrap:action:progress', (p) => pages.push(p));
        const watcher = dt.attachDevtools(fresh, document.body);
        await until(() => text(watcher, '[data-field=cursor]') === '0', 'the fresh overlay');
        const beforeSync = text(watcher, '.pull p');
        await fresh.syncNow();
        const applied = pages.reduce((n, p) => n + p.applied, 0);
        await until(() => text(watcher, '.pull .bootstrap')?.startsWith(`bootstrap: ${applied} applied, 0 left`), 'the bootstrap');
        const bar = $(watcher, '.pull progress');
        const bootstrap = [pages.length >= 3, applied === (await fresh.count('notes')), bar.value === applied,
            bar.max === applied, pages.at(-1).remaining, beforeSync];
        const rendered = [clean(el), clean(watcher)];
        el.remove();
        watcher.remove();
        for (const e of [a, other, fresh]) e.close();
        return [conflict, status, chart, bootstrap, rendered];";
    let got = run(&a, &pair.into(), body).await;
    assert_eq!(
        got,
        concat!(
            r#"[["notes","remote","1",true,true,true],"#,
            r#"[true,true,true,"yes (pushes)","0","yes",true,"none"],"#,
            r#"[true,true,true,true],"#,
            r#"[true,true,true,true,0,"no bootstrap seen since attached"],[true,true]]"#
        ),
        "[conflict, status, runs chart, bootstrap, nothing shown as null or undefined]"
    );
}

#[wasm_bindgen_test]
async fn bursts_of_events_make_one_refresh_and_removal_unsubscribes() {
    let e: JsValue = open_engine(&unique("devtools-burst")).await.into();
    let body = "
        // The engine behind a counting wrapper: any object with the methods will do.
        const handlers = new Set();
        let reads = 0;
        let slow = 0;
        let reading = 0;
        let overlapping = 0;
        const engine = {
            on(name, handler) {
                const entry = { name, handler };
                handlers.add(entry);
                const off = a.on(name, handler);
                return () => { handlers.delete(entry); off(); };
            },
            async status() {
                reads++;
                overlapping = Math.max(overlapping, ++reading);
                try { if (slow) await sleep(slow); return await a.status(); } finally { reading--; }
            },
            pendingOps: (o) => a.pendingOps(o), failedOps: () => a.failedOps(), retryFailed: (ids) => a.retryFailed(ids),
            discardFailed: (ids) => a.discardFailed(ids), conflicts: (o) => a.conflicts(o), syncRuns: (o) => a.syncRuns(o),
        };
        const fire = (name, n, payload) => {
            for (let i = 0; i < n; i++) for (const h of [...handlers]) if (h.name === name) h.handler(payload);
        };
        const el = document.createElement('tidesync-devtools');
        el.engine = engine;
        const detached = [handlers.size, reads];
        document.body.append(el);
        const subscribed = handlers.size;
        await until(() => text(el, '[data-field=phase]') === 'local', 'the first refresh');
        await sleep(50);
        const first = reads;

        fire('change', 100, { table: 'notes', pks: ['x'], source: 'local', seqs: [] });
        await until(() => reads > first, 'a refresh');
        await sleep(100);
        const burst = reads - first;

        // Events while a refresh is reading make one more refresh, after it.
        slow = 100;
        const r0 = reads;
        fire('sync.stats:action', 1, {});
        await until(() => reads === r0 + 1, 'the slow refresh');
        fire('sync.op:action:captured', 50, {});
        await sleep(400);
        const during = reads - r0;
        slow = 0;

        // Bootstrap pages add up in the progress bar.
        fire('sync.bootstrap:action:progress', 1, { applied: 2, remaining: 4, cursor: 2 });
        fire('sync.bootstrap:action:progress', 1, { applied: 2, remaining: 2, cursor: 4 });
        await until(() => $(el, '.pull progress'), 'the progress bar');
        const progress = [$(el, '.pull progress').value, $(el, '.pull progress').max, text(el, '.pull .bootstrap')];

        // A real write is shown.
        await a.put('notes', { id: 'n1' });
        await until(() => $(el, '.outbox li[data-state=pending]'), 'the write in the outbox');

        el.remove();
        const removed = handlers.size;
        const r1 = reads;
        await a.put('notes', { id: 'n2' });
        await sleep(100);
        const afterRemoval = reads - r1;
        document.body.append(el);
        const again = handlers.size;
        await until(() => text(el, '.outbox summary b') === '2', 'the overlay back in the document');
        // A long outbox: the first 50 ops, and how many more.
        await a.bulkPut('notes', Array.from({ length: 60 }, (_, i) => ({ id: 'bulk' + i })));
        await until(() => $$(el, '.outbox li').length === 50, 'the first 50 ops');
        const long = [text(el, '.outbox summary b'), $$(el, '.outbox p').map((p) => p.textContent), clean(el)];
        el.engine = null;
        const cleared = [handlers.size, el.engine, $$(el, 'li').length];
        el.remove();
        a.close();
        return [detached, subscribed, burst, during, overlapping, progress, removed, afterRemoval, again, long, cleared];";
    let got = run(&e, &JsValue::NULL, body).await;
    assert_eq!(
        got,
        concat!(
            r#"[[0,0],11,1,2,1,[4,6,"bootstrap: 4 applied, 2 left, at cursor 4"],0,0,11,"#,
            r#"["62",["and 12 more"],true],[0,null,0]]"#
        ),
        "[before connecting, handlers, refreshes for 100 events, for events during a refresh, most refreshes \
         at once, progress, handlers after removal, refreshes after removal, handlers back, a long outbox, \
         after engine = null]"
    );
}

#[wasm_bindgen_test]
async fn bad_input_is_a_type_error_and_a_second_copy_keeps_the_first_definition() {
    let e: JsValue = open_engine(&unique("devtools-input")).await.into();
    let body = "
        const count = () => document.querySelectorAll('tidesync-devtools').length;
        const before = count();
        const refused = [];
        const typeError = (f) => {
            try { f(); return 'no error'; } catch (err) {
                return err instanceof TypeError && err.message.startsWith('tidesync-devtools: ') ? 'TypeError' : String(err);
            }
        };
        for (const bad of [undefined, null, 42, 'engine', {}, { on() {}, status() {} }]) {
            refused.push(typeError(() => dt.attachDevtools(bad)));
        }
        const badParent = typeError(() => dt.attachDevtools(a, 'body'));
        // The message names what is missing.
        let message;
        try { dt.attachDevtools({ on() {}, status() {} }); } catch (err) { message = err.message; }
        const partial = message.includes('without pendingOps, failedOps, retryFailed') && !message.includes('status');
        const nothingAdded = count() === before;

        // The second copy of the module did not define the name again; its
        // attachDevtools makes the element the first copy defined, which works.
        const Defined = customElements.get('tidesync-devtools');
        dt2.define();
        const el = dt2.attachDevtools(a);
        const element = [Defined !== undefined, customElements.get('tidesync-devtools') === Defined,
            el instanceof Defined, el.hasAttribute('floating'), el.parentNode === document.body];
        await until(() => text(el, '[data-field=phase]') === 'local', 'the overlay of the second copy');
        const keeps = typeError(() => { el.engine = { status() {} }; });
        const kept = el.engine === a;
        el.remove();
        a.close();
        return [refused, badParent, partial, nothingAdded, element, keeps, kept];";
    let got = run(&e, &JsValue::NULL, body).await;
    assert_eq!(
        got,
        concat!(
            r#"[["TypeError","TypeError","TypeError","TypeError","TypeError","TypeError"],"TypeError",true,true,"#,
            r#"[true,true,true,true,true],"TypeError",true]"#
        )
    );
}

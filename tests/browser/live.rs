//! Live queries and the sync-status observables (src/js/live_query.js,
//! src/js/sync_status.js) on real engines: re-runs on local writes, on
//! writes in another tab and on pulled pages (one re-run per page), only
//! for the tables read, emitting only changed results, until unsubscribed;
//! `synced` and `observeStatus`.

use js_sys::{Function, Object, Promise, Reflect};
use serde_json::json;
use tidesync::wasm::MemoryServer;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::util::*;

/// The package's JS modules, loaded from their source (see `util::module`).
const LIVE_QUERY_JS: &str = include_str!("../../src/js/live_query.js");
const SYNC_STATUS_JS: &str = include_str!("../../src/js/sync_status.js");

/// `{ liveQuery, synced, observeStatus, until }` for the JS bodies below.
pub(super) async fn lib() -> JsValue {
    let out = Object::new();
    let live = module(LIVE_QUERY_JS).await;
    let status = module(SYNC_STATUS_JS).await;
    Reflect::set(&out, &"liveQuery".into(), &get(&live, "liveQuery")).unwrap();
    Reflect::set(&out, &"synced".into(), &get(&status, "synced")).unwrap();
    Reflect::set(&out, &"observeStatus".into(), &get(&status, "observeStatus")).unwrap();
    let until = Function::new_with_args(
        "check, what",
        "return (async () => { const t0 = Date.now(); while (!check()) { if (Date.now() - t0 > 5000) throw new Error('timed out: ' + what); await new Promise((r) => setTimeout(r, 5)); } })();",
    );
    Reflect::set(&out, &"until".into(), &until).unwrap();
    out.into()
}

pub(super) async fn run3(a: &JsValue, b: &JsValue, body: &str) -> JsValue {
    let f = Function::new_with_args("a, b, t", &format!("return (async () => {{ {body} }})();"));
    let p: Promise = f.call3(&JsValue::NULL, a, b, &lib().await).unwrap().into();
    let v = await_js(p).await.unwrap_or_else(|e| panic!("{body}\n{:?}", get(&e, "message")));
    v
}

pub(super) fn text(v: &JsValue) -> String {
    js_sys::JSON::stringify(v).unwrap().as_string().unwrap()
}

#[wasm_bindgen_test]
async fn a_live_query_follows_local_writes_to_what_it_read() {
    let e: JsValue = open_engine(&unique("live-local")).await.into();
    let body = "
        const seen = []; let runs = 0;
        const sub = t.liveQuery(a, async (r) => {
            runs++;
            return (await r.getAll('notes', { index: 'thread_id', equals: 't1' })).map((x) => x.id);
        }).subscribe((v) => seen.push(v));
        await t.until(() => seen.length === 1, 'the first value');
        await a.put('notes', { id: 'a', thread_id: 't1' });
        await t.until(() => seen.length === 2, 'the put');
        const r0 = runs;
        await a.put('notes', { id: 'b', thread_id: 't2' });
        await t.until(() => runs > r0, 'a re-run for the same table');
        await a.put('messages', { id: 'm' });
        await new Promise((r) => setTimeout(r, 50));
        const r1 = runs;
        const many = []; for (let i = 0; i < 50; i++) many.push({ id: 'n' + i, thread_id: 't1' });
        await a.bulkPut('notes', many);
        await t.until(() => seen.length === 3, 'the bulk put');
        const r2 = runs;
        sub.unsubscribe();
        await a.put('notes', { id: 'c', thread_id: 't1' });
        await new Promise((r) => setTimeout(r, 50));
        return [seen.length, seen[0], seen[1], seen[2].length, r1 - r0, r2 - r1, runs - r2, sub.closed];";
    let got = run3(&e, &JsValue::NULL, body).await;
    // 3 values ([], [a], 51 ids); the t2 write re-ran without emitting; the
    // messages write did not re-run; the bulk put is one re-run; nothing after unsubscribe.
    assert_eq!(text(&got), r#"[3,[],["a"],51,1,1,0,true]"#);
}

#[wasm_bindgen_test]
async fn a_live_query_follows_other_tabs_and_pulled_pages_once_per_page() {
    let server = MemoryServer::new();
    let db = unique("live-tabs");
    let extra = json!({ "autoSync": false, "pullLimit": 10000 });
    let a = open_synced(&db, &server, extra.clone()).await;
    let tab = open_synced(&db, &server, extra.clone()).await;
    let other = open_synced(&unique("live-device"), &server, extra).await;
    let (a, tab, other): (JsValue, JsValue, JsValue) = (a.into(), tab.into(), other.into());
    let pair = js_sys::Array::of2(&tab, &other);
    let body = "
        const [tab, other] = b;
        const seen = []; let runs = 0;
        t.liveQuery(a, async (r) => { runs++; return await r.count('notes'); }).subscribe((v) => seen.push(v));
        await t.until(() => seen.length === 1, 'the first value');
        await tab.put('notes', { id: 'from-tab' });
        await t.until(() => seen.at(-1) === 1, 'the other tab\\'s write');
        const many = []; for (let i = 0; i < 10000; i++) many.push({ id: 'r' + i, n: i });
        await other.bulkPut('notes', many);
        await other.syncNow();
        const before = runs;
        await a.syncNow();
        await t.until(() => seen.at(-1) === 10001, 'the pulled page');
        await new Promise((r) => setTimeout(r, 100));
        return [seen, runs - before];";
    let got = run3(&a, &pair.into(), body).await;
    assert_eq!(text(&got), "[[0,1,10001],1]", "one re-run for a page of 10,000");
}

#[wasm_bindgen_test]
async fn synced_and_observe_status_follow_the_outbox() {
    let server = MemoryServer::new();
    let e: JsValue = open_synced(&unique("live-status"), &server, json!({ "autoSync": false })).await.into();
    let s: JsValue = server.into();
    let body = "
        const statuses = [];
        const sub = t.observeStatus(a).subscribe((st) => statuses.push(st.pendingOps));
        await t.until(() => statuses.length === 1, 'the first status');
        const stamp = await a.put('notes', { id: 'x' });
        await t.until(() => statuses.at(-1) === 1, 'one pending op');
        let done = false;
        const waiting = t.synced(a, stamp).then(() => { done = true; });
        await new Promise((r) => setTimeout(r, 30));
        const early = done;
        await a.syncNow();
        await waiting;
        await t.until(() => statuses.at(-1) === 0, 'nothing pending');
        await t.synced(a, stamp.opId);
        const bad = await a.put('notes', { id: 'y' });
        b.rejectOps([bad.opId], false);
        const failing = t.synced(a, bad).then(() => 'resolved', (err) => [err.name, err.code, err.opId === bad.opId]);
        await a.syncNow();
        const outcome = await failing;
        let invalid;
        try { await t.synced(a, 42); } catch (err) { invalid = err.code; }
        sub.unsubscribe();
        return [early, done, outcome, invalid, sub.closed];";
    let got = run3(&e, &s, body).await;
    assert_eq!(text(&got), r#"[false,true,["TidesyncError","INVALID",true],"INVALID",true]"#);
}

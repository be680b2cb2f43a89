//! The pull side's edges in the browser: malformed pages and subscription
//! batches are rejected whole with `INVALID` (nothing applied, cursor
//! unmoved), a per-table `resolve` hook merges a conflict into a new write
//! that both devices converge on, and local GC keeps what is still needed.

use js_sys::{Function, Reflect};
use serde_json::json;
use tidesync::wasm::{MemoryServer, SyncEngine};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::util::*;

/// A provider whose `pull` answers `page` (JSON) once, then empty pages; its
/// `subscribe` hands `onChanges` to `window.__deliver`.
fn scripted_provider(page: &str) -> JsValue {
    let src = format!(
        "let first = true;
         return {{
           id: 'scripted', mode: 'direct',
           pull: async (req) => {{
             if (first) {{ first = false; return {page}; }}
             return {{ changes: [], nextCursor: req.cursor, hasMore: false }};
           }},
           push: async (b) => ({{ results: b.ops.map(o => ({{ opId: o.opId, success: true }})) }}),
           subscribe: async (scope, tables, onChanges) => {{ globalThis.__deliver = onChanges; return () => {{}}; }},
           updateCursor: async () => {{}},
         }};"
    );
    Function::new_no_args(&src).call0(&JsValue::NULL).unwrap()
}

const STAMP: &str = "{ clock: 1, hlc: '001700000000000:00000:dev-x', deviceId: 'dev-x', opId: 'op-1' }";

async fn open_with_provider(db: &str, provider: JsValue) -> SyncEngine {
    let cfg = js(&json!({ "workspaceId": "w1", "dbName": db, "tables": [{ "name": "notes" }], "autoSync": false }));
    Reflect::set(&cfg, &"provider".into(), &provider).unwrap();
    SyncEngine::open_with(cfg).await.unwrap()
}

#[wasm_bindgen_test]
async fn malformed_pages_are_rejected_whole_and_the_cursor_stays() {
    let good = format!(
        "{{ tableName: 'notes', pk: 'a', op: 'put', payload: {{ id: 'a' }}, serverVersion: 1, stamp: {STAMP} }}"
    );
    let cases = [
        ("unknown table", format!("{{ changes: [{good}, {{ tableName: 'nope', pk: 'b', op: 'delete', serverVersion: 2, stamp: {STAMP} }}], nextCursor: 2, hasMore: false }}")),
        ("missing stamp", format!("{{ changes: [{good}, {{ tableName: 'notes', pk: 'b', op: 'delete', serverVersion: 2 }}], nextCursor: 2, hasMore: false }}")),
        ("cursor going back", format!("{{ changes: [{good}], nextCursor: 0, hasMore: false }}")),
        ("versions not ascending", format!("{{ changes: [{good}, {good}], nextCursor: 1, hasMore: false }}")),
        ("wrong type", format!("{{ changes: [{good}], nextCursor: '1', hasMore: false }}")),
    ];
    for (what, page) in cases {
        let e = open_with_provider(&unique("badpage"), scripted_provider(&page)).await;
        let (errors, handler) = recorder();
        e.on("sync.error:action".into(), handler).unwrap();
        let err = await_js(e.sync_now()).await.unwrap_err();
        assert_eq!(get(&err, "code"), "INVALID", "{what}");
        assert!(errors.borrow().iter().any(|v| get(v, "code") == "INVALID"), "{what}: an error event");
        assert_eq!(await_js(e.count("notes".into())).await.unwrap(), 0.0, "{what}: nothing applied");
        assert_eq!(status(&e, "cursor").await, 0, "{what}: the cursor stays");
        e.close();
    }
}

#[wasm_bindgen_test]
async fn a_malformed_subscription_batch_is_not_applied() {
    let empty = "{ changes: [], nextCursor: 0, hasMore: false }";
    let e = open_with_provider(&unique("badbatch"), scripted_provider(empty)).await;
    await_js(e.sync_now()).await.unwrap();
    let (errors, handler) = recorder();
    e.on("sync.error:action".into(), handler).unwrap();
    let deliver: Function = Reflect::get(&js_sys::global(), &"__deliver".into()).unwrap().into();
    let bad = Function::new_no_args(&format!(
        "return [{{ tableName: 'notes', pk: 'a', op: 'put', serverVersion: 1, stamp: {STAMP} }}]"
    ))
    .call0(&JsValue::NULL)
    .unwrap();
    deliver.call2(&JsValue::NULL, &bad, &js(&json!({ "fromCursor": 0 }))).unwrap();
    let _ = await_js(e.sync_now()).await;
    assert!(errors.borrow().iter().any(|v| get(v, "code") == "INVALID"), "the put without payload is reported");
    assert_eq!(await_js(e.count("notes".into())).await.unwrap(), 0.0);
    assert_eq!(status(&e, "cursor").await, 0);
    e.close();
}

#[wasm_bindgen_test]
async fn a_resolve_hook_merges_a_conflict_and_both_devices_converge_on_it() {
    let server = MemoryServer::new();
    let merge = Function::new_with_args(
        "local, remote",
        "if (!local || !remote) return null;
         const tags = [...new Set([...(local.tags || []), ...(remote.tags || [])])].sort();
         return { ...remote, tags };",
    );
    let open = |name: &str| {
        let cfg = js(&json!({
            "workspaceId": "w1", "dbName": unique(name), "autoSync": false,
            "tables": [{ "name": "notes" }],
        }));
        let tables = Reflect::get(&cfg, &"tables".into()).unwrap();
        let table = Reflect::get(&tables, &0.into()).unwrap();
        Reflect::set(&table, &"resolve".into(), &merge).unwrap();
        Reflect::set(&cfg, &"provider".into(), &JsValue::from(server.provider(None))).unwrap();
        SyncEngine::open_with(cfg)
    };
    let a = open("merge-a").await.unwrap();
    let b = open("merge-b").await.unwrap();
    await_js(a.put("notes".into(), js(&json!({ "id": "n", "tags": ["a"] })))).await.unwrap();
    sleep(5).await;
    await_js(b.put("notes".into(), js(&json!({ "id": "n", "tags": ["b"] })))).await.unwrap();
    await_js(b.sync_now()).await.unwrap();
    await_js(a.sync_now()).await.unwrap(); // a's op loses; the hook merges
    await_js(a.sync_now()).await.unwrap(); // pushes the merged write
    await_js(b.sync_now()).await.unwrap();
    for e in [&a, &b] {
        let row = await_js(e.get("notes".into(), "n".into())).await.unwrap();
        let tags: Vec<String> = serde_wasm_bindgen::from_value(get(&row, "tags")).unwrap();
        assert_eq!(tags, ["a", "b"], "both devices hold the merge");
    }
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn a_resolve_hook_that_is_not_a_function_is_invalid_config() {
    let cfg =
        js(&json!({ "workspaceId": "w1", "dbName": unique("badhook"), "tables": [{ "name": "notes", "resolve": 5 }] }));
    let err = SyncEngine::open_with(cfg).await.err().unwrap();
    assert_eq!(get(&err, "code"), "INVALID");
    assert_eq!(get(&err, "path"), "config.tables[0].resolve");
}

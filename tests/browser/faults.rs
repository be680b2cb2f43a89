//! Faults with real IndexedDB: another tab upgrading or deleting the
//! database under a running engine, a full disk (QuotaExceededError), and
//! the engine closed in the middle of a write transaction.

use js_sys::Function;
use serde_json::{json, Value};
use tidesync::wasm::MemoryServer;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::util::*;

/// Runs `body` (JS, may use `name`) as an async function and awaits it.
async fn run_js(args: &str, body: &str, arg: &JsValue) -> Result<JsValue, JsValue> {
    let f = Function::new_with_args(args, &format!("return (async () => {{ {body} }})();"));
    await_js(f.call1(&JsValue::NULL, arg)?.into()).await
}

const UPGRADE: &str = "
    const probe = await new Promise((ok, fail) => { const r = indexedDB.open(name); r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
    const v = probe.version; probe.close();
    return await new Promise((ok, fail) => {
      const r = indexedDB.open(name, v + 1);
      r.onblocked = () => fail(new Error('blocked'));
      r.onsuccess = () => { r.result.close(); ok(v + 1); };
      r.onerror = () => fail(r.error);
    });";

#[wasm_bindgen_test]
async fn another_tab_upgrading_the_database_closes_the_engine_cleanly_and_tells_the_app() {
    let db = unique("vchange");
    let server = MemoryServer::new();
    let e = open_synced(&db, &server, json!({})).await;
    await_js(e.put("notes".into(), js(&json!({ "id": "a" })))).await.unwrap();
    let (errors, handler) = recorder();
    e.on("sync.error:action".into(), handler).unwrap();
    let version = run_js("name", UPGRADE, &JsValue::from_str(&db)).await.expect("the upgrade was not blocked");
    assert!(version.as_f64().unwrap() >= 2.0);
    assert!(
        errors
            .borrow()
            .iter()
            .any(|v| get(v, "code") == "CLOSED" && get(v, "message").as_string().unwrap().contains("newer version")),
        "the app is told"
    );
    let err = await_js(e.put("notes".into(), js(&json!({ "id": "b" })))).await.unwrap_err();
    assert_eq!(get(&err, "code"), "CLOSED", "later calls fail cleanly");
    let calls = server.push_calls().len();
    sleep(300).await;
    assert_eq!(server.push_calls().len(), calls, "no retry loop against a closed database");
}

#[wasm_bindgen_test]
async fn the_database_deleted_under_a_running_engine_is_reported_not_retried() {
    let db = unique("deleted");
    let server = MemoryServer::new();
    let e = open_synced(&db, &server, json!({})).await;
    let (errors, handler) = recorder();
    e.on("sync.error:action".into(), handler).unwrap();
    let deleted = "return await new Promise((ok, fail) => { const r = indexedDB.deleteDatabase(name); \
                   r.onblocked = () => fail(new Error('blocked')); r.onsuccess = () => ok(true); r.onerror = () => fail(r.error); });";
    run_js("name", deleted, &JsValue::from_str(&db)).await.expect("the delete was not blocked");
    assert!(errors.borrow().iter().any(|v| get(v, "message").as_string().unwrap().contains("deleted")));
    assert_eq!(get(&await_js(e.count("notes".into())).await.unwrap_err(), "code"), "CLOSED");
    assert_eq!(get(&await_js(e.status()).await.unwrap_err(), "code"), "CLOSED");
}

#[wasm_bindgen_test]
async fn quota_exceeded_gives_a_clear_error_and_writes_nothing() {
    let db = unique("quota");
    let e = open_engine(&db).await;
    await_js(e.put("notes".into(), js(&json!({ "id": "kept" })))).await.unwrap();
    let swap = "const put = IDBObjectStore.prototype.put; globalThis.__put = put;
                IDBObjectStore.prototype.put = function (v, k) {
                  if (this.name === 'notes') throw new DOMException('disk full', 'QuotaExceededError');
                  return put.call(this, v, k);
                }; return true;";
    run_js("name", swap, &JsValue::NULL).await.unwrap();
    let batch: Vec<Value> = (0..50).map(|i| json!({ "id": format!("r{i}") })).collect();
    let err = await_js(e.bulk_put("notes".into(), js(&json!(batch)))).await.unwrap_err();
    run_js("name", "IDBObjectStore.prototype.put = globalThis.__put; return true;", &JsValue::NULL).await.unwrap();
    assert_eq!(get(&err, "code"), "QUOTA");
    assert_eq!(get(&err, "name"), "TidesyncError");
    assert_eq!(await_js(e.count("notes".into())).await.unwrap(), 1.0, "nothing half-written");
    let ops: js_sys::Array = await_js(e.pending_ops(None)).await.unwrap().into();
    assert_eq!(ops.length(), 1, "the outbox is intact: only the earlier write's op");
    await_js(e.put("notes".into(), js(&json!({ "id": "after" })))).await.expect("writes work again");
    e.close();
}

#[wasm_bindgen_test]
async fn closing_in_the_middle_of_a_write_keeps_it_whole_or_not_at_all() {
    for n in [1usize, 500, 3000] {
        let db = unique("midtx");
        let e = open_engine(&db).await;
        let batch: Vec<Value> = (0..n).map(|i| json!({ "id": format!("r{i}"), "text": "x".repeat(100) })).collect();
        let write = e.bulk_put("notes".into(), js(&json!(batch)));
        sleep(1).await;
        e.close();
        let _ = await_js(write).await;
        let again = open_engine(&db).await;
        let count = await_js(again.count("notes".into())).await.unwrap().as_f64().unwrap() as usize;
        let ops: js_sys::Array =
            await_js(again.pending_ops(Some(js(&json!({ "limit": 10000 })).into()))).await.unwrap().into();
        assert!(count == 0 || count == n, "{n}: {count} records: a write is all or nothing");
        assert_eq!(ops.length() as usize, count, "{n}: one op per record written, none without");
        again.close();
    }
}

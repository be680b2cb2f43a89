//! Push answers in the browser: a push that loses on the server brings the
//! server's version back in the answer itself (MemoryServer encodes
//! `current` with its payload object, JsProvider decodes it), and the
//! device adopts it without a pull and journals the conflict.

use serde_json::json;
use tidesync::wasm::{MemoryServer, SyncEngine};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

use super::util::*;

/// `provider` with pull and subscribe failing: whatever the device learns,
/// it learns from push answers.
fn push_only(provider: JsValue) -> JsValue {
    let wrap: js_sys::Function = js_sys::eval(
        "(p) => { const down = () => Promise.reject(Object.assign(new Error('down'), { code: 'UNAVAILABLE' }));
           return { id: 'push-only', mode: 'direct', push: (b) => p.push(b), pull: down, subscribe: down,
                    updateCursor: () => Promise.resolve() }; }",
    )
    .unwrap()
    .unchecked_into();
    wrap.call1(&JsValue::NULL, &provider).unwrap()
}

async fn open_with(db: &str, provider: JsValue) -> SyncEngine {
    let cfg = js(&json!({ "workspaceId": "w1", "dbName": db, "tables": [{ "name": "notes" }],
                          "autoSync": false, "backoffMs": [50] }));
    js_sys::Reflect::set(&cfg, &"provider".into(), &provider).unwrap();
    SyncEngine::open_with(cfg).await.unwrap()
}

#[wasm_bindgen_test]
async fn a_lost_push_adopts_the_servers_version_from_the_answer() {
    let server = MemoryServer::new();
    let a_db = unique("lost-a");
    let a = open_with(&a_db, server.provider(None).into()).await;
    let b = open_with(&unique("lost-b"), server.provider(None).into()).await;
    await_js(a.put("notes".into(), js(&json!({ "id": "n", "v": "a1" })))).await.unwrap();
    await_js(a.sync_now()).await.unwrap();
    await_js(b.sync_now()).await.unwrap();
    await_js(a.put("notes".into(), js(&json!({ "id": "n", "v": "a2" })))).await.unwrap();
    sleep(5).await;
    await_js(b.put("notes".into(), js(&json!({ "id": "n", "v": "b2" })))).await.unwrap();
    await_js(b.sync_now()).await.unwrap();
    a.close();
    // a again, on its database, but it can only push.
    let a = open_with(&a_db, push_only(server.provider(None).into())).await;
    let (conflicts, rec) = recorder();
    let _off = a.on("sync.conflict:action:detected".into(), rec).unwrap();
    let _ = await_js(a.sync_now()).await; // the pull fails; the push went through
    let row = await_js(a.get("notes".into(), JsValue::from_str("n"))).await.unwrap();
    assert_eq!(get(&row, "v"), "b2", "the server's version came back in the push answer");
    assert_eq!(conflicts.borrow().len(), 1);
    let c = conflicts.borrow()[0].clone();
    assert_eq!(get(&get(&get(&c, "local"), "payload"), "v"), "a2");
    assert_eq!(get(&get(&get(&c, "remote"), "payload"), "v"), "b2");
    assert_eq!(status(&a, "pendingOps").await, 0);
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn memory_server_answers_a_lost_op_with_the_current_version() {
    let server = MemoryServer::new();
    let p: JsValue = server.provider(None).into();
    let push: js_sys::Function = get(&p, "push").unchecked_into();
    let batch = |op: &str, clock: u64, ms: u64, v: &str| {
        let hlc = format!("{ms:015}:00000:dev-{op}");
        js(&json!({ "scope": { "workspaceId": "w1" }, "deviceId": format!("dev-{op}"), "ops": [{
            "opId": op, "tableName": "notes", "op": "put", "pk": "k", "payload": { "id": "k", "v": v },
            "stamp": { "clock": clock, "hlc": hlc, "deviceId": format!("dev-{op}"), "opId": op } }] }))
    };
    let call = |b: JsValue| await_js(push.call1(&p, &b).unwrap().unchecked_into());
    call(batch("win", 2, 1_700_000_000_000, "winner")).await.unwrap();
    let answer = call(batch("lose", 1, 1_700_000_000_001, "loser")).await.unwrap();
    let result = js_sys::Reflect::get_u32(&get(&answer, "results"), 0).unwrap();
    assert_eq!(get(&result, "success"), true);
    assert!(get(&result, "serverVersion").is_undefined());
    let current = get(&result, "current");
    assert_eq!(get(&current, "serverVersion"), 1);
    assert_eq!(get(&get(&current, "stamp"), "opId"), "win");
    assert_eq!(get(&get(&current, "payload"), "v"), "winner");
}

#[wasm_bindgen_test]
async fn discarding_a_rejected_op_gives_the_record_the_servers_version_back() {
    let server = MemoryServer::new();
    let e = open_with(&unique("discard"), server.provider(None).into()).await;
    await_js(e.put("notes".into(), js(&json!({ "id": "n", "v": "good" })))).await.unwrap();
    await_js(e.sync_now()).await.unwrap();
    await_js(e.put("notes".into(), js(&json!({ "id": "n", "v": "bad" })))).await.unwrap();
    let pending = await_js(e.pending_ops(None)).await.unwrap();
    let op_id = get(&js_sys::Reflect::get_u32(&pending, 0).unwrap(), "opId");
    server.reject_ops(js_sys::Array::of1(&op_id).into(), false);
    let _ = await_js(e.sync_now()).await;
    let failed: js_sys::Array = await_js(e.failed_ops()).await.unwrap().unchecked_into();
    assert_eq!(failed.length(), 1);
    let row = await_js(e.get("notes".into(), JsValue::from_str("n"))).await.unwrap();
    assert_eq!(get(&row, "v"), "bad", "the rejected version is still here until the discard");
    await_js(e.discard_failed(js_sys::Array::of1(&op_id).into())).await.unwrap();
    await_js(e.sync_now()).await.unwrap();
    let row = await_js(e.get("notes".into(), JsValue::from_str("n"))).await.unwrap();
    assert_eq!(get(&row, "v"), "good", "after the discard the record is the server's again");
    e.close();
}

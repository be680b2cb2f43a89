//! `MemoryServer`'s provider called directly, as an app's tests would: auth
//! codes, pull pages, subscription fan-out with its fault switches, and purged
//! history giving `CURSOR_EXPIRED`.

use js_sys::{Array, Function};
use serde_json::json;
use tidesync::wasm::{MemoryProvider, MemoryServer};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

use super::util::*;

fn batch(ids: &[&str]) -> JsValue {
    let ops: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let op_id = format!("op-{id}-{i}");
            json!({
                "opId": op_id, "tableName": "notes", "op": "put", "pk": id,
                "payload": { "id": id }, "stamp": {
                    "clock": 1, "hlc": format!("001700000000000:{:05}:dev", i), "deviceId": "dev", "opId": op_id,
                },
            })
        })
        .collect();
    js(&json!({ "scope": { "workspaceId": "w1" }, "deviceId": "dev", "ops": ops }))
}

fn pull_req(cursor: u64, limit: u64) -> JsValue {
    js(&json!({ "scope": { "workspaceId": "w1" }, "cursor": cursor, "limit": limit }))
}

async fn subscribe(p: &MemoryProvider) -> std::rc::Rc<std::cell::RefCell<Vec<JsValue>>> {
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = seen.clone();
    let on_changes = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |changes: JsValue, meta: JsValue| {
        let pair = Array::of2(&changes, &meta);
        sink.borrow_mut().push(pair.into());
    });
    let f: Function = on_changes.into_js_value().unchecked_into();
    await_js(p.subscribe(js(&json!({ "workspaceId": "w1" })), js(&json!(["notes"])), f, None)).await.unwrap();
    seen
}

#[wasm_bindgen_test]
async fn tokens_map_to_workspaces() {
    let server = MemoryServer::new();
    server.grant("good", "w1");
    let ok = server.provider(Some(js(&json!({ "token": "good" })).unchecked_into()));
    let unknown = server.provider(Some(js(&json!({ "token": "nope" })).unchecked_into()));
    let other = js(&json!({ "scope": { "workspaceId": "w2" }, "cursor": 0, "limit": 10 }));
    await_js(ok.pull(pull_req(0, 10))).await.unwrap();
    let e = await_js(unknown.pull(pull_req(0, 10))).await.unwrap_err();
    assert_eq!(get(&e, "code"), "AUTH");
    let e = await_js(ok.pull(other)).await.unwrap_err();
    assert_eq!(get(&e, "code"), "FORBIDDEN");
    let e = await_js(unknown.push(batch(&["a"]))).await.unwrap_err();
    assert_eq!(get(&e, "code"), "AUTH");
    assert_eq!(server.seen_ops("w1"), 0.0, "a refused push changes nothing");
}

#[wasm_bindgen_test]
async fn pushes_are_idempotent_and_pull_pages_through_versions() {
    let server = MemoryServer::new();
    let p = server.provider(None);
    let first = await_js(p.push(batch(&["a", "b", "c"]))).await.unwrap();
    let again = await_js(p.push(batch(&["a", "b", "c"]))).await.unwrap();
    assert_eq!(js_sys::JSON::stringify(&first).unwrap(), js_sys::JSON::stringify(&again).unwrap());
    assert_eq!(server.server_version("w1"), 3.0);
    let page = await_js(p.pull(pull_req(0, 2))).await.unwrap();
    assert_eq!(Array::from(&get(&page, "changes")).length(), 2);
    assert_eq!((get(&page, "nextCursor"), get(&page, "hasMore")), (JsValue::from(2), JsValue::TRUE));
    let page = await_js(p.pull(pull_req(2, 2))).await.unwrap();
    assert_eq!((get(&page, "nextCursor"), get(&page, "hasMore")), (JsValue::from(3), JsValue::FALSE));
    let bad = await_js(p.pull(js(&json!({ "scope": { "workspaceId": "w1" }, "cursor": -1, "limit": 2 })))).await;
    assert_eq!(get(&bad.unwrap_err(), "code"), "INVALID");
}

#[wasm_bindgen_test]
async fn subscriptions_fan_out_with_from_cursor_and_obey_fault_switches() {
    let server = MemoryServer::new();
    let p = server.provider(None);
    let seen = subscribe(&p).await;
    await_js(p.push(batch(&["a"]))).await.unwrap();
    sleep(10).await;
    assert_eq!(seen.borrow().len(), 1);
    let first = Array::from(&seen.borrow()[0]);
    assert_eq!(get(&first.get(1), "fromCursor"), 0);
    assert_eq!(get(&Array::from(&first.get(0)).get(0), "serverVersion"), 1);

    server.subscription_faults(1, 0, 0);
    await_js(p.push(batch(&["b"]))).await.unwrap();
    sleep(10).await;
    assert_eq!(seen.borrow().len(), 1, "dropped");

    server.subscription_faults(0, 1, 0);
    await_js(p.push(batch(&["c"]))).await.unwrap();
    sleep(10).await;
    assert_eq!(seen.borrow().len(), 3, "duplicated");

    server.subscription_faults(0, 0, 1);
    await_js(p.push(batch(&["d"]))).await.unwrap();
    await_js(p.push(batch(&["e"]))).await.unwrap();
    sleep(10).await;
    let froms: Vec<JsValue> = seen.borrow()[3..].iter().map(|b| get(&Array::from(b).get(1), "fromCursor")).collect();
    assert_eq!(froms, vec![JsValue::from(4), JsValue::from(3)], "reordered: the held batch comes after the next");
}

#[wasm_bindgen_test]
async fn purged_history_gives_cursor_expired_and_cursor_zero_still_works() {
    let server = MemoryServer::new();
    let p = server.provider(None);
    await_js(p.push(batch(&["a", "b", "c", "d"]))).await.unwrap();
    server.purge_history("w1", 3.0);
    let e = await_js(p.pull(pull_req(1, 10))).await.unwrap_err();
    assert_eq!(get(&e, "code"), "CURSOR_EXPIRED");
    let all = await_js(p.pull(pull_req(0, 10))).await.unwrap();
    assert_eq!(Array::from(&get(&all, "changes")).length(), 4, "a rescan from 0 gets everything");
    assert_eq!(get(&all, "remaining"), 0);
}

#[wasm_bindgen_test]
async fn unreachable_and_latency_switches() {
    let server = MemoryServer::new();
    let p = server.provider(None);
    server.set_unreachable(true);
    let e = await_js(p.pull(pull_req(0, 10))).await.unwrap_err();
    assert_eq!(get(&e, "code"), "UNAVAILABLE");
    server.set_unreachable(false);
    server.set_latency(150);
    let t0 = js_sys::Date::now();
    await_js(p.pull(pull_req(0, 10))).await.unwrap();
    assert!(js_sys::Date::now() - t0 >= 140.0);
}

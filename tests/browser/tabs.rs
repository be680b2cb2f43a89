//! Several engines on one database (tabs), with Web Locks (issue 14 point 6):
//! every write in any engine reaches the server within a second without a
//! `syncNow`, and `syncNow` on an engine that does not push resolves only
//! after its ops are on the server and remote changes are pulled, through
//! the leader, or by itself when the leader goes away; with no leader at all
//! it rejects with a typed error instead of hanging.

use js_sys::Reflect;
use serde_json::json;
use tidesync::wasm::{MemoryServer, SyncEngine};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::util::*;

fn on_server(server: &MemoryServer, pk: &str) -> Option<JsValue> {
    server.snapshot("w1").unwrap().iter().find(|r| get(r, "pk") == pk)
}

fn deleted_on_server(server: &MemoryServer, pk: &str) -> bool {
    on_server(server, pk).is_some_and(|r| get(&r, "deleted") == true)
}

/// Opens two engines on `db`; returns (leader, follower) once one leads.
pub async fn two_tabs(db: &str, server: &MemoryServer, extra: serde_json::Value) -> (SyncEngine, SyncEngine) {
    let a = open_synced(db, server, extra.clone()).await;
    let b = open_synced(db, server, extra).await;
    wait_for(5000.0, "a leader", || async { status(&a, "leader").await == true || status(&b, "leader").await == true })
        .await;
    let pair = if status(&a, "leader").await == true { (a, b) } else { (b, a) };
    assert_eq!(status(&pair.1, "leader").await, false, "exactly one leads");
    pair
}

/// Milliseconds from `start` until `check` holds (polled every 5 ms), or panics after 3 s.
async fn ms_until(start: f64, what: &str, check: impl Fn() -> bool) -> f64 {
    while !check() {
        assert!(js_sys::Date::now() - start < 3000.0, "{what}: not on the server after 3 s");
        sleep(5).await;
    }
    js_sys::Date::now() - start
}

#[wasm_bindgen_test]
async fn every_write_of_a_follower_reaches_the_server_within_a_second() {
    let server = MemoryServer::new();
    let (leader, follower) = two_tabs(&unique("tabs-latency"), &server, json!({})).await;
    // Let the leader's first run (bootstrap, subscribe) finish.
    wait_for(5000.0, "an idle leader", || async { status(&leader, "phase").await == "idle" }).await;
    sleep(100).await;
    let mut timings = Vec::new();

    let t = js_sys::Date::now();
    await_js(follower.put("notes".into(), js(&json!({ "id": "p1" })))).await.unwrap();
    timings.push(("put", ms_until(t, "put", || on_server(&server, "p1").is_some()).await));

    let t = js_sys::Date::now();
    await_js(follower.bulk_put("notes".into(), js(&json!([{ "id": "b1" }, { "id": "b2" }])))).await.unwrap();
    timings.push((
        "bulkPut",
        ms_until(t, "bulkPut", || on_server(&server, "b1").is_some() && on_server(&server, "b2").is_some()).await,
    ));

    let t = js_sys::Date::now();
    await_js(follower.delete("notes".into(), JsValue::from_str("p1"))).await.unwrap();
    timings.push(("delete", ms_until(t, "delete", || deleted_on_server(&server, "p1")).await));

    let t = js_sys::Date::now();
    await_js(follower.bulk_delete("notes".into(), js(&json!(["b1", "b2"])))).await.unwrap();
    timings.push((
        "bulkDelete",
        ms_until(t, "bulkDelete", || deleted_on_server(&server, "b1") && deleted_on_server(&server, "b2")).await,
    ));

    web_sys::console::log_1(&format!("follower write -> server (ms): {timings:?}").into());
    for (what, ms) in &timings {
        assert!(*ms < 1000.0, "{what} took {ms} ms");
    }
    assert_eq!(status(&follower, "leader").await, false, "the follower never pushed itself");
    leader.close();
    follower.close();
}

#[wasm_bindgen_test]
async fn bulk_writes_in_the_leader_are_pushed_without_sync_now() {
    let server = MemoryServer::new();
    let e = open_synced(&unique("tabs-bulk"), &server, json!({})).await;
    wait_for(5000.0, "leadership", || async { status(&e, "leader").await == true }).await;
    wait_for(5000.0, "an idle engine", || async { status(&e, "phase").await == "idle" }).await;

    let t = js_sys::Date::now();
    await_js(e.bulk_put("notes".into(), js(&json!([{ "id": "a" }, { "id": "b" }, { "id": "c" }])))).await.unwrap();
    let put_ms = ms_until(t, "bulkPut", || ["a", "b", "c"].iter().all(|pk| on_server(&server, pk).is_some())).await;

    let t = js_sys::Date::now();
    await_js(e.bulk_delete("notes".into(), js(&json!(["a", "b"])))).await.unwrap();
    let delete_ms =
        ms_until(t, "bulkDelete", || deleted_on_server(&server, "a") && deleted_on_server(&server, "b")).await;

    web_sys::console::log_1(&format!("leader bulkPut {put_ms} ms, bulkDelete {delete_ms} ms").into());
    assert!(put_ms < 1000.0 && delete_ms < 1000.0, "bulkPut {put_ms} ms, bulkDelete {delete_ms} ms");
    assert_eq!(status(&e, "pendingOps").await, 0);
    e.close();
}

#[wasm_bindgen_test]
async fn sync_now_on_a_follower_pushes_and_pulls_through_the_leader() {
    let server = MemoryServer::new();
    // No autoSync: nothing is pushed or pulled unless syncNow asks.
    let (leader, follower) = two_tabs(&unique("tabs-syncnow"), &server, json!({ "autoSync": false })).await;
    let other = open_synced(&unique("tabs-syncnow-other"), &server, json!({ "autoSync": false })).await;
    await_js(other.put("notes".into(), js(&json!({ "id": "remote" })))).await.unwrap();
    await_js(other.sync_now()).await.unwrap();

    await_js(follower.put("notes".into(), js(&json!({ "id": "mine" })))).await.unwrap();
    let t = js_sys::Date::now();
    let report = with_timeout(5000, follower.sync_now()).await.expect("syncNow on the follower resolved");
    let ms = js_sys::Date::now() - t;
    web_sys::console::log_1(&format!("follower syncNow: {ms} ms").into());
    assert!(on_server(&server, "mine").is_some(), "its op is on the server when syncNow resolves");
    assert!(
        !await_js(follower.get("notes".into(), "remote".into())).await.unwrap().is_undefined(),
        "and remote is pulled"
    );
    assert_eq!(get(&report, "pushed"), 1.0, "{report:?}");
    assert!(get(&report, "pulled").as_f64().unwrap() >= 1.0, "{report:?}");
    assert_eq!(status(&follower, "pendingOps").await, 0);
    assert_eq!(status(&follower, "leader").await, false);
    for e in [leader, follower, other] {
        e.close();
    }
}

#[wasm_bindgen_test]
async fn sync_now_on_a_follower_survives_the_leader_closing() {
    let server = MemoryServer::new();
    let (leader, follower) = two_tabs(&unique("tabs-handover"), &server, json!({ "autoSync": false })).await;
    await_js(follower.put("notes".into(), js(&json!({ "id": "f1" })))).await.unwrap();
    // The leader's run is slow; it closes while serving the request, after
    // the follower would have stopped waiting for the lock itself.
    server.set_latency(1500);
    let pending = follower.sync_now();
    sleep(1200).await;
    assert_eq!(status(&follower, "leader").await, false);
    leader.close();
    server.set_latency(0);
    let report = with_timeout(8000, pending).await.expect("syncNow resolved after the hand-over");
    assert_eq!(status(&follower, "leader").await, true, "the follower took over");
    assert!(on_server(&server, "f1").is_some(), "{report:?}");
    assert_eq!(status(&follower, "pendingOps").await, 0);
    follower.close();
}

#[wasm_bindgen_test]
async fn sync_now_without_any_leader_rejects_with_unavailable() {
    let server = MemoryServer::new();
    let db = unique("tabs-noleader");
    // Something else holds the engine's Web Lock and never answers.
    let release = js_sys::Function::new_with_args(
        "name",
        "let release; const held = new Promise((r) => { release = r; }); \
         navigator.locks.request(name, () => held); return release;",
    )
    .call1(&JsValue::NULL, &JsValue::from_str(&format!("tidesync:{db}")))
    .unwrap();
    let e = open_synced(&db, &server, json!({ "autoSync": false })).await;
    await_js(e.put("notes".into(), js(&json!({ "id": "x" })))).await.unwrap();
    let t = js_sys::Date::now();
    let err = with_timeout(10_000, e.sync_now()).await.expect_err("syncNow rejected");
    let ms = js_sys::Date::now() - t;
    assert_eq!(get(&err, "code"), "UNAVAILABLE", "{err:?}");
    assert!(get(&err, "message").as_string().unwrap().contains("no engine"), "{err:?}");
    assert!(ms < 6000.0, "rejected after {ms} ms");
    let _ = js_sys::Function::from(release).call0(&JsValue::NULL);
    wait_for(5000.0, "the lock", || async { status(&e, "leader").await == true }).await;
    await_js(e.sync_now()).await.unwrap();
    assert!(on_server(&server, "x").is_some());
    e.close();
}

/// Awaits `p` for at most `ms`; a timeout is an `Err` with code `TIMEOUT`.
pub async fn with_timeout(ms: u32, p: js_sys::Promise) -> Result<JsValue, JsValue> {
    let timeout = js_sys::Promise::new(&mut |_, reject| {
        let err = js_sys::Object::new();
        let _ = Reflect::set(&err, &"code".into(), &"TIMEOUT".into());
        let cb = Closure::once_into_js(move || {
            let _ = reject.call1(&JsValue::NULL, &err);
        });
        let _ = web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), ms as i32);
    });
    let out = await_js(js_sys::Promise::race(&js_sys::Array::of2(&p, &timeout))).await;
    if let Err(e) = &out {
        assert_ne!(get(e, "code"), "TIMEOUT", "still pending after {ms} ms");
    }
    out
}

//! Several engines on one database where the browser has no
//! `navigator.locks` (insecure origins, older Safari), simulated with the
//! test-only switch `SyncEngine::test_hide_web_locks`: the lease row in
//! `sync_state` still makes exactly one engine push, pushes are counted per
//! engine through a wrapping provider, and when the holder closes the other
//! engine takes over.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Function, Reflect};
use serde_json::json;
use tidesync::wasm::{MemoryServer, SyncEngine};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::util::*;

/// `server`'s provider, wrapped so that each `push` call bumps `count`.
fn counting_provider(server: &MemoryServer, count: Rc<Cell<u32>>) -> JsValue {
    let bump = Closure::<dyn FnMut()>::new(move || count.set(count.get() + 1)).into_js_value();
    let wrap = Function::new_with_args(
        "p, bump",
        "return new Proxy(p, { get(t, k) { const v = t[k]; \
           if (typeof v !== 'function') return v; \
           return k === 'push' ? (...a) => { bump(); return v.apply(t, a); } : v.bind(t); } });",
    );
    wrap.call2(&JsValue::NULL, &JsValue::from(server.provider(None)), &bump).unwrap()
}

async fn open_counted(db: &str, server: &MemoryServer, count: Rc<Cell<u32>>) -> SyncEngine {
    let cfg = js(&json!({
        "workspaceId": "w1", "dbName": db, "tables": [{ "name": "notes" }],
        "backoffMs": [50], "maxAttempts": 1000,
    }));
    Reflect::set(&cfg, &"provider".into(), &counting_provider(server, count)).unwrap();
    SyncEngine::open_with(cfg).await.unwrap()
}

fn on_server(server: &MemoryServer, pk: &str) -> bool {
    server.snapshot("w1").unwrap().iter().any(|r| get(&r, "pk") == pk)
}

#[wasm_bindgen_test]
async fn without_web_locks_one_engine_pushes_and_the_other_takes_over_on_close() {
    SyncEngine::test_hide_web_locks(true);
    let server = MemoryServer::new();
    let db = unique("tabs-lease");
    let (ca, cb) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let a = open_counted(&db, &server, ca.clone()).await;
    let b = open_counted(&db, &server, cb.clone()).await;
    SyncEngine::test_hide_web_locks(false);

    wait_for(5000.0, "a lease holder", || async {
        status(&a, "leader").await == true || status(&b, "leader").await == true
    })
    .await;
    // Both write, interleaved, for about 3 s (three lease renewals and more).
    let start = js_sys::Date::now();
    let mut i = 0;
    while js_sys::Date::now() - start < 3000.0 {
        let (la, lb) = (status(&a, "leader").await == true, status(&b, "leader").await == true);
        assert!(!(la && lb), "both engines lead at once");
        let e = if i % 2 == 0 { &a } else { &b };
        if i % 3 == 0 {
            await_js(e.bulk_put("notes".into(), js(&json!([{ "id": format!("x{i}") }, { "id": format!("y{i}") }]))))
                .await
                .unwrap();
        } else {
            await_js(e.put("notes".into(), js(&json!({ "id": format!("x{i}") })))).await.unwrap();
        }
        i += 1;
        sleep(40).await;
    }
    wait_for(3000.0, "everything on the server", || async { on_server(&server, &format!("x{}", i - 1)) }).await;
    web_sys::console::log_1(&format!("pushes per engine: a {} b {} ({i} writes)", ca.get(), cb.get()).into());
    assert!(ca.get() == 0 || cb.get() == 0, "both engines pushed: a {} b {}", ca.get(), cb.get());
    assert!(ca.get() + cb.get() > 0, "someone pushed");

    // The holder closes; the other takes the lease over and pushes.
    let (holder, other, other_count, holder_count) =
        if status(&a, "leader").await == true { (a, b, cb, ca) } else { (b, a, ca, cb) };
    let pushed_by_holder = holder_count.get();
    let t = js_sys::Date::now();
    holder.close();
    wait_for(7000.0, "the take-over", || async { status(&other, "leader").await == true }).await;
    let takeover_ms = js_sys::Date::now() - t;
    web_sys::console::log_1(&format!("lease take-over after close: {takeover_ms} ms").into());
    assert_eq!(other_count.get(), 0, "it did not push before it held the lease");
    await_js(other.put("notes".into(), js(&json!({ "id": "after" })))).await.unwrap();
    wait_for(3000.0, "the new holder's push", || async { on_server(&server, "after") }).await;
    assert!(other_count.get() > 0);
    assert_eq!(holder_count.get(), pushed_by_holder, "the closed engine pushed nothing more");
    assert!(takeover_ms < 3000.0, "take-over after a close took {takeover_ms} ms");
    other.close();
}

#[wasm_bindgen_test]
async fn without_web_locks_sync_now_on_the_follower_goes_through_the_lease_holder() {
    SyncEngine::test_hide_web_locks(true);
    let server = MemoryServer::new();
    let db = unique("tabs-lease-sync");
    let (ca, cb) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let a = open_counted(&db, &server, ca.clone()).await;
    let b = open_counted(&db, &server, cb.clone()).await;
    SyncEngine::test_hide_web_locks(false);
    wait_for(5000.0, "a lease holder", || async {
        status(&a, "leader").await == true || status(&b, "leader").await == true
    })
    .await;
    let (leader, follower, follower_count) = if status(&a, "leader").await == true { (a, b, cb) } else { (b, a, ca) };
    assert_eq!(status(&follower, "leader").await, false, "exactly one engine holds the lease");
    let t = js_sys::Date::now();
    await_js(follower.put("notes".into(), js(&json!({ "id": "f" })))).await.unwrap();
    wait_for(3000.0, "the follower's write on the server", || async { on_server(&server, "f") }).await;
    let ms = js_sys::Date::now() - t;
    web_sys::console::log_1(&format!("lease follower write -> server: {ms} ms").into());
    assert!(ms < 1000.0, "{ms} ms");
    await_js(follower.put("notes".into(), js(&json!({ "id": "g" })))).await.unwrap();
    await_js(follower.sync_now()).await.unwrap();
    assert!(on_server(&server, "g"));
    assert_eq!(follower_count.get(), 0, "the follower never pushed");
    leader.close();
    follower.close();
}

/// Writes a lease row held by an engine that is gone (a killed tab), expiring in `ms`.
async fn plant_stale_lease(db: &str, ms: u32) {
    let plant = Function::new_with_args(
        "db, ms",
        "return new Promise((ok, fail) => { const r = indexedDB.open(db); r.onerror = fail; \
           r.onsuccess = () => { const c = r.result; const tx = c.transaction('sync_state', 'readwrite'); \
             tx.objectStore('sync_state').put({ key: 'leaderLease', \
               value: { holder: 'a-killed-tab', expiresAt: Date.now() + ms } }); \
             tx.oncomplete = () => { c.close(); ok(); }; tx.onerror = fail; }; });",
    );
    let p = plant.call2(&JsValue::NULL, &JsValue::from_str(db), &JsValue::from(ms)).unwrap();
    await_js(p.into()).await.unwrap();
}

#[wasm_bindgen_test]
async fn without_web_locks_a_lease_left_by_a_killed_tab_is_taken_over_when_it_expires() {
    let server = MemoryServer::new();
    let db = unique("tabs-lease-expiry");
    SyncEngine::test_hide_web_locks(true);
    open_counted(&db, &server, Rc::new(Cell::new(0))).await.close();
    plant_stale_lease(&db, 2500).await;
    let count = Rc::new(Cell::new(0));
    let e = open_counted(&db, &server, count.clone()).await;
    SyncEngine::test_hide_web_locks(false);
    let t = js_sys::Date::now();
    await_js(e.put("notes".into(), js(&json!({ "id": "waits" })))).await.unwrap();
    sleep(1500).await;
    assert_eq!(status(&e, "leader").await, false, "the lease is not expired yet");
    assert_eq!(count.get(), 0, "nothing pushed while another holds the lease");
    wait_for(5000.0, "the take-over", || async { status(&e, "leader").await == true }).await;
    let ms = js_sys::Date::now() - t;
    wait_for(3000.0, "the push", || async { on_server(&server, "waits") }).await;
    web_sys::console::log_1(&format!("take-over of an expired lease after {ms} ms").into());
    assert!(ms >= 2000.0, "taken over after {ms} ms, before the lease expired");
    e.close();
}

//! Browser tests, run headless in Chromium, Firefox and WebKit by
//! `./scripts/test`: the shared store-and-capture suite against real
//! IndexedDB, the IndexedDB smoke test, the transaction rule, and the JS API.
#![cfg(target_arch = "wasm32")]

mod suite;

use js_sys::{Function, Promise, Reflect};
use serde_json::{json, Value};
use tidesync::core::Pk;
use tidesync::store::idb::IdbStore;
use tidesync::store::{Access, Schema, Store, StoreTx, SYSTEM_STORES};
use tidesync::wasm::SyncEngine;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[path = "browser/convergence.rs"]
mod convergence;
#[path = "browser/devtools.rs"]
mod devtools;
#[path = "browser/faults.rs"]
mod faults;
#[path = "browser/input_checks.rs"]
mod input_checks;
#[path = "browser/live.rs"]
mod live;
#[path = "browser/live_patch.rs"]
mod live_patch;
#[path = "browser/memory_server.rs"]
mod memory_server;
#[path = "browser/pull.rs"]
mod pull;
#[path = "browser/pull_hooks.rs"]
mod pull_hooks;
#[path = "browser/push.rs"]
mod push;
#[path = "browser/queries.rs"]
mod queries;
#[path = "browser/storage.rs"]
mod storage;
#[path = "browser/tabs.rs"]
mod tabs;
#[path = "browser/tabs_lease.rs"]
mod tabs_lease;
#[path = "browser/util.rs"]
mod util;

use util::*;

struct Idb {
    name: String,
}

impl suite::Harness for Idb {
    type S = IdbStore;
    async fn open(&self, schema: Schema) -> IdbStore {
        IdbStore::open(&self.name, schema).await.unwrap()
    }
    fn rec(&self, v: Value) -> JsValue {
        js(&v)
    }
    fn json(&self, r: &JsValue) -> Value {
        serde_wasm_bindgen::from_value(r.clone()).unwrap()
    }
}

macro_rules! browser {
    ($($name:ident),*) => {
        $(
            #[wasm_bindgen_test]
            async fn $name() {
                suite::$name(Idb { name: unique(stringify!($name)) }).await;
            }
        )*
    };
}

suite_names!(browser);

#[wasm_bindgen_test]
async fn smoke_indexeddb_fixed_stores_and_two_tables() {
    let name = unique("smoke");
    let store = IdbStore::open(&name, suite::schema()).await.unwrap();
    let tx = store.begin(Access::All, None).await.unwrap();
    tx.put_records("notes", vec![js(&json!({"id": "n1", "thread_id": "t"}))]).await.unwrap();
    tx.put_records("messages", vec![js(&json!({"id": 1, "text": "hi"}))]).await.unwrap();
    tx.put_state("probe", json!({"ok": true})).await.unwrap();
    let back = tx.get_records("notes", &[Pk::Str("n1".into())]).await.unwrap();
    let msg = tx.get_records("messages", &[Pk::Num(1.0)]).await.unwrap();
    assert_eq!(tx.get_state("probe").await.unwrap(), Some(json!({"ok": true})));
    tx.commit().await.unwrap();
    assert_eq!(get(back[0].as_ref().unwrap(), "thread_id"), "t");
    assert_eq!(get(msg[0].as_ref().unwrap(), "text"), "hi");
    store.close();
    // The database holds the fixed stores of docs/PROTOCOL.md section 5 plus the two tables.
    let names = store_names(&name).await;
    for s in SYSTEM_STORES.iter().chain(&["notes", "messages"]) {
        assert!(names.contains(&s.to_string()), "{s} missing from {names:?}");
    }
}

/// The object store names of a database, read with the raw IndexedDB API.
async fn store_names(db: &str) -> Vec<String> {
    let factory: web_sys::IdbFactory = Reflect::get(&js_sys::global(), &"indexedDB".into()).unwrap().unchecked_into();
    let req = factory.open(db).unwrap();
    let done = Promise::new(&mut |ok, _| req.set_onsuccess(Some(&ok)));
    await_js(done).await.unwrap();
    let idb: web_sys::IdbDatabase = req.result().unwrap().unchecked_into();
    let list = idb.object_store_names();
    let names = (0..list.length()).filter_map(|i| list.item(i)).collect();
    idb.close();
    names
}

#[wasm_bindgen_test]
async fn transaction_rule_a_timer_inside_a_transaction_ends_it() {
    // The engine never awaits anything but store requests while a transaction
    // is open. This test pins down why: after a timer, the transaction is gone.
    let store = IdbStore::open(&unique("txrule"), suite::schema()).await.unwrap();
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    tx.put_records("notes", vec![js(&json!({"id": "before"}))]).await.unwrap();
    sleep(20).await;
    let late = tx.put_records("notes", vec![js(&json!({"id": "after"}))]).await;
    assert!(late.is_err(), "a request after a timer must fail: the transaction auto-committed");
    drop(tx);
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    assert_eq!(tx.count("notes").await.unwrap(), 1);
    tx.commit().await.unwrap();
}

#[wasm_bindgen_test]
async fn js_errors_are_tidesync_errors_with_codes() {
    let bad = await_js(SyncEngine::open(js(&json!({ "workspaceId": "w", "tables": [] })))).await.unwrap_err();
    assert!(bad.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&bad, "name"), "TidesyncError");
    assert_eq!(get(&bad, "code"), "INVALID");
    assert_eq!(get(&bad, "path"), "config.tables");
    let not_object = await_js(SyncEngine::open(JsValue::from_str("w1"))).await.unwrap_err();
    assert_eq!(get(&not_object, "code"), "INVALID");

    let engine = open_engine(&unique("errors")).await;
    let e = await_js(engine.put("notes".into(), js(&json!({"title": "no id"})))).await.unwrap_err();
    assert_eq!((get(&e, "name"), get(&e, "code")), (JsValue::from("TidesyncError"), JsValue::from("INVALID")));
    assert_eq!(get(&e, "path"), "records[0].id");
    let e = await_js(engine.bulk_put("notes".into(), js(&json!([{"id": 1}, 7])))).await.unwrap_err();
    assert_eq!(get(&e, "path"), "records[1]");
    let e = await_js(engine.get("nope".into(), JsValue::from(1))).await.unwrap_err();
    assert_eq!(get(&e, "code"), "INVALID");
    let e = await_js(engine.delete("notes".into(), JsValue::from_f64(f64::NAN))).await.unwrap_err();
    assert_eq!(get(&e, "code"), "INVALID");
    let n = await_js(engine.count("notes".into())).await.unwrap();
    assert_eq!(n, 0, "nothing was written");
    let e = engine.on("no-such-event".into(), Function::new_no_args("")).unwrap_err();
    assert_eq!(get(&e, "code"), "INVALID");
    engine.close();
    let e = await_js(engine.count("notes".into())).await.unwrap_err();
    assert_eq!(get(&e, "code"), "CLOSED");
}

#[wasm_bindgen_test]
async fn two_engines_on_one_database_see_each_others_writes_as_tab_changes() {
    let db = unique("tabs");
    let a = open_engine(&db).await;
    let b = open_engine(&db).await;
    let (seen_b, handler) = recorder();
    let _off = b.on("change".into(), handler).unwrap();
    let (seen_a, handler_a) = recorder();
    let _off_a = a.on("change".into(), handler_a).unwrap();
    await_js(a.put("notes".into(), js(&json!({"id": "from-a"})))).await.unwrap();
    for _ in 0..50 {
        if !seen_b.borrow().is_empty() {
            break;
        }
        sleep(10).await;
    }
    let got = seen_b.borrow()[0].clone();
    assert_eq!(get(&got, "source"), "tab");
    assert_eq!(get(&got, "table"), "notes");
    assert_eq!(js_sys::Array::from(&get(&got, "pks")).get(0), "from-a");
    assert_eq!(get(&seen_a.borrow()[0], "source"), "local");
    let row = await_js(b.get("notes".into(), "from-a".into())).await.unwrap();
    assert!(row.is_object(), "the other engine reads the row");
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn hlc_survives_reopen_with_date_now_forced_backwards() {
    let db = unique("clock");
    let engine = open_engine(&db).await;
    let device = engine.device_id();
    let first = await_js(engine.put("notes".into(), js(&json!({"id": 1})))).await.unwrap();
    engine.close();
    let date: JsValue = Reflect::get(&js_sys::global(), &"Date".into()).unwrap();
    let real_now = Reflect::get(&date, &"now".into()).unwrap();
    Reflect::set(&date, &"now".into(), &Function::new_no_args("return 1000")).unwrap();
    let reopened = open_engine(&db).await;
    let second = await_js(reopened.put("notes".into(), js(&json!({"id": 2})))).await;
    Reflect::set(&date, &"now".into(), &real_now).unwrap();
    let second = second.unwrap();
    assert_eq!(reopened.device_id(), device);
    let (h1, h2) = (get(&first, "hlc").as_string().unwrap(), get(&second, "hlc").as_string().unwrap());
    assert!(h2 > h1, "{h2} must sort after {h1}");
    let ops = await_js(reopened.pending_ops(None)).await.unwrap();
    assert_eq!(js_sys::Array::from(&ops).length(), 2);
    reopened.close();
}

#[wasm_bindgen_test]
async fn a_throwing_handler_is_reported_and_breaks_nothing() {
    let engine = open_engine(&unique("handlers")).await;
    let _off = engine.on("change".into(), Function::new_no_args("throw new Error('boom')")).unwrap();
    let (errors, rec) = recorder();
    let _off2 = engine.on("sync.error:action".into(), rec).unwrap();
    let (captured, rec2) = recorder();
    let off3 = engine.on("sync.op:action:captured".into(), rec2).unwrap();
    await_js(engine.put("notes".into(), js(&json!({"id": "x"})))).await.unwrap();
    assert_eq!(get(&errors.borrow()[0], "code"), "HANDLER");
    assert_eq!(captured.borrow().len(), 1, "later handlers still run");
    off3.call0(&JsValue::NULL).unwrap();
    await_js(engine.put("notes".into(), js(&json!({"id": "y"})))).await.unwrap();
    assert_eq!(captured.borrow().len(), 1, "unsubscribed");
    assert_eq!(await_js(engine.count("notes".into())).await.unwrap(), 2);
    engine.close();
}

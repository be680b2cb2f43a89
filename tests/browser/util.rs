//! Helpers shared by the browser test modules.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use serde::Serialize;
use serde_json::{json, Value};
use tidesync::wasm::{MemoryServer, SyncEngine};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

pub fn js(v: &Value) -> JsValue {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap()
}

/// Every test names its database through here, so this is where the page
/// learns to print what no test awaits: an uncaught error or an unhandled
/// rejection from a background task, which the runner would not show.
pub fn unique(name: &str) -> String {
    report_uncaught();
    format!("tidesync-test-{name}-{}-{}", js_sys::Date::now(), (js_sys::Math::random() * 1e9) as u64)
}

fn report_uncaught() {
    thread_local!(static INSTALLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if INSTALLED.with(|i| i.replace(true)) {
        return;
    }
    let install = Function::new_no_args(
        "addEventListener('error', e => console.error('uncaught error:', e.message, e.error && e.error.stack));
         addEventListener('unhandledrejection', e => console.error('unhandled rejection:', e.reason && (e.reason.stack || e.reason)));",
    );
    install.call0(&JsValue::NULL).unwrap();
}

pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

pub async fn await_js(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

pub fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap()
}

pub fn config(db: &str) -> JsValue {
    js(&json!({
        "workspaceId": "w1",
        "dbName": db,
        "tables": [{ "name": "notes", "indexes": ["thread_id"] }, { "name": "messages", "orderKey": true }],
    }))
}

pub async fn open_engine(db: &str) -> SyncEngine {
    SyncEngine::open_with(config(db)).await.unwrap()
}

/// Records every payload a handler receives.
pub fn recorder() -> (Rc<RefCell<Vec<JsValue>>>, Function) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    let f = Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| sink.borrow_mut().push(v));
    (seen, f.into_js_value().unchecked_into())
}

pub async fn open_synced(db: &str, server: &MemoryServer, extra: Value) -> SyncEngine {
    let mut cfg = json!({
        "workspaceId": "w1",
        "dbName": db,
        "tables": [{ "name": "notes" }],
        "backoffMs": [50],
        "maxAttempts": 1000,
    });
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    let cfg = js(&cfg);
    Reflect::set(&cfg, &"provider".into(), &JsValue::from(server.provider(None))).unwrap();
    SyncEngine::open_with(cfg).await.unwrap()
}

pub async fn status(e: &SyncEngine, key: &str) -> JsValue {
    get(&await_js(e.status()).await.unwrap(), key)
}

/// Polls `check` every 20 ms until it holds, for at most `ms`.
pub async fn wait_for<F, Fut>(ms: f64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = js_sys::Date::now();
    while !check().await {
        assert!(js_sys::Date::now() - start < ms, "timed out waiting for {what}");
        sleep(20).await;
    }
}

/// A package JS module loaded from its source as a blob module (the test
/// runner's file server can stall when a page loads several snippet files
/// at once).
pub async fn module(source: &str) -> JsValue {
    let load = Function::new_with_args(
        "src",
        "return import(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));",
    );
    await_js(load.call1(&JsValue::NULL, &source.into()).unwrap().into()).await.unwrap()
}

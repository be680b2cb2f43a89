//! Errors thrown to JS: real `Error` objects with `name = "TidesyncError"`, a
//! stable `code`, `retryable`, and for `INVALID` the `path` of the bad value.

use js_sys::Reflect;
use wasm_bindgen::JsValue;

use crate::core::SyncError;

pub fn to_js_error(e: &SyncError) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name("TidesyncError");
    let set = |k: &str, v: JsValue| {
        let _ = Reflect::set(&err, &JsValue::from_str(k), &v);
    };
    set("code", JsValue::from_str(e.code()));
    set("retryable", JsValue::from_bool(e.retryable()));
    match e {
        SyncError::Invalid(inv) | SyncError::BadAnswer(inv) => set("path", JsValue::from_str(&inv.path)),
        SyncError::RateLimit { retry_after_ms: Some(ms), .. } => set("retryAfterMs", JsValue::from_f64(*ms as f64)),
        _ => {}
    }
    err.into()
}

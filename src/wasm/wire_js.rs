//! Wire values to JS: everything but payloads goes through one `JSON.parse`
//! (few boundary crossings), then each payload is set as the JS object it is.

use js_sys::{Array, Reflect};
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::core::wire::SyncChange;
use crate::core::{Result, SyncError};

/// A serialisable value as plain JS data.
pub fn json_to_js<T: Serialize>(v: &T) -> Result<JsValue> {
    let text = serde_json::to_string(v).map_err(|e| SyncError::Storage(e.to_string()))?;
    js_sys::JSON::parse(&text).map_err(|e| SyncError::Storage(format!("{e:?}")))
}

/// Changes as an array of plain objects, payloads included.
pub fn changes_to_js(changes: &[SyncChange<JsValue>]) -> Result<Array> {
    let bare: Vec<SyncChange<()>> = changes
        .iter()
        .map(|c| SyncChange {
            table_name: c.table_name.clone(),
            pk: c.pk.clone(),
            op: c.op,
            payload: None,
            server_version: c.server_version,
            stamp: c.stamp.clone(),
        })
        .collect();
    let out = Array::from(&json_to_js(&bare)?);
    for (i, c) in changes.iter().enumerate() {
        if let Some(p) = &c.payload {
            let _ = Reflect::set(&out.get(i as u32), &crate::store::js_value::key("payload"), p);
        }
    }
    Ok(out)
}

/// A deep copy of a payload (`structuredClone`, else a JSON round trip), so
/// that neither side can change the other's object later.
pub fn deep_copy(v: &JsValue) -> JsValue {
    let global: JsValue = js_sys::global().into();
    if let Ok(f) = Reflect::get(&global, &"structuredClone".into()) {
        if let Some(f) = f.dyn_ref::<js_sys::Function>() {
            if let Ok(copy) = f.call1(&JsValue::NULL, v) {
                return copy;
            }
        }
    }
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| js_sys::JSON::parse(&String::from(s)).ok())
        .unwrap_or_else(|| v.clone())
}

use wasm_bindgen::JsCast;

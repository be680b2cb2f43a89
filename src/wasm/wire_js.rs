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

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
export function wireMeta(value) {
  return JSON.stringify(value, (k, v) =>
    k === 'payload' && v !== null && typeof v === 'object' && !Array.isArray(v) ? {} : v);
}
")]
extern "C" {
    /// `JSON.stringify` of a provider's answer with every object payload
    /// replaced by `{}`: one string crossing instead of a property read per
    /// field per change. Throws on values JSON cannot hold (a BigInt).
    #[wasm_bindgen::prelude::wasm_bindgen(catch, js_name = wireMeta)]
    fn wire_meta(value: &JsValue) -> std::result::Result<String, JsValue>;
}

/// A provider's answer as JSON without its payloads, and a way to fetch each
/// payload back: decode the JSON (the same validating decoders), then swap
/// the real objects in by position.
pub fn meta_json(value: &JsValue, what: &str) -> Result<serde_json::Value> {
    let text = wire_meta(value)
        .map_err(|e| SyncError::Invalid(crate::core::Invalid::rule(what, format!("cannot be read as JSON: {e:?}"))))?;
    // `undefined` (no answer at all) stringifies to nothing.
    if text.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| SyncError::Invalid(crate::core::Invalid::rule(what, e.to_string())))
}

/// The payload objects of `changes` (a JS array), for the changes that have one.
pub fn attach_payloads<T>(changes_js: &JsValue, changes: Vec<SyncChange<T>>) -> Vec<SyncChange<JsValue>> {
    let array = Array::from(changes_js);
    changes
        .into_iter()
        .enumerate()
        .map(|(i, c)| SyncChange {
            payload: c.payload.map(|_| {
                Reflect::get(&array.get(i as u32), &crate::store::js_value::key("payload")).unwrap_or(JsValue::NULL)
            }),
            table_name: c.table_name,
            pk: c.pk,
            op: c.op,
            server_version: c.server_version,
            stamp: c.stamp,
        })
        .collect()
}

//! The answers `MemoryServer` gives, as JS values: the JSON of everything but
//! the payloads goes through one `JSON.parse`, then each payload is set as a
//! deep copy of the JS object it is (so neither side can change the other's
//! object later, as over a real wire).

use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::wire_js::json_to_js;
use crate::core::wire::SyncChange;
use crate::core::{Result, SyncError};
use crate::store::js_value::describe;

#[wasm_bindgen(inline_js = "
export function wireJoin(text, payloads) {
  const list = JSON.parse(text);
  payloads.forEach((p, i) => { if (p !== undefined) list[i].payload = p; });
  return list;
}
")]
extern "C" {
    /// The inverse for answers built here: `JSON.parse(text)`, a list, with
    /// `payloads[i]` set as item i's payload where there is one.
    #[wasm_bindgen::prelude::wasm_bindgen(catch, js_name = wireJoin)]
    fn wire_join(text: &str, payloads: &Array) -> std::result::Result<Array, JsValue>;
}

/// Changes as an array of plain objects, payloads included: the JSON of
/// everything else is parsed once, then the payloads are set in JS.
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
    let text = serde_json::to_string(&bare).map_err(|e| SyncError::Storage(e.to_string()))?;
    let payloads = Array::new_with_length(changes.len() as u32);
    for (i, c) in changes.iter().enumerate() {
        if let Some(p) = &c.payload {
            payloads.set(i as u32, p.clone());
        }
    }
    wire_join(&text, &payloads).map_err(|e| SyncError::Storage(describe(&e)))
}

/// Push results as a JS answer: `{ results, serverVersion }`, each
/// `current` change with its payload object (a deep copy) set in JS.
pub fn push_result_to_js(result: &crate::core::wire::PushResult<JsValue>) -> Result<JsValue> {
    let mut payloads = Vec::new();
    let bare: Vec<crate::core::wire::OpResult<()>> = result
        .results
        .iter()
        .cloned()
        .map(|r| {
            r.map_payload(|p| {
                payloads.push(deep_copy(&p));
            })
        })
        .collect();
    let answer = json_to_js(&serde_json::json!({ "results": bare, "serverVersion": result.server_version }))?;
    let mut next = payloads.into_iter();
    let list = Reflect::get(&answer, &"results".into()).map_err(|e| SyncError::Storage(describe(&e)))?;
    for (i, r) in result.results.iter().enumerate() {
        if r.current.as_ref().is_some_and(|c| c.payload.is_some()) {
            let item = Reflect::get_u32(&list, i as u32).map_err(|e| SyncError::Storage(describe(&e)))?;
            let current = Reflect::get(&item, &"current".into()).map_err(|e| SyncError::Storage(describe(&e)))?;
            let p = next.next().unwrap_or(JsValue::UNDEFINED);
            Reflect::set(&current, &"payload".into(), &p).map_err(|e| SyncError::Storage(describe(&e)))?;
        }
    }
    Ok(answer)
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

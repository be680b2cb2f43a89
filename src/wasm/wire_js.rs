//! Wire values to JS: everything but payloads goes through one `JSON.parse`
//! (few boundary crossings), then each payload is set as the JS object it is.

use js_sys::{Array, Reflect};
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::core::json_tree::Json;
use crate::core::wire::SyncChange;
use crate::core::{Result, SyncError};

/// A serialisable value as plain JS data.
pub fn json_to_js<T: Serialize>(v: &T) -> Result<JsValue> {
    let text = serde_json::to_string(v).map_err(|e| SyncError::Storage(e.to_string()))?;
    js_sys::JSON::parse(&text).map_err(|e| SyncError::Storage(format!("{e:?}")))
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
    wire_join(&text, &payloads).map_err(|e| SyncError::Storage(format!("{e:?}")))
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
    let list = Reflect::get(&answer, &"results".into()).map_err(|e| SyncError::Storage(format!("{e:?}")))?;
    for (i, r) in result.results.iter().enumerate() {
        if r.current.as_ref().is_some_and(|c| c.payload.is_some()) {
            let item = Reflect::get_u32(&list, i as u32).map_err(|e| SyncError::Storage(format!("{e:?}")))?;
            let current = Reflect::get(&item, &"current".into()).map_err(|e| SyncError::Storage(format!("{e:?}")))?;
            let p = next.next().unwrap_or(JsValue::UNDEFINED);
            Reflect::set(&current, &"payload".into(), &p).map_err(|e| SyncError::Storage(format!("{e:?}")))?;
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

use wasm_bindgen::JsCast;

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
export function wireJoin(text, payloads) {
  const list = JSON.parse(text);
  payloads.forEach((p, i) => { if (p !== undefined) list[i].payload = p; });
  return list;
}
export function wireSplit(value, key, inner) {
  const list = key === undefined ? value : value != null ? value[key] : undefined;
  const payloads = [];
  if (!Array.isArray(list)) return [JSON.stringify(value) ?? '', payloads];
  const bare = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    const c = inner === undefined ? item : item !== null && typeof item === 'object' ? item[inner] : undefined;
    const p = c !== null && typeof c === 'object' ? c.payload : undefined;
    if (p !== null && typeof p === 'object' && !Array.isArray(p)) {
      payloads[i] = p;
      const without = { ...c, payload: {} };
      bare[i] = inner === undefined ? without : { ...item, [inner]: without };
    } else {
      bare[i] = item;
    }
  }
  return [JSON.stringify(key === undefined ? bare : { ...value, [key]: bare }), payloads];
}
")]
extern "C" {
    /// `JSON.stringify` of a provider's answer with the object payloads of
    /// its change list (`value[key]`, or `value` itself) replaced by `{}`,
    /// and those payloads by position: one string and one array cross,
    /// instead of a property read per field per change. Each payload is read
    /// once. Throws on values JSON cannot hold (a BigInt).
    #[wasm_bindgen::prelude::wasm_bindgen(catch, js_name = wireSplit)]
    fn wire_split(value: &JsValue, key: Option<&str>, inner: Option<&str>) -> std::result::Result<Array, JsValue>;

    /// The inverse for answers built here: `JSON.parse(text)`, a list, with
    /// `payloads[i]` set as item i's payload where there is one.
    #[wasm_bindgen::prelude::wasm_bindgen(catch, js_name = wireJoin)]
    fn wire_join(text: &str, payloads: &Array) -> std::result::Result<Array, JsValue>;
}

/// A provider's answer split for decoding: its JSON text without the
/// payloads (parsed in place by [`WireSplit::meta`] for the same validating
/// decoders), and the payload objects by position, to swap back in with
/// [`attach_payloads`].
pub struct WireSplit {
    text: String,
    what: String,
    pub payloads: Array,
}

impl WireSplit {
    /// The answer without its payloads, borrowing from the text.
    pub fn meta(&self) -> Result<Json<'_>> {
        // `undefined` (no answer at all) stringifies to nothing.
        if self.text.is_empty() {
            return Ok(Json::Null);
        }
        Json::parse(&self.text)
            .map_err(|e| SyncError::Invalid(crate::core::Invalid::rule(self.what.as_str(), e.to_string())))
    }
}

/// Splits `value` (an answer whose change list is `value[key]`, or a bare
/// list when `key` is `None`).
pub fn split_payloads(value: &JsValue, key: Option<&str>, what: &str) -> Result<WireSplit> {
    split_nested(value, key, None, what)
}

/// [`split_payloads`] for a list whose items hold their change at
/// `item[inner]` (a push result's `current`).
pub fn split_nested(value: &JsValue, key: Option<&str>, inner: Option<&str>, what: &str) -> Result<WireSplit> {
    let parts = wire_split(value, key, inner)
        .map_err(|e| SyncError::Invalid(crate::core::Invalid::rule(what, format!("cannot be read as JSON: {e:?}"))))?;
    let text = parts.get(0).as_string().unwrap_or_default();
    Ok(WireSplit { text, what: what.to_string(), payloads: parts.get(1).into() })
}

/// The decoded `changes` with their payload objects put back.
pub fn attach_payloads<T>(payloads: &Array, changes: Vec<SyncChange<T>>) -> Vec<SyncChange<JsValue>> {
    changes
        .into_iter()
        .enumerate()
        .map(|(i, c)| SyncChange {
            payload: c.payload.map(|_| payloads.get(i as u32)),
            table_name: c.table_name,
            pk: c.pk,
            op: c.op,
            server_version: c.server_version,
            stamp: c.stamp,
        })
        .collect()
}

//! The one codec between the engine's own data and JS: JSON text, which
//! crosses the wasm boundary as one string (`JSON.parse` on the way out,
//! `JSON.stringify` on the way in) instead of a call per field. Out, serde's
//! `Serialize` writes the text; in, the text is parsed into the borrowed
//! [`Json`] tree and read by the same `WireValue` decoders as the wire (no
//! serde `Deserialize` runs in the browser). App records never go through
//! it: they stay JS values (see [`super::js_value`]). Everything here is
//! JSON data by construction (ids, clocks, cursors, counts, messages), so
//! nothing is lost on the way.

use serde::Serialize;
use wasm_bindgen::JsValue;

use super::idb::{storage, unreadable};
use crate::core::json_tree::Json;
use crate::core::Result;

/// A value of the engine's as plain JS data.
pub fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue> {
    let text = serde_json::to_string(v).map_err(|e| unreadable("serialise", e))?;
    js_sys::JSON::parse(&text).map_err(|e| storage("parse", e))
}

/// Plain JS data as JSON text (`None` for `undefined`).
pub fn text_of(v: &JsValue) -> Result<Option<String>> {
    Ok(js_sys::JSON::stringify(v).map_err(|e| storage("stringify", e))?.as_string())
}

/// Reads plain JS data through `read`, which gets it as a parsed JSON tree.
pub fn read_js<T>(v: &JsValue, read: impl FnOnce(&Json<'_>) -> Result<T>) -> Result<T> {
    let text = text_of(v)?.unwrap_or_else(|| "null".into());
    let tree = Json::parse(&text).map_err(|e| unreadable("parse", e))?;
    read(&tree)
}

/// Plain JS data as a `serde_json::Value` (a state or journal row).
pub fn value_from_js(v: &JsValue) -> Result<serde_json::Value> {
    read_js(v, |tree| Ok(tree.clone().into_value()))
}

//! The one codec between the engine's own data and JS: serde's JSON, which
//! crosses the wasm boundary as one string (`JSON.parse` on the way out,
//! `JSON.stringify` on the way in) instead of a call per field. App records
//! never go through it: they stay JS values (see [`super::js_value`]).
//! Everything here is JSON data by construction (ids, clocks, cursors,
//! counts, messages), so nothing is lost on the way.

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

use super::idb::{storage, unreadable};
use crate::core::Result;

/// A value of the engine's as plain JS data.
pub fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue> {
    let text = serde_json::to_string(v).map_err(|e| unreadable("serialise", e))?;
    js_sys::JSON::parse(&text).map_err(|e| storage("parse", e))
}

/// Plain JS data read back as a value of the engine's.
pub fn from_js<T: DeserializeOwned>(v: &JsValue) -> Result<T> {
    let text: String = js_sys::JSON::stringify(v).map_err(|e| storage("stringify", e))?.into();
    serde_json::from_str(&text).map_err(|e| unreadable("deserialise", e))
}

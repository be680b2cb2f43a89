//! Wire values between JS and Rust: a provider's answer crosses as one JSON
//! string without its payloads plus the payload objects by position (few
//! boundary crossings), and values built here cross back through one
//! `JSON.parse`.

use js_sys::Array;
use wasm_bindgen::JsValue;

use crate::core::json_tree::Json;
use crate::core::Invalid;

/// A serialisable value as plain JS data (the engine's one codec).
pub use crate::store::js_json::to_js as json_to_js;

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
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
}

/// A provider's answer split for decoding: its JSON text without the
/// payloads (parsed in place by [`WireSplit::meta`] for the same validating
/// decoders), and the payload objects by position, to swap back in with
/// the provider's `attach_payloads`.
pub struct WireSplit {
    text: String,
    what: String,
    pub payloads: Array,
}

impl WireSplit {
    /// The answer without its payloads, borrowing from the text.
    pub fn meta(&self) -> std::result::Result<Json<'_>, Invalid> {
        // `undefined` (no answer at all) stringifies to nothing.
        if self.text.is_empty() {
            return Ok(Json::Null);
        }
        Json::parse(&self.text).map_err(|e| Invalid::rule(self.what.as_str(), e.to_string()))
    }
}

/// Splits `value` (an answer whose change list is `value[key]`, or a bare
/// list when `key` is `None`).
pub fn split_payloads(value: &JsValue, key: Option<&str>, what: &str) -> std::result::Result<WireSplit, Invalid> {
    split_nested(value, key, None, what)
}

/// [`split_payloads`] for a list whose items hold their change at
/// `item[inner]` (a push result's `current`).
pub fn split_nested(
    value: &JsValue,
    key: Option<&str>,
    inner: Option<&str>,
    what: &str,
) -> std::result::Result<WireSplit, Invalid> {
    let parts = wire_split(value, key, inner).map_err(|e| {
        Invalid::rule(what, format!("cannot be read as JSON: {}", crate::store::js_value::describe(&e)))
    })?;
    let text = parts.get(0).as_string().unwrap_or_default();
    Ok(WireSplit { text, what: what.to_string(), payloads: parts.get(1).into() })
}

//! `JsValue` as a wire value and as a record, so the decoders and the engine
//! read JS objects in place: a payload is never converted to Rust data.
//!
//! A record an app writes must be plain JSON data ([`Record::check_plain`]):
//! IndexedDB's structured clone would store a Date, a Map, a BigInt or a
//! cycle faithfully, but the push sends JSON, so the server and every other
//! device would get something else (a string, `{}`, an error) while this
//! device kept the original. The check walks the record in one JS call
//! (`checkPlain` below): nothing crosses the wasm boundary per field, and a
//! path is built only when something is refused.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use super::schema::{CLOCK_FIELD, HLC_FIELD, ORDER_KEY};
use super::Record;
use crate::core::decode::{self, Path, Shape, WireValue};
use crate::core::{Invalid, Pk};
use crate::engine::config::OptionKeys;

#[wasm_bindgen(inline_js = r#"
const OBJECT = Object.prototype;
const ARRAY = Array.prototype;
const NAME = /^[A-Za-z_$][\w$]*$/;
const UNDEFINED_FIELD = 'is undefined: leave the property out or use null (JSON drops undefined, so no other device would get it)';
const UNDEFINED_ITEM = 'is undefined or a hole: use null (JSON turns it into null)';

function fail(why) { return { why, path: [] }; }

// Another realm's Object.prototype (an iframe's) is as plain as ours.
function plainProto(p) { return p === OBJECT || p === null || Object.getPrototypeOf(p) === null; }
function arrayProto(p) { return p === ARRAY || (p !== null && plainProto(Object.getPrototypeOf(p)) && Array.isArray(p)); }

function typeName(v) {
  const c = Object.getPrototypeOf(v)?.constructor;
  const name = typeof c === 'function' && c.name ? c.name : Object.prototype.toString.call(v).slice(8, -1);
  return (/^[AEIOU]/.test(name) ? 'an ' : 'a ') + name;
}

function notPlain(v) {
  const what = typeName(v);
  if (v instanceof Date) return `${what} is not JSON data: store d.toISOString() or d.getTime()`;
  if (v instanceof Map || v instanceof Set) return `${what} is not JSON data: store an object or an array`;
  return `${what} is not plain JSON data: store a plain object, an array, a string, a finite number, a boolean or null`;
}

function value(v, ancestors, item) {
  switch (typeof v) {
    case 'string': case 'boolean': return null;
    case 'number': return Number.isFinite(v) ? null : fail(`${v} is not a JSON number`);
    case 'object': return v === null ? null : object(v, ancestors);
    case 'undefined': return fail(item ? UNDEFINED_ITEM : UNDEFINED_FIELD);
    case 'bigint': return fail('a BigInt is not JSON data: store it as a string');
    case 'function': return fail('a function is not data');
    default: return fail(`a ${typeof v} is not data`);
  }
}

function object(v, ancestors) {
  if (ancestors.includes(v)) return fail('refers back to an object that contains it (a cycle), which JSON cannot hold');
  const proto = Object.getPrototypeOf(v);
  if (Array.isArray(v)) {
    if (!arrayProto(proto)) return fail(notPlain(v));
    ancestors.push(v);
    for (let i = 0; i < v.length; i++) {
      const bad = value(v[i], ancestors, true);
      if (bad !== null) { bad.path.push(i); return bad; }
    }
  } else {
    if (!plainProto(proto)) return fail(notPlain(v));
    ancestors.push(v);
    const keys = Object.keys(v);
    for (let i = 0; i < keys.length; i++) {
      const bad = value(v[keys[i]], ancestors, false);
      if (bad !== null) { bad.path.push(keys[i]); return bad; }
    }
  }
  ancestors.pop();
  return null;
}

// undefined when `record` is plain JSON data (or not an object at all);
// otherwise "<path relative to the record>\n<why>".
export function checkPlain(record) {
  if (record === null || typeof record !== 'object') return undefined;
  let bad;
  try {
    bad = object(record, []);
  } catch (e) {
    bad = fail(`cannot be read: ${e instanceof RangeError ? 'nested too deeply' : String(e && e.message || e)}`);
  }
  if (bad === null) return undefined;
  let path = '';
  for (let i = bad.path.length - 1; i >= 0; i--) {
    const k = bad.path[i];
    path += typeof k === 'number' ? `[${k}]` : NAME.test(k) ? (path ? '.' : '') + k : `[${JSON.stringify(k)}]`;
  }
  return `${path}\n${bad.why}`;
}
"#)]
extern "C" {
    /// See `checkPlain` above: `None` for plain data.
    #[wasm_bindgen(js_name = checkPlain)]
    fn check_plain_js(record: &JsValue) -> Option<String>;
}

impl OptionKeys for JsValue {
    fn option_keys(&self) -> Vec<String> {
        if !self.is_object() {
            return Vec::new();
        }
        Object::keys(self.unchecked_ref::<Object>()).iter().filter_map(|k| k.as_string()).collect()
    }
}

impl WireValue for JsValue {
    fn shape(&self) -> Shape {
        if self.is_undefined() {
            Shape::Absent
        } else if self.is_null() {
            Shape::Null
        } else if self.as_bool().is_some() {
            Shape::Bool
        } else if self.as_f64().is_some() {
            Shape::Number
        } else if self.is_string() {
            Shape::String
        } else if Array::is_array(self) {
            Shape::Array
        } else if self.is_object() {
            Shape::Object
        } else {
            Shape::Other
        }
    }
    fn as_f64(&self) -> Option<f64> {
        JsValue::as_f64(self)
    }
    fn as_bool(&self) -> Option<bool> {
        JsValue::as_bool(self)
    }
    fn as_string(&self) -> Option<String> {
        JsValue::as_string(self)
    }
    fn field(&self, name: &str) -> Option<Self> {
        if !self.is_object() {
            return None;
        }
        Reflect::get(self, &key(name)).ok().filter(|v| !v.is_undefined())
    }
    fn elements(&self) -> Option<Vec<Self>> {
        Array::is_array(self).then(|| self.unchecked_ref::<Array>().iter().collect())
    }
}

/// Slots of the field-name cache (a power of two).
const KEY_SLOTS: usize = 64;

thread_local! {
    /// Field names as JS strings, made once: decoding a page reads the same
    /// dozen names thousands of times, and each fresh string costs a UTF-8
    /// decode across the boundary. A tiny direct-mapped table: a slot is
    /// picked from the name's length and end bytes, and a clash just makes a
    /// fresh string.
    static KEYS: std::cell::RefCell<Vec<Option<(String, JsValue)>>> =
        std::cell::RefCell::new(vec![None; KEY_SLOTS]);
}

/// The JS string for a field name (cached for short names).
pub fn key(name: &str) -> JsValue {
    let bytes = name.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return JsValue::from_str(name);
    };
    if bytes.len() > 32 {
        return JsValue::from_str(name);
    }
    let slot = (bytes.len() * 31 + first as usize * 7 + last as usize) % KEY_SLOTS;
    KEYS.with(|k| {
        let mut table = k.borrow_mut();
        match &table[slot] {
            Some((n, v)) if n == name => v.clone(),
            Some(_) => JsValue::from_str(name),
            None => {
                let v = JsValue::from_str(name);
                table[slot] = Some((name.to_string(), v.clone()));
                v
            }
        }
    })
}

/// A primary key as IndexedDB holds it.
pub fn pk_to_js(pk: &Pk) -> JsValue {
    match pk {
        Pk::Num(n) => JsValue::from_f64(*n),
        Pk::Str(s) => JsValue::from_str(s),
    }
}

/// A key read back from IndexedDB or given by the app.
pub fn pk_from_js(v: &JsValue, path: &str) -> Result<Pk, Invalid> {
    decode::pk(v, &Path::Root(path))
}

impl Record for JsValue {
    fn is_object(&self) -> bool {
        self.shape() == Shape::Object
    }

    fn pk(&self, key_path: &str) -> Result<Pk, Invalid> {
        decode::record_pk(self, key_path)?.app_key(key_path)
    }

    fn check_plain(&self) -> Result<(), Invalid> {
        match check_plain_js(self) {
            None => Ok(()),
            Some(found) => {
                let (path, why) = found.split_once('\n').unwrap_or(("", found.as_str()));
                Err(Invalid::rule(path, why))
            }
        }
    }

    fn key_field(&self, name: &str) -> Option<Pk> {
        let v = self.field(name)?;
        match v.shape() {
            Shape::String => v.as_string().map(Pk::Str),
            Shape::Number => JsValue::as_f64(&v).and_then(Pk::num),
            _ => None,
        }
    }

    fn str_field(&self, name: &str) -> Option<String> {
        self.field(name)?.as_string()
    }

    fn u64_field(&self, name: &str) -> Option<u64> {
        decode::integer(&self.field(name)?, &Path::Root(name), 0).ok()
    }

    fn from_json(v: &serde_json::Value) -> Self {
        super::js_json::to_js(v).unwrap_or(JsValue::NULL)
    }

    fn to_json(&self) -> serde_json::Value {
        super::js_json::value_from_js(self).unwrap_or(serde_json::Value::Null)
    }

    fn stamped(&self, clock: u64, hlc: &str, order_key: Option<&str>) -> Self {
        let out = Object::assign(&Object::new(), self.unchecked_ref::<Object>());
        // Setting a data property on a fresh plain object cannot fail.
        let _ = Reflect::set(&out, &key(CLOCK_FIELD), &JsValue::from_f64(clock as f64));
        let _ = Reflect::set(&out, &key(HLC_FIELD), &JsValue::from_str(hlc));
        if let Some(k) = order_key {
            let _ = Reflect::set(&out, &key(ORDER_KEY), &JsValue::from_str(k));
        }
        out.into()
    }
}

/// A thrown JS value as text for an error message, without `Debug`: a
/// `DOMException` or `Error` as `name: message`, a string as itself,
/// anything else as its JSON.
pub fn describe(e: &JsValue) -> String {
    if let Some(text) = e.as_string() {
        return text;
    }
    let field = |name: &str| Reflect::get(e, &key(name)).ok().and_then(|v| v.as_string());
    match (field("name"), field("message")) {
        (Some(n), Some(m)) => format!("{n}: {m}"),
        (None, Some(m)) => m,
        _ => js_sys::JSON::stringify(e).ok().map(String::from).unwrap_or_else(|| "a JS value".into()),
    }
}

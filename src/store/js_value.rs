//! `JsValue` as a wire value and as a record, so the decoders and the engine
//! read JS objects in place: a payload is never converted to Rust data.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use super::schema::{CLOCK_FIELD, HLC_FIELD, ORDER_KEY};
use super::Record;
use crate::core::decode::{self, Path, Shape, WireValue};
use crate::core::{Invalid, Pk};

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
        decode::record_pk(self, key_path)
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
        serde::Serialize::serialize(v, &serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
    }

    fn to_json(&self) -> serde_json::Value {
        serde_wasm_bindgen::from_value(self.clone()).unwrap_or(serde_json::Value::Null)
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

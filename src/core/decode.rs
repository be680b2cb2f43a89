//! A small, panic-free decoder for wire values, generic over the value type.
//!
//! The same rules run over `serde_json::Value` (natively: the server, the
//! simulator, tests) and over `JsValue` in the browser (the wasm layer
//! implements [`WireValue`] for it), so a malformed value is rejected with the
//! same typed error wherever it arrives. Paths are built only when an error is
//! reported, so decoding a valid page allocates nothing for them.

use super::error::{Invalid, InvalidKind};
use super::pk::{Pk, MAX_SAFE_INTEGER};

/// The JSON-ish shape of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Absent,
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
    Other,
}

/// What the decoder needs to read from a value.
pub trait WireValue: Sized {
    fn shape(&self) -> Shape;
    fn as_f64(&self) -> Option<f64>;
    fn as_bool(&self) -> Option<bool>;
    fn as_string(&self) -> Option<String>;
    /// The named field of an object; `None` when absent or `undefined`.
    fn field(&self, name: &str) -> Option<Self>;
    /// The elements of an array.
    fn elements(&self) -> Option<Vec<Self>>;
}

/// A location inside a value, as a linked list on the stack.
#[derive(Clone, Copy)]
pub enum Path<'a> {
    Root(&'a str),
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    pub fn render(&self) -> String {
        match self {
            Path::Root(name) => name.to_string(),
            Path::Field(parent, name) => {
                let p = parent.render();
                if p.is_empty() {
                    name.to_string()
                } else {
                    format!("{p}.{name}")
                }
            }
            Path::Index(parent, i) => format!("{}[{i}]", parent.render()),
        }
    }

    pub fn err(&self, kind: InvalidKind) -> Invalid {
        Invalid::new(self.render(), kind)
    }

    pub fn rule(&self, msg: impl Into<String>) -> Invalid {
        Invalid::rule(self.render(), msg)
    }
}

fn wrong(path: &Path<'_>, expected: &'static str) -> Invalid {
    path.err(InvalidKind::WrongType { expected })
}

/// Reads a required field, mapping `null` to missing.
pub fn required<V: WireValue>(obj: &V, name: &str, path: &Path<'_>) -> Result<V, Invalid> {
    match obj.field(name) {
        Some(v) if v.shape() != Shape::Null => Ok(v),
        _ => Err(Path::Field(path, name).err(InvalidKind::Missing)),
    }
}

/// Reads an optional field (`undefined` and `null` both count as absent).
pub fn optional<V: WireValue>(obj: &V, name: &str) -> Option<V> {
    obj.field(name).filter(|v| !matches!(v.shape(), Shape::Null | Shape::Absent))
}

pub fn expect_object<V: WireValue>(v: &V, path: &Path<'_>) -> Result<(), Invalid> {
    match v.shape() {
        Shape::Object => Ok(()),
        Shape::Absent | Shape::Null => Err(path.err(InvalidKind::Missing)),
        _ => Err(wrong(path, "an object")),
    }
}

pub fn string<V: WireValue>(v: &V, path: &Path<'_>) -> Result<String, Invalid> {
    v.as_string().ok_or_else(|| wrong(path, "a string"))
}

/// A string of 1 to `max` bytes.
pub fn name<V: WireValue>(v: &V, path: &Path<'_>, max: usize) -> Result<String, Invalid> {
    let s = string(v, path)?;
    if s.is_empty() {
        return Err(path.rule("must not be empty"));
    }
    if s.len() > max {
        return Err(path.rule(format!("longer than {max} bytes")));
    }
    Ok(s)
}

pub fn boolean<V: WireValue>(v: &V, path: &Path<'_>) -> Result<bool, Invalid> {
    v.as_bool().ok_or_else(|| wrong(path, "a boolean"))
}

/// An integer in `min..=Number.MAX_SAFE_INTEGER`.
pub fn integer<V: WireValue>(v: &V, path: &Path<'_>, min: u64) -> Result<u64, Invalid> {
    let n = v.as_f64().ok_or_else(|| wrong(path, "a number"))?;
    if !n.is_finite() || n.fract() != 0.0 || n < min as f64 || n > MAX_SAFE_INTEGER {
        return Err(path.err(InvalidKind::OutOfRange));
    }
    Ok(n as u64)
}

/// A primary key: a string, or a finite number.
pub fn pk<V: WireValue>(v: &V, path: &Path<'_>) -> Result<Pk, Invalid> {
    match v.shape() {
        Shape::String => Ok(Pk::Str(string(v, path)?)),
        Shape::Number => {
            let n = v.as_f64().ok_or_else(|| wrong(path, "a string or a finite number"))?;
            Pk::num(n).ok_or_else(|| path.err(InvalidKind::OutOfRange))
        }
        Shape::Absent | Shape::Null => Err(path.err(InvalidKind::Missing)),
        _ => Err(wrong(path, "a string or a finite number")),
    }
}

/// A record's primary key at `key_path`: the record must be an object and the
/// key a string or a finite number. Errors name the path `record.<key_path>`.
pub fn record_pk<V: WireValue>(record: &V, key_path: &str) -> Result<Pk, Invalid> {
    let root = Path::Root("record");
    expect_object(record, &root)?;
    let v = required(record, key_path, &root)?;
    pk(&v, &Path::Field(&root, key_path))
}

pub fn array<V: WireValue>(v: &V, path: &Path<'_>) -> Result<Vec<V>, Invalid> {
    v.elements().ok_or_else(|| wrong(path, "an array"))
}

impl WireValue for serde_json::Value {
    fn shape(&self) -> Shape {
        match self {
            serde_json::Value::Null => Shape::Null,
            serde_json::Value::Bool(_) => Shape::Bool,
            serde_json::Value::Number(_) => Shape::Number,
            serde_json::Value::String(_) => Shape::String,
            serde_json::Value::Array(_) => Shape::Array,
            serde_json::Value::Object(_) => Shape::Object,
        }
    }
    fn as_f64(&self) -> Option<f64> {
        self.as_f64()
    }
    fn as_bool(&self) -> Option<bool> {
        self.as_bool()
    }
    fn as_string(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }
    fn field(&self, name: &str) -> Option<Self> {
        self.as_object().and_then(|o| o.get(name)).cloned()
    }
    fn elements(&self) -> Option<Vec<Self>> {
        self.as_array().cloned()
    }
}

/// Borrowed: fields and elements are references into the value, so a
/// decode copies only the strings it keeps (the server decodes each
/// request this way; the owned impl above copies every subtree it visits).
impl WireValue for &serde_json::Value {
    fn shape(&self) -> Shape {
        (*self).shape()
    }
    fn as_f64(&self) -> Option<f64> {
        serde_json::Value::as_f64(self)
    }
    fn as_bool(&self) -> Option<bool> {
        serde_json::Value::as_bool(self)
    }
    fn as_string(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }
    fn field(&self, name: &str) -> Option<Self> {
        self.as_object().and_then(|o| o.get(name))
    }
    fn elements(&self) -> Option<Vec<Self>> {
        self.as_array().map(|a| a.iter().collect())
    }
}

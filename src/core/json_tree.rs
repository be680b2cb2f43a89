//! A borrowed JSON tree, for decoding wire values in place.
//!
//! `serde_json::Value` allocates a `String` per key and a map per object: a
//! pull page of 500 changes is thousands of small allocations, and parsing
//! and freeing them was the largest cost of decoding a page in wasm. This
//! tree borrows every string without escapes from the text and keeps an
//! object as a short list of fields (wire objects have a handful), so a page
//! costs about one allocation per object or array. Decoders read it through
//! [`WireValue`], like any other value.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};

use super::decode::{Shape, WireValue};

/// One JSON value, borrowing from the text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(f64),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Fields in text order; on a repeated key the last one counts.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// Parses `text` (serde_json's parser, with its nesting limit).
    pub fn parse(text: &'a str) -> serde_json::Result<Json<'a>> {
        serde_json::from_str(text)
    }
}

impl Json<'_> {
    /// The same value as a `serde_json::Value`; a whole number within 2^53
    /// becomes an integer, so `as_u64` reads it back.
    pub fn into_value(self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Number(n) if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_992.0 => {
                if n >= 0.0 {
                    Value::from(n as u64)
                } else {
                    Value::from(n as i64)
                }
            }
            Json::Number(n) => serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
            Json::String(s) => Value::String(s.into_owned()),
            Json::Array(items) => Value::Array(items.into_iter().map(Json::into_value).collect()),
            Json::Object(fields) => {
                Value::Object(fields.into_iter().map(|(k, v)| (k.into_owned(), v.into_value())).collect())
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: Error>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E: Error>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v as f64))
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v as f64))
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v))
    }
    fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: Error>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key::<Json<'de>>()? {
            let Json::String(key) = key else {
                return Err(A::Error::custom("an object key must be a string"));
            };
            out.push((key, map.next_value()?));
        }
        Ok(Json::Object(out))
    }
}

impl<'a> WireValue for &Json<'a> {
    fn shape(&self) -> Shape {
        match self {
            Json::Null => Shape::Null,
            Json::Bool(_) => Shape::Bool,
            Json::Number(_) => Shape::Number,
            Json::String(_) => Shape::String,
            Json::Array(_) => Shape::Array,
            Json::Object(_) => Shape::Object,
        }
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => Some(*n),
            _ => None,
        }
    }
    fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn as_string(&self) -> Option<String> {
        match self {
            Json::String(s) => Some(s.to_string()),
            _ => None,
        }
    }
    fn field(&self, name: &str) -> Option<Self> {
        match self {
            Json::Object(fields) => fields.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
    fn elements(&self) -> Option<Vec<Self>> {
        match self {
            Json::Array(items) => Some(items.iter().collect()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wire::decode_pull_response;

    #[test]
    fn parses_every_shape_and_borrows_plain_strings() {
        let text = r#"{"a":[1,-2,3.5,true,null],"b":"plain","c":"esc\"aped","a":{"x":{}}}"#;
        let v = Json::parse(text).unwrap();
        let root = &v;
        assert_eq!(root.field("a").unwrap().shape(), Shape::Object, "the last repeated key counts");
        assert!(matches!(root.field("b"), Some(Json::String(Cow::Borrowed("plain")))));
        assert_eq!(root.field("c").unwrap().as_string().as_deref(), Some("esc\"aped"));
        let Json::Object(fields) = &v else { panic!() };
        let Json::Array(items) = &fields[0].1 else { panic!() };
        let nums: Vec<Option<f64>> = items.iter().map(|i| (&i).as_f64()).collect();
        assert_eq!(nums, vec![Some(1.0), Some(-2.0), Some(3.5), None, None]);
        assert_eq!((&items[3]).as_bool(), Some(true));
        assert_eq!((&items[4]).shape(), Shape::Null);
        assert!(Json::parse("{\"a\":").is_err());
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(Json::parse(&deep).is_err(), "nesting is limited");
        assert!(Json::parse(&format!("{}{}", "[".repeat(100), "]".repeat(100))).is_ok());
    }

    #[test]
    fn decodes_a_page_like_serde_json_value_does() {
        let text = r#"{"changes":[{"tableName":"notes","pk":"a","op":"put","payload":{},"serverVersion":1,
            "stamp":{"clock":1,"hlc":"001763800000000:00000:dev","deviceId":"dev","opId":"o1"}}],
            "nextCursor":1,"hasMore":false}"#;
        let tree = Json::parse(text).unwrap();
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let a = decode_pull_response(&&tree, 0, None).unwrap();
        let b = decode_pull_response(&value, 0, None).unwrap();
        assert_eq!((a.next_cursor, a.has_more, a.changes.len()), (b.next_cursor, b.has_more, b.changes.len()));
        assert_eq!(a.changes[0].stamp, b.changes[0].stamp);
        assert_eq!(a.changes[0].pk, b.changes[0].pk);
        let bad = r#"{"changes":[],"nextCursor":"1","hasMore":false}"#;
        let (tree, value) = (Json::parse(bad).unwrap(), serde_json::from_str::<serde_json::Value>(bad).unwrap());
        assert_eq!(
            decode_pull_response(&&tree, 0, None).unwrap_err(),
            decode_pull_response(&value, 0, None).unwrap_err()
        );
    }
}

//! IndexedDB keys, key paths and key ranges as plain data, with IndexedDB's
//! order, so that a store in memory answers a range exactly as a browser
//! does and the code above the storage trait is written once.
//!
//! A key is a finite number, a string, or an array of keys. (IndexedDB also
//! has dates and binary keys; the engine never makes or declares them.)
//! Every number sorts before every string, every string before every array;
//! strings compare by UTF-16 code units, arrays element by element, a prefix
//! first.

use std::cmp::Ordering;

use super::decode::{Shape, WireValue};
use super::pk::Pk;

/// A key of an object store or an index.
#[derive(Debug, Clone)]
pub enum Key {
    Num(f64),
    Str(String),
    Array(Vec<Key>),
}

impl Key {
    /// The key a value holds, if it is a valid one: a finite number, a
    /// string, or an array of valid keys.
    pub fn read<V: WireValue>(v: &V) -> Option<Key> {
        match v.shape() {
            Shape::Number => v.as_f64().filter(|n| n.is_finite()).map(|n| Key::Num(if n == 0.0 { 0.0 } else { n })),
            Shape::String => v.as_string().map(Key::Str),
            Shape::Array => v.elements()?.iter().map(Key::read).collect::<Option<Vec<_>>>().map(Key::Array),
            _ => None,
        }
    }

    /// The key at `path` in `row`, as IndexedDB's key path evaluation finds
    /// it (`a.b` walks into objects); `None` when a part is missing or not a
    /// valid key, and the row is then left out of that index.
    pub fn at<V: WireValue>(row: &V, path: &KeyPath) -> Option<Key> {
        match path {
            KeyPath::Field(f) => Key::read(&field_path(row, f)?),
            KeyPath::Compound(fs) => {
                fs.iter().map(|f| Key::read(&field_path(row, f)?)).collect::<Option<_>>().map(Key::Array)
            }
        }
    }

    /// The primary key this key is, if it is one (a number or a string).
    pub fn pk(&self) -> Option<Pk> {
        match self {
            Key::Num(n) => Pk::num(*n),
            Key::Str(s) => Some(Pk::Str(s.clone())),
            Key::Array(_) => None,
        }
    }

    /// `[a, b]`: a compound key.
    pub fn pair(a: impl Into<Key>, b: impl Into<Key>) -> Key {
        Key::Array(vec![a.into(), b.into()])
    }
}

fn field_path<V: WireValue>(row: &V, path: &str) -> Option<V> {
    let mut parts = path.split('.');
    let mut v = row.field(parts.next()?)?;
    for part in parts {
        v = v.field(part)?;
    }
    Some(v)
}

impl From<&Pk> for Key {
    fn from(pk: &Pk) -> Key {
        match pk {
            Pk::Num(n) => Key::Num(*n),
            Pk::Str(s) => Key::Str(s.clone()),
        }
    }
}

impl From<Pk> for Key {
    fn from(pk: Pk) -> Key {
        (&pk).into()
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        Key::Str(s.to_string())
    }
}

impl From<u64> for Key {
    fn from(n: u64) -> Key {
        Key::Num(n as f64)
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Key::Num(a), Key::Num(b)) => a.total_cmp(b),
            (Key::Str(a), Key::Str(b)) => a.encode_utf16().cmp(b.encode_utf16()),
            (Key::Array(a), Key::Array(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl Key {
    fn rank(&self) -> u8 {
        match self {
            Key::Num(_) => 0,
            Key::Str(_) => 1,
            Key::Array(_) => 2,
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

/// Where an object store or an index takes its key from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPath {
    Field(String),
    Compound(Vec<String>),
}

/// One end of a [`KeyRange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub key: Key,
    /// Whether the end itself is left out.
    pub open: bool,
}

/// A range of keys, as `IDBKeyRange`: no bound on a side means unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    pub lower: Option<Bound>,
    pub upper: Option<Bound>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> KeyRange {
        KeyRange::default()
    }

    /// Exactly `key`.
    pub fn only(key: Key) -> KeyRange {
        KeyRange::between(key.clone(), key)
    }

    /// From `lo` to `hi`, both included.
    pub fn between(lo: Key, hi: Key) -> KeyRange {
        KeyRange { lower: Some(Bound { key: lo, open: false }), upper: Some(Bound { key: hi, open: false }) }
    }

    /// Keys above `key` (`open`: leaving `key` out).
    pub fn above(key: Key, open: bool) -> KeyRange {
        KeyRange { lower: Some(Bound { key, open }), upper: None }
    }

    /// Keys below `key` (`open`: leaving `key` out).
    pub fn below(key: Key, open: bool) -> KeyRange {
        KeyRange { lower: None, upper: Some(Bound { key, open }) }
    }

    pub fn contains(&self, key: &Key) -> bool {
        let low = self.lower.as_ref().is_none_or(|b| match key.cmp(&b.key) {
            Ordering::Greater => true,
            Ordering::Equal => !b.open,
            Ordering::Less => false,
        });
        low && self.upper.as_ref().is_none_or(|b| match key.cmp(&b.key) {
            Ordering::Less => true,
            Ordering::Equal => !b.open,
            Ordering::Greater => false,
        })
    }

    /// Whether no key can be in the range (IndexedDB refuses such a range;
    /// the stores answer it with nothing instead).
    pub fn is_empty(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Some(lo), Some(hi)) => match lo.key.cmp(&hi.key) {
                Ordering::Greater => true,
                Ordering::Equal => lo.open || hi.open,
                Ordering::Less => false,
            },
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(x: &str) -> Key {
        Key::Str(x.into())
    }

    #[test]
    fn keys_sort_as_indexeddb_sorts_them() {
        let mut keys = vec![
            Key::Array(vec![s("a"), Key::Num(1.0)]),
            s("b"),
            Key::Array(vec![s("a")]),
            Key::Num(10.0),
            s("a"),
            Key::Num(-1.0),
            Key::Array(vec![]),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                Key::Num(-1.0),
                Key::Num(10.0),
                s("a"),
                s("b"),
                Key::Array(vec![]),
                Key::Array(vec![s("a")]),
                Key::Array(vec![s("a"), Key::Num(1.0)]),
            ]
        );
        // UTF-16 order: U+FF5E sorts after U+1F600 in UTF-8 but before it in UTF-16.
        assert!(s("\u{1F600}") < s("\u{FF5E}"));
    }

    #[test]
    fn a_key_path_reads_fields_and_nested_fields() {
        let row = json!({ "t": "x", "n": 2, "a": { "b": "deep" }, "bad": true, "list": [1, "z"] });
        assert_eq!(Key::at(&row, &KeyPath::Field("a.b".into())), Some(s("deep")));
        assert_eq!(Key::at(&row, &KeyPath::Field("list".into())), Some(Key::Array(vec![Key::Num(1.0), s("z")])));
        let pair = KeyPath::Compound(vec!["t".into(), "n".into()]);
        assert_eq!(Key::at(&row, &pair), Some(Key::Array(vec![s("x"), Key::Num(2.0)])));
        assert_eq!(Key::at(&row, &KeyPath::Field("bad".into())), None);
        assert_eq!(Key::at(&row, &KeyPath::Compound(vec!["t".into(), "gone".into()])), None);
    }

    #[test]
    fn ranges_include_and_exclude_their_ends() {
        let r = KeyRange {
            lower: Some(Bound { key: s("b"), open: true }),
            upper: Some(Bound { key: s("d"), open: false }),
        };
        assert!(!r.contains(&s("b")) && r.contains(&s("c")) && r.contains(&s("d")) && !r.contains(&s("e")));
        assert!(KeyRange::all().contains(&Key::Num(1.0)));
        assert!(!KeyRange::above(Key::Num(1.0), true).is_empty());
        let prefix = KeyRange::between(Key::Array(vec![s("t")]), Key::Array(vec![s("t"), Key::Array(vec![])]));
        assert!(prefix.contains(&Key::Array(vec![s("t"), Key::Num(5.0)])));
        assert!(prefix.contains(&Key::Array(vec![s("t"), s("zzz")])));
        assert!(!prefix.contains(&Key::Array(vec![s("u")])));
        assert!(KeyRange {
            lower: Some(Bound { key: s("a"), open: true }),
            upper: Some(Bound { key: s("a"), open: false })
        }
        .is_empty());
    }
}

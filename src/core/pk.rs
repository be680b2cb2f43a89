//! Primary keys: a string or a finite number, kept exactly as the record holds
//! them (`"5"` and `5` are different keys, docs/PROTOCOL.md section 2).
//!
//! A key an app gives a record must also not be the empty string
//! ([`Pk::app_key`]): `""` is almost always a field the app forgot to fill
//! (an empty form input, a missing lookup), and once synced it would be one
//! record shared by every such mistake on every device. Keys read back from
//! the database or the wire are taken as they are.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::Invalid;

/// A record's primary key.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Pk {
    Num(f64),
    Str(String),
}

impl Pk {
    /// A number key; `None` for NaN and infinities, which IndexedDB and JSON
    /// cannot carry faithfully.
    pub fn num(n: f64) -> Option<Pk> {
        n.is_finite().then_some(Pk::Num(if n == 0.0 { 0.0 } else { n }))
    }

    /// The key of a record an app writes, found at `key_path`: any key but
    /// the empty string. The error names `record.<key_path>`, as
    /// `decode::record_pk` does.
    pub fn app_key(self, key_path: &str) -> Result<Pk, Invalid> {
        match &self {
            Pk::Str(s) if s.is_empty() => Err(Invalid::rule(format!("record.{key_path}"), "must not be empty")),
            _ => Ok(self),
        }
    }
}

// Integral numbers serialise as JSON integers (`5`, not `5.0`), as JS writes them.
impl Serialize for Pk {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            Pk::Num(n) if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER => ser.serialize_i64(*n as i64),
            Pk::Num(n) => ser.serialize_f64(*n),
            Pk::Str(s) => ser.serialize_str(s),
        }
    }
}

/// `Number.MAX_SAFE_INTEGER`: the largest integer a JS number holds exactly.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

// Keys follow IndexedDB's order: every number sorts before every string,
// numbers by value, strings by UTF-16 code units.
impl Ord for Pk {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Pk::Num(a), Pk::Num(b)) => a.total_cmp(b),
            (Pk::Num(_), Pk::Str(_)) => Ordering::Less,
            (Pk::Str(_), Pk::Num(_)) => Ordering::Greater,
            // IndexedDB compares strings by UTF-16 code units.
            (Pk::Str(a), Pk::Str(b)) => a.encode_utf16().cmp(b.encode_utf16()),
        }
    }
}

impl PartialOrd for Pk {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pk {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pk {}

impl std::hash::Hash for Pk {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Pk::Num(n) => {
                0u8.hash(state);
                n.to_bits().hash(state);
            }
            Pk::Str(s) => {
                1u8.hash(state);
                s.hash(state);
            }
        }
    }
}

impl fmt::Display for Pk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pk::Num(n) => write!(f, "{n}"),
            Pk::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<&str> for Pk {
    fn from(s: &str) -> Self {
        Pk::Str(s.to_string())
    }
}

impl From<String> for Pk {
    fn from(s: String) -> Self {
        Pk::Str(s)
    }
}

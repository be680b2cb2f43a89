//! What a conflict is: a remote change that met a version of this device's
//! own (an unsynced op, or an op the server acknowledged without applying),
//! with both versions and which one won. The engine journals them
//! (`conflicts`) and announces them; [`super::judge`] finds them.

use serde::Serialize;
use serde_json::Value;

use super::wire::OpKind;
use super::{ChangeStamp, Pk};

/// One side of a conflict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub op: OpKind,
    /// The record, for a put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    pub stamp: ChangeStamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Winner {
    Local,
    Remote,
}

/// A journal row, and the payload of `sync.conflict:action:detected`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// Assigned by the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub table: String,
    pub pk: Pk,
    pub local: Version,
    pub remote: Version,
    pub winner: Winner,
    /// When it was detected (ms since the epoch).
    pub at: u64,
}

/// An op the server acknowledged without applying it (a newer version of
/// its record won there), remembered until that version arrives.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LostOp {
    pub table: String,
    pub pk: Pk,
    pub version: Version,
}

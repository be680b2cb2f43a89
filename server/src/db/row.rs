//! How a record is laid out in a SQL row, shared by both backends.
//!
//! - `pk` is the key's JSON text (`"m1"` or `5`), so `"5"` and `5` stay
//!   different keys (docs/PROTOCOL.md section 2).
//! - `op` is `put` or `delete`; `payload` is the row's JSON text, `NULL` for
//!   a tombstone.
//! - the stamp is four columns; `version` is the serverVersion and, while
//!   `in_log` is true, the record's entry in the compacted change log.

use serde_json::Value;
use tidesync::core::server::Scan;
use tidesync::core::wire::{OpKind, SyncChange};
use tidesync::core::{ChangeStamp, Pk, SyncError};

use super::storage;

/// The columns a change is read from, in this order.
pub const CHANGE_COLUMNS: &str = "table_name, pk, op, payload, version, clock, hlc, device_id, op_id";

/// A record's columns as read back.
pub struct ChangeRow {
    pub table_name: String,
    pub pk: String,
    pub op: String,
    pub payload: Option<String>,
    pub version: i64,
    pub clock: i64,
    pub hlc: String,
    pub device_id: String,
    pub op_id: String,
}

/// What a payload is read back as, from its stored JSON text.
pub trait Payload: Sized {
    fn from_stored(text: String) -> Result<Self, SyncError>;
}

/// Decoded (the push path: a rejected op's `current`, GC).
impl Payload for Value {
    fn from_stored(text: String) -> Result<Self, SyncError> {
        serde_json::from_str(&text).map_err(storage)
    }
}

impl ChangeRow {
    pub fn into_change<P: Payload>(self) -> Result<SyncChange<P>, SyncError> {
        let payload = self.payload.map(P::from_stored).transpose()?;
        Ok(SyncChange {
            table_name: self.table_name,
            pk: decode_pk(&self.pk)?,
            op: decode_op(&self.op)?,
            payload,
            server_version: to_u64(self.version)?,
            stamp: ChangeStamp {
                clock: to_u64(self.clock)?,
                hlc: self.hlc,
                device_id: self.device_id,
                op_id: self.op_id,
            },
        })
    }
}

pub fn encode_pk(pk: &Pk) -> Result<String, SyncError> {
    serde_json::to_string(pk).map_err(storage)
}

pub fn decode_pk(text: &str) -> Result<Pk, SyncError> {
    serde_json::from_str(text).map_err(storage)
}

pub fn decode_op(text: &str) -> Result<OpKind, SyncError> {
    match text {
        "put" => Ok(OpKind::Put),
        "delete" => Ok(OpKind::Delete),
        other => Err(SyncError::Storage(format!("unknown op {other:?} in the database"))),
    }
}

pub fn encode_payload(payload: Option<&Value>) -> Result<Option<String>, SyncError> {
    payload.map(serde_json::to_string).transpose().map_err(storage)
}

/// A stored BIGINT as a version or count (never negative when we wrote it).
pub fn to_u64(n: i64) -> Result<u64, SyncError> {
    u64::try_from(n).map_err(|_| SyncError::Storage(format!("negative value {n} in the database")))
}

/// A version or count as a BIGINT (wire values are at most 2^53 - 1).
pub fn to_i64(n: u64) -> Result<i64, SyncError> {
    i64::try_from(n).map_err(|_| SyncError::invalid("version", format!("{n} is out of range")))
}

/// The stamp a record holds, from its columns.
pub fn stamp(clock: i64, hlc: String, device_id: String, op_id: String) -> Result<ChangeStamp, SyncError> {
    Ok(ChangeStamp { clock: to_u64(clock)?, hlc, device_id, op_id })
}

/// A scan's page from the up to `limit + 1` rows read in version order: the
/// row past `limit`, if any, only says that more follow. `remaining` is then
/// a cheap upper bound, `version - the page's last version` (the log holds
/// at most one entry per version; compacted and filtered-out versions make
/// the true count lower), and 0 exactly when nothing follows. Counting the
/// rest of the log on every page would make a bootstrap quadratic.
pub fn page<P>(mut changes: Vec<SyncChange<P>>, limit: usize, version: u64) -> Scan<P> {
    if changes.len() <= limit {
        return Scan { changes, remaining: 0 };
    }
    changes.truncate(limit);
    let last = changes.last().map_or(0, |c| c.server_version);
    Scan { changes, remaining: version.saturating_sub(last).max(1) }
}

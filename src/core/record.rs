//! What the engine holds about data it does not own: an app record (read
//! only through the fields sync needs), an outbox entry and a tombstone.
//! Plain data and one trait, shared by the stores, the engine and the pure
//! capture planner ([`super::capture`]).

use serde::{Deserialize, Serialize};

use super::wire::OpKind;
use super::{ChangeStamp, Invalid, Pk, Result};

/// Field the engine keeps a record's per-record clock in.
pub const CLOCK_FIELD: &str = "clock";
/// Field the engine keeps a record's HLC in.
pub const HLC_FIELD: &str = "hlc";
/// Field of a stable, HLC-based order (tables with `orderKey`).
pub const ORDER_KEY: &str = "order_key";

/// An app record as a store holds it: `serde_json::Value` natively, `JsValue`
/// in the browser. The engine reads only the fields sync needs.
pub trait Record: Clone + std::fmt::Debug + PartialEq + 'static {
    /// Whether the value is a plain object (records must be).
    fn is_object(&self) -> bool;
    /// The primary key at `key_path` of a record an app writes, validated: a
    /// non-empty string or a finite number ([`Pk::app_key`]). Errors name
    /// the path `record.<key_path>`.
    fn pk(&self, key_path: &str) -> Result<Pk, Invalid>;
    /// Whether the record is plain JSON data, so that what this device
    /// stores is exactly what the server and every other device receive.
    /// Refused, with the path of the value relative to the record (`when`,
    /// `tags[3]`, `a.b`; empty for the record itself): anything JSON cannot
    /// hold or would change (Date, Map, Set, Blob, ArrayBuffer and typed
    /// arrays, BigInt, functions, symbols, NaN and the infinities, cycles,
    /// `undefined` as a property value or an array element, and instances of
    /// classes: any object whose prototype is not `Object.prototype` or
    /// `null`, or an array's not `Array.prototype`). A value that is not an
    /// object at all is left to [`Record::pk`]. `serde_json::Value` holds
    /// only JSON data and always passes.
    fn check_plain(&self) -> Result<(), Invalid>;
    /// A field usable as an index key (string or number), if present.
    fn key_field(&self, name: &str) -> Option<Pk>;
    /// A string field (used for `order_key` and `hlc`).
    fn str_field(&self, name: &str) -> Option<String>;
    /// A non-negative integer field (used for `clock`).
    fn u64_field(&self, name: &str) -> Option<u64>;
    /// A copy of the record with the engine's fields set.
    fn stamped(&self, clock: u64, hlc: &str, order_key: Option<&str>) -> Self;
    /// The record as JSON (for the conflict journal and its event).
    fn to_json(&self) -> serde_json::Value;
    /// A record from JSON (a journalled version handed to a `resolve` hook).
    fn from_json(v: &serde_json::Value) -> Self;
}

/// Where an op is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OpState {
    /// Waiting to be pushed; may still be coalesced with newer writes.
    Pending,
    /// Sent in a push whose answer has not arrived. Never modified.
    InFlight,
    /// Rejected permanently or past `maxAttempts` (dead letter). Kept.
    Failed,
}

/// One outbox entry (`pending_ops`). It carries no copy of the payload while
/// the record's row still holds this op's version: the push reads the row.
/// `payload` is set only when a newer write moved the row past an op that can
/// no longer be coalesced (in flight or failed).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingOp<R> {
    /// FIFO position; `None` until the store assigns it.
    pub seq: Option<u64>,
    pub table_name: String,
    pub pk: Pk,
    pub op: OpKind,
    pub stamp: ChangeStamp,
    pub state: OpState,
    pub attempts: u32,
    pub created_at: u64,
    /// The device's pull cursor for the op's table when the write was made
    /// (the newest write, after coalescing): which server versions the write
    /// was made on top of (see [`crate::core::settle`]).
    pub base: u64,
    pub last_error: Option<String>,
    pub payload: Option<R>,
}

/// A tombstone: the stamp of the delete that removed a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tombstone {
    pub table_name: String,
    pub pk: Pk,
    pub stamp: ChangeStamp,
    pub deleted_at: u64,
}

/// Where a record's local writes are: what a per-row "saved" badge shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncState {
    /// No write of this device is waiting: the server has acknowledged them all.
    Synced,
    /// A write waits to be pushed.
    Pending,
    /// A write was sent and its answer has not arrived.
    InFlight,
    /// A write was rejected for good (see `failedOps`).
    Failed,
}

/// A record's sync state, from its ops (oldest first): failed if any op is,
/// else in flight if any is, else pending if any op waits, else synced.
pub fn sync_state<R>(ops: &[PendingOp<R>]) -> SyncState {
    let has = |s: OpState| ops.iter().any(|o| o.state == s);
    if has(OpState::Failed) {
        SyncState::Failed
    } else if has(OpState::InFlight) {
        SyncState::InFlight
    } else if ops.is_empty() {
        SyncState::Synced
    } else {
        SyncState::Pending
    }
}

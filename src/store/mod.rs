//! Storage behind a trait, implemented twice: [`memory::MemoryStore`] (native,
//! for tests and the simulator) and `idb::IdbStore` (IndexedDB via rexie, in
//! the browser). One conformance suite runs against both.
//!
//! A [`StoreTx`] is one transaction over the app tables and the engine's own
//! stores (docs/PROTOCOL.md section 5). Its methods issue their requests at once and
//! may be awaited together: the engine never awaits anything but store
//! requests while a transaction is open (the IndexedDB transaction rule).

pub mod memory;
pub mod rows;
pub mod schema;

#[cfg(target_arch = "wasm32")]
pub mod idb;
#[cfg(target_arch = "wasm32")]
mod idb_batch;
#[cfg(target_arch = "wasm32")]
mod idb_logs;
#[cfg(target_arch = "wasm32")]
mod idb_watch;
#[cfg(target_arch = "wasm32")]
pub mod js_json;
#[cfg(target_arch = "wasm32")]
pub mod js_value;

use serde::{Deserialize, Serialize};

use crate::core::wire::OpKind;
use crate::core::{ChangeStamp, Invalid, Pk, Result};

pub use schema::{Schema, TableSchema};

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

/// Which stores a transaction covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read one app table.
    Read,
    /// Write one app table together with the outbox, tombstones and state.
    Write,
    /// Read or write the engine's own stores only.
    System,
    /// Every store (inspection that joins ops with their rows).
    All,
}

/// A query over one app table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// An index (a field declared in the table's `indexes`, or `order_key`).
    pub index: Option<String>,
    /// Only rows whose index value equals this.
    pub equals: Option<Pk>,
    pub limit: Option<u32>,
}

/// The engine's two append-only journals, each keyed by an increasing id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// `sync_runs`: one row of stats per sync run.
    Runs,
    /// `conflicts`: remote changes that met a local unsynced write.
    Conflicts,
}

impl Log {
    pub fn store_name(self) -> &'static str {
        match self {
            Log::Runs => SYNC_RUNS,
            Log::Conflicts => CONFLICTS,
        }
    }
}

/// Names of the engine's fixed stores (docs/PROTOCOL.md section 5).
pub const PENDING_OPS: &str = "pending_ops";
pub const TOMBSTONES: &str = "tombstones";
pub const SYNC_STATE: &str = "sync_state";
pub const SYNC_RUNS: &str = "sync_runs";
pub const CONFLICTS: &str = "conflicts";
pub const SYSTEM_STORES: [&str; 5] = [PENDING_OPS, TOMBSTONES, SYNC_STATE, SYNC_RUNS, CONFLICTS];

/// A database of app tables plus the engine's stores.
#[allow(async_fn_in_trait)]
pub trait Store {
    type Rec: Record;
    type Tx: StoreTx<Rec = Self::Rec>;

    /// Starts a transaction. `table` names the app table for `Read`/`Write`.
    async fn begin(&self, access: Access, table: Option<&str>) -> Result<Self::Tx>;
    /// Closes the database; later calls fail with `CLOSED`.
    fn close(&self);
}

/// One transaction. Dropping it without [`StoreTx::commit`] aborts it.
#[allow(async_fn_in_trait)]
pub trait StoreTx {
    type Rec: Record;

    async fn get_records(&self, table: &str, pks: &[Pk]) -> Result<Vec<Option<Self::Rec>>>;
    async fn put_records(&self, table: &str, records: Vec<Self::Rec>) -> Result<()>;
    async fn delete_records(&self, table: &str, pks: &[Pk]) -> Result<()>;
    async fn query(&self, table: &str, query: &Query) -> Result<Vec<Self::Rec>>;
    async fn count(&self, table: &str) -> Result<u64>;

    async fn get_tombstones(&self, table: &str, pks: &[Pk]) -> Result<Vec<Option<Tombstone>>>;
    async fn put_tombstones(&self, tombstones: Vec<Tombstone>) -> Result<()>;
    async fn delete_tombstones(&self, table: &str, pks: &[Pk]) -> Result<()>;

    /// The ops of each record, oldest first.
    async fn ops_for(&self, table: &str, pks: &[Pk]) -> Result<Vec<Vec<PendingOp<Self::Rec>>>>;
    /// Inserts ops without `seq` (the store assigns it) and replaces ops with one.
    async fn put_ops(&self, ops: Vec<PendingOp<Self::Rec>>) -> Result<()>;
    /// Removes ops by seq (acknowledged or discarded).
    async fn delete_ops(&self, seqs: &[u64]) -> Result<()>;
    /// Ops in FIFO order, from `after_seq` (exclusive), at most `limit`.
    async fn list_ops(&self, after_seq: Option<u64>, limit: u32) -> Result<Vec<PendingOp<Self::Rec>>>;
    async fn count_ops(&self) -> Result<u64>;
    /// Failed (dead-lettered) ops, FIFO, at most `limit`.
    async fn list_failed(&self, limit: u32) -> Result<Vec<PendingOp<Self::Rec>>>;
    /// How many ops are failed.
    async fn count_failed(&self) -> Result<u64>;

    /// Every primary key of a table, in key order.
    async fn keys(&self, table: &str) -> Result<Vec<Pk>>;
    /// Up to `limit` tombstones deleted before `before_ms`.
    async fn old_tombstones(&self, before_ms: u64, limit: u32) -> Result<Vec<Tombstone>>;

    /// Appends rows to a journal (their ids are assigned by the store).
    async fn log_append(&self, log: Log, rows: Vec<serde_json::Value>) -> Result<()>;
    /// The last `limit` rows of a journal, newest first.
    async fn log_recent(&self, log: Log, limit: u32) -> Result<Vec<serde_json::Value>>;
    /// Removes the oldest rows of a journal so that at most `keep` remain.
    async fn log_trim(&self, log: Log, keep: u64) -> Result<()>;
    /// The first `limit` rows of a journal, oldest first.
    async fn log_oldest(&self, log: Log, limit: u32) -> Result<Vec<serde_json::Value>>;
    /// Removes every row of a journal whose id is at most `id`.
    async fn log_drop_through(&self, log: Log, id: u64) -> Result<()>;

    async fn get_state(&self, key: &str) -> Result<Option<serde_json::Value>>;
    /// Several state rows, in the order of `keys`.
    async fn get_states(&self, keys: &[&str]) -> Result<Vec<Option<serde_json::Value>>> {
        crate::engine::join::try_join_all(keys.iter().map(|k| self.get_state(k))).await
    }
    async fn put_state(&self, key: &str, value: serde_json::Value) -> Result<()>;

    /// Resolves once every request has succeeded and the transaction committed.
    async fn commit(self) -> Result<()>;
    /// Rolls everything back.
    async fn abort(self) -> Result<()>;
}

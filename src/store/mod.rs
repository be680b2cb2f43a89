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
mod idb_error;
#[cfg(target_arch = "wasm32")]
mod idb_logs;
#[cfg(target_arch = "wasm32")]
mod idb_watch;
#[cfg(target_arch = "wasm32")]
pub mod js_json;
#[cfg(target_arch = "wasm32")]
pub mod js_value;

pub use crate::core::record::{OpState, PendingOp, Record, Tombstone};
use crate::core::{Pk, Result};

pub use schema::{Schema, TableSchema};

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

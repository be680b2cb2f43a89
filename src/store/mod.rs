//! Storage behind a thin trait of object-store requests, implemented twice:
//! [`memory::MemoryStore`] (native, for tests and the simulator) and
//! `idb::IdbStore` (IndexedDB, in the browser). What the engine
//! keeps in those stores (records, the outbox, tombstones, the journals and
//! its state) is written once above the trait. One conformance suite runs
//! against both stores.
//!
//! A [`StoreTx`] is one transaction over the app tables and the engine's own
//! stores (docs/PROTOCOL.md section 5). Its methods issue their requests at once and
//! may be awaited together: the engine never awaits anything but store
//! requests while a transaction is open (the IndexedDB transaction rule).

pub mod journal;
pub mod memory;
pub mod outbox;
pub mod query;
pub mod query_patch;
mod read_many;
pub mod records;
pub mod rows;
pub mod schema;
pub mod tombstones;

#[cfg(target_arch = "wasm32")]
pub mod idb;
#[cfg(target_arch = "wasm32")]
mod idb_connection;
#[cfg(target_arch = "wasm32")]
mod idb_error;
#[cfg(target_arch = "wasm32")]
mod idb_request;
#[cfg(target_arch = "wasm32")]
mod idb_schema;
#[cfg(target_arch = "wasm32")]
pub mod js_json;
#[cfg(target_arch = "wasm32")]
pub mod js_value;

pub use crate::core::key::{Key, KeyPath, KeyRange};
pub use crate::core::record::{OpState, PendingOp, Record, Tombstone};
use crate::core::{Pk, Result};
pub use query::{After, Page, Query, Where};
pub use rows::Row;

pub use schema::{Schema, TableSchema};

/// The `durability` hint of every readwrite transaction (IndexedDB's
/// `IDBTransactionOptions`): when the browser fires `complete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The browser's own choice (no hint).
    #[default]
    Default,
    /// Once the commit is flushed to the disk: a power loss right after
    /// keeps the write, and each commit waits for the disk.
    Strict,
    /// Once the operating system has the commit: a power loss or an OS
    /// crash in the next moments may lose it (a tab or browser crash does
    /// not).
    Relaxed,
}

impl Durability {
    /// The config's and IndexedDB's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Default => "default",
            Durability::Strict => "strict",
            Durability::Relaxed => "relaxed",
        }
    }
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
    /// Read the engine's state rows only (`sync_state`, read-only): a
    /// follower's look at the leader's lease every second, which takes one
    /// store instead of five, has no commit to wait for and runs beside
    /// other readers.
    State,
    /// Every store (inspection that joins ops with their rows).
    All,
    /// Read every app table and the outbox: one consistent view for a read
    /// function (`SyncEngine.read`, live queries).
    Snapshot,
}

/// What a scan reads: a range of the store's keys, or of one of its
/// indexes, in key order (by index key, then primary key) or reversed,
/// skipping `offset` rows and returning at most `limit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scan<'a> {
    pub index: Option<&'a str>,
    pub range: KeyRange,
    pub reverse: bool,
    pub offset: u32,
    pub limit: Option<u32>,
}

impl<'a> Scan<'a> {
    /// A range of the store's own keys, in order.
    pub fn range(range: KeyRange) -> Scan<'a> {
        Scan { range, ..Scan::default() }
    }

    /// A range of an index, in order.
    pub fn index(index: &'a str, range: KeyRange) -> Scan<'a> {
        Scan { index: Some(index), range, ..Scan::default() }
    }

    pub fn limit(mut self, limit: u32) -> Scan<'a> {
        self.limit = Some(limit);
        self
    }

    pub fn reversed(mut self) -> Scan<'a> {
        self.reverse = true;
        self
    }
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

/// One transaction over object stores, as IndexedDB has them: a handful of
/// requests that each store implements, and the engine's domain (records,
/// the outbox, tombstones, journals, state) written once above them, in
/// [`records`], [`outbox`], [`tombstones`] and [`journal`]. Dropping a
/// transaction without [`StoreTx::commit`] aborts it.
///
/// Every request names an object store of [`Schema::stores`]. Keys and key
/// ranges are [`Key`]/[`KeyRange`] with IndexedDB's order; a range no key can
/// be in answers nothing.
#[allow(async_fn_in_trait)]
pub trait StoreTx {
    type Rec: Row;

    /// The layout this transaction's database has.
    fn schema(&self) -> &Schema;
    /// The row stored under each key (`None` where there is none).
    async fn get(&self, store: &str, keys: &[Key]) -> Result<Vec<Option<Self::Rec>>>;
    /// The rows of a scan, in its order.
    async fn scan(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<Self::Rec>>;
    /// The primary keys of a scan's rows, in its order.
    async fn scan_keys(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<Key>>;
    /// How many rows a range of the store (or of one of its indexes) holds.
    async fn count_in(&self, store: &str, index: Option<&str>, range: &KeyRange) -> Result<u64>;
    /// Stores rows under the key their key path gives; an auto-increment
    /// store assigns the key of a row without one and sets it in the row.
    /// A row that breaks a unique index fails the call.
    async fn put(&self, store: &str, rows: Vec<Self::Rec>) -> Result<()>;
    /// Removes every row in each range.
    async fn delete(&self, store: &str, ranges: Vec<KeyRange>) -> Result<()>;
    /// Resolves once every request has succeeded and the transaction committed.
    async fn commit(self) -> Result<()>;
    /// Rolls everything back.
    async fn abort(self) -> Result<()>;

    async fn get_records(&self, table: &str, pks: &[Pk]) -> Result<Vec<Option<Self::Rec>>> {
        records::get(self, table, pks).await
    }
    async fn put_records(&self, table: &str, records: Vec<Self::Rec>) -> Result<()> {
        self.put(table, records).await
    }
    async fn delete_records(&self, table: &str, pks: &[Pk]) -> Result<()> {
        self.delete(table, pks.iter().map(|pk| KeyRange::only(pk.into())).collect()).await
    }
    /// One page of a query over an app table.
    async fn query(&self, table: &str, query: &Query) -> Result<Page<Self::Rec>> {
        let schema = self.schema().table(table).ok_or_else(|| crate::core::SyncError::unknown_table(table))?.clone();
        query::run(self, &schema, query).await
    }
    async fn count(&self, table: &str) -> Result<u64> {
        self.count_in(table, None, &KeyRange::all()).await
    }
    /// Every primary key of a table, in key order.
    async fn keys(&self, table: &str) -> Result<Vec<Pk>> {
        records::keys(self, table).await
    }

    async fn get_tombstones(&self, table: &str, pks: &[Pk]) -> Result<Vec<Option<Tombstone>>> {
        tombstones::get(self, table, pks).await
    }
    async fn put_tombstones(&self, tombstones: Vec<Tombstone>) -> Result<()> {
        tombstones::put(self, tombstones).await
    }
    async fn delete_tombstones(&self, table: &str, pks: &[Pk]) -> Result<()> {
        tombstones::delete(self, table, pks).await
    }
    /// Up to `limit` tombstones deleted before `before_ms`.
    async fn old_tombstones(&self, before_ms: u64, limit: u32) -> Result<Vec<Tombstone>> {
        tombstones::older_than(self, before_ms, limit).await
    }

    /// The ops of each record, oldest first.
    async fn ops_for(&self, table: &str, pks: &[Pk]) -> Result<Vec<Vec<PendingOp<Self::Rec>>>> {
        outbox::ops_for(self, table, pks).await
    }
    /// Inserts ops without `seq` (the store assigns it) and replaces ops with one.
    async fn put_ops(&self, ops: Vec<PendingOp<Self::Rec>>) -> Result<()> {
        outbox::put(self, ops).await
    }
    /// Removes ops by seq (acknowledged or discarded).
    async fn delete_ops(&self, seqs: &[u64]) -> Result<()> {
        outbox::delete(self, seqs).await
    }
    /// Ops in FIFO order, from `after_seq` (exclusive), at most `limit`.
    async fn list_ops(&self, after_seq: Option<u64>, limit: u32) -> Result<Vec<PendingOp<Self::Rec>>> {
        outbox::list(self, after_seq, limit).await
    }
    async fn count_ops(&self) -> Result<u64> {
        self.count_in(PENDING_OPS, None, &KeyRange::all()).await
    }
    /// Failed (dead-lettered) ops, FIFO, at most `limit`.
    async fn list_failed(&self, limit: u32) -> Result<Vec<PendingOp<Self::Rec>>> {
        outbox::failed(self, limit).await
    }
    /// How many ops are failed.
    async fn count_failed(&self) -> Result<u64> {
        self.count_in(PENDING_OPS, Some(schema::OPS_FAILED), &KeyRange::all()).await
    }

    /// Appends rows to a journal (their ids are assigned by the store).
    async fn log_append(&self, log: Log, rows: Vec<serde_json::Value>) -> Result<()> {
        journal::append(self, log, rows).await
    }
    /// The last `limit` rows of a journal, newest first.
    async fn log_recent(&self, log: Log, limit: u32) -> Result<Vec<serde_json::Value>> {
        journal::read(self, log, true, limit).await
    }
    /// Removes the oldest rows of a journal so that at most `keep` remain.
    async fn log_trim(&self, log: Log, keep: u64) -> Result<()> {
        journal::trim(self, log, keep).await
    }
    /// The first `limit` rows of a journal, oldest first.
    async fn log_oldest(&self, log: Log, limit: u32) -> Result<Vec<serde_json::Value>> {
        journal::read(self, log, false, limit).await
    }
    /// Removes every row of a journal whose id is at most `id`.
    async fn log_drop_through(&self, log: Log, id: u64) -> Result<()> {
        self.delete(log.store_name(), vec![KeyRange::below(id.into(), false)]).await
    }

    async fn get_state(&self, key: &str) -> Result<Option<serde_json::Value>> {
        Ok(journal::states(self, &[key]).await?.pop().flatten())
    }
    /// Several state rows, in the order of `keys`.
    async fn get_states(&self, keys: &[&str]) -> Result<Vec<Option<serde_json::Value>>> {
        journal::states(self, keys).await
    }
    async fn put_state(&self, key: &str, value: serde_json::Value) -> Result<()> {
        journal::put_state(self, key, value).await
    }
}

//! The engine: the async driver over a [`Store`] and a [`Platform`].
//!
//! It is generic so that the very same code runs in the browser (IndexedDB,
//! `Date.now`, JS events) and natively (memory store, controlled clock) in
//! tests and the simulator. The wasm layer only adapts types.

pub mod apply;
pub mod apply_blind;
pub mod capture;
pub mod config;
pub mod conflicts;
pub mod cursors;
pub mod driver;
pub mod events;
pub mod gc;
pub mod lease;
pub mod lost;
mod open;
pub mod outbox;
pub mod platform;
pub mod provider;
pub mod pull;
pub mod push;
pub mod record_status;
pub mod rescan;
pub mod revert;
pub mod settle;
pub mod signal;
pub mod subscription;
pub mod write_seq;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde_json::Value;

use crate::core::hlc::HlcClock;
use crate::core::{HlcState, Pk, Result, SyncError};
use crate::store::{Access, Page, PendingOp, Query, Store, StoreTx, TableSchema};
use cursors::Cursors;

pub use config::{decode_config, EngineConfig};
pub use events::{ChangeSource, Event};
pub use platform::{Platform, TestPlatform};

/// `sync_state` keys.
pub const STATE_DEVICE_ID: &str = "deviceId";
pub const STATE_HLC: &str = "hlc";
/// The HLC as remote applies advanced it. Kept apart from [`STATE_HLC`],
/// which only local writes set, so that "no `hlc` row" means this database
/// has never captured a write (see [`apply_blind`]).
pub const STATE_HLC_REMOTE: &str = "hlcRemote";
pub const STATE_SCHEMA: &str = "schema";
/// The seqs of the batch being pushed (see [`outbox`]).
pub const STATE_IN_FLIGHT: &str = "inFlight";
/// Set once the first pull caught up (bootstrap done).
pub const STATE_BOOTSTRAPPED: &str = "bootstrapped";
/// The workspace and project this database syncs (see [`Engine::open`]).
pub const STATE_SCOPE: &str = "scope";

/// An app's merge for one table: `(local, remote)` to a merged record, or
/// `None` to keep what LWW chose. A side is `None` when it is a delete.
pub type Resolver<R> = Rc<dyn Fn(Option<&R>, Option<&R>) -> Result<Option<R>>>;

/// Faults a test can inject into the next write (fault injection only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail after the record and op writes were issued, before commit.
    FailBeforeCommit,
    /// Fail the next push's settle before it commits (as a full disk or a
    /// closed database would).
    FailSettle,
}

/// A sync engine over one database.
pub struct Engine<S: Store, P: Platform> {
    config: EngineConfig,
    store: S,
    platform: P,
    device_id: String,
    hlc: RefCell<HlcClock>,
    closed: Cell<bool>,
    fault: Cell<Option<Fault>>,
    resolvers: RefCell<HashMap<String, Resolver<S::Rec>>>,
    /// The per-table cursors and whether bootstrap is done, as this engine
    /// last read or applied them (see [`cursors`]).
    cursor_hint: RefCell<Option<(Cursors, bool)>>,
    /// The tables the pull in progress asks for (the lowest-cursor group).
    pull_group: RefCell<Vec<String>>,
    /// Consecutive push calls that failed in transit (backoff only).
    transport_failures: Cell<u32>,
    /// A settle did not commit: the batch it was about is still marked in
    /// flight and must go back to pending before the next push.
    stranded: Cell<bool>,
    /// Records of discarded ops wait for the server's version (see [`revert`]).
    revert_due: Cell<bool>,
    /// No write was ever captured in this database, as far as this engine knows.
    never_captured: Cell<bool>,
    /// Whether this open created the database (it held no device id and no scope).
    created: bool,
}

impl<S: Store, P: Platform> Engine<S, P> {
    /// Opens the engine on an opened store: loads or creates the deviceId and
    /// the persisted HLC state, records the schema in `sync_state`, and
    /// moves a legacy single cursor to per-table cursors.
    ///
    /// A database belongs to one scope (workspace and project): opening it
    /// with another one fails with `INVALID` (path `projectId` or
    /// `workspaceId`) and changes nothing, instead of mixing two projects'
    /// rows and skipping one's history under the other's cursor.
    pub async fn open(config: EngineConfig, store: S, platform: P) -> Result<Self> {
        // Most opens (a page load) write nothing: the rows are read without
        // the write lock, and a readwrite transaction is taken only to write.
        let read = store.begin(Access::State, None).await?;
        let rows = read.get_states(&open::KEYS).await?;
        read.commit().await?;
        let mut opened = open::plan(&config, rows, || new_uuid(&platform))?;
        if !opened.writes.is_empty() {
            // Decided again under the write lock: another tab may have
            // opened the database since.
            let tx = store.begin(Access::System, None).await?;
            let rows = tx.get_states(&open::KEYS).await?;
            opened = match open::plan(&config, rows, || new_uuid(&platform)) {
                Ok(o) => o,
                Err(e) => {
                    let _ = tx.abort().await;
                    return Err(e);
                }
            };
            let writes = std::mem::take(&mut opened.writes);
            crate::core::join::try_join_all(writes.into_iter().map(|(key, value)| tx.put_state(key, value))).await?;
            tx.commit().await?;
        }
        let open::Opened { device_id, created, cursors, bootstrapped, hlc_state, captured, .. } = opened;
        let hlc = HlcClock::new(device_id.clone(), hlc_state, config.max_clock_drift_ms);
        let names: Vec<String> = config.tables.iter().map(|t| t.name.clone()).collect();
        Ok(Engine {
            config,
            store,
            platform,
            device_id,
            hlc: RefCell::new(hlc),
            closed: Cell::new(false),
            fault: Cell::new(None),
            resolvers: RefCell::new(HashMap::new()),
            pull_group: RefCell::new(cursors.group(&names).1),
            cursor_hint: RefCell::new(Some((cursors, bootstrapped))),
            transport_failures: Cell::new(0),
            stranded: Cell::new(false),
            revert_due: Cell::new(false),
            never_captured: Cell::new(!captured),
            created,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Whether this open created the database (nothing of an earlier one was there).
    pub fn created_database(&self) -> bool {
        self.created
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The last HLC state this engine issued or loaded.
    pub fn hlc_state(&self) -> HlcState {
        self.hlc.borrow().state()
    }

    /// Sets the `resolve` hook of a table (see [`Resolver`]).
    pub fn set_resolver(&self, table: &str, resolver: Resolver<S::Rec>) -> Result<()> {
        self.table(table)?;
        self.resolvers.borrow_mut().insert(table.to_string(), resolver);
        Ok(())
    }

    /// Arms a fault for the next write (tests only).
    #[doc(hidden)]
    pub fn inject_fault(&self, fault: Fault) {
        self.fault.set(Some(fault));
    }

    /// Closes the engine and its database. Waiting writes fail with `CLOSED`.
    pub fn close(&self) {
        if !self.closed.replace(true) {
            self.store.close();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.get() {
            Err(SyncError::Closed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn table(&self, name: &str) -> Result<&TableSchema> {
        self.config.tables.iter().find(|t| t.name == name).ok_or_else(|| SyncError::unknown_table(name))
    }

    // ------------------------------------------------------------- reads

    /// The record with this primary key, if any.
    pub async fn get(&self, table: &str, pk: &Pk) -> Result<Option<S::Rec>> {
        self.check_open()?;
        self.table(table)?;
        let tx = self.store.begin(Access::Read, Some(table)).await?;
        let mut rows = tx.get_records(table, std::slice::from_ref(pk)).await?;
        tx.commit().await?;
        Ok(rows.pop().flatten())
    }

    /// One page of a query over a table (by primary key or along an index).
    pub async fn query(&self, table: &str, query: &Query) -> Result<Page<S::Rec>> {
        self.check_open()?;
        self.table(table)?;
        let tx = self.store.begin(Access::Read, Some(table)).await?;
        let page = tx.query(table, query).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// The rows of a query (one page; all of them without a limit).
    pub async fn get_all(&self, table: &str, query: &Query) -> Result<Vec<S::Rec>> {
        Ok(self.query(table, query).await?.rows)
    }

    /// A read-only transaction over every app table and the outbox: one
    /// consistent view for a read function that reads several tables.
    pub async fn snapshot(&self) -> Result<S::Tx> {
        self.check_open()?;
        self.store.begin(Access::Snapshot, None).await
    }

    /// The sync state of each record (pending, in flight, failed, synced).
    pub async fn record_status(&self, table: &str, pks: &[Pk]) -> Result<Vec<record_status::RecordStatus>> {
        self.table(table)?;
        let tx = self.snapshot().await?;
        let out = record_status::record_status(&tx, table, pks).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The op with this id while it is in the outbox (`None` once the
    /// server acknowledged it, or it was discarded).
    pub async fn op_by_id(&self, op_id: &str) -> Result<Option<PendingOp<S::Rec>>> {
        let tx = self.snapshot().await?;
        let op = crate::store::outbox::by_id(&tx, op_id).await?;
        tx.commit().await?;
        Ok(op)
    }

    /// How many rows a query's condition selects.
    pub async fn count_where(&self, table: &str, query: &Query) -> Result<u64> {
        self.check_open()?;
        let schema = self.table(table)?.clone();
        let tx = self.store.begin(Access::Read, Some(table)).await?;
        let n = crate::store::query::count(&tx, &schema, query).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Number of records in a table.
    pub async fn count(&self, table: &str) -> Result<u64> {
        self.check_open()?;
        self.table(table)?;
        let tx = self.store.begin(Access::Read, Some(table)).await?;
        let n = tx.count(table).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The outbox, FIFO, including in-flight and failed ops. A put op that
    /// carries no payload of its own shows the row it will push.
    pub async fn pending_ops(&self, limit: u32) -> Result<Vec<PendingOp<S::Rec>>> {
        self.check_open()?;
        let tx = self.store.begin(Access::All, None).await?;
        let (mut ops, in_flight) = crate::try_join!(tx.list_ops(None, limit), outbox::in_flight(&tx))?;
        outbox::mark_in_flight(&mut ops, &in_flight);
        let ops = Self::with_payloads(&tx, ops).await?;
        tx.commit().await?;
        Ok(ops)
    }

    /// Fills in the payload of put ops that read it from their row.
    pub(crate) async fn with_payloads(tx: &S::Tx, mut ops: Vec<PendingOp<S::Rec>>) -> Result<Vec<PendingOp<S::Rec>>> {
        let reads = ops.iter().map(|op| tx.get_records(&op.table_name, std::slice::from_ref(&op.pk)));
        let rows = crate::core::join::try_join_all(reads).await?;
        for (op, mut row) in ops.iter_mut().zip(rows) {
            if op.payload.is_none() && op.op == crate::core::wire::OpKind::Put {
                op.payload = row.pop().flatten();
            }
        }
        Ok(ops)
    }

    /// `change` for each table's rows, also told to other tabs: the rows one
    /// transaction wrote, with the write sequence numbers it took.
    pub(crate) fn announce(&self, changed: Vec<(String, Vec<Pk>)>, source: ChangeSource, seqs: &[u64]) -> Vec<Event> {
        let announce = |(table, pks)| {
            let change = events::ChangeEvent { table, pks, source, seqs: seqs.to_vec() };
            self.platform.broadcast(&change);
            Event::Change(change)
        };
        changed.into_iter().map(announce).collect()
    }

    /// Delivers events with no borrow held (handlers may call back in).
    pub(crate) fn emit_all(&self, events: Vec<Event>) {
        for e in events {
            self.platform.emit(e);
        }
    }
}

/// The persisted HLC (the greater of the local and remote rows), and
/// whether this database ever captured a write.
pub(crate) async fn load_hlc<T: StoreTx>(tx: &T) -> Result<(HlcState, bool)> {
    let mut rows = tx.get_states(&[STATE_HLC, STATE_HLC_REMOTE]).await?.into_iter();
    hlc_from_rows(rows.next().flatten(), rows.next().flatten())
}

/// The persisted HLC ([`load_hlc`]) and the write sequence ([`write_seq`]),
/// in one read: what a transaction needs that applies or restamps rows.
pub(crate) async fn load_hlc_and_seq<T: StoreTx>(tx: &T) -> Result<((HlcState, bool), u64)> {
    let keys = [STATE_HLC, STATE_HLC_REMOTE, write_seq::STATE_WRITE_SEQ];
    let (rows, seq) = crate::store::journal::states_and_seq(tx, &keys).await?;
    let mut rows = rows.into_iter();
    Ok((hlc_from_rows(rows.next().flatten(), rows.next().flatten())?, seq))
}

/// What every local write needs from `sync_state`, in one read.
pub(crate) struct WriteState {
    /// The persisted HLC ([`load_hlc`]).
    pub hlc: (HlcState, bool),
    /// The seqs of the batch in flight.
    pub in_flight: HashSet<u64>,
    /// The per-table cursors (an op's base).
    pub cursors: Cursors,
    /// The write sequence ([`write_seq`]).
    pub write_seq: u64,
}

/// Reads the [`WriteState`] in one request.
pub(crate) async fn load_write_state<T: StoreTx>(tx: &T) -> Result<WriteState> {
    let keys = [STATE_HLC, STATE_HLC_REMOTE, STATE_IN_FLIGHT, cursors::STATE_CURSORS, write_seq::STATE_WRITE_SEQ];
    let (rows, write_seq) = crate::store::journal::states_and_seq(tx, &keys).await?;
    let mut rows = rows.into_iter();
    let hlc = hlc_from_rows(rows.next().flatten(), rows.next().flatten())?;
    let in_flight = outbox::in_flight_from(rows.next().flatten());
    let cursors = Cursors::decode(rows.next().flatten().as_ref()).unwrap_or_default();
    Ok(WriteState { hlc, in_flight, cursors, write_seq })
}

pub(crate) fn hlc_from_rows(local: Option<Value>, remote: Option<Value>) -> Result<(HlcState, bool)> {
    let decode = |v: &Option<Value>, key: &str| -> Result<HlcState> {
        match v.as_ref().and_then(Value::as_str) {
            Some(s) => HlcState::decode(s).map_err(|e| SyncError::Storage(format!("sync_state.{key}: {e}"))),
            None => Ok(HlcState::default()),
        }
    };
    let state = decode(&local, STATE_HLC)?.max(decode(&remote, STATE_HLC_REMOTE)?);
    Ok((state, local.is_some()))
}

/// A fresh UUID v4 from the platform's random source.
pub fn new_uuid<P: Platform>(platform: &P) -> String {
    new_uuids(platform, 1).pop().unwrap_or_default()
}

/// `n` fresh UUIDs v4 from one call to the random source.
pub fn new_uuids<P: Platform>(platform: &P, n: usize) -> Vec<String> {
    let mut bytes = vec![0u8; 16 * n];
    platform.fill_random(&mut bytes);
    bytes
        .chunks_exact(16)
        .map(|c| {
            let mut b = [0u8; 16];
            b.copy_from_slice(c);
            uuid::Builder::from_random_bytes(b).into_uuid().to_string()
        })
        .collect()
}

//! An in-memory [`Store`] over `serde_json::Value` records.
//!
//! It backs the native tests and the simulator. A transaction buffers its
//! writes and applies them all at commit; dropping or aborting it discards
//! them, so a simulated crash keeps exactly what was committed. Clones of a
//! `MemoryStore` share one database, as two tabs share one IndexedDB.
//!
//! Transactions are scheduled as IndexedDB schedules them, so the simulator
//! sees the interleavings a browser produces: each has a scope (the stores
//! [`Access`] covers, the same sets as `IdbStore`) and a mode, and `begin`
//! waits until every earlier transaction whose scope overlaps has committed,
//! aborted or been dropped, unless both are readonly. Every readwrite access
//! covers `pending_ops`, so writers run one at a time; readers of one table
//! run together. A caller that holds a transaction open while it begins an
//! overlapping one waits forever here (in a browser the second one's
//! requests would wait, and the first would commit once idle), so the engine
//! never does that.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::task::{Poll, Waker};

use serde_json::Value;

use super::schema::{Schema, CLOCK_FIELD};
use super::{
    Access, Log, OpState, PendingOp, Query, Record, Store, StoreTx, Tombstone, PENDING_OPS, SYNC_STATE, SYSTEM_STORES,
    TOMBSTONES,
};
use crate::core::decode::{self, Path, WireValue};
use crate::core::{Invalid, Pk, Result, SyncError};

#[derive(Default, Clone)]
struct Data {
    tables: HashMap<String, BTreeMap<Pk, Value>>,
    tombstones: BTreeMap<(String, Pk), Tombstone>,
    ops: BTreeMap<u64, PendingOp<Value>>,
    state: BTreeMap<String, Value>,
    logs: HashMap<&'static str, BTreeMap<u64, Value>>,
}

struct Db {
    schema: Schema,
    data: Data,
    next_seq: u64,
    closed: bool,
}

/// A database held in memory. Cheap to clone; clones share the data.
#[derive(Clone)]
pub struct MemoryStore {
    db: Rc<RefCell<Db>>,
    queue: Rc<RefCell<TxQueue>>,
}

/// The live transactions of one database, in the order they began.
#[derive(Default)]
struct TxQueue {
    next_id: u64,
    live: Vec<Queued>,
    /// The wakers of `begin`s that wait, by transaction id.
    waiting: Vec<(u64, Waker)>,
}

struct Queued {
    id: u64,
    scope: Vec<String>,
    write: bool,
}

impl TxQueue {
    /// Whether transaction `id` may start: no earlier live transaction
    /// conflicts with it (overlapping scopes, and one of the two writes).
    fn may_start(&self, id: u64) -> bool {
        let Some(me) = self.live.iter().find(|q| q.id == id) else { return true };
        self.live
            .iter()
            .take_while(|q| q.id != id)
            .all(|q| !(q.write || me.write) || !q.scope.iter().any(|s| me.scope.contains(s)))
    }
}

/// A transaction's place in the queue. Dropping it (commit, abort, drop of
/// the transaction, or of a `begin` still waiting) lets the next ones start.
struct Slot {
    queue: Rc<RefCell<TxQueue>>,
    id: u64,
}

impl Slot {
    fn join(queue: &Rc<RefCell<TxQueue>>, scope: Vec<String>, write: bool) -> Slot {
        let mut q = queue.borrow_mut();
        let id = q.next_id;
        q.next_id += 1;
        q.live.push(Queued { id, scope, write });
        Slot { queue: queue.clone(), id }
    }

    /// Resolves when the transaction may start.
    async fn ready(&self) {
        std::future::poll_fn(|cx| {
            let mut q = self.queue.borrow_mut();
            if q.may_start(self.id) {
                return Poll::Ready(());
            }
            q.waiting.retain(|(id, _)| *id != self.id);
            q.waiting.push((self.id, cx.waker().clone()));
            Poll::Pending
        })
        .await
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let waiting = {
            let mut q = self.queue.borrow_mut();
            q.live.retain(|x| x.id != self.id);
            std::mem::take(&mut q.waiting)
        };
        for (_, w) in waiting {
            w.wake();
        }
    }
}

impl MemoryStore {
    pub fn new(schema: Schema) -> Self {
        let mut data = Data::default();
        for t in &schema.tables {
            data.tables.insert(t.name.clone(), BTreeMap::new());
        }
        let db = Rc::new(RefCell::new(Db { schema, data, next_seq: 1, closed: false }));
        MemoryStore { db, queue: Rc::default() }
    }

    /// Everything committed, as text in a stable order: rows, tombstones,
    /// ops, `sync_state` and the journals. Two equal dumps mean nothing
    /// changed (the bad-input catalogue compares them).
    pub fn dump(&self) -> String {
        let db = self.db.borrow();
        let d = &db.data;
        let mut tables: Vec<_> = d.tables.iter().collect();
        tables.sort_by(|a, b| a.0.cmp(b.0));
        let mut logs: Vec<_> = d.logs.iter().collect();
        logs.sort_by(|a, b| a.0.cmp(b.0));
        let ops: Vec<String> = d.ops.iter().map(|(seq, op)| format!("{seq}:{op:?}")).collect();
        format!("{tables:?}\n{:?}\n{ops:?}\n{:?}\n{logs:?}", d.tombstones, d.state)
    }

    /// Another handle on the same data with a (possibly changed) schema, as a
    /// reopen after an upgrade: new tables appear empty, existing rows stay.
    pub fn reopen(&self, schema: Schema) -> Self {
        let mut db = self.db.borrow_mut();
        for t in &schema.tables {
            db.data.tables.entry(t.name.clone()).or_default();
        }
        db.schema = schema;
        db.closed = false;
        drop(db);
        self.clone()
    }
}

enum Write {
    PutRecord(String, Pk, Value),
    DeleteRecord(String, Pk),
    PutTombstone(Tombstone),
    DeleteTombstone(String, Pk),
    PutOp(u64, PendingOp<Value>),
    DeleteOp(u64),
    PutState(String, Value),
    LogAppend(Log, Value),
    LogTrim(Log, u64),
    LogDropThrough(Log, u64),
}

/// A transaction on a [`MemoryStore`].
pub struct MemoryTx {
    db: Rc<RefCell<Db>>,
    writes: RefCell<Vec<Write>>,
    _slot: Slot,
}

impl MemoryStore {
    /// The stores a transaction covers and whether it writes (as `IdbStore`).
    fn scope(&self, access: Access, table: Option<&str>) -> Result<(Vec<String>, bool)> {
        let db = self.db.borrow();
        if db.closed {
            return Err(SyncError::Closed);
        }
        if let Some(t) = table {
            if !db.data.tables.contains_key(t) {
                return Err(SyncError::unknown_table(t));
            }
        }
        let mut scope: Vec<String> = table.into_iter().map(str::to_string).collect();
        let system = |names: &[&str], scope: &mut Vec<String>| scope.extend(names.iter().map(|n| n.to_string()));
        match access {
            Access::Read => return Ok((scope, false)),
            Access::Write => system(&[PENDING_OPS, TOMBSTONES, SYNC_STATE], &mut scope),
            Access::System => system(&SYSTEM_STORES, &mut scope),
            Access::All => {
                scope = db.schema.tables.iter().map(|t| t.name.clone()).collect();
                system(&SYSTEM_STORES, &mut scope);
            }
        }
        Ok((scope, true))
    }
}

impl Store for MemoryStore {
    type Rec = Value;
    type Tx = MemoryTx;

    async fn begin(&self, access: Access, table: Option<&str>) -> Result<MemoryTx> {
        let (scope, write) = self.scope(access, table)?;
        let slot = Slot::join(&self.queue, scope, write);
        slot.ready().await;
        if self.db.borrow().closed {
            return Err(SyncError::Closed);
        }
        Ok(MemoryTx { db: self.db.clone(), writes: RefCell::new(Vec::new()), _slot: slot })
    }

    fn close(&self) {
        self.db.borrow_mut().closed = true;
    }
}

impl MemoryTx {
    fn record(&self, table: &str, pk: &Pk) -> Option<Value> {
        for w in self.writes.borrow().iter().rev() {
            match w {
                Write::PutRecord(t, p, v) if t == table && p == pk => return Some(v.clone()),
                Write::DeleteRecord(t, p) if t == table && p == pk => return None,
                _ => {}
            }
        }
        self.db.borrow().data.tables.get(table).and_then(|m| m.get(pk)).cloned()
    }

    fn tombstone(&self, table: &str, pk: &Pk) -> Option<Tombstone> {
        for w in self.writes.borrow().iter().rev() {
            match w {
                Write::PutTombstone(t) if t.table_name == table && &t.pk == pk => return Some(t.clone()),
                Write::DeleteTombstone(t, p) if t == table && p == pk => return None,
                _ => {}
            }
        }
        self.db.borrow().data.tombstones.get(&(table.to_string(), pk.clone())).cloned()
    }

    /// Committed ops overlaid with this transaction's writes, by seq.
    fn ops_view(&self) -> BTreeMap<u64, PendingOp<Value>> {
        let mut ops = self.db.borrow().data.ops.clone();
        for w in self.writes.borrow().iter() {
            match w {
                Write::PutOp(seq, op) => {
                    ops.insert(*seq, op.clone());
                }
                Write::DeleteOp(seq) => {
                    ops.remove(seq);
                }
                _ => {}
            }
        }
        ops
    }

    fn table_rows(&self, table: &str) -> Result<BTreeMap<Pk, Value>> {
        let mut rows =
            self.db.borrow().data.tables.get(table).cloned().ok_or_else(|| SyncError::unknown_table(table))?;
        for w in self.writes.borrow().iter() {
            match w {
                Write::PutRecord(t, p, v) if t == table => {
                    rows.insert(p.clone(), v.clone());
                }
                Write::DeleteRecord(t, p) if t == table => {
                    rows.remove(p);
                }
                _ => {}
            }
        }
        Ok(rows)
    }
}

impl StoreTx for MemoryTx {
    type Rec = Value;

    async fn get_records(&self, table: &str, pks: &[Pk]) -> Result<Vec<Option<Value>>> {
        Ok(pks.iter().map(|pk| self.record(table, pk)).collect())
    }

    async fn put_records(&self, table: &str, records: Vec<Value>) -> Result<()> {
        let key_path = self.db.borrow().schema.key_path(table)?;
        for r in records {
            // The key as IndexedDB's keyPath reads it: the app-level rules
            // of `Record::pk` were applied when the record was captured.
            let pk = decode::record_pk(&r, &key_path).map_err(SyncError::Invalid)?;
            self.writes.borrow_mut().push(Write::PutRecord(table.to_string(), pk, r));
        }
        Ok(())
    }

    async fn delete_records(&self, table: &str, pks: &[Pk]) -> Result<()> {
        for pk in pks {
            self.writes.borrow_mut().push(Write::DeleteRecord(table.to_string(), pk.clone()));
        }
        Ok(())
    }

    async fn query(&self, table: &str, query: &Query) -> Result<Vec<Value>> {
        let rows = self.table_rows(table)?;
        let limit = query.limit.map(|l| l as usize).unwrap_or(usize::MAX);
        let mut out: Vec<(Option<Pk>, Pk, Value)> = rows
            .into_iter()
            .filter_map(|(pk, v)| match &query.index {
                None => Some((None, pk, v)),
                Some(index) => {
                    let key = v.key_field(index)?;
                    match &query.equals {
                        Some(eq) if &key != eq => None,
                        _ => Some((Some(key), pk, v)),
                    }
                }
            })
            .collect();
        // An index walk yields rows by index key, then by primary key.
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(out.into_iter().take(limit).map(|(_, _, v)| v).collect())
    }

    async fn count(&self, table: &str) -> Result<u64> {
        Ok(self.table_rows(table)?.len() as u64)
    }

    async fn get_tombstones(&self, table: &str, pks: &[Pk]) -> Result<Vec<Option<Tombstone>>> {
        Ok(pks.iter().map(|pk| self.tombstone(table, pk)).collect())
    }

    async fn put_tombstones(&self, tombstones: Vec<Tombstone>) -> Result<()> {
        self.writes.borrow_mut().extend(tombstones.into_iter().map(Write::PutTombstone));
        Ok(())
    }

    async fn delete_tombstones(&self, table: &str, pks: &[Pk]) -> Result<()> {
        for pk in pks {
            self.writes.borrow_mut().push(Write::DeleteTombstone(table.to_string(), pk.clone()));
        }
        Ok(())
    }

    async fn ops_for(&self, table: &str, pks: &[Pk]) -> Result<Vec<Vec<PendingOp<Value>>>> {
        let ops = self.ops_view();
        Ok(pks
            .iter()
            .map(|pk| ops.values().filter(|o| o.table_name == table && &o.pk == pk).cloned().collect())
            .collect())
    }

    async fn put_ops(&self, ops: Vec<PendingOp<Value>>) -> Result<()> {
        for mut op in ops {
            let seq = match op.seq {
                Some(s) => s,
                None => {
                    let mut db = self.db.borrow_mut();
                    let s = db.next_seq;
                    db.next_seq += 1;
                    s
                }
            };
            op.seq = Some(seq);
            self.writes.borrow_mut().push(Write::PutOp(seq, op));
        }
        Ok(())
    }

    async fn delete_ops(&self, seqs: &[u64]) -> Result<()> {
        self.writes.borrow_mut().extend(seqs.iter().map(|s| Write::DeleteOp(*s)));
        Ok(())
    }

    async fn list_ops(&self, after_seq: Option<u64>, limit: u32) -> Result<Vec<PendingOp<Value>>> {
        let ops = self.ops_view();
        let start = after_seq.map(|s| s + 1).unwrap_or(0);
        Ok(ops.range(start..).take(limit as usize).map(|(_, o)| o.clone()).collect())
    }

    async fn count_ops(&self) -> Result<u64> {
        Ok(self.ops_view().len() as u64)
    }

    async fn list_failed(&self, limit: u32) -> Result<Vec<PendingOp<Value>>> {
        Ok(self.ops_view().into_values().filter(|o| o.state == OpState::Failed).take(limit as usize).collect())
    }

    async fn count_failed(&self) -> Result<u64> {
        Ok(self.ops_view().values().filter(|o| o.state == OpState::Failed).count() as u64)
    }

    async fn keys(&self, table: &str) -> Result<Vec<Pk>> {
        Ok(self.table_rows(table)?.into_keys().collect())
    }

    async fn old_tombstones(&self, before_ms: u64, limit: u32) -> Result<Vec<Tombstone>> {
        let db = self.db.borrow();
        let old = db.data.tombstones.values().filter(|t| t.deleted_at < before_ms);
        Ok(old.take(limit as usize).cloned().collect())
    }

    async fn log_append(&self, log: Log, rows: Vec<Value>) -> Result<()> {
        self.writes.borrow_mut().extend(rows.into_iter().map(|r| Write::LogAppend(log, r)));
        Ok(())
    }

    async fn log_recent(&self, log: Log, limit: u32) -> Result<Vec<Value>> {
        let db = self.db.borrow();
        let rows = db.data.logs.get(log.store_name());
        Ok(rows.map(|r| r.values().rev().take(limit as usize).cloned().collect()).unwrap_or_default())
    }

    async fn log_trim(&self, log: Log, keep: u64) -> Result<()> {
        self.writes.borrow_mut().push(Write::LogTrim(log, keep));
        Ok(())
    }

    async fn log_oldest(&self, log: Log, limit: u32) -> Result<Vec<Value>> {
        let db = self.db.borrow();
        let rows = db.data.logs.get(log.store_name());
        Ok(rows.map(|r| r.values().take(limit as usize).cloned().collect()).unwrap_or_default())
    }

    async fn log_drop_through(&self, log: Log, id: u64) -> Result<()> {
        self.writes.borrow_mut().push(Write::LogDropThrough(log, id));
        Ok(())
    }

    async fn get_state(&self, key: &str) -> Result<Option<Value>> {
        for w in self.writes.borrow().iter().rev() {
            if let Write::PutState(k, v) = w {
                if k == key {
                    return Ok(Some(v.clone()));
                }
            }
        }
        Ok(self.db.borrow().data.state.get(key).cloned())
    }

    async fn put_state(&self, key: &str, value: Value) -> Result<()> {
        self.writes.borrow_mut().push(Write::PutState(key.to_string(), value));
        Ok(())
    }

    async fn commit(self) -> Result<()> {
        let mut db = self.db.borrow_mut();
        if db.closed {
            return Err(SyncError::Closed);
        }
        let data = &mut db.data;
        for w in self.writes.into_inner() {
            match w {
                Write::PutRecord(t, pk, v) => {
                    data.tables.entry(t).or_default().insert(pk, v);
                }
                Write::DeleteRecord(t, pk) => {
                    if let Some(m) = data.tables.get_mut(&t) {
                        m.remove(&pk);
                    }
                }
                Write::PutTombstone(t) => {
                    data.tombstones.insert((t.table_name.clone(), t.pk.clone()), t);
                }
                Write::DeleteTombstone(t, pk) => {
                    data.tombstones.remove(&(t, pk));
                }
                Write::PutOp(seq, op) => {
                    data.ops.insert(seq, op);
                }
                Write::DeleteOp(seq) => {
                    data.ops.remove(&seq);
                }
                Write::PutState(k, v) => {
                    data.state.insert(k, v);
                }
                Write::LogAppend(log, mut row) => {
                    let rows = data.logs.entry(log.store_name()).or_default();
                    let id = rows.keys().next_back().map_or(1, |k| k + 1);
                    if let Some(o) = row.as_object_mut() {
                        o.insert("id".into(), id.into());
                    }
                    rows.insert(id, row);
                }
                Write::LogDropThrough(log, id) => {
                    let rows = data.logs.entry(log.store_name()).or_default();
                    rows.retain(|k, _| *k > id);
                }
                Write::LogTrim(log, keep) => {
                    let rows = data.logs.entry(log.store_name()).or_default();
                    while rows.len() as u64 > keep {
                        rows.pop_first();
                    }
                }
            }
        }
        Ok(())
    }

    async fn abort(self) -> Result<()> {
        Ok(())
    }
}

impl Record for Value {
    fn is_object(&self) -> bool {
        self.is_object()
    }

    fn pk(&self, key_path: &str) -> Result<Pk, Invalid> {
        decode::record_pk(self, key_path)?.app_key(key_path)
    }

    /// Everything a `serde_json::Value` holds is JSON data.
    fn check_plain(&self) -> Result<(), Invalid> {
        Ok(())
    }

    fn key_field(&self, name: &str) -> Option<Pk> {
        match self.get(name)? {
            Value::String(s) => Some(Pk::Str(s.clone())),
            Value::Number(n) => n.as_f64().and_then(Pk::num),
            _ => None,
        }
    }

    fn str_field(&self, name: &str) -> Option<String> {
        self.get(name)?.as_str().map(str::to_string)
    }

    fn u64_field(&self, name: &str) -> Option<u64> {
        WireValue::field(self, name).and_then(|v| decode::integer(&v, &Path::Root(CLOCK_FIELD), 0).ok())
    }

    fn to_json(&self) -> Value {
        self.clone()
    }

    fn from_json(v: &Value) -> Self {
        v.clone()
    }

    fn stamped(&self, clock: u64, hlc: &str, order_key: Option<&str>) -> Self {
        let mut out = self.clone();
        if let Some(obj) = out.as_object_mut() {
            obj.insert("clock".into(), clock.into());
            obj.insert("hlc".into(), hlc.into());
            if let Some(k) = order_key {
                obj.insert(super::schema::ORDER_KEY.into(), k.into());
            }
        }
        out
    }
}

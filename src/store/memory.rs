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

use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound as Edge;
use std::rc::Rc;
use std::task::{Poll, Waker};

use serde::Serialize;
use serde_json::Value;

use super::schema::{IndexSpec, Schema, StoreSpec, CLOCK_FIELD};
use super::{Access, Key, KeyPath, KeyRange, Record, Row, Scan, Store, StoreTx, PENDING_OPS, SYNC_STATE};
use super::{SYSTEM_STORES, TOMBSTONES};
use crate::core::decode::{self, Path, WireValue};
use crate::core::key::Bound;
use crate::core::{Invalid, Pk, Result, SyncError};

/// One object store: rows by key, and the next key of an auto-increment store.
#[derive(Default, Clone)]
struct Obj {
    rows: BTreeMap<Key, Value>,
    next_key: u64,
}

struct Db {
    schema: Rc<Schema>,
    specs: Rc<HashMap<String, StoreSpec>>,
    stores: HashMap<String, Obj>,
    closed: bool,
}

impl Db {
    /// Takes `schema`: stores it declares that are missing appear empty;
    /// the others keep their rows (as an IndexedDB upgrade).
    fn adopt(&mut self, schema: Schema) {
        let specs: HashMap<String, StoreSpec> = schema.stores().into_iter().map(|s| (s.name.clone(), s)).collect();
        for name in specs.keys() {
            self.stores.entry(name.clone()).or_insert_with(|| Obj { rows: BTreeMap::new(), next_key: 1 });
        }
        self.specs = Rc::new(specs);
        self.schema = Rc::new(schema);
        self.closed = false;
    }
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
        let mut db = Db {
            schema: Rc::new(Schema::new(Vec::new())),
            specs: Rc::default(),
            stores: HashMap::new(),
            closed: false,
        };
        db.adopt(schema);
        MemoryStore { db: Rc::new(RefCell::new(db)), queue: Rc::default() }
    }

    /// Everything committed, as text in a stable order: every store's rows
    /// in key order. Two equal dumps mean nothing changed (the bad-input
    /// catalogue compares them).
    pub fn dump(&self) -> String {
        let db = self.db.borrow();
        let mut stores: Vec<_> = db.stores.iter().collect();
        stores.sort_by(|a, b| a.0.cmp(b.0));
        stores.iter().map(|(name, obj)| format!("{name}: {:?}\n", obj.rows)).collect()
    }

    /// Another handle on the same data with a (possibly changed) schema, as a
    /// reopen after an upgrade: new tables appear empty, existing rows stay.
    pub fn reopen(&self, schema: Schema) -> Self {
        self.db.borrow_mut().adopt(schema);
        self.clone()
    }
}

/// A transaction on a [`MemoryStore`]. A store it writes is copied on the
/// first write and replaces the committed one at commit.
pub struct MemoryTx {
    db: Rc<RefCell<Db>>,
    schema: Rc<Schema>,
    specs: Rc<HashMap<String, StoreSpec>>,
    scope: Vec<String>,
    changed: RefCell<HashMap<String, Obj>>,
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
            if db.schema.table(t).is_none() {
                return Err(SyncError::unknown_table(t));
            }
        }
        let mut scope: Vec<String> = table.into_iter().map(str::to_string).collect();
        let system = |names: &[&str], scope: &mut Vec<String>| scope.extend(names.iter().map(|n| n.to_string()));
        match access {
            Access::Read => return Ok((scope, false)),
            Access::Write => system(&[PENDING_OPS, TOMBSTONES, SYNC_STATE], &mut scope),
            Access::System => system(&SYSTEM_STORES, &mut scope),
            Access::State => {
                system(&[SYNC_STATE], &mut scope);
                return Ok((scope, false));
            }
            Access::All => {
                scope = db.schema.tables.iter().map(|t| t.name.clone()).collect();
                system(&SYSTEM_STORES, &mut scope);
            }
            Access::Snapshot => {
                scope = db.schema.tables.iter().map(|t| t.name.clone()).collect();
                system(&[PENDING_OPS, SYNC_STATE], &mut scope);
                return Ok((scope, false));
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
        let slot = Slot::join(&self.queue, scope.clone(), write);
        slot.ready().await;
        let db = self.db.borrow();
        if db.closed {
            return Err(SyncError::Closed);
        }
        let (schema, specs) = (db.schema.clone(), db.specs.clone());
        let changed = RefCell::default();
        Ok(MemoryTx { db: self.db.clone(), schema, specs, scope, changed, _slot: slot })
    }

    fn close(&self) {
        self.db.borrow_mut().closed = true;
    }
}

/// A key range as the bounds `BTreeMap::range` takes (not for an empty range).
fn edges(range: &KeyRange) -> (Edge<&Key>, Edge<&Key>) {
    (edge(&range.lower), edge(&range.upper))
}

fn edge(b: &Option<Bound>) -> Edge<&Key> {
    match b {
        None => Edge::Unbounded,
        Some(b) if b.open => Edge::Excluded(&b.key),
        Some(b) => Edge::Included(&b.key),
    }
}

impl MemoryTx {
    fn spec(&self, store: &str) -> Result<&StoreSpec> {
        if !self.scope.iter().any(|s| s == store) {
            return Err(SyncError::Storage(format!("{store:?} is not in this transaction's scope")));
        }
        self.specs.get(store).ok_or_else(|| SyncError::unknown_table(store))
    }

    /// Reads a store as this transaction sees it.
    fn read<T>(&self, store: &str, f: impl FnOnce(&Obj) -> T) -> Result<T> {
        self.spec(store)?;
        if let Some(obj) = self.changed.borrow().get(store) {
            return Ok(f(obj));
        }
        let db = self.db.borrow();
        Ok(f(db.stores.get(store).ok_or_else(|| SyncError::unknown_table(store))?))
    }

    /// The transaction's own copy of a store, made on its first write.
    fn write(&self, store: &str) -> Result<RefMut<'_, Obj>> {
        self.spec(store)?;
        let mut changed = self.changed.borrow_mut();
        if !changed.contains_key(store) {
            let obj = self.db.borrow().stores.get(store).cloned().unwrap_or_default();
            changed.insert(store.to_string(), obj);
        }
        Ok(RefMut::map(changed, |c| c.get_mut(store).expect("inserted above")))
    }

    /// `(primary key, row)` of a scan, in its order.
    fn rows(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<(Key, Value)>> {
        if scan.range.is_empty() {
            return Ok(Vec::new());
        }
        let spec = self.spec(store)?;
        let index = match scan.index {
            Some(name) => Some(
                spec.indexes
                    .iter()
                    .find(|i| i.name == name)
                    .cloned()
                    .ok_or_else(|| SyncError::Storage(format!("{store:?} has no index {name:?}")))?,
            ),
            None => None,
        };
        let mut out: Vec<(Key, Value)> = self.read(store, |obj| match &index {
            None => obj.rows.range(edges(&scan.range)).map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(index) => {
                let mut hits: Vec<(Key, Key, &Value)> = obj
                    .rows
                    .iter()
                    .flat_map(|(pk, v)| index_keys(v, index).into_iter().map(move |ik| (ik, pk.clone(), v)))
                    .filter(|(ik, _, _)| scan.range.contains(ik))
                    .collect();
                hits.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
                hits.into_iter().map(|(_, pk, v)| (pk, v.clone())).collect()
            }
        })?;
        if scan.reverse {
            out.reverse();
        }
        let limit = scan.limit.map_or(usize::MAX, |l| l as usize);
        Ok(out.into_iter().skip(scan.offset as usize).take(limit).collect())
    }
}

/// The keys a row has in an index: none when its key path holds no valid
/// key; for a multi-entry index over an array, each distinct valid element.
fn index_keys(row: &Value, index: &IndexSpec) -> Vec<Key> {
    let items = match &index.key_path {
        KeyPath::Field(f) if index.multi_entry => {
            f.split('.').try_fold(row, |v, part| v.get(part)).and_then(Value::as_array)
        }
        _ => None,
    };
    match items {
        Some(items) => {
            let mut keys: Vec<Key> = items.iter().filter_map(Key::read).collect();
            keys.sort();
            keys.dedup();
            keys
        }
        None => Key::at(row, &index.key_path).into_iter().collect(),
    }
}

/// A row stored where it should not be, as IndexedDB's `DataError` and
/// `ConstraintError` report it.
fn refused(store: &str, why: impl std::fmt::Display) -> SyncError {
    SyncError::Storage(format!("IndexedDB put in {store}: {why}"))
}

impl StoreTx for MemoryTx {
    type Rec = Value;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn get(&self, store: &str, keys: &[Key]) -> Result<Vec<Option<Value>>> {
        self.read(store, |obj| keys.iter().map(|k| obj.rows.get(k).cloned()).collect())
    }

    async fn scan(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<Value>> {
        Ok(self.rows(store, scan)?.into_iter().map(|(_, v)| v).collect())
    }

    async fn scan_keys(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<Key>> {
        Ok(self.rows(store, scan)?.into_iter().map(|(k, _)| k).collect())
    }

    async fn count_in(&self, store: &str, index: Option<&str>, range: &KeyRange) -> Result<u64> {
        let scan = Scan { index, range: range.clone(), ..Scan::default() };
        Ok(self.rows(store, &scan)?.len() as u64)
    }

    async fn put(&self, store: &str, rows: Vec<Value>) -> Result<()> {
        let spec = self.spec(store)?.clone();
        let mut obj = self.write(store)?;
        for mut row in rows {
            let key = match (Key::at(&row, &spec.key_path), &spec.key_path) {
                (Some(k), _) => k,
                (None, KeyPath::Field(f)) if spec.auto_increment && row.is_object() => {
                    let k = obj.next_key;
                    row.as_object_mut().expect("an object").insert(f.clone(), k.into());
                    Key::from(k)
                }
                _ => return Err(refused(store, "DataError: the row has no valid key at the store's key path")),
            };
            if let Key::Num(n) = key {
                if spec.auto_increment && n >= obj.next_key as f64 {
                    obj.next_key = n.floor() as u64 + 1;
                }
            }
            for index in spec.indexes.iter().filter(|i| i.unique) {
                for ik in index_keys(&row, index) {
                    if obj.rows.iter().any(|(k, v)| k != &key && index_keys(v, index).contains(&ik)) {
                        let name = &index.name;
                        return Err(refused(
                            store,
                            format!("ConstraintError: unique index {name:?} already holds {ik:?}"),
                        ));
                    }
                }
            }
            obj.rows.insert(key, row);
        }
        Ok(())
    }

    async fn delete(&self, store: &str, ranges: Vec<KeyRange>) -> Result<()> {
        let mut obj = self.write(store)?;
        for range in ranges.iter().filter(|r| !r.is_empty()) {
            let keys: Vec<Key> = obj.rows.range(edges(range)).map(|(k, _)| k.clone()).collect();
            for k in keys {
                obj.rows.remove(&k);
            }
        }
        Ok(())
    }

    async fn commit(self) -> Result<()> {
        let mut db = self.db.borrow_mut();
        if db.closed {
            return Err(SyncError::Closed);
        }
        db.stores.extend(self.changed.into_inner());
        Ok(())
    }

    async fn abort(self) -> Result<()> {
        Ok(())
    }
}

impl Row for Value {
    fn encode<T: Serialize>(items: &[T]) -> Result<Vec<Value>> {
        items
            .iter()
            .map(|i| serde_json::to_value(i).map_err(|e| SyncError::Storage(format!("serialise: {e}"))))
            .collect()
    }

    fn json(&self) -> Result<Value> {
        Ok(self.clone())
    }

    fn with_field(mut self, field: &str, value: &Value) -> Result<Value> {
        match self.as_object_mut() {
            Some(o) => {
                o.insert(field.to_string(), value.clone());
                Ok(self)
            }
            None => Err(SyncError::Storage(format!("cannot set {field:?} on a row that is not an object"))),
        }
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

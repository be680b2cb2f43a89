//! The IndexedDB [`Store`], on rexie.
//!
//! Opening compares the database with the declared schema and upgrades it
//! (version + 1) only when a store or an index is missing or surplus. Stores
//! that the config no longer declares are kept, with their rows: another tab
//! may still run an app version that uses them.
//!
//! Every request of a transaction is issued as soon as its method is polled,
//! and the engine awaits groups of them together, so a batch costs one round
//! of the event loop per step, not one per row. A transaction dropped without
//! commit is aborted.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Reflect};
use rexie::{Direction, Index, ObjectStore, Rexie, Transaction, TransactionMode};
use serde::Serialize;
use wasm_bindgen::JsValue;

pub use super::idb_watch::Lost;
use super::idb_watch::Watch;
use super::js_value::describe;
use super::rows::{damaged, decode_op, decode_tombstone};
use super::schema::{KeyPath, Schema, StoreSpec};
use super::{Access, Key, KeyRange, PendingOp, Row, Scan, Store, StoreTx, Tombstone};
use super::{PENDING_OPS, SYNC_STATE, SYSTEM_STORES, TOMBSTONES};
use crate::core::decode::{Shape, WireValue};
use crate::core::json_tree::Json;
use crate::core::key::Bound;
use crate::core::{Result, SyncError};

/// An IndexedDB database opened for one workspace.
#[derive(Clone)]
pub struct IdbStore {
    db: Rc<RefCell<Option<Rexie>>>,
    name: String,
    schema: Rc<Schema>,
    watch: Rc<RefCell<Option<Watch>>>,
    /// Told when another tab upgrades or deletes the database.
    on_lost: Rc<RefCell<Option<LostHook>>>,
}

/// What runs when another tab upgrades or deletes the database.
pub type LostHook = Rc<dyn Fn(Lost)>;

pub(super) use super::idb_error::{storage, unreadable};
use super::js_json::value_from_js;

impl IdbStore {
    /// Opens (creating or upgrading) the database `name` for `schema`.
    pub async fn open(name: &str, schema: Schema) -> Result<IdbStore> {
        let db = Rexie::builder(name).build().await.map_err(|e| storage("open", e))?;
        let wanted = schema.stores();
        let existing = db.store_names();
        let mut upgrade = wanted.iter().any(|s| !existing.contains(&s.name));
        let present: Vec<&StoreSpec> = wanted.iter().filter(|s| existing.contains(&s.name)).collect();
        if !present.is_empty() {
            let names: Vec<&str> = present.iter().map(|s| s.name.as_str()).collect();
            let tx = db.transaction(&names, TransactionMode::ReadOnly).map_err(|e| storage("inspect", e))?;
            for spec in &present {
                let store = tx.store(&spec.name).map_err(|e| storage("inspect", e))?;
                if let (KeyPath::Field(want), Ok(Some(rexie::KeyPath::Single(have)))) =
                    (&spec.key_path, store.key_path())
                {
                    if want != &have {
                        return Err(SyncError::invalid(
                            format!("tables.{}.primaryKey", spec.name),
                            format!("the database keys this table by {have:?}; it cannot change to {want:?}"),
                        ));
                    }
                }
                // An index is added, removed, or changes its flags (an index's
                // name is its key path, so a new key path is a new name).
                let mut have = Vec::new();
                for name in store.index_names() {
                    let index = store.index(&name).map_err(|e| storage("inspect", e))?;
                    have.push((name, index.unique(), index.multi_entry()));
                }
                have.sort_unstable();
                let mut want: Vec<(String, bool, bool)> =
                    spec.indexes.iter().map(|i| (i.name.clone(), i.unique, i.multi_entry)).collect();
                want.sort_unstable();
                upgrade |= have != want;
            }
            let _ = tx.done().await;
        }
        if !upgrade {
            return IdbStore::watched(db, name, schema).await;
        }
        let version = db.version().map_err(|e| storage("version", e))? + 1;
        db.close();
        let mut builder = Rexie::builder(name).version(version);
        for spec in &wanted {
            builder = builder.add_object_store(object_store(spec));
        }
        for other in existing.iter().filter(|n| !wanted.iter().any(|s| &s.name == *n)) {
            // Kept with its rows; its indexes belong to whichever version declares it.
            builder = builder.add_object_store(ObjectStore::new(other));
        }
        let db = builder.build().await.map_err(|e| storage("upgrade", e))?;
        IdbStore::watched(db, name, schema).await
    }

    /// The store over an opened database, listening for `versionchange`.
    async fn watched(db: Rexie, name: &str, schema: Schema) -> Result<IdbStore> {
        let store = IdbStore {
            db: Rc::new(RefCell::new(Some(db))),
            name: name.to_string(),
            schema: Rc::new(schema),
            watch: Rc::default(),
            on_lost: Rc::default(),
        };
        let (db, on_lost) = (store.db.clone(), store.on_lost.clone());
        let lost = Rc::new(move |why: Lost| {
            if let Some(db) = db.borrow_mut().take() {
                db.close();
            }
            let hook = on_lost.borrow().clone();
            if let Some(hook) = hook {
                hook(why);
            }
        });
        *store.watch.borrow_mut() = Some(Watch::open(name, lost).await?);
        Ok(store)
    }

    /// Sets what runs when another tab upgrades or deletes the database
    /// (after the store has closed itself).
    pub fn on_lost(&self, hook: LostHook) {
        *self.on_lost.borrow_mut() = Some(hook);
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Deletes a database (tests and apps resetting a workspace).
    pub async fn delete(name: &str) -> Result<()> {
        Rexie::delete(name).await.map_err(|e| storage("delete", e))
    }
}

fn object_store(spec: &StoreSpec) -> ObjectStore {
    let mut s = ObjectStore::new(&spec.name).auto_increment(spec.auto_increment);
    s = match &spec.key_path {
        KeyPath::Field(f) => s.key_path(f),
        KeyPath::Compound(fs) => s.key_path_array(fs.iter().map(String::as_str)),
    };
    for spec in &spec.indexes {
        let index = match &spec.key_path {
            KeyPath::Field(f) => Index::new(&spec.name, f),
            KeyPath::Compound(fs) => Index::new_array(&spec.name, fs.iter().map(String::as_str)),
        };
        s = s.add_index(index.unique(spec.unique).multi_entry(spec.multi_entry));
    }
    s
}

impl Store for IdbStore {
    type Rec = JsValue;
    type Tx = IdbTx;

    async fn begin(&self, access: Access, table: Option<&str>) -> Result<IdbTx> {
        let db = self.db.borrow();
        let db = db.as_ref().ok_or(SyncError::Closed)?;
        let table = match table {
            Some(t) if self.schema.table(t).is_some() => Some(t),
            Some(t) => return Err(SyncError::unknown_table(t)),
            None => None,
        };
        let (names, mode): (Vec<&str>, _) = match access {
            Access::Read => (table.into_iter().collect(), TransactionMode::ReadOnly),
            Access::Write => {
                let mut n: Vec<&str> = table.into_iter().collect();
                n.extend([PENDING_OPS, TOMBSTONES, SYNC_STATE]);
                (n, TransactionMode::ReadWrite)
            }
            Access::System => (SYSTEM_STORES.to_vec(), TransactionMode::ReadWrite),
            Access::All | Access::Snapshot => {
                let mut n: Vec<&str> = self.schema.tables.iter().map(|t| t.name.as_str()).collect();
                if access == Access::Snapshot {
                    n.push(PENDING_OPS);
                    (n, TransactionMode::ReadOnly)
                } else {
                    n.extend(SYSTEM_STORES);
                    (n, TransactionMode::ReadWrite)
                }
            }
        };
        let tx = db.transaction(&names, mode).map_err(|e| storage("transaction", e))?;
        let readonly = mode == TransactionMode::ReadOnly;
        Ok(IdbTx { tx: Some(tx), schema: self.schema.clone(), readonly })
    }

    fn close(&self) {
        if let Some(db) = self.db.borrow_mut().take() {
            db.close();
        }
        if let Some(w) = self.watch.borrow_mut().take() {
            w.close();
        }
    }
}

/// One IndexedDB transaction.
pub struct IdbTx {
    tx: Option<Transaction>,
    schema: Rc<Schema>,
    /// A read-only transaction commits by itself once its requests are done.
    readonly: bool,
}

impl Drop for IdbTx {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            // Runs as a microtask, before the transaction can commit.
            wasm_bindgen_futures::spawn_local(async move {
                let _ = tx.abort().await;
            });
        }
    }
}

#[cfg(feature = "engine")]
pub(crate) fn op_to_js(op: &PendingOp<JsValue>) -> Result<JsValue> {
    let mut rows = super::outbox::encode(std::slice::from_ref(op))?;
    rows.pop().ok_or_else(|| unreadable("op", "no row"))
}

/// A key as IndexedDB takes it.
pub fn key_to_js(key: &Key) -> JsValue {
    match key {
        Key::Num(n) => JsValue::from_f64(*n),
        Key::Str(s) => JsValue::from_str(s),
        Key::Array(items) => items.iter().map(key_to_js).collect::<Array>().into(),
    }
}

fn key_from_js(v: &JsValue) -> Result<Key> {
    Key::read(v).ok_or_else(|| {
        SyncError::Storage(format!("IndexedDB returned a key this engine does not make: {}", describe(v)))
    })
}

fn range_to_js(range: &KeyRange) -> Result<Option<rexie::KeyRange>> {
    let open = |b: &Bound| Some(b.open);
    let r = match (&range.lower, &range.upper) {
        (None, None) => return Ok(None),
        (Some(lo), Some(hi)) if lo == hi => rexie::KeyRange::only(&key_to_js(&lo.key)),
        (Some(lo), Some(hi)) => rexie::KeyRange::bound(&key_to_js(&lo.key), &key_to_js(&hi.key), open(lo), open(hi)),
        (Some(lo), None) => rexie::KeyRange::lower_bound(&key_to_js(&lo.key), open(lo)),
        (None, Some(hi)) => rexie::KeyRange::upper_bound(&key_to_js(&hi.key), open(hi)),
    };
    r.map(Some).map_err(|e| storage("key range", e))
}

impl IdbTx {
    fn tx(&self) -> Result<&Transaction> {
        self.tx.as_ref().ok_or(SyncError::Closed)
    }

    fn store(&self, name: &str) -> Result<rexie::Store> {
        self.tx()?.store(name).map_err(|e| storage(name, e))
    }

    /// A scan through a cursor (reversed, or with an offset), as `(key, value)`.
    async fn cursor(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<(JsValue, JsValue)>> {
        let range = range_to_js(&scan.range)?;
        let dir = Some(if scan.reverse { Direction::Prev } else { Direction::Next });
        let offset = (scan.offset > 0).then_some(scan.offset);
        let store = self.store(store)?;
        match scan.index {
            Some(i) => {
                let index = store.index(i).map_err(|e| storage("index", e))?;
                index.scan(range, scan.limit, offset, dir).await
            }
            None => store.scan(range, scan.limit, offset, dir).await,
        }
        .map_err(|e| storage("cursor", e))
    }
}

impl StoreTx for IdbTx {
    type Rec = JsValue;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn get(&self, store: &str, keys: &[Key]) -> Result<Vec<Option<JsValue>>> {
        let store = self.store(store)?;
        let reads = keys.iter().map(|k| store.get(key_to_js(k)));
        crate::core::join::join_all(reads).await.into_iter().map(|r| r.map_err(|e| storage("get", e))).collect()
    }

    async fn scan(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<JsValue>> {
        if scan.range.is_empty() {
            return Ok(Vec::new());
        }
        if scan.reverse || scan.offset > 0 {
            return Ok(self.cursor(store, scan).await?.into_iter().map(|(_, v)| v).collect());
        }
        let range = range_to_js(&scan.range)?;
        let store = self.store(store)?;
        match scan.index {
            Some(i) => store.index(i).map_err(|e| storage("index", e))?.get_all(range, scan.limit).await,
            None => store.get_all(range, scan.limit).await,
        }
        .map_err(|e| storage("getAll", e))
    }

    async fn scan_keys(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<Key>> {
        if scan.range.is_empty() {
            return Ok(Vec::new());
        }
        if scan.reverse || scan.offset > 0 {
            let rows = self.cursor(store, scan).await?;
            if scan.index.is_none() {
                return rows.iter().map(|(k, _)| key_from_js(k)).collect();
            }
            // An index cursor's key is the index key: read the primary key from the row.
            let path = self.schema.store_key_path(store).ok_or_else(|| SyncError::unknown_table(store))?;
            return rows
                .iter()
                .map(|(_, v)| Key::at(v, &path).ok_or_else(|| unreadable("key", "a row without its key")))
                .collect();
        }
        let range = range_to_js(&scan.range)?;
        let s = self.store(store)?;
        let keys = match scan.index {
            Some(i) => s.index(i).map_err(|e| storage("index", e))?.get_all_keys(range, scan.limit).await,
            None => s.get_all_keys(range, scan.limit).await,
        }
        .map_err(|e| storage("getAllKeys", e))?;
        keys.iter().map(key_from_js).collect()
    }

    async fn count_in(&self, store: &str, index: Option<&str>, range: &KeyRange) -> Result<u64> {
        if range.is_empty() {
            return Ok(0);
        }
        let range = range_to_js(range)?;
        let store = self.store(store)?;
        match index {
            Some(i) => store.index(i).map_err(|e| storage("index", e))?.count(range).await,
            None => store.count(range).await,
        }
        .map(u64::from)
        .map_err(|e| storage("count", e))
    }

    async fn put(&self, store: &str, rows: Vec<JsValue>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let s = self.store(store)?;
        s.put_all(rows.into_iter().map(|r| (r, None))).await.map_err(|e| storage(&format!("put in {store}"), e))
    }

    async fn delete(&self, store: &str, ranges: Vec<KeyRange>) -> Result<()> {
        let s = self.store(store)?;
        let mut keys = Vec::with_capacity(ranges.len());
        for r in ranges.iter().filter(|r| !r.is_empty()) {
            keys.push(match (&r.lower, &r.upper) {
                (Some(lo), Some(hi)) if lo == hi => key_to_js(&lo.key),
                _ => range_to_js(r)?.map(JsValue::from).unwrap_or(JsValue::UNDEFINED),
            });
        }
        for r in crate::core::join::join_all(keys.into_iter().map(|k| s.delete(k))).await {
            r.map_err(|e| storage("delete", e))?;
        }
        Ok(())
    }

    /// A read-only transaction is let go without waiting for its
    /// `complete` event: its reads have all succeeded, nothing is left that
    /// could fail, and the wait would cost a turn of the event loop per read.
    async fn commit(mut self) -> Result<()> {
        let tx = self.tx.take().ok_or(SyncError::Closed)?;
        if self.readonly {
            return Ok(());
        }
        tx.commit().await.map_err(|e| storage("commit", e))
    }

    async fn abort(mut self) -> Result<()> {
        let tx = self.tx.take().ok_or(SyncError::Closed)?;
        tx.abort().await.map_err(|e| storage("abort", e))
    }
}

impl Row for JsValue {
    /// One `JSON.parse` for the lot: far fewer boundary crossings than
    /// setting every field of every row from Rust.
    fn encode<T: Serialize>(items: &[T]) -> Result<Vec<JsValue>> {
        let text = serde_json::to_string(items).map_err(|e| unreadable("serialise", e))?;
        let parsed = js_sys::JSON::parse(&text).map_err(|e| storage("parse", e))?;
        Ok(Array::from(&parsed).iter().collect())
    }

    fn json(&self) -> Result<serde_json::Value> {
        value_from_js(self)
    }

    fn with_field(self, field: &str, value: &JsValue) -> Result<JsValue> {
        Reflect::set(&self, &crate::store::js_value::key(field), value).map_err(|e| storage("set field", e))?;
        Ok(self)
    }

    /// Many op rows at once: one `JSON.stringify` and one parse in Rust
    /// instead of reading every field across the boundary. If the JSON form
    /// fails (a snapshot payload holding a BigInt, say) the rows are read one
    /// by one.
    fn decode_ops(rows: Vec<JsValue>) -> Result<Vec<PendingOp<JsValue>>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let array: Array = rows.iter().collect();
        let text = js_sys::JSON::stringify(&array).ok().and_then(|s| s.as_string());
        let Some(Json::Array(items)) = text.as_deref().and_then(|t| Json::parse(t).ok()) else {
            return rows.into_iter().map(op_from_js).collect();
        };
        items
            .iter()
            .zip(rows)
            .map(|(item, js)| {
                let payload = item.field("payload").filter(|p| p.shape() == Shape::Object);
                let payload = payload.and_then(|_| Reflect::get(&js, &crate::store::js_value::key("payload")).ok());
                decode_op(&item, payload).map_err(|e| damaged("outbox", e))
            })
            .collect()
    }

    fn decode_tombstone(&self) -> Result<Tombstone> {
        super::js_json::read_js(self, |t| decode_tombstone(&t).map_err(|e| damaged("tombstone", e)))
    }
}

fn op_from_js(v: JsValue) -> Result<PendingOp<JsValue>> {
    let payload =
        Reflect::get(&v, &crate::store::js_value::key("payload")).ok().filter(|p| !p.is_undefined() && !p.is_null());
    decode_op(&v, payload).map_err(|e| damaged("outbox", e))
}

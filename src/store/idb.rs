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
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Array, Reflect};
use rexie::{Index, KeyRange, ObjectStore, Rexie, Transaction, TransactionMode};
use serde::Serialize;
use wasm_bindgen::JsValue;

use super::idb_batch::{read_many, Keys, Source};
use super::idb_logs;
pub use super::idb_watch::Lost;
use super::idb_watch::Watch;
use super::js_value::{pk_from_js, pk_to_js};
use super::rows::{damaged, decode_op, decode_tombstone};
use super::schema::{KeyPathSpec, Schema, StoreSpec, OPS_BY_RECORD, OPS_FAILED};
use super::{Access, Log, OpState, PendingOp, Query, Record, Store, StoreTx, Tombstone};
use super::{PENDING_OPS, SYNC_STATE, SYSTEM_STORES, TOMBSTONES};
use crate::core::decode::{Shape, WireValue};
use crate::core::json_tree::Json;
use crate::core::wire::OpKind;
use crate::core::{ChangeStamp, Pk, Result, SyncError};

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
pub(super) use super::js_json::{to_js, value_from_js};

/// A tombstone row, decoded.
pub(super) fn tombstone_from_js(v: &JsValue) -> Result<Tombstone> {
    super::js_json::read_js(v, |t| decode_tombstone(&t).map_err(|e| damaged("tombstone", e)))
}

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
                if let (KeyPathSpec::Field(want), Ok(Some(rexie::KeyPath::Single(have)))) =
                    (&spec.key_path, store.key_path())
                {
                    if want != &have {
                        return Err(SyncError::invalid(
                            format!("tables.{}.primaryKey", spec.name),
                            format!("the database keys this table by {have:?}; it cannot change to {want:?}"),
                        ));
                    }
                }
                let mut have = store.index_names();
                have.sort_unstable();
                let mut want: Vec<String> = spec.indexes.iter().map(|i| i.0.clone()).collect();
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
        KeyPathSpec::Field(f) => s.key_path(f),
        KeyPathSpec::Compound(fs) => s.key_path_array(fs.iter().map(String::as_str)),
    };
    for (name, key_path, unique) in &spec.indexes {
        let index = match key_path {
            KeyPathSpec::Field(f) => Index::new(name, f),
            KeyPathSpec::Compound(fs) => Index::new_array(name, fs.iter().map(String::as_str)),
        };
        s = s.add_index(index.unique(*unique));
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
            Access::All => {
                let mut n: Vec<&str> = self.schema.tables.iter().map(|t| t.name.as_str()).collect();
                n.extend(SYSTEM_STORES);
                (n, TransactionMode::ReadWrite)
            }
        };
        let tx = db.transaction(&names, mode).map_err(|e| storage("transaction", e))?;
        Ok(IdbTx { tx: Some(tx), schema: self.schema.clone() })
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

/// How an op is stored (the payload, when present, is set beside it).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OpRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    op_id: String,
    table_name: String,
    pk: Pk,
    op: OpKind,
    stamp: ChangeStamp,
    state: OpState,
    attempts: u32,
    created_at: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    base: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    /// Present (1) only on failed ops, for the sparse `failed` index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failed: Option<u8>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn op_row(op: &PendingOp<JsValue>) -> OpRow {
    OpRow {
        seq: op.seq,
        op_id: op.stamp.op_id.clone(),
        table_name: op.table_name.clone(),
        pk: op.pk.clone(),
        op: op.op,
        stamp: op.stamp.clone(),
        state: op.state,
        attempts: op.attempts,
        created_at: op.created_at,
        base: op.base,
        last_error: op.last_error.clone(),
        failed: (op.state == OpState::Failed).then_some(1),
    }
}

/// Many rows as JS objects through one `JSON.parse`: far fewer boundary
/// crossings than setting every field of every row from Rust.
fn json_rows<T: Serialize>(rows: &[T]) -> Result<Vec<JsValue>> {
    let text = serde_json::to_string(rows).map_err(|e| unreadable("serialise", e))?;
    let parsed = js_sys::JSON::parse(&text).map_err(|e| storage("parse", e))?;
    Ok(js_sys::Array::from(&parsed).iter().collect())
}

/// The `pk` field of a tombstone or op row.
fn pk_field(v: &JsValue) -> Option<Pk> {
    pk_from_js(&Reflect::get(v, &"pk".into()).ok()?, "pk").ok()
}

#[cfg(feature = "engine")]
pub(crate) fn op_to_js(op: &PendingOp<JsValue>) -> Result<JsValue> {
    let v = to_js(&op_row(op))?;
    if let Some(p) = &op.payload {
        Reflect::set(&v, &crate::store::js_value::key("payload"), p).map_err(|e| storage("op payload", e))?;
    }
    Ok(v)
}

pub(crate) fn op_from_js(v: JsValue) -> Result<PendingOp<JsValue>> {
    let payload =
        Reflect::get(&v, &crate::store::js_value::key("payload")).ok().filter(|p| !p.is_undefined() && !p.is_null());
    decode_op(&v, payload).map_err(|e| damaged("outbox", e))
}

/// Many op rows at once: one `JSON.stringify` and one parse in Rust instead
/// of reading every field across the boundary. If the JSON form fails (a
/// snapshot payload holding a BigInt, say) the rows are read one by one.
fn ops_from_js(rows: Vec<JsValue>) -> Result<Vec<PendingOp<JsValue>>> {
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

fn tomb_key(table: &str, pk: &Pk) -> JsValue {
    Array::of2(&JsValue::from_str(table), &pk_to_js(pk)).into()
}

impl IdbTx {
    fn tx(&self) -> Result<&Transaction> {
        self.tx.as_ref().ok_or(SyncError::Closed)
    }

    fn store(&self, name: &str) -> Result<rexie::Store> {
        self.tx()?.store(name).map_err(|e| storage(name, e))
    }
}

impl StoreTx for IdbTx {
    type Rec = JsValue;

    async fn get_records(&self, table: &str, pks: &[Pk]) -> Result<Vec<Option<JsValue>>> {
        let key_path = self.schema.key_path(table)?;
        let source = Source::Store(self.store(table)?);
        let pk_of = |v: &JsValue| Record::pk(v, &key_path).ok();
        let mut found = read_many(&source, pks, Keys { key: &pk_to_js, pk_of: &pk_of }).await?;
        Ok(pks.iter().map(|pk| found.remove(pk).and_then(|mut v| v.pop())).collect())
    }

    async fn put_records(&self, table: &str, records: Vec<JsValue>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let store = self.store(table)?;
        store.put_all(records.into_iter().map(|r| (r, None))).await.map_err(|e| storage("put", e))
    }

    async fn delete_records(&self, table: &str, pks: &[Pk]) -> Result<()> {
        let store = self.store(table)?;
        let deletes = pks.iter().map(|pk| store.delete(pk_to_js(pk)));
        for r in crate::engine::join::join_all(deletes).await {
            r.map_err(|e| storage("delete", e))?;
        }
        Ok(())
    }

    async fn query(&self, table: &str, query: &Query) -> Result<Vec<JsValue>> {
        let store = self.store(table)?;
        let range = match &query.equals {
            Some(eq) => Some(KeyRange::only(&pk_to_js(eq)).map_err(|e| storage("range", e))?),
            None => None,
        };
        match &query.index {
            Some(index) => {
                let index = store.index(index).map_err(|e| storage("index", e))?;
                index.get_all(range, query.limit).await.map_err(|e| storage("getAll", e))
            }
            None => store.get_all(range, query.limit).await.map_err(|e| storage("getAll", e)),
        }
    }

    async fn count(&self, table: &str) -> Result<u64> {
        Ok(self.store(table)?.count(None).await.map_err(|e| storage("count", e))? as u64)
    }

    async fn get_tombstones(&self, table: &str, pks: &[Pk]) -> Result<Vec<Option<Tombstone>>> {
        let source = Source::Store(self.store(TOMBSTONES)?);
        let key = |pk: &Pk| tomb_key(table, pk);
        let mut found = read_many(&source, pks, Keys { key: &key, pk_of: &pk_field }).await?;
        let mut out = Vec::with_capacity(pks.len());
        for pk in pks {
            out.push(match found.remove(pk).and_then(|mut v| v.pop()) {
                Some(v) => Some(tombstone_from_js(&v)?),
                None => None,
            });
        }
        Ok(out)
    }

    async fn put_tombstones(&self, tombstones: Vec<Tombstone>) -> Result<()> {
        if tombstones.is_empty() {
            return Ok(());
        }
        let rows = json_rows(&tombstones)?;
        let store = self.store(TOMBSTONES)?;
        store.put_all(rows.into_iter().map(|r| (r, None))).await.map_err(|e| storage("put tombstone", e))
    }

    async fn delete_tombstones(&self, table: &str, pks: &[Pk]) -> Result<()> {
        let store = self.store(TOMBSTONES)?;
        let deletes = pks.iter().map(|pk| store.delete(tomb_key(table, pk)));
        for r in crate::engine::join::join_all(deletes).await {
            r.map_err(|e| storage("delete tombstone", e))?;
        }
        Ok(())
    }

    async fn ops_for(&self, table: &str, pks: &[Pk]) -> Result<Vec<Vec<PendingOp<JsValue>>>> {
        let store = self.store(PENDING_OPS)?;
        let source = Source::Index(store.index(OPS_BY_RECORD).map_err(|e| storage("ops index", e))?);
        let key = |pk: &Pk| tomb_key(table, pk);
        let mut found = read_many(&source, pks, Keys { key: &key, pk_of: &pk_field }).await?;
        let mut out = Vec::with_capacity(pks.len());
        for pk in pks {
            let mut ops = ops_from_js(found.remove(pk).unwrap_or_default())?;
            ops.sort_unstable_by_key(|o| o.seq);
            out.push(ops);
        }
        Ok(out)
    }

    async fn put_ops(&self, ops: Vec<PendingOp<JsValue>>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let rows = json_rows(&ops.iter().map(op_row).collect::<Vec<_>>())?;
        for (row, op) in rows.iter().zip(&ops) {
            if let Some(p) = &op.payload {
                Reflect::set(row, &crate::store::js_value::key("payload"), p).map_err(|e| storage("op payload", e))?;
            }
        }
        let store = self.store(PENDING_OPS)?;
        store.put_all(rows.into_iter().map(|r| (r, None))).await.map_err(|e| storage("put op", e))
    }

    async fn delete_ops(&self, seqs: &[u64]) -> Result<()> {
        // Runs of consecutive seqs (the usual shape of a settled batch) go
        // as one range delete each.
        let mut sorted = seqs.to_vec();
        sorted.sort_unstable();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for s in sorted {
            match runs.last_mut() {
                Some((_, hi)) if *hi + 1 == s => *hi = s,
                _ => runs.push((s, s)),
            }
        }
        let store = self.store(PENDING_OPS)?;
        let mut keys = Vec::with_capacity(runs.len());
        for (lo, hi) in runs {
            keys.push(if lo == hi {
                JsValue::from_f64(lo as f64)
            } else {
                web_sys::IdbKeyRange::bound(&JsValue::from_f64(lo as f64), &JsValue::from_f64(hi as f64))
                    .map_err(|e| storage("range", e))?
                    .into()
            });
        }
        for r in crate::engine::join::join_all(keys.into_iter().map(|k| store.delete(k))).await {
            r.map_err(|e| storage("delete op", e))?;
        }
        Ok(())
    }

    async fn list_ops(&self, after_seq: Option<u64>, limit: u32) -> Result<Vec<PendingOp<JsValue>>> {
        let store = self.store(PENDING_OPS)?;
        let range = match after_seq {
            Some(s) => {
                Some(KeyRange::lower_bound(&JsValue::from_f64(s as f64), Some(true)).map_err(|e| storage("range", e))?)
            }
            None => None,
        };
        let rows = store.get_all(range, Some(limit)).await.map_err(|e| storage("list ops", e))?;
        ops_from_js(rows)
    }

    async fn count_ops(&self) -> Result<u64> {
        Ok(self.store(PENDING_OPS)?.count(None).await.map_err(|e| storage("count ops", e))? as u64)
    }

    async fn list_failed(&self, limit: u32) -> Result<Vec<PendingOp<JsValue>>> {
        let index = self.store(PENDING_OPS)?.index(OPS_FAILED).map_err(|e| storage("ops index", e))?;
        let rows = index.get_all(None, Some(limit)).await.map_err(|e| storage("failed ops", e))?;
        ops_from_js(rows)
    }

    async fn count_failed(&self) -> Result<u64> {
        let index = self.store(PENDING_OPS)?.index(OPS_FAILED).map_err(|e| storage("ops index", e))?;
        Ok(index.count(None).await.map_err(|e| storage("count failed", e))? as u64)
    }

    async fn keys(&self, table: &str) -> Result<Vec<Pk>> {
        idb_logs::keys(&self.store(table)?, table).await
    }

    async fn old_tombstones(&self, before_ms: u64, limit: u32) -> Result<Vec<Tombstone>> {
        idb_logs::old_tombstones(&self.store(TOMBSTONES)?, before_ms, limit).await
    }

    async fn log_append(&self, log: Log, rows: Vec<serde_json::Value>) -> Result<()> {
        idb_logs::append(&self.store(log.store_name())?, rows).await
    }

    async fn log_recent(&self, log: Log, limit: u32) -> Result<Vec<serde_json::Value>> {
        idb_logs::recent(&self.store(log.store_name())?, limit).await
    }

    async fn log_trim(&self, log: Log, keep: u64) -> Result<()> {
        idb_logs::trim(&self.store(log.store_name())?, keep).await
    }

    async fn log_oldest(&self, log: Log, limit: u32) -> Result<Vec<serde_json::Value>> {
        idb_logs::oldest(&self.store(log.store_name())?, limit).await
    }

    async fn log_drop_through(&self, log: Log, id: u64) -> Result<()> {
        idb_logs::drop_through(&self.store(log.store_name())?, id).await
    }

    async fn get_state(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let row = self.store(SYNC_STATE)?.get(JsValue::from_str(key)).await.map_err(|e| storage("get state", e))?;
        match row {
            Some(row) => {
                let v = Reflect::get(&row, &"value".into()).map_err(|e| storage("state value", e))?;
                Ok(Some(value_from_js(&v)?))
            }
            None => Ok(None),
        }
    }

    /// One `getAll` over the keys' range instead of a `get` per key (the
    /// state rows are few and small).
    async fn get_states(&self, keys: &[&str]) -> Result<Vec<Option<serde_json::Value>>> {
        let (Some(lo), Some(hi)) = (keys.iter().min(), keys.iter().max()) else {
            return Ok(Vec::new());
        };
        let range = KeyRange::bound(&JsValue::from_str(lo), &JsValue::from_str(hi), None, None)
            .map_err(|e| storage("state range", e))?;
        let rows = self.store(SYNC_STATE)?.get_all(Some(range), None).await.map_err(|e| storage("get states", e))?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let key = Reflect::get(&row, &"key".into()).ok().and_then(|k| k.as_string());
            if let Some(key) = key.filter(|k| keys.contains(&k.as_str())) {
                let v = Reflect::get(&row, &"value".into()).map_err(|e| storage("state value", e))?;
                found.insert(key, value_from_js(&v)?);
            }
        }
        Ok(keys.iter().map(|k| found.remove(*k)).collect())
    }

    async fn put_state(&self, key: &str, value: serde_json::Value) -> Result<()> {
        let row = to_js(&serde_json::json!({ "key": key, "value": value }))?;
        self.store(SYNC_STATE)?.put(&row, None).await.map_err(|e| storage("put state", e))?;
        Ok(())
    }

    async fn commit(mut self) -> Result<()> {
        let tx = self.tx.take().ok_or(SyncError::Closed)?;
        tx.commit().await.map_err(|e| storage("commit", e))
    }

    async fn abort(mut self) -> Result<()> {
        let tx = self.tx.take().ok_or(SyncError::Closed)?;
        tx.abort().await.map_err(|e| storage("abort", e))
    }
}

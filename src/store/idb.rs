//! The IndexedDB [`Store`], on the `idb` crate (the one rexie is built on).
//!
//! Opening brings the database to the schema (`idb_schema.rs`, with rexie)
//! and then opens the store's one connection (`idb_connection.rs`), which
//! hears another tab's upgrade or delete.
//!
//! Every request of a transaction is issued when its method is called, and
//! the engine awaits groups of them together, so a batch costs one round
//! of the event loop per step, not one per row. A transaction dropped without
//! commit is aborted.

use std::cell::RefCell;
use std::future::IntoFuture;
use std::rc::Rc;

use idb::{CursorDirection, Database, Query, Transaction, TransactionMode};
use js_sys::{Array, Reflect};
use serde::Serialize;
use wasm_bindgen::JsValue;

use super::idb_connection::Connection;
pub use super::idb_connection::Lost;
use super::js_value::describe;
use super::rows::{damaged, decode_op, decode_tombstone};
use super::schema::Schema;
use super::{Access, Durability, Key, KeyRange, PendingOp, Row, Scan, Store, StoreTx, Tombstone};
use super::{PENDING_OPS, SYNC_STATE, SYSTEM_STORES, TOMBSTONES};
use crate::core::decode::{Shape, WireValue};
use crate::core::json_tree::Json;
use crate::core::key::Bound;
use crate::core::{Result, SyncError};

/// An IndexedDB database opened for one workspace.
#[derive(Clone)]
pub struct IdbStore {
    /// Taken when the database is lost or the store closed.
    db: Rc<RefCell<Option<Database>>>,
    name: String,
    schema: Rc<Schema>,
    connection: Rc<RefCell<Option<Connection>>>,
    /// Told when another tab upgrades or deletes the database.
    on_lost: Rc<RefCell<Option<LostHook>>>,
    /// `{ durability }`, built once, for every readwrite transaction; none:
    /// the browser's default.
    hint: Option<JsValue>,
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// An `IDBDatabase`, for the one call web-sys has only behind its
    /// unstable-API flag.
    #[wasm_bindgen(js_name = IDBDatabase)]
    type HintedDatabase;
    /// `IDBDatabase.transaction(names, mode, options)`.
    #[wasm_bindgen(method, catch, js_name = transaction)]
    fn transaction(
        this: &HintedDatabase,
        names: &Array,
        mode: &str,
        options: &JsValue,
    ) -> std::result::Result<web_sys::IdbTransaction, JsValue>;
}

/// What runs when another tab upgrades or deletes the database.
pub type LostHook = Rc<dyn Fn(Lost)>;

pub(super) use super::idb_error::{storage, unreadable};
use super::js_json::value_from_js;

impl IdbStore {
    /// Opens (creating or upgrading) the database `name` for `schema`.
    pub async fn open(name: &str, schema: Schema) -> Result<IdbStore> {
        let store = IdbStore {
            db: Rc::default(),
            name: name.to_string(),
            schema: Rc::new(schema),
            connection: Rc::default(),
            on_lost: Rc::default(),
            hint: None,
        };
        let (db, on_lost) = (store.db.clone(), store.on_lost.clone());
        let lost = Rc::new(move |why: Lost| {
            db.borrow_mut().take();
            let hook = on_lost.borrow().clone();
            if let Some(hook) = hook {
                hook(why);
            }
        });
        let mut connection = Connection::open(name, lost.clone()).await?;
        let db = connection.database();
        match super::idb_schema::needs_upgrade(&db, &store.schema).await {
            Ok(false) => {}
            inspected => {
                let (version, existing) = (db.version(), db.store_names());
                // Closed first: the upgrade (or the caller) would wait for it.
                connection.close();
                inspected?;
                let version = version.map_err(|e| storage("version", e))?;
                super::idb_schema::upgrade(name, &store.schema, version, &existing).await?;
                connection = Connection::open(name, lost).await?;
            }
        }
        *store.db.borrow_mut() = Some(connection.database());
        *store.connection.borrow_mut() = Some(connection);
        Ok(store)
    }

    /// The store with every readwrite transaction carrying `durability`.
    pub fn with_durability(mut self, durability: Durability) -> Result<IdbStore> {
        self.hint = match durability {
            Durability::Default => None,
            hint => {
                let options = js_sys::Object::new();
                Reflect::set(&options, &"durability".into(), &hint.as_str().into())
                    .map_err(|e| storage("transaction options", e))?;
                Some(options.into())
            }
        };
        Ok(self)
    }

    /// A readwrite transaction over `names` with the options `hint`.
    fn hinted(&self, names: &[&str], hint: &JsValue) -> Result<Transaction> {
        let connection = self.connection.borrow();
        let db = connection.as_ref().ok_or(SyncError::Closed)?.raw();
        let names: Array = names.iter().map(|n| JsValue::from(*n)).collect();
        let db: &HintedDatabase = wasm_bindgen::JsCast::unchecked_ref(db);
        let tx = db.transaction(&names, "readwrite", hint).map_err(|e| storage("transaction", e))?;
        Ok(Transaction::from(tx))
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
        let factory = idb::Factory::new().map_err(|e| storage("delete", e))?;
        factory.delete(name).map_err(|e| storage("delete", e))?.await.map_err(|e| storage("delete", e))
    }
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
            Access::State => (vec![SYNC_STATE], TransactionMode::ReadOnly),
            Access::All | Access::Snapshot => {
                let mut n: Vec<&str> = self.schema.tables.iter().map(|t| t.name.as_str()).collect();
                if access == Access::Snapshot {
                    n.extend([PENDING_OPS, SYNC_STATE]);
                    (n, TransactionMode::ReadOnly)
                } else {
                    n.extend(SYSTEM_STORES);
                    (n, TransactionMode::ReadWrite)
                }
            }
        };
        let readonly = mode == TransactionMode::ReadOnly;
        let tx = match &self.hint {
            Some(hint) if !readonly => self.hinted(&names, hint)?,
            _ => db.transaction(&names, mode).map_err(|e| storage("transaction", e))?,
        };
        Ok(IdbTx { tx: Some(tx), schema: self.schema.clone(), readonly })
    }

    fn close(&self) {
        self.db.borrow_mut().take();
        if let Some(c) = self.connection.borrow_mut().take() {
            c.close();
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
                if let Ok(tx) = tx.abort() {
                    let _ = tx.await;
                }
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

/// A range as IndexedDB takes it: one key when both bounds are the same
/// closed key, `None` for everything.
fn range_to_js(range: &KeyRange) -> Result<Option<Query>> {
    let open = |b: &Bound| Some(b.open);
    let r = match (&range.lower, &range.upper) {
        (None, None) => return Ok(None),
        (Some(lo), Some(hi)) if lo == hi => return Ok(Some(Query::Key(key_to_js(&lo.key)))),
        (Some(lo), Some(hi)) => idb::KeyRange::bound(&key_to_js(&lo.key), &key_to_js(&hi.key), open(lo), open(hi)),
        (Some(lo), None) => idb::KeyRange::lower_bound(&key_to_js(&lo.key), open(lo)),
        (None, Some(hi)) => idb::KeyRange::upper_bound(&key_to_js(&hi.key), open(hi)),
    };
    r.map(|r| Some(Query::KeyRange(r))).map_err(|e| storage("key range", e))
}

impl IdbTx {
    fn tx(&self) -> Result<&Transaction> {
        self.tx.as_ref().ok_or(SyncError::Closed)
    }

    fn store(&self, name: &str) -> Result<idb::ObjectStore> {
        self.tx()?.object_store(name).map_err(|e| storage(name, e))
    }

    /// The object store, or one of its indexes, that a request reads.
    fn source(&self, store: &str, index: Option<&str>) -> Result<Source> {
        let s = self.store(store)?;
        Ok(match index {
            Some(i) => Source::Index(s.index(i).map_err(|e| storage("index", e))?),
            None => Source::Store(s),
        })
    }

    /// A scan through a cursor (reversed, or with an offset), as `(key, value)`.
    async fn cursor(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<(JsValue, JsValue)>> {
        let fail = |e| storage("cursor", e);
        let range = range_to_js(&scan.range)?;
        let dir = Some(if scan.reverse { CursorDirection::Prev } else { CursorDirection::Next });
        let opened = match self.source(store, scan.index)? {
            Source::Index(i) => i.open_cursor(range, dir),
            Source::Store(s) => s.open_cursor(range, dir),
        };
        let Some(cursor) = opened.map_err(fail)?.await.map_err(fail)? else {
            return Ok(Vec::new());
        };
        let mut cursor = cursor.into_managed();
        if scan.offset > 0 {
            cursor.advance(scan.offset).await.map_err(fail)?;
        }
        let mut rows = Vec::new();
        while scan.limit.is_none_or(|l| rows.len() < l as usize) {
            match (cursor.key().map_err(fail)?, cursor.value().map_err(fail)?) {
                (Some(key), Some(value)) => rows.push((key, value)),
                _ => break,
            }
            cursor.next(None).await.map_err(fail)?;
        }
        Ok(rows)
    }
}

/// Where a read runs: an object store or an index of it.
enum Source {
    Store(idb::ObjectStore),
    Index(idb::Index),
}

impl StoreTx for IdbTx {
    type Rec = JsValue;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn get(&self, store: &str, keys: &[Key]) -> Result<Vec<Option<JsValue>>> {
        let fail = |e| storage("get", e);
        let store = self.store(store)?;
        let reads = keys.iter().map(|k| store.get(key_to_js(k)).map(IntoFuture::into_future));
        let reads = reads.collect::<std::result::Result<Vec<_>, _>>();
        crate::core::join::join_all(reads.map_err(fail)?).await.into_iter().map(|r| r.map_err(fail)).collect()
    }

    async fn scan(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<JsValue>> {
        if scan.range.is_empty() {
            return Ok(Vec::new());
        }
        if scan.reverse || scan.offset > 0 {
            return Ok(self.cursor(store, scan).await?.into_iter().map(|(_, v)| v).collect());
        }
        let fail = |e| storage("getAll", e);
        let range = range_to_js(&scan.range)?;
        match self.source(store, scan.index)? {
            Source::Index(i) => i.get_all(range, scan.limit).map_err(fail)?.await,
            Source::Store(s) => s.get_all(range, scan.limit).map_err(fail)?.await,
        }
        .map_err(fail)
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
        let fail = |e| storage("getAllKeys", e);
        let range = range_to_js(&scan.range)?;
        let keys = match self.source(store, scan.index)? {
            Source::Index(i) => i.get_all_keys(range, scan.limit).map_err(fail)?.await,
            Source::Store(s) => s.get_all_keys(range, scan.limit).map_err(fail)?.await,
        }
        .map_err(fail)?;
        keys.iter().map(key_from_js).collect()
    }

    async fn count_in(&self, store: &str, index: Option<&str>, range: &KeyRange) -> Result<u64> {
        if range.is_empty() {
            return Ok(0);
        }
        let fail = |e| storage("count", e);
        let range = range_to_js(range)?;
        match self.source(store, index)? {
            Source::Index(i) => i.count(range).map_err(fail)?.await,
            Source::Store(s) => s.count(range).map_err(fail)?.await,
        }
        .map(u64::from)
        .map_err(fail)
    }

    /// Every put is issued at once; the last one's success means all
    /// succeeded (requests of a transaction complete in order), and any
    /// failure aborts the transaction.
    async fn put(&self, store: &str, rows: Vec<JsValue>) -> Result<()> {
        let fail = |e| storage(&format!("put in {store}"), e);
        let s = self.store(store)?;
        let mut last = None;
        for row in &rows {
            last = Some(s.put(row, None).map_err(fail)?);
        }
        match last {
            Some(request) => request.await.map(|_| ()).map_err(fail),
            None => Ok(()),
        }
    }

    async fn delete(&self, store: &str, ranges: Vec<KeyRange>) -> Result<()> {
        let fail = |e| storage("delete", e);
        let s = self.store(store)?;
        let (mut deletes, mut clear) = (Vec::with_capacity(ranges.len()), None);
        for r in ranges.iter().filter(|r| !r.is_empty()) {
            match range_to_js(r)? {
                Some(query) => deletes.push(s.delete(query).map_err(fail)?.into_future()),
                // An unbounded range: every row.
                None => clear = Some(s.clear().map_err(fail)?),
            }
        }
        if let Some(clear) = clear {
            clear.await.map_err(fail)?;
        }
        for r in crate::core::join::join_all(deletes).await {
            r.map_err(fail)?;
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
        let fail = |e| storage("commit", e);
        let done = tx.commit().map_err(fail)?.await.map_err(fail)?;
        if done.is_committed() {
            Ok(())
        } else {
            Err(SyncError::Storage("IndexedDB commit: the transaction was aborted".into()))
        }
    }

    async fn abort(mut self) -> Result<()> {
        let tx = self.tx.take().ok_or(SyncError::Closed)?;
        let fail = |e| storage("abort", e);
        tx.abort().map_err(fail)?.await.map(|_| ()).map_err(fail)
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

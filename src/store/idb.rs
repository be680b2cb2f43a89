//! The IndexedDB [`Store`], on the `idb` crate (the one rexie is built on).
//!
//! Opening brings the database to the schema (`idb_schema.rs`, with rexie)
//! and then opens the store's one connection (`idb_connection.rs`), which
//! hears another tab's upgrade or delete.
//!
//! Every request of a transaction is issued when its method is called, and
//! the engine awaits groups of them together: a group is waited for through
//! its latest request (`idb_request.rs`), so a batch costs one round of the
//! event loop per step and no handlers per request. A transaction dropped
//! without commit is aborted.

use std::cell::RefCell;
use std::rc::Rc;

use idb::{CursorDirection, Database, Query, TransactionMode};
use js_sys::{Array, Reflect};
use serde::Serialize;
use wasm_bindgen::JsValue;
use web_sys::{IdbIndex, IdbKeyRange, IdbObjectStore, IdbRequest, IdbTransaction};

use super::idb_connection::Connection;
pub use super::idb_connection::Lost;
use super::idb_request::Tracker;
use super::js_value::describe;
use super::rows::{damaged, decode_op, decode_tombstone};
use super::schema::Schema;
use super::{Access, Durability, Key, KeyRange, PendingOp, Row, Scan, Store, StoreTx, Tombstone};
use super::{PENDING_OPS, SYNC_STATE, SYSTEM_STORES, TOMBSTONES};
use crate::core::decode::{Shape, WireValue};
use crate::core::json_tree::Json;
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
    fn hinted(&self, names: &[&str], hint: &JsValue) -> Result<IdbTransaction> {
        let connection = self.connection.borrow();
        let db = connection.as_ref().ok_or(SyncError::Closed)?.raw();
        let names: Array = names.iter().map(|n| JsValue::from(*n)).collect();
        let db: &HintedDatabase = wasm_bindgen::JsCast::unchecked_ref(db);
        db.transaction(&names, "readwrite", hint).map_err(|e| storage("transaction", e))
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
            _ => db.transaction(&names, mode).map_err(|e| storage("transaction", e))?.into(),
        };
        Ok(IdbTx { tx: Some(tx), requests: Rc::default(), schema: self.schema.clone(), readonly })
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
    tx: Option<IdbTransaction>,
    /// Its requests, awaited a group at a time.
    requests: Rc<Tracker>,
    schema: Rc<Schema>,
    /// A read-only transaction commits by itself once its requests are done.
    readonly: bool,
}

impl Drop for IdbTx {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            // Throws only if it has already ended.
            let _ = tx.abort();
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
/// closed key, `undefined` for everything.
fn range_to_js(range: &KeyRange) -> Result<JsValue> {
    let r = match (&range.lower, &range.upper) {
        (None, None) => return Ok(JsValue::UNDEFINED),
        (Some(lo), Some(hi)) if lo == hi => return Ok(key_to_js(&lo.key)),
        (Some(lo), Some(hi)) => IdbKeyRange::bound_with_lower_open_and_upper_open(
            &key_to_js(&lo.key),
            &key_to_js(&hi.key),
            lo.open,
            hi.open,
        ),
        (Some(lo), None) => IdbKeyRange::lower_bound_with_open(&key_to_js(&lo.key), lo.open),
        (None, Some(hi)) => IdbKeyRange::upper_bound_with_open(&key_to_js(&hi.key), hi.open),
    };
    r.map(JsValue::from).map_err(|e| storage("key range", e))
}

impl IdbTx {
    fn tx(&self) -> Result<&IdbTransaction> {
        self.tx.as_ref().ok_or(SyncError::Closed)
    }

    fn store(&self, name: &str) -> Result<IdbObjectStore> {
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

    /// Issues one request per item with `issue`; the numbers of the first
    /// and the last (none issued: `(1, 0)`).
    fn issue_all<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        what: &str,
        mut issue: impl FnMut(T) -> std::result::Result<IdbRequest, JsValue>,
    ) -> Result<(u64, u64)> {
        let first = self.requests.issued() + 1;
        let mut last = first - 1;
        for item in items {
            last = self.requests.issue(issue(item).map_err(|e| storage(what, e))?);
        }
        Ok((first, last))
    }

    /// Issues one request and awaits its result.
    async fn one(&self, what: &str, request: std::result::Result<IdbRequest, JsValue>) -> Result<JsValue> {
        let n = self.requests.issue(request.map_err(|e| storage(what, e))?);
        let mut out = self.requests.results(n, n).await.map_err(|e| storage(what, e))?;
        Ok(out.pop().unwrap_or(JsValue::UNDEFINED))
    }

    /// A scan through a cursor (reversed, or with an offset), as `(key, value)`.
    async fn cursor(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<(JsValue, JsValue)>> {
        let fail = |e| storage("cursor", e);
        let range = range_to_js(&scan.range)?;
        let range = (!range.is_undefined()).then_some(Query::Key(range));
        let dir = Some(if scan.reverse { CursorDirection::Prev } else { CursorDirection::Next });
        let opened = match self.source(store, scan.index)? {
            Source::Index(i) => idb::Index::from(i).open_cursor(range, dir),
            Source::Store(s) => idb::ObjectStore::from(s).open_cursor(range, dir),
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
    Store(IdbObjectStore),
    Index(IdbIndex),
}

impl Source {
    /// `getAll(range, limit)`.
    fn get_all(&self, range: &JsValue, limit: Option<u32>) -> std::result::Result<IdbRequest, JsValue> {
        match (self, limit) {
            (Source::Store(s), Some(l)) => s.get_all_with_key_and_limit(range, l),
            (Source::Store(s), None) => s.get_all_with_key(range),
            (Source::Index(i), Some(l)) => i.get_all_with_key_and_limit(range, l),
            (Source::Index(i), None) => i.get_all_with_key(range),
        }
    }

    /// `getAllKeys(range, limit)`.
    fn get_all_keys(&self, range: &JsValue, limit: Option<u32>) -> std::result::Result<IdbRequest, JsValue> {
        match (self, limit) {
            (Source::Store(s), Some(l)) => s.get_all_keys_with_key_and_limit(range, l),
            (Source::Store(s), None) => s.get_all_keys_with_key(range),
            (Source::Index(i), Some(l)) => i.get_all_keys_with_key_and_limit(range, l),
            (Source::Index(i), None) => i.get_all_keys_with_key(range),
        }
    }

    /// `count(range)`.
    fn count(&self, range: &JsValue) -> std::result::Result<IdbRequest, JsValue> {
        match self {
            Source::Store(s) => s.count_with_key(range),
            Source::Index(i) => i.count_with_key(range),
        }
    }
}

impl StoreTx for IdbTx {
    type Rec = JsValue;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn get(&self, store: &str, keys: &[Key]) -> Result<Vec<Option<JsValue>>> {
        let s = self.store(store)?;
        let (first, last) = self.issue_all(keys, "get", |k| s.get(&key_to_js(k)))?;
        let rows = self.requests.results(first, last).await.map_err(|e| storage("get", e))?;
        Ok(rows.into_iter().map(|v| (!v.is_undefined()).then_some(v)).collect())
    }

    async fn scan(&self, store: &str, scan: &Scan<'_>) -> Result<Vec<JsValue>> {
        if scan.range.is_empty() {
            return Ok(Vec::new());
        }
        if scan.reverse || scan.offset > 0 {
            return Ok(self.cursor(store, scan).await?.into_iter().map(|(_, v)| v).collect());
        }
        let range = range_to_js(&scan.range)?;
        let rows = self.one("getAll", self.source(store, scan.index)?.get_all(&range, scan.limit)).await?;
        Ok(Array::from(&rows).iter().collect())
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
        let keys = self.one("getAllKeys", self.source(store, scan.index)?.get_all_keys(&range, scan.limit)).await?;
        Array::from(&keys).iter().map(|k| key_from_js(&k)).collect()
    }

    async fn count_in(&self, store: &str, index: Option<&str>, range: &KeyRange) -> Result<u64> {
        if range.is_empty() {
            return Ok(0);
        }
        let range = range_to_js(range)?;
        let n = self.one("count", self.source(store, index)?.count(&range)).await?;
        n.as_f64().map(|n| n as u64).ok_or_else(|| unreadable("count", "not a number"))
    }

    /// Every put is issued at once; the last one's success means all
    /// succeeded (requests of a transaction complete in order), and any
    /// failure aborts the transaction.
    async fn put(&self, store: &str, rows: Vec<JsValue>) -> Result<()> {
        let what = format!("put in {store}");
        let s = self.store(store)?;
        let (first, last) = self.issue_all(&rows, &what, |row| s.put(row))?;
        self.requests.completed(first, last).await.map_err(|e| storage(&what, e))
    }

    async fn delete(&self, store: &str, ranges: Vec<KeyRange>) -> Result<()> {
        let s = self.store(store)?;
        let mut queries = Vec::with_capacity(ranges.len());
        for r in ranges.iter().filter(|r| !r.is_empty()) {
            queries.push(range_to_js(r)?);
        }
        // An unbounded range is every row.
        let (first, last) =
            self.issue_all(&queries, "delete", |q| if q.is_undefined() { s.clear() } else { s.delete(q) })?;
        self.requests.completed(first, last).await.map_err(|e| storage("delete", e))
    }

    /// A read-only transaction is let go without waiting for its
    /// `complete` event: its reads have all succeeded, nothing is left that
    /// could fail, and the wait would cost a turn of the event loop per read.
    async fn commit(mut self) -> Result<()> {
        let tx = self.tx.take().ok_or(SyncError::Closed)?;
        if self.readonly {
            return Ok(());
        }
        // IndexedDB 3.0's commit(), which web-sys's old WebIDL marks deprecated.
        #[allow(deprecated)]
        tx.commit().map_err(|e| storage("commit", e))?;
        if self.requests.ended(&tx).await {
            return Ok(());
        }
        match tx.error() {
            Some(e) => Err(storage("commit", JsValue::from(e))),
            None => Err(SyncError::Storage("IndexedDB commit: the transaction was aborted".into())),
        }
    }

    async fn abort(mut self) -> Result<()> {
        let tx = self.tx.take().ok_or(SyncError::Closed)?;
        tx.abort().map_err(|e| storage("abort", e))?;
        self.requests.ended(&tx).await;
        Ok(())
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

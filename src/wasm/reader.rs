//! `SyncEngine.read(fn)`: a read function over one read-only IndexedDB
//! transaction that spans every app table and the outbox, so what it reads
//! from several tables is one consistent state, never half of a write. The
//! [`Reader`] it gets records which tables it read: live queries re-run
//! only when one of those changes. Also the per-record and per-op sync
//! state calls.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::engine::{promise, SyncEngine, WebEngine};
use super::error::to_js_error;
use super::query::{decode_options, page_to_js, QueryOptionsArg};
use crate::core::decode::{self, Path};
use crate::core::key::Key;
use crate::core::{Pk, SyncError};
use crate::engine::record_status::record_status;
use crate::store::idb::IdbTx;
use crate::store::js_json::to_js;
use crate::store::js_value::pk_from_js;
use crate::store::query_patch::patch;
use crate::store::StoreTx;

#[wasm_bindgen(typescript_custom_section)]
const READER_TS: &'static str = r#"
/** Where a record's local writes are: what a per-row "saved" badge shows. */
export type SyncState = 'synced' | 'pending' | 'inFlight' | 'failed';

/** One record's sync state and the unacknowledged ops behind it. */
export interface RecordStatus { pk: PrimaryKey; state: SyncState; opIds: string[]; lastError?: string }

/** Where an op is while it waits in the outbox. */
export interface OpStateInfo { state: 'pending' | 'inFlight' | 'failed'; lastError?: string }
"#;

/** Where an op is while it waits in the outbox. */
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OpStateInfo {
    state: crate::store::OpState,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
}

struct Snapshot {
    engine: Rc<WebEngine>,
    tx: RefCell<Option<Rc<IdbTx>>>,
    tables: RefCell<Vec<String>>,
    /// Whether a record's sync state was read (the outbox is a dependency).
    status_read: Cell<bool>,
}

/// The reads a read function may make, all in one transaction. It closes
/// when the function's promise settles; a read function must not await
/// anything else (a fetch, a timer) in between, or IndexedDB ends the
/// transaction and the next read rejects with `STORAGE`.
#[wasm_bindgen]
pub struct Reader {
    inner: Rc<Snapshot>,
}

impl Snapshot {
    /// The transaction, noting that `table` was read.
    fn tx(&self, table: &str) -> Result<Rc<IdbTx>, SyncError> {
        self.engine.table(table)?;
        let tx = self.open_tx()?;
        let mut tables = self.tables.borrow_mut();
        if !tables.iter().any(|t| t == table) {
            tables.push(table.to_string());
        }
        Ok(tx)
    }

    /// The transaction, while the read function runs.
    fn open_tx(&self) -> Result<Rc<IdbTx>, SyncError> {
        self.tx.borrow().clone().ok_or_else(|| SyncError::invalid("reader", "used after its read function ended"))
    }
}

fn pks_of(v: &JsValue) -> Result<Vec<Pk>, SyncError> {
    let root = Path::Root("pks");
    let items = decode::array(v, &root).map_err(SyncError::Invalid)?;
    items.iter().enumerate().map(|(i, k)| decode::pk(k, &Path::Index(&root, i)).map_err(SyncError::Invalid)).collect()
}

#[wasm_bindgen]
impl Reader {
    /// The record with this primary key, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Record<string, unknown> | undefined>")]
    pub fn get(&self, table: String, #[wasm_bindgen(unchecked_param_type = "PrimaryKey")] pk: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let tx = inner.tx(&table)?;
            let pk = pk_from_js(&pk, "pk").map_err(SyncError::Invalid)?;
            Ok(tx.get_records(&table, &[pk]).await?.pop().flatten().unwrap_or(JsValue::UNDEFINED))
        })
    }

    /// The rows `getAll(table, options)` returns now, worked out from
    /// `rows` (what it returned before) and the rows of `pks` (every key
    /// changed since) read in this transaction, without running the query.
    /// `undefined` when that cannot be known (an `offset`, a multi-entry
    /// index, or a reached `limit` that a change left short). Live queries
    /// re-run with it.
    #[wasm_bindgen(js_name = patchAll, unchecked_return_type = "Promise<Record<string, unknown>[] | undefined>")]
    pub fn patch_all(
        &self,
        table: String,
        options: Option<QueryOptionsArg>,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>[]")] rows: Array,
        #[wasm_bindgen(unchecked_param_type = "PrimaryKey[]")] pks: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let tx = inner.tx(&table)?;
            let query = decode_options(options)?;
            let pks = pks_of(&pks)?;
            let now = tx.get_records(&table, &pks).await?;
            let changed: Vec<(Key, Option<JsValue>)> = pks.iter().map(Key::from).zip(now).collect();
            let before: Vec<JsValue> = rows.iter().collect();
            let schema = inner.engine.table(&table)?;
            match patch(schema, &query, &before, &changed).map_err(SyncError::Invalid)? {
                Some(rows) => Ok(rows.into_iter().collect::<Array>().into()),
                None => Ok(JsValue::UNDEFINED),
            }
        })
    }

    /// The write sequence as of this read: the number of the last
    /// transaction it sees that changed rows. `change` events carry the
    /// numbers of the transactions they report (`seqs`), so a reader that
    /// heard every number up to this one knows every change its state holds.
    #[wasm_bindgen(js_name = writeSeq, unchecked_return_type = "Promise<number>")]
    pub fn write_seq(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let tx = inner.open_tx()?;
            let seq = crate::engine::write_seq::current(tx.as_ref()).await?;
            Ok(JsValue::from_f64(seq as f64))
        })
    }

    /// The rows of a query, as `SyncEngine.getAll`.
    #[wasm_bindgen(js_name = getAll, unchecked_return_type = "Promise<Record<string, unknown>[]>")]
    pub fn get_all(&self, table: String, options: Option<QueryOptionsArg>) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let tx = inner.tx(&table)?;
            let page = tx.query(&table, &decode_options(options)?).await?;
            Ok(page.rows.into_iter().collect::<Array>().into())
        })
    }

    /// One page of a query, as `SyncEngine.query`.
    #[wasm_bindgen(unchecked_return_type = "Promise<QueryPage<Record<string, unknown>>>")]
    pub fn query(&self, table: String, options: Option<QueryOptionsArg>) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let tx = inner.tx(&table)?;
            let page = tx.query(&table, &decode_options(options)?).await?;
            page_to_js(page).map_err(|e| SyncError::Storage(crate::store::js_value::describe(&e)))
        })
    }

    /// How many rows a query's condition selects, as `SyncEngine.count`.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn count(&self, table: String, options: Option<QueryOptionsArg>) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let tx = inner.tx(&table)?;
            let schema = inner.engine.table(&table)?.clone();
            let n = crate::store::query::count(tx.as_ref(), &schema, &decode_options(options)?).await?;
            Ok(JsValue::from_f64(n as f64))
        })
    }

    /// The sync state of each record, read with the records.
    #[wasm_bindgen(js_name = recordStatus, unchecked_return_type = "Promise<RecordStatus[]>")]
    pub fn record_status(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "PrimaryKey[]")] pks: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let tx = inner.tx(&table)?;
            inner.status_read.set(true);
            to_js(&record_status(tx.as_ref(), &table, &pks_of(&pks)?).await?)
        })
    }

    /// Whether the function read a record's sync state.
    #[wasm_bindgen(getter, js_name = statusRead)]
    pub fn status_read(&self) -> bool {
        self.inner.status_read.get()
    }

    /// The tables read so far.
    #[wasm_bindgen(getter, unchecked_return_type = "string[]")]
    pub fn tables(&self) -> Array {
        self.inner.tables.borrow().iter().map(|t| JsValue::from_str(t)).collect()
    }
}

#[wasm_bindgen]
impl SyncEngine {
    /// Runs `fn(reader)` over one read-only transaction across every table
    /// and resolves to what it returns: the reads see one consistent state.
    /// `fn` must await only the reader's calls (see `Reader`).
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn read(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(reader: Reader) => unknown")] read: Function,
    ) -> Promise {
        let engine = self.engine_rc();
        wasm_bindgen_futures::future_to_promise(async move {
            let tx = engine.snapshot().await.map_err(|e| to_js_error(&e))?;
            let tx = RefCell::new(Some(Rc::new(tx)));
            let inner = Rc::new(Snapshot { engine, tx, tables: RefCell::default(), status_read: Cell::new(false) });
            let reader = Reader { inner: inner.clone() };
            let result = match read.call1(&JsValue::UNDEFINED, &reader.into()) {
                Ok(v) => JsFuture::from(Promise::resolve(&v)).await,
                Err(e) => Err(e),
            };
            // The transaction ends with the function; one that is still
            // shared (a read left running) is dropped, which aborts it.
            let tx = inner.tx.borrow_mut().take().and_then(|tx| Rc::try_unwrap(tx).ok());
            if let Some(tx) = tx {
                tx.commit().await.map_err(|e| to_js_error(&e))?;
            }
            result
        })
    }

    /// The sync state of each record of `table` (see `RecordStatus`).
    #[wasm_bindgen(js_name = recordStatus, unchecked_return_type = "Promise<RecordStatus[]>")]
    pub fn record_status(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "PrimaryKey[]")] pks: JsValue,
    ) -> Promise {
        let engine = self.engine_rc();
        promise(async move { to_js(&engine.record_status(&table, &pks_of(&pks)?).await?) })
    }

    /// Where an op is while it is in the outbox (`{ state, lastError? }`,
    /// state `'pending'`, `'inFlight'` or `'failed'`), or `undefined` once
    /// the server has acknowledged it (or it was discarded).
    #[wasm_bindgen(js_name = opState, unchecked_return_type = "Promise<OpStateInfo | undefined>")]
    pub fn op_state(&self, #[wasm_bindgen(js_name = opId)] op_id: String) -> Promise {
        let engine = self.engine_rc();
        promise(async move {
            match engine.op_by_id(&op_id).await? {
                Some(op) => to_js(&OpStateInfo { state: op.state, last_error: op.last_error }),
                None => Ok(JsValue::UNDEFINED),
            }
        })
    }
}

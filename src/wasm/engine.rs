//! `SyncEngine`, the class apps use (docs/PROTOCOL.md section 4). Each method
//! validates its JS arguments, calls the generic engine, and converts the
//! result; errors reject with a `TidesyncError`.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::error::to_js_error;
use super::platform::WebPlatform;
use super::provider::JsProvider;
use super::query::{decode_options, page_to_js, QueryOptionsArg};
use super::sync::{Runner, WebDriver};
use super::types::LimitArg;
use crate::core::decode::{self, Path, Shape, WireValue};
use crate::core::SyncError;
use crate::engine::driver::Driver;
use crate::engine::events::{is_event_name, ErrorEvent, Event};
use crate::engine::{decode_config, Engine, Platform};
use crate::store::idb::{IdbStore, Lost};
use crate::store::js_value::pk_from_js;
use crate::store::PendingOp;

pub(super) type WebEngine = Engine<IdbStore, WebPlatform>;

/// A local-first database with sync, for one workspace.
#[wasm_bindgen]
pub struct SyncEngine {
    engine: Rc<WebEngine>,
    driver: Option<Rc<WebDriver>>,
    runner: Rc<RefCell<Option<Runner>>>,
    /// Disposed on close (its `dispose()`, if it has one).
    provider: Option<JsProvider>,
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    crate::store::js_json::to_js(v).map_err(|e| to_js_error(&e))
}

fn invalid(e: crate::core::Invalid) -> JsValue {
    to_js_error(&SyncError::Invalid(e))
}

/// A call's work, boxed so that one `future_to_promise` serves every method
/// (each distinct future type would otherwise get its own copy of it).
pub(super) type Call = std::pin::Pin<Box<dyn std::future::Future<Output = Result<JsValue, SyncError>>>>;

/// Runs an engine call as a Promise.
pub(super) fn promise<F>(fut: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue, SyncError>> + 'static,
{
    run(Box::pin(fut))
}

fn run(call: Call) -> Promise {
    future_to_promise(async move { call.await.map_err(|e| to_js_error(&e)) })
}

fn js_err(e: JsValue) -> SyncError {
    SyncError::Storage(crate::store::js_value::describe(&e))
}

/// The fields of an outbox entry as `pendingOps()`/`failedOps()` show it (the
/// `PendingOp` type of the .d.ts). Anything else of the storage row (`base`,
/// `failed`, ...) is left out, so the public shape is exactly this list.
const PUBLIC_OP_FIELDS: [&str; 11] =
    ["seq", "opId", "tableName", "pk", "op", "stamp", "state", "attempts", "createdAt", "lastError", "payload"];

/// Ops as an array of plain objects of the public shape (`PendingOp` in
/// types.rs); a put's `payload` is the record it pushes.
pub(super) fn op_list(ops: &[PendingOp<JsValue>]) -> Result<JsValue, SyncError> {
    let out = js_sys::Array::new();
    for op in ops {
        let v: js_sys::Object = crate::store::idb::op_to_js(op)?.unchecked_into();
        for k in js_sys::Object::keys(&v).iter() {
            let keep = k.as_string().is_some_and(|k| PUBLIC_OP_FIELDS.contains(&k.as_str()));
            if !keep || js_sys::Reflect::get(&v, &k).is_ok_and(|x| x.is_null() || x.is_undefined()) {
                js_sys::Reflect::delete_property(&v, &k).map_err(js_err)?;
            }
        }
        out.push(&v);
    }
    Ok(out.into())
}

/// An optional `{ limit }` object (unknown keys are `INVALID`); `default` when absent.
pub(super) fn limit_option(options: Option<LimitArg>, default: u32) -> Result<u32, SyncError> {
    let options = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
    let root = Path::Root("options");
    match options.shape() {
        Shape::Absent | Shape::Null => Ok(default),
        // syncRuns(20): the positional form of earlier versions.
        Shape::Number => Ok(decode::integer(&options, &Path::Root("limit"), 1)
            .map_err(SyncError::Invalid)?
            .min(u32::MAX as u64) as u32),
        _ => {
            decode::expect_object(&options, &root).map_err(SyncError::Invalid)?;
            crate::engine::config::check_keys(&options, &root, &["limit"]).map_err(SyncError::Invalid)?;
            match options.field("limit") {
                Some(l) => Ok(decode::integer(&l, &Path::Field(&root, "limit"), 1)
                    .map_err(SyncError::Invalid)?
                    .min(u32::MAX as u64) as u32),
                None => Ok(default),
            }
        }
    }
}

impl SyncEngine {
    /// `SyncEngine.open` for Rust callers: the same steps, without a Promise.
    pub async fn open_with(config: JsValue) -> Result<SyncEngine, JsValue> {
        let parsed = decode_config(&config).map_err(invalid)?;
        let provider = match config.field("provider") {
            Some(p) if !matches!(p.shape(), Shape::Null) => Some(JsProvider::new(p).map_err(|e| to_js_error(&e))?),
            _ => None,
        };
        let hooks = super::resolve::resolvers(&config).map_err(|e| to_js_error(&e))?;
        let store = IdbStore::open(&parsed.db_name, parsed.schema())
            .await
            .and_then(|store| store.with_durability(parsed.durability))
            .map_err(|e| to_js_error(&e))?;
        let platform = WebPlatform::new(&parsed.db_name);
        let auto_sync = parsed.auto_sync;
        let lock_name = format!("tidesync:{}", parsed.db_name);
        let engine = Rc::new(Engine::open(parsed, store, platform.clone()).await.map_err(|e| to_js_error(&e))?);
        for (table, hook) in hooks {
            engine.set_resolver(&table, hook).map_err(|e| to_js_error(&e))?;
        }
        let driver = provider.clone().map(|p| Rc::new(Driver::new(engine.clone(), p, auto_sync)));
        let runner = Rc::new(RefCell::new(driver.as_ref().map(|d| Runner::start(d.clone(), &platform, lock_name))));
        // Another tab upgraded or deleted the database: stop, and say so.
        let (e, d, r) = (Rc::downgrade(&engine), driver.as_ref().map(Rc::downgrade), Rc::downgrade(&runner));
        let p = provider.clone();
        engine.store().on_lost(Rc::new(move |why| {
            let Some(engine) = e.upgrade() else { return };
            let driver = d.as_ref().and_then(|d| d.upgrade());
            shut_down(&engine, driver.as_deref(), r.upgrade().as_deref(), p.as_ref());
            let what = match why {
                Lost::Upgraded => "another tab opened a newer version of the database",
                Lost::Deleted => "the database was deleted",
            };
            engine.platform().emit(Event::Error(ErrorEvent {
                code: "CLOSED".into(),
                message: format!("{what}; this engine closed its connection: open it again"),
                retryable: false,
                op_ids: None,
            }));
        }));
        Ok(SyncEngine { engine, driver, runner, provider })
    }

    /// Runs a write, then wakes the pusher. Every write path goes through
    /// here (`put`, `bulkPut`, `delete`, `bulkDelete`, `retryFailed`).
    pub(super) fn write<F>(&self, fut: F) -> Promise
    where
        F: std::future::Future<Output = Result<JsValue, SyncError>> + 'static,
    {
        let driver = self.driver.clone();
        let platform = self.engine.platform().clone();
        promise(async move {
            let out = fut.await?;
            wake_pusher(driver.as_deref(), &platform);
            Ok(out)
        })
    }

    /// This engine's side of `syncNow` through the leader (engines with a provider).
    pub(super) fn relay(&self) -> Option<Rc<super::relay::Relay>> {
        self.runner.borrow().as_ref().map(Runner::relay)
    }

    pub(super) fn driver_rs(&self) -> Result<Rc<WebDriver>, SyncError> {
        self.driver.clone().ok_or_else(|| SyncError::invalid("config.provider", "this engine has no provider"))
    }

    pub(super) fn engine_rc(&self) -> Rc<WebEngine> {
        self.engine.clone()
    }

    /// `count(table)` for Rust callers.
    pub fn count(&self, table: String) -> Promise {
        self.count_js(table, None)
    }
}

#[wasm_bindgen]
impl SyncEngine {
    /// Validates `config`, opens (creating or upgrading) the workspace's
    /// database, and loads or creates the device id and clock.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncEngine>")]
    pub fn open(#[wasm_bindgen(unchecked_param_type = "SyncConfig")] config: JsValue) -> Promise {
        let open: std::pin::Pin<Box<dyn std::future::Future<Output = Result<JsValue, JsValue>>>> =
            Box::pin(async move { Ok(SyncEngine::open_with(config).await?.into()) });
        future_to_promise(open)
    }

    /// This device's id (kept in `sync_state`).
    #[wasm_bindgen(getter, js_name = deviceId)]
    pub fn device_id(&self) -> String {
        self.engine.device_id().to_string()
    }

    /// Whether opening created the database: nothing of an earlier one of
    /// this name was there (a first run, or the database was deleted or evicted).
    #[wasm_bindgen(getter, js_name = createdDatabase)]
    pub fn created_database(&self) -> bool {
        self.engine.created_database()
    }

    /// The IndexedDB database name.
    #[wasm_bindgen(getter, js_name = dbName)]
    pub fn db_name(&self) -> String {
        self.engine.config().db_name.clone()
    }

    /// Writes one record and its outbox entry in one transaction.
    #[wasm_bindgen(unchecked_return_type = "Promise<ChangeStamp>")]
    pub fn put(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>")] record: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        self.write(async move { to_js_sync(&engine.put(&table, record).await?) })
    }

    /// Writes records in one transaction; one bad record rejects them all.
    #[wasm_bindgen(js_name = bulkPut, unchecked_return_type = "Promise<ChangeStamp[]>")]
    pub fn bulk_put(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>[]")] records: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        self.write(async move {
            let list = decode::array(&records, &Path::Root("records")).map_err(SyncError::Invalid)?;
            to_js_sync(&engine.bulk_put(&table, list).await?)
        })
    }

    /// Deletes one record, leaving a tombstone.
    #[wasm_bindgen(unchecked_return_type = "Promise<ChangeStamp>")]
    pub fn delete(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "string | number")] pk: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        self.write(async move {
            let pk = pk_from_js(&pk, "pk").map_err(SyncError::Invalid)?;
            to_js_sync(&engine.delete(&table, pk).await?)
        })
    }

    /// Deletes records in one transaction.
    #[wasm_bindgen(js_name = bulkDelete, unchecked_return_type = "Promise<ChangeStamp[]>")]
    pub fn bulk_delete(
        &self,
        table: String,
        #[wasm_bindgen(unchecked_param_type = "(string | number)[]")] pks: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        self.write(async move {
            let list = decode::array(&pks, &Path::Root("pks")).map_err(SyncError::Invalid)?;
            let mut keys = Vec::with_capacity(list.len());
            for (i, v) in list.iter().enumerate() {
                keys.push(decode::pk(v, &Path::Index(&Path::Root("pks"), i)).map_err(SyncError::Invalid)?);
            }
            to_js_sync(&engine.bulk_delete(&table, keys).await?)
        })
    }

    /// The record with this primary key, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Record<string, unknown> | undefined>")]
    pub fn get(&self, table: String, #[wasm_bindgen(unchecked_param_type = "string | number")] pk: JsValue) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            let pk = pk_from_js(&pk, "pk").map_err(SyncError::Invalid)?;
            Ok(engine.get(&table, &pk).await?.unwrap_or(JsValue::UNDEFINED))
        })
    }

    /// The rows of a query (see `QueryOptions`): every row of the table when
    /// no options are given.
    #[wasm_bindgen(js_name = getAll, unchecked_return_type = "Promise<Record<string, unknown>[]>")]
    pub fn get_all(&self, table: String, options: Option<QueryOptionsArg>) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            let query = decode_options(options)?;
            let rows = engine.get_all(&table, &query).await?;
            Ok(rows.into_iter().collect::<js_sys::Array>().into())
        })
    }

    /// One page of a query: `{ rows, next }`, where `next` (present when the
    /// `limit` was reached) is the `after` of the next page.
    #[wasm_bindgen(unchecked_return_type = "Promise<QueryPage<Record<string, unknown>>>")]
    pub fn query(&self, table: String, options: Option<QueryOptionsArg>) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            let query = decode_options(options)?;
            let page = engine.query(&table, &query).await?;
            page_to_js(page).map_err(js_err)
        })
    }

    /// How many records a query's condition selects (its `offset`, `limit`
    /// and `after` aside); every record of the table without options.
    #[wasm_bindgen(js_name = count, unchecked_return_type = "Promise<number>")]
    pub fn count_js(&self, table: String, options: Option<QueryOptionsArg>) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            let query = decode_options(options)?;
            Ok(JsValue::from_f64(engine.count_where(&table, &query).await? as f64))
        })
    }

    /// The outbox in FIFO order, including in-flight and failed ops.
    #[wasm_bindgen(js_name = pendingOps, unchecked_return_type = "Promise<PendingOp[]>")]
    pub fn pending_ops(&self, options: Option<LimitArg>) -> Promise {
        let engine = self.engine.clone();
        promise(async move { op_list(&engine.pending_ops(limit_option(options, u32::MAX)?).await?) })
    }

    /// Subscribes to an event; returns the function that unsubscribes.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SyncEventName")] event: String,
        #[wasm_bindgen(unchecked_param_type = "(payload: any) => void")] handler: Function,
    ) -> Result<Function, JsValue> {
        if !is_event_name(&event) {
            return Err(to_js_error(&SyncError::invalid("event", format!("unknown event {event:?}"))));
        }
        let platform = self.engine.platform().clone();
        let id = platform.on(&event, handler);
        let off = Closure::<dyn FnMut()>::new(move || platform.off(&event, id));
        Ok(off.into_js_value().unchecked_into())
    }

    /// Closes the engine and its database, and calls the provider's
    /// `dispose()` if it has one (give each engine its own provider). Later
    /// calls reject with `CLOSED`. An in-flight push is abandoned; its ops
    /// are sent again after reopen.
    pub fn close(&self) {
        shut_down(&self.engine, self.driver.as_deref(), Some(&self.runner), self.provider.as_ref());
    }
}

/// Wakes whichever engine pushes this database: this one's loop if it leads,
/// otherwise the leader, at once over the BroadcastChannel (the change notice
/// that follows within the notice window would wake it too, a little later).
fn wake_pusher(driver: Option<&WebDriver>, platform: &WebPlatform) {
    match driver {
        Some(d) if d.state().leader => d.wake(),
        other => {
            if let Some(d) = other {
                d.wake();
            }
            super::relay::Message::Push.post(platform);
        }
    }
}

/// Stops the scheduler, releases the lock and listeners, closes the
/// database, disposes of the provider.
fn shut_down(
    engine: &WebEngine,
    driver: Option<&WebDriver>,
    runner: Option<&RefCell<Option<Runner>>>,
    provider: Option<&JsProvider>,
) {
    if let Some(d) = driver {
        d.shutdown();
    }
    if let Some(mut r) = runner.and_then(|r| r.borrow_mut().take()) {
        r.stop();
    }
    let was_open = !engine.is_closed();
    engine.close();
    engine.platform().shutdown();
    if let Some(p) = provider.filter(|_| was_open) {
        p.dispose();
    }
}

fn to_js_sync<T: Serialize>(v: &T) -> Result<JsValue, SyncError> {
    to_js(v).map_err(js_err)
}

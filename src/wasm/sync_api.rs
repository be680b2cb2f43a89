//! The sync-control and inspection half of `SyncEngine`: start, stop,
//! syncNow, status, and the outbox's failed ops.

use js_sys::{Array, Promise};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::engine::{limit_option, op_list, promise, SyncEngine};
use super::error::to_js_error;
use super::types::OpIdsArg;
use crate::core::decode::{self, Path, Shape, WireValue};
use crate::core::SyncError;
use crate::engine::Platform;

fn op_ids(v: &JsValue, path: &str) -> Result<Vec<String>, SyncError> {
    let root = Path::Root(path);
    let items = decode::array(v, &root).map_err(SyncError::Invalid)?;
    items
        .iter()
        .enumerate()
        .map(|(i, x)| decode::name(x, &Path::Index(&root, i), 256).map_err(SyncError::Invalid))
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    online: bool,
    phase: &'static str,
    pending_ops: u64,
    failed_ops: u64,
    cursor: u64,
    last_sync_at: Option<u64>,
    last_error: Option<ErrorInfo>,
    leader: bool,
}

#[derive(Serialize)]
struct ErrorInfo {
    code: String,
    message: String,
}

#[wasm_bindgen]
impl SyncEngine {
    /// Starts (or resumes, after an `AUTH` pause) pushing.
    pub fn start(&self) -> Result<(), JsValue> {
        self.driver_js()?.start();
        Ok(())
    }

    /// Stops pushing; writes are still captured.
    pub fn stop(&self) -> Result<(), JsValue> {
        self.driver_js()?.stop();
        Ok(())
    }

    /// Pushes everything, then pulls until caught up, and resolves to
    /// `{ pushed, pulled, conflicts, failed, durationMs }`. On an engine that
    /// does not push its database (another tab leads) the leader does it, and
    /// this resolves with the leader's report (see `relay`).
    #[wasm_bindgen(js_name = syncNow, unchecked_return_type = "Promise<SyncReport>")]
    pub fn sync_now(&self) -> Promise {
        let driver = self.driver_rs();
        let relay = self.relay();
        promise(async move {
            let driver = driver?;
            let relay = relay.ok_or(SyncError::Closed)?;
            to_js(&relay.sync_now(&driver).await?)
        })
    }

    /// `{ online, phase, pendingOps, failedOps, cursor, lastSyncAt, lastError, leader }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncStatus>")]
    pub fn status(&self) -> Promise {
        let engine = self.engine_rc();
        let state = self.driver_rs().ok().map(|d| d.state());
        promise(async move {
            let counts = engine.outbox_counts().await?;
            let (cursor, _) = engine.cursor_state().await?;
            let online = engine.platform().is_online();
            let (phase, leader, last_sync_at, last_error) = match &state {
                Some(s) if !online => ("offline", s.leader, s.last_sync_at, s.last_error.clone()),
                Some(s) => (s.phase, s.leader, s.last_sync_at, s.last_error.clone()),
                None => ("local", false, None, None),
            };
            to_js(&Status {
                online,
                phase,
                pending_ops: counts.pending + counts.in_flight,
                failed_ops: counts.failed,
                cursor,
                last_sync_at,
                last_error: last_error.map(|e| ErrorInfo { code: e.code().into(), message: e.to_string() }),
                leader,
            })
        })
    }

    /// The dead-letter list: ops rejected permanently or past `maxAttempts`.
    #[wasm_bindgen(js_name = failedOps, unchecked_return_type = "Promise<PendingOp[]>")]
    pub fn failed_ops(&self) -> Promise {
        let engine = self.engine_rc();
        promise(async move { op_list(&engine.failed_ops().await?) })
    }

    /// Queues failed ops again (all, or the given op ids); resolves to how many.
    #[wasm_bindgen(js_name = retryFailed, unchecked_return_type = "Promise<number>")]
    pub fn retry_failed(&self, #[wasm_bindgen(js_name = opIds)] op_ids_js: Option<OpIdsArg>) -> Promise {
        let engine = self.engine_rc();
        self.write(async move {
            let ids = match op_ids_js.map(JsValue::from).filter(|v| !matches!(v.shape(), Shape::Absent | Shape::Null)) {
                None => None,
                Some(v) => Some(op_ids(&v, "opIds")?),
            };
            let n = engine.retry_failed(ids.as_deref()).await?;
            Ok(JsValue::from_f64(n as f64))
        })
    }

    /// Removes the given failed ops for good; resolves to how many.
    #[wasm_bindgen(js_name = discardFailed, unchecked_return_type = "Promise<number>")]
    pub fn discard_failed(
        &self,
        #[wasm_bindgen(js_name = opIds, unchecked_param_type = "string[]")] op_ids_js: JsValue,
    ) -> Promise {
        let engine = self.engine_rc();
        promise(async move {
            let ids = op_ids(&op_ids_js, "opIds")?;
            Ok(JsValue::from_f64(engine.discard_failed(&ids).await? as f64))
        })
    }

    /// The conflict journal, newest first: `{ id, table, pk, local, remote, winner, at }`,
    /// where `local` and `remote` are `{ op, payload?, stamp }` (default limit 100).
    #[wasm_bindgen(unchecked_return_type = "Promise<Conflict[]>")]
    pub fn conflicts(&self, options: Option<super::types::LimitArg>) -> Promise {
        let engine = self.engine_rc();
        promise(async move {
            let rows = engine.conflicts(limit_option(options, 100)?).await?;
            to_js(&rows)
        })
    }

    /// Purges tombstones and journal rows past `retentionMs` now (the
    /// scheduler also does it hourly); resolves to `{ tombstones, conflicts, runs }`.
    #[wasm_bindgen(js_name = collectGarbage, unchecked_return_type = "Promise<GcReport>")]
    pub fn collect_garbage(&self) -> Promise {
        let engine = self.engine_rc();
        promise(async move { to_js(&engine.collect_garbage().await?) })
    }

    /// The most recent `sync_runs` rows, newest first: `syncRuns({ limit })`
    /// (default 20; the positional `syncRuns(20)` of earlier versions still works).
    #[wasm_bindgen(js_name = syncRuns, unchecked_return_type = "Promise<SyncRun[]>")]
    pub fn sync_runs(&self, options: Option<super::types::LimitArg>) -> Promise {
        let engine = self.engine_rc();
        promise(async move {
            let runs = engine.recent_runs(limit_option(options, 20)?).await?;
            let out = Array::new();
            for r in runs {
                out.push(&to_js(&r)?);
            }
            Ok(out.into())
        })
    }
}

impl SyncEngine {
    /// Fault injection for tests: engines opened while `hide` is set behave as
    /// if the browser had no `navigator.locks`, and lead by the lease.
    #[doc(hidden)]
    #[cfg(feature = "testing")]
    pub fn test_hide_web_locks(hide: bool) {
        super::sync::hide_web_locks(hide);
    }

    fn driver_js(&self) -> Result<std::rc::Rc<super::sync::WebDriver>, JsValue> {
        self.driver_rs().map_err(|e| to_js_error(&e))
    }
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, SyncError> {
    crate::store::js_json::to_js(v)
}

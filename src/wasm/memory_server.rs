//! `MemoryServer`: the reference backend inside the page, for developing and
//! testing an app without a server. It runs the core's server algorithm (the
//! same code as the reference sync server) and hands out provider objects
//! that speak docs/PROTOCOL.md section 3. Fault switches let a test make the
//! network slow, failing, partial, duplicating, reordering or unreachable.
//!
//! ```js
//! const server = new MemoryServer();
//! const engine = await SyncEngine.open({ workspaceId: 'w1', tables, provider: server.provider({ token: 't' }) });
//! server.failNextPushes(3, 'UNAVAILABLE');     // the next three pushes reject
//! server.setUnreachable(true);                 // every call rejects with UNAVAILABLE
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::error::to_js_error;
use super::wire_answer::{changes_to_js, deep_copy, push_result_to_js};
use super::wire_js::{json_to_js, split_payloads};
use crate::core::decode::{self, Path, WireValue};
use crate::core::server::{PushOutcome, ServerState};
use crate::core::wire::{
    decode_pull_request, decode_push_batch, decode_scope, OpResult, PushBatch, PushOp, PushResult, SyncScope,
};
use crate::core::{Result, SyncError};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
import type { ChangeStamp, PrimaryKey, SyncProvider, PushBatch, PushResult, PullRequest, PullResponse, SyncScope } from '../tidesync.js';

/** One record as a MemoryServer holds it. */
export interface ServerRecord {
  tableName: string; pk: PrimaryKey; payload?: Record<string, unknown>;
  deleted: boolean; stamp: ChangeStamp; version: number;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `MemoryServer.provider`'s options.
    #[wasm_bindgen(typescript_type = "{ token?: string }")]
    pub type ProviderOptionsArg;
}

/// Most ops one push may carry.
const MAX_BATCH: usize = 10_000;

struct Subscriber {
    id: u32,
    scope: SyncScope,
    tables: Vec<String>,
    on_changes: Function,
}

#[derive(Default)]
struct Faults {
    latency_ms: u32,
    fail_pushes: u32,
    fail_code: String,
    fail_retry_after_ms: Option<u64>,
    /// opId -> retryable.
    reject: HashMap<String, bool>,
    unreachable: bool,
    drop_batches: u32,
    duplicate_batches: u32,
    reorder_batches: u32,
    held_batch: Option<(u32, Array, JsValue)>,
}

struct Inner {
    state: RefCell<ServerState<JsValue>>,
    subscribers: RefCell<Vec<Subscriber>>,
    faults: RefCell<Faults>,
    next_id: Cell<u32>,
    push_calls: RefCell<Vec<f64>>,
}

/// An in-page sync backend.
#[wasm_bindgen]
pub struct MemoryServer {
    inner: Rc<Inner>,
}

impl Default for MemoryServer {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl MemoryServer {
    #[wasm_bindgen(constructor)]
    pub fn new() -> MemoryServer {
        MemoryServer {
            inner: Rc::new(Inner {
                state: RefCell::new(ServerState::new()),
                subscribers: RefCell::new(Vec::new()),
                faults: RefCell::new(Faults::default()),
                next_id: Cell::new(1),
                push_calls: RefCell::new(Vec::new()),
            }),
        }
    }

    /// Lets `token` use `workspaceId`. Until the first grant, any token may use any workspace.
    pub fn grant(&self, token: &str, #[wasm_bindgen(js_name = workspaceId)] workspace_id: &str) {
        self.inner.state.borrow_mut().grant(token, workspace_id);
    }

    /// A provider object for an engine (`{ token }` is optional in open mode).
    #[wasm_bindgen(unchecked_return_type = "SyncProvider")]
    pub fn provider(&self, options: Option<ProviderOptionsArg>) -> MemoryProvider {
        let token = options.map(JsValue::from).and_then(|o| o.field("token")).and_then(|t| t.as_string());
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id + 1);
        MemoryProvider { inner: self.inner.clone(), token, id: format!("memory-{id}") }
    }

    /// Every call waits this long first.
    #[wasm_bindgen(js_name = setLatency)]
    pub fn set_latency(&self, ms: u32) {
        self.inner.faults.borrow_mut().latency_ms = ms;
    }

    /// The next `count` pushes reject with `code` (and `retryAfterMs`).
    #[wasm_bindgen(js_name = failNextPushes)]
    pub fn fail_next_pushes(
        &self,
        count: u32,
        code: Option<String>,
        #[wasm_bindgen(js_name = retryAfterMs)] retry_after_ms: Option<u32>,
    ) {
        let mut f = self.inner.faults.borrow_mut();
        f.fail_pushes = count;
        f.fail_code = code.unwrap_or_else(|| "UNAVAILABLE".into());
        f.fail_retry_after_ms = retry_after_ms.map(u64::from);
    }

    /// Answers these ops `success: false` (partial batches) until cleared;
    /// `retryable` false makes it a permanent rejection.
    #[wasm_bindgen(js_name = rejectOps)]
    pub fn reject_ops(
        &self,
        #[wasm_bindgen(js_name = opIds, unchecked_param_type = "string[]")] op_ids: JsValue,
        retryable: bool,
    ) {
        let mut f = self.inner.faults.borrow_mut();
        for id in Array::from(&op_ids).iter().filter_map(|v| v.as_string()) {
            f.reject.insert(id, retryable);
        }
    }

    /// Stops rejecting any op.
    #[wasm_bindgen(js_name = clearRejections)]
    pub fn clear_rejections(&self) {
        self.inner.faults.borrow_mut().reject.clear();
    }

    /// Every call rejects with `UNAVAILABLE` while set.
    #[wasm_bindgen(js_name = setUnreachable)]
    pub fn set_unreachable(&self, unreachable: bool) {
        self.inner.faults.borrow_mut().unreachable = unreachable;
    }

    /// Subscription faults for the next batches: drop, duplicate, or hold one
    /// back and deliver it after the next (reorder).
    #[wasm_bindgen(js_name = subscriptionFaults)]
    pub fn subscription_faults(&self, drop: u32, duplicate: u32, reorder: u32) {
        let mut f = self.inner.faults.borrow_mut();
        f.drop_batches = drop;
        f.duplicate_batches = duplicate;
        f.reorder_batches = reorder;
    }

    /// Forgets history at or below `below`: older cursors get `CURSOR_EXPIRED`.
    #[wasm_bindgen(js_name = purgeHistory)]
    pub fn purge_history(&self, #[wasm_bindgen(js_name = workspaceId)] workspace_id: &str, below: f64) {
        self.inner.state.borrow_mut().purge_history(workspace_id, below.max(0.0) as u64);
    }

    /// The workspace's current records: `{ tableName, pk, payload?, deleted, stamp, version }[]`.
    #[wasm_bindgen(unchecked_return_type = "ServerRecord[]")]
    pub fn snapshot(&self, #[wasm_bindgen(js_name = workspaceId)] workspace_id: &str) -> Result<Array, JsValue> {
        let out = Array::new();
        for r in self.inner.state.borrow().snapshot(workspace_id) {
            let row = json_to_js(&serde_json::json!({
                "tableName": r.table_name, "pk": r.pk, "stamp": r.stamp,
                "version": r.version, "deleted": r.payload.is_none(),
            }))
            .map_err(|e| to_js_error(&e))?;
            if let Some(p) = &r.payload {
                let _ = js_sys::Reflect::set(&row, &crate::store::js_value::key("payload"), p);
            }
            out.push(&row);
        }
        Ok(out)
    }

    #[wasm_bindgen(js_name = serverVersion)]
    pub fn server_version(&self, #[wasm_bindgen(js_name = workspaceId)] workspace_id: &str) -> f64 {
        self.inner.state.borrow().server_version(workspace_id) as f64
    }

    /// Ops that won LWW and were applied.
    #[wasm_bindgen(js_name = appliedOps)]
    pub fn applied_ops(&self, #[wasm_bindgen(js_name = workspaceId)] workspace_id: &str) -> f64 {
        self.inner.state.borrow().applied_ops(workspace_id) as f64
    }

    /// Distinct opIds ever received.
    #[wasm_bindgen(js_name = seenOps)]
    pub fn seen_ops(&self, #[wasm_bindgen(js_name = workspaceId)] workspace_id: &str) -> f64 {
        self.inner.state.borrow().seen_ops(workspace_id) as f64
    }

    /// `performance.now()` of every push call, in order (for timing tests).
    #[wasm_bindgen(js_name = pushCalls)]
    pub fn push_calls(&self) -> Vec<f64> {
        self.inner.push_calls.borrow().clone()
    }
}

/// A provider handed out by [`MemoryServer::provider`].
#[wasm_bindgen]
pub struct MemoryProvider {
    inner: Rc<Inner>,
    token: Option<String>,
    id: String,
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn perf_now() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| {
            js_sys::Reflect::get(&p, &"now".into()).ok().and_then(|f| f.dyn_into::<Function>().ok()).map(|f| (p, f))
        })
        .and_then(|(p, f)| f.call0(&p).ok())
        .and_then(|v| v.as_f64())
        .unwrap_or_else(now)
}

impl Inner {
    /// Latency, reachability and the token, before any call.
    async fn gate(&self, token: &Option<String>, scope: Option<&SyncScope>) -> Result<()> {
        let latency = self.faults.borrow().latency_ms;
        if latency > 0 {
            gloo_timers::future::TimeoutFuture::new(latency).await;
        }
        if self.faults.borrow().unreachable {
            return Err(SyncError::Unavailable("the server is unreachable".into()));
        }
        if let Some(scope) = scope {
            self.state.borrow().authorize(token.as_deref(), scope)?;
        }
        Ok(())
    }

    fn push(&self, batch: PushBatch<JsValue>) -> Result<JsValue> {
        {
            let mut f = self.faults.borrow_mut();
            if f.fail_pushes > 0 {
                f.fail_pushes -= 1;
                let message = format!("injected {} failure", f.fail_code);
                return Err(match f.fail_code.as_str() {
                    "RATE_LIMIT" => SyncError::RateLimit { message, retry_after_ms: f.fail_retry_after_ms },
                    "AUTH" => SyncError::Auth(message),
                    "FORBIDDEN" => SyncError::Forbidden(message),
                    "INVALID" => SyncError::invalid("batch", message),
                    _ => SyncError::Unavailable(message),
                });
            }
        }
        let rejected = self.faults.borrow().reject.clone();
        let mut kept = batch.clone();
        kept.ops.retain(|o| !rejected.contains_key(&o.op_id));
        for op in &mut kept.ops {
            op.payload = op.payload.as_ref().map(deep_copy);
        }
        let outcome = self.state.borrow_mut().push(&kept, now() as u64);
        let mut by_id: HashMap<String, OpResult<JsValue>> =
            outcome.result.results.iter().map(|r| (r.op_id.clone(), r.clone())).collect();
        let results: Vec<OpResult<JsValue>> = batch
            .ops
            .iter()
            .map(|o| match rejected.get(&o.op_id) {
                Some(&retryable) => OpResult::rejected(
                    &o.op_id,
                    "rejected by the test switch".into(),
                    Some("REJECTED".into()),
                    retryable,
                ),
                None => by_id
                    .remove(&o.op_id)
                    .unwrap_or_else(|| OpResult::rejected(&o.op_id, "not processed".into(), None, true)),
            })
            .collect();
        if !outcome.applied.is_empty() {
            self.fan_out(&batch.scope, &outcome);
        }
        push_result_to_js(&PushResult { results, server_version: outcome.result.server_version })
    }

    /// Delivers applied changes to subscribers, after the current task, with
    /// the subscription fault switches applied.
    fn fan_out(&self, scope: &SyncScope, outcome: &PushOutcome<JsValue>) {
        let from_cursor = outcome.from_cursor;
        let mut deliveries = Vec::new();
        for sub in self.subscribers.borrow().iter().filter(|s| s.scope.workspace_id == scope.workspace_id) {
            let changes = outcome.for_subscriber(&sub.tables, sub.scope.project_id.as_deref());
            if changes.is_empty() {
                continue;
            }
            let Ok(js) = changes_to_js(&changes) else {
                continue;
            };
            let meta = json_to_js(&serde_json::json!({ "fromCursor": from_cursor })).unwrap_or(JsValue::UNDEFINED);
            deliveries.push((sub.id, sub.on_changes.clone(), js, meta));
        }
        let mut f = self.faults.borrow_mut();
        let mut out = Vec::new();
        for (id, handler, changes, meta) in deliveries {
            if f.drop_batches > 0 {
                f.drop_batches -= 1;
                continue;
            }
            if f.reorder_batches > 0 && f.held_batch.is_none() {
                f.reorder_batches -= 1;
                f.held_batch = Some((id, changes, meta));
                continue;
            }
            out.push((handler.clone(), changes.clone(), meta.clone()));
            if f.duplicate_batches > 0 {
                f.duplicate_batches -= 1;
                out.push((handler.clone(), changes.clone(), meta.clone()));
            }
            if let Some((_, held, held_meta)) = f.held_batch.take() {
                out.push((handler, held, held_meta));
            }
        }
        drop(f);
        wasm_bindgen_futures::spawn_local(async move {
            for (handler, changes, meta) in out {
                let _ = handler.call2(&JsValue::NULL, &changes, &meta);
            }
        });
    }
}

/// A push batch from JS: its JSON without payloads through the shared
/// decoder, then each op's payload object put back.
fn decode_batch(batch: &JsValue) -> Result<PushBatch<JsValue>, SyncError> {
    let split = split_payloads(batch, Some("ops"), "pushBatch")?;
    let tree = split.meta()?;
    let meta = decode_push_batch(&&tree, MAX_BATCH)?;
    let ops = meta
        .ops
        .into_iter()
        .enumerate()
        .map(|(i, op)| PushOp {
            payload: op.payload.map(|_| split.payloads.get(i as u32)),
            op_id: op.op_id,
            table_name: op.table_name,
            op: op.op,
            pk: op.pk,
            stamp: op.stamp,
        })
        .collect();
    Ok(PushBatch { scope: meta.scope, device_id: meta.device_id, ops })
}

fn reject(e: SyncError) -> JsValue {
    to_js_error(&e)
}

#[wasm_bindgen]
impl MemoryProvider {
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.id.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn mode(&self) -> String {
        "direct".into()
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<PushResult>")]
    pub fn push(&self, #[wasm_bindgen(unchecked_param_type = "PushBatch")] batch: JsValue) -> Promise {
        let inner = self.inner.clone();
        let token = self.token.clone();
        future_to_promise(async move {
            inner.push_calls.borrow_mut().push(perf_now());
            let batch = decode_batch(&batch).map_err(reject)?;
            inner.gate(&token, Some(&batch.scope)).await.map_err(reject)?;
            inner.push(batch).map_err(reject)
        })
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<PullResponse>")]
    pub fn pull(&self, #[wasm_bindgen(unchecked_param_type = "PullRequest")] request: JsValue) -> Promise {
        let inner = self.inner.clone();
        let token = self.token.clone();
        future_to_promise(async move {
            let req = decode_pull_request(&request).map_err(|e| reject(e.into()))?;
            inner.gate(&token, Some(&req.scope)).await.map_err(reject)?;
            let page = inner.state.borrow().pull(&req).map_err(reject)?;
            let changes = changes_to_js(&page.changes).map_err(reject)?;
            let out = json_to_js(&serde_json::json!({
                "nextCursor": page.next_cursor, "hasMore": page.has_more, "remaining": page.remaining,
            }))
            .map_err(reject)?;
            let _ = js_sys::Reflect::set(&out, &"changes".into(), &changes);
            Ok(out)
        })
    }

    /// Registers for change batches; resolves to the unsubscribe function.
    #[wasm_bindgen(unchecked_return_type = "Promise<() => void>")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SyncScope")] scope: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string[]")] tables: JsValue,
        #[wasm_bindgen(js_name = onChanges)] on_changes: Function,
        #[wasm_bindgen(js_name = onStatus)] on_status: Option<Function>,
    ) -> Promise {
        let inner = self.inner.clone();
        let token = self.token.clone();
        future_to_promise(async move {
            let scope = decode_scope(&scope, &Path::Root("scope")).map_err(|e| reject(e.into()))?;
            let tables: Vec<String> = decode::array(&tables, &Path::Root("tables"))
                .map_err(|e| reject(e.into()))?
                .iter()
                .filter_map(|t| t.as_string())
                .collect();
            inner.gate(&token, Some(&scope)).await.map_err(reject)?;
            let id = inner.next_id.get();
            inner.next_id.set(id + 1);
            inner.subscribers.borrow_mut().push(Subscriber { id, scope, tables, on_changes });
            if let Some(s) = &on_status {
                let _ = s.call1(&JsValue::NULL, &"connected".into());
            }
            let weak = Rc::downgrade(&inner);
            let off = Closure::<dyn FnMut()>::new(move || {
                if let Some(inner) = weak.upgrade() {
                    inner.subscribers.borrow_mut().retain(|s| s.id != id);
                }
            });
            Ok(off.into_js_value())
        })
    }

    #[wasm_bindgen(js_name = updateCursor, unchecked_return_type = "Promise<void>")]
    pub fn update_cursor(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SyncScope")] scope: JsValue,
        #[wasm_bindgen(js_name = deviceId)] device_id: String,
        version: f64,
    ) -> Promise {
        let inner = self.inner.clone();
        let token = self.token.clone();
        future_to_promise(async move {
            let scope = decode_scope(&scope, &Path::Root("scope")).map_err(|e| reject(e.into()))?;
            inner.gate(&token, Some(&scope)).await.map_err(reject)?;
            let v = decode::integer(&JsValue::from_f64(version), &Path::Root("version"), 0)
                .map_err(|e| reject(e.into()))?;
            inner.state.borrow_mut().update_cursor(&scope, &device_id, v).map_err(reject)?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

use wasm_bindgen::JsCast;

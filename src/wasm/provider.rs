//! The app's JS provider object, adapted to the engine's `Provider` trait.
//! It is duck-typed: any object with the methods of docs/PROTOCOL.md section 3.
//! Whatever it returns is validated; whatever it throws (an Error, a string,
//! anything) becomes a typed `SyncError`, never a panic.

use js_sys::{Array, Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::wire_js::{split_nested, split_payloads};
use crate::core::decode::{self, optional, Path, Shape, WireValue};
use crate::core::wire::{
    decode_changes, decode_pull_response, decode_push_result, PullRequest, PullResponse, PushBatch, PushResult,
    SyncChange, SyncScope,
};
use crate::core::{Invalid, Result, SyncError};
use crate::engine::provider::{Provider, Sink, SubscriptionEvent, SubscriptionStatus, Unsubscribe};
use wasm_bindgen::closure::Closure;

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The provider object an app hands the engine (docs/PROTOCOL.md
    /// section 3), called through typed imports. Each method may return a
    /// Promise or a plain value.
    #[wasm_bindgen(typescript_type = "SyncProvider")]
    #[derive(Clone)]
    pub type ProviderObject;

    #[wasm_bindgen(method, catch)]
    fn pull(this: &ProviderObject, request: &JsValue) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn push(this: &ProviderObject, batch: &JsValue) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn subscribe(
        this: &ProviderObject,
        scope: &JsValue,
        tables: &JsValue,
        on_changes: &JsValue,
        on_status: &JsValue,
    ) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = updateCursor)]
    fn update_cursor(
        this: &ProviderObject,
        scope: &JsValue,
        device_id: &str,
        version: f64,
    ) -> std::result::Result<JsValue, JsValue>;
    /// Optional: releases the provider's sockets and timers.
    #[wasm_bindgen(method, catch)]
    fn dispose(this: &ProviderObject) -> std::result::Result<JsValue, JsValue>;
}

/// A JS provider object.
#[derive(Clone)]
pub struct JsProvider {
    obj: ProviderObject,
}

/// The methods every provider must have.
pub const REQUIRED_METHODS: [&str; 4] = ["pull", "push", "subscribe", "updateCursor"];

impl JsProvider {
    /// Checks the object has the provider methods (INVALID otherwise).
    pub fn new(obj: JsValue) -> Result<Self> {
        if obj.shape() != Shape::Object {
            return Err(SyncError::invalid("config.provider", "must be an object"));
        }
        for m in REQUIRED_METHODS {
            if !Reflect::get(&obj, &m.into()).map(|f| f.is_function()).unwrap_or(false) {
                return Err(SyncError::invalid(format!("config.provider.{m}"), "must be a function"));
            }
        }
        Ok(JsProvider { obj: obj.unchecked_into() })
    }

    /// Calls the provider's `dispose()`, if it has one (engine `close()`).
    pub fn dispose(&self) {
        if Reflect::get(&self.obj, &"dispose".into()).is_ok_and(|f| f.is_function()) {
            let _ = self.obj.dispose();
        }
    }
}

/// Awaits what a provider method returned or threw (a Promise or a value).
async fn settled(returned: std::result::Result<JsValue, JsValue>) -> Result<JsValue> {
    let returned = returned.map_err(|e| from_js_error(&e))?;
    JsFuture::from(Promise::resolve(&returned)).await.map_err(|e| from_js_error(&e))
}

/// Maps a thrown or rejected JS value to a typed error by its `code`.
pub fn from_js_error(e: &JsValue) -> SyncError {
    let field = |k: &str| Reflect::get(e, &k.into()).ok().filter(|v| !v.is_undefined());
    let message = field("message")
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| crate::store::js_value::describe(e));
    let retry_after_ms =
        field("retryAfterMs").and_then(|v| v.as_f64()).filter(|v| v.is_finite() && *v >= 0.0).map(|v| v as u64);
    match field("code").and_then(|c| c.as_string()).as_deref() {
        Some("AUTH") => SyncError::Auth(message),
        Some("FORBIDDEN") => SyncError::Forbidden(message),
        Some("RATE_LIMIT") => SyncError::RateLimit { message, retry_after_ms },
        Some("CURSOR_EXPIRED") => SyncError::CursorExpired(message),
        Some("INVALID") => SyncError::Invalid(Invalid::rule("provider", message)),
        // UNAVAILABLE, and anything else: a transient network error.
        _ => SyncError::Unavailable(message),
    }
}

/// The batch as JSON-shaped JS, with each payload set as the app's object.
fn batch_to_js(batch: &PushBatch<JsValue>) -> Result<JsValue> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Bare<'a> {
        scope: &'a crate::core::wire::SyncScope,
        device_id: &'a str,
        ops: Vec<crate::core::wire::PushOp<()>>,
    }
    let bare = Bare {
        scope: &batch.scope,
        device_id: &batch.device_id,
        ops: batch
            .ops
            .iter()
            .map(|o| crate::core::wire::PushOp {
                op_id: o.op_id.clone(),
                table_name: o.table_name.clone(),
                op: o.op,
                pk: o.pk.clone(),
                payload: None,
                stamp: o.stamp.clone(),
            })
            .collect(),
    };
    let text = serde_json::to_string(&bare).map_err(|e| SyncError::Storage(e.to_string()))?;
    let v = js_sys::JSON::parse(&text).map_err(|e| SyncError::Storage(crate::store::js_value::describe(&e)))?;
    let ops = js_sys::Array::from(&Reflect::get(&v, &"ops".into()).unwrap_or(JsValue::UNDEFINED));
    for (i, op) in batch.ops.iter().enumerate() {
        if let Some(p) = &op.payload {
            let _ = Reflect::set(&ops.get(i as u32), &crate::store::js_value::key("payload"), p);
        }
    }
    Ok(v)
}

/// Prefixes a decoding error's path with where the value came from.
fn located(mut e: Invalid, root: &str) -> SyncError {
    e.path = if e.path.is_empty() { root.to_string() } else { format!("{root}.{}", e.path) };
    SyncError::BadAnswer(e)
}

/// Decodes one `onChanges(changes, meta)` call of a subscription.
fn subscription_batch(
    changes: &JsValue,
    meta: &JsValue,
    tables: &[String],
) -> (Result<Vec<SyncChange<JsValue>>>, Option<u64>) {
    let from = match meta.shape() {
        Shape::Object => match optional(meta, "fromCursor") {
            Some(v) => match decode::integer(&v, &Path::Root("meta.fromCursor"), 0) {
                Ok(n) => Some(n),
                Err(e) => return (Err(SyncError::BadAnswer(e)), None),
            },
            None => None,
        },
        Shape::Absent | Shape::Null => None,
        _ => return (Err(SyncError::BadAnswer(Invalid::rule("subscription.meta", "must be an object"))), None),
    };
    let known = |t: &str| tables.iter().any(|x| x == t);
    let decoded =
        split_payloads(changes, None, "subscription.changes").map_err(SyncError::BadAnswer).and_then(|split| {
            let meta = split.meta().map_err(SyncError::BadAnswer)?;
            decode_changes(&&meta, &Path::Root("changes"), from.unwrap_or(0), Some(&known))
                .map(|list| attach_payloads(&split.payloads, list))
                .map_err(|e| located(e, "subscription"))
        });
    (decoded, from)
}

fn status_of(v: &JsValue) -> Option<SubscriptionStatus> {
    match v.as_string()?.as_str() {
        "connected" => Some(SubscriptionStatus::Connected),
        "disconnected" => Some(SubscriptionStatus::Disconnected),
        "error" => Some(SubscriptionStatus::Error),
        _ => None,
    }
}

impl Provider for JsProvider {
    type Rec = JsValue;

    async fn push(&self, batch: PushBatch<JsValue>) -> Result<PushResult<JsValue>> {
        let sent: Vec<String> = batch.ops.iter().map(|o| o.op_id.clone()).collect();
        let arg = batch_to_js(&batch)?;
        let answer = settled(self.obj.push(&arg)).await?;
        let ids: Vec<&str> = sent.iter().map(String::as_str).collect();
        let split =
            split_nested(&answer, Some("results"), Some("current"), "pushResult").map_err(SyncError::BadAnswer)?;
        let meta = split.meta().map_err(SyncError::BadAnswer)?;
        let decoded = decode_push_result(&&meta, &ids).map_err(|mut e| {
            e.path = format!("pushResult{}", if e.path.is_empty() { String::new() } else { format!(".{}", e.path) });
            SyncError::BadAnswer(e)
        })?;
        // Each `current` payload is the object the provider gave.
        let results = decoded
            .results
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.map_payload(|_| split.payloads.get(i as u32)))
            .collect();
        Ok(PushResult { results, server_version: decoded.server_version })
    }

    async fn pull(&self, req: PullRequest) -> Result<PullResponse<JsValue>> {
        let arg = super::wire_js::json_to_js(&req)?;
        let answer = settled(self.obj.pull(&arg)).await?;
        let tables = req.tables.unwrap_or_default();
        let known = |t: &str| tables.iter().any(|x| x == t);
        let split = split_payloads(&answer, Some("changes"), "pullResponse").map_err(SyncError::BadAnswer)?;
        let meta = split.meta().map_err(SyncError::BadAnswer)?;
        let page = decode_pull_response(&&meta, req.cursor, Some(&known)).map_err(|e| located(e, "pullResponse"))?;
        Ok(PullResponse {
            changes: attach_payloads(&split.payloads, page.changes),
            next_cursor: page.next_cursor,
            has_more: page.has_more,
            remaining: page.remaining,
        })
    }

    async fn subscribe(&self, scope: SyncScope, tables: Vec<String>, sink: Sink<JsValue>) -> Result<Unsubscribe> {
        let scope_js = super::wire_js::json_to_js(&scope)?;
        let tables_js = super::wire_js::json_to_js(&tables)?;
        let batches = sink.clone();
        let on_changes = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |changes: JsValue, meta: JsValue| {
            let (decoded, from) = subscription_batch(&changes, &meta, &tables);
            batches(SubscriptionEvent::Changes(decoded, from));
        });
        let on_status = Closure::<dyn FnMut(JsValue)>::new(move |s: JsValue| {
            if let Some(status) = status_of(&s) {
                sink(SubscriptionEvent::Status(status));
            }
        });
        // Owned by JS from here: a provider may still call them after unsubscribing.
        let (on_changes, on_status) = (on_changes.into_js_value(), on_status.into_js_value());
        let off = settled(self.obj.subscribe(&scope_js, &tables_js, &on_changes, &on_status)).await?;
        let off: Function = off
            .dyn_into()
            .map_err(|_| SyncError::invalid("provider.subscribe", "must resolve to an unsubscribe function"))?;
        Ok(Unsubscribe::new(move || {
            let _ = off.call0(&JsValue::NULL);
        }))
    }

    async fn update_cursor(&self, scope: SyncScope, device_id: String, version: u64) -> Result<()> {
        let scope_js = super::wire_js::json_to_js(&scope)?;
        settled(self.obj.update_cursor(&scope_js, &device_id, version as f64)).await.map(|_| ())
    }
}

/// The decoded `changes` with their payload objects put back.
fn attach_payloads<T>(payloads: &Array, changes: Vec<SyncChange<T>>) -> Vec<SyncChange<JsValue>> {
    changes
        .into_iter()
        .enumerate()
        .map(|(i, c)| SyncChange {
            payload: c.payload.map(|_| payloads.get(i as u32)),
            table_name: c.table_name,
            pk: c.pk,
            op: c.op,
            server_version: c.server_version,
            stamp: c.stamp,
        })
        .collect()
}

//! The HTTP handlers of `/v1/push`, `/v1/pull` and `/v1/cursor`.
//!
//! Each request goes through the same steps, and stops at the first
//! failure with nothing changed:
//!
//! 1. a bearer token is present (401 `AUTH` otherwise);
//! 2. the token's rate bucket has room (429 `RATE_LIMIT`);
//! 3. the body is at most `max_body_bytes` (413 `INVALID`), is JSON, and
//!    decodes with the core's validating decoders (400 `INVALID`): field
//!    types, names of 1 to 256 bytes, pk a string or finite number, put
//!    payloads objects, stamps well formed, at most `max_batch_ops` ops;
//!    with a table allow-list, every table allowed and every payload within
//!    its table's limit ([`crate::tables`]);
//! 4. on a blocking thread: the token is a valid JWT or a known opaque
//!    token (401 `AUTH`), it grants the scope's workspace (403
//!    `FORBIDDEN`), then the core's algorithm runs in one database
//!    transaction.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use tidesync::core::decode::{self, required, Path};
use tidesync::core::wire::{
    decode_pull_request, decode_push_batch, decode_scope, PushBatch, PushOp, PushResult, MAX_NAME_LEN,
};
use tidesync::core::SyncError;

use crate::app::{now_ms, App};
use crate::auth;
use crate::error::ApiError;

/// Steps 1 to 3: the token and the JSON body.
async fn admit(app: &App, headers: &HeaderMap, body: Body) -> Result<(String, Value), ApiError> {
    let token = auth::bearer(headers).ok_or_else(|| SyncError::Auth("missing bearer token".into()))?.to_string();
    app.limiter.check(&auth::hash(&token))?;
    let limit = app.limits.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::too_large(limit))?;
    let value = serde_json::from_slice(&bytes).map_err(|e| SyncError::invalid("body", format!("not JSON: {e}")))?;
    Ok((token, value))
}

/// Decodes a push body without copying its payloads: the decode borrows
/// the request's tree, then each put's payload is moved out of it.
fn decode_batch(mut value: Value, max_ops: usize) -> Result<PushBatch<Value>, SyncError> {
    let shape = decode_push_batch(&&value, max_ops).map_err(SyncError::from)?;
    let PushBatch { scope, device_id, ops } = shape;
    let ops: Vec<PushOp<()>> = ops.into_iter().map(|op| op.map_payload(|_| ())).collect();
    // Decoding checked that `ops` is an array with one element per op.
    let sent = value.get_mut("ops").and_then(Value::as_array_mut).map(std::mem::take).unwrap_or_default();
    let ops = ops.into_iter().zip(sent).map(|(op, mut sent)| op.map_payload(|()| sent["payload"].take())).collect();
    Ok(PushBatch { scope, device_id, ops })
}

pub async fn push(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PushResult<Value>>, ApiError> {
    let (token, value) = admit(&app, &headers, body).await?;
    let jwt = app.jwt.clone();
    let batch = decode_batch(value, app.limits.max_batch_ops)?;
    if let Some(rules) = &app.limits.tables {
        rules.check_push(&batch)?;
    }
    let workspace = batch.scope.workspace_id.clone();
    let outcome = app
        .blocking(move |db| {
            auth::authorize(&auth::authenticate(db, jwt.as_deref(), Some(&token))?, &batch.scope.workspace_id)?;
            db.push(&batch, now_ms())
        })
        .await?;
    app.metrics.push_ops_applied.inc_by(outcome.applied.len() as u64);
    if !outcome.applied.is_empty() && !app.db.notifies() {
        app.hub.wake(Some(&workspace));
    }
    Ok(Json(outcome.result))
}

/// The page comes encoded from the database ([`crate::db::page`]).
pub async fn pull(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let (token, value) = admit(&app, &headers, body).await?;
    let jwt = app.jwt.clone();
    let req = decode_pull_request(&&value).map_err(SyncError::from)?;
    if let Some(rules) = &app.limits.tables {
        rules.check_tables(req.tables.as_deref())?;
    }
    let page = app
        .blocking(move |db| {
            auth::authorize(&auth::authenticate(db, jwt.as_deref(), Some(&token))?, &req.scope.workspace_id)?;
            db.pull(&req)
        })
        .await?;
    app.metrics.pull_changes_served.inc_by(page.len as u64);
    Ok(([(header::CONTENT_TYPE, "application/json")], page.into_response_json()).into_response())
}

/// `{ scope, deviceId, version }`: the device has pulled up to `version`.
pub async fn cursor(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Json<Value>, ApiError> {
    let (token, value) = admit(&app, &headers, body).await?;
    let jwt = app.jwt.clone();
    let root = Path::Root("");
    let decoded = (|| {
        decode::expect_object(&value, &root)?;
        let scope = decode_scope(&required(&value, "scope", &root)?, &Path::Field(&root, "scope"))?;
        let device =
            decode::name(&required(&value, "deviceId", &root)?, &Path::Field(&root, "deviceId"), MAX_NAME_LEN)?;
        let version = decode::integer(&required(&value, "version", &root)?, &Path::Field(&root, "version"), 0)?;
        Ok::<_, tidesync::core::Invalid>((scope, device, version))
    })();
    let (scope, device, version) = decoded.map_err(SyncError::from)?;
    app.blocking(move |db| {
        auth::authorize(&auth::authenticate(db, jwt.as_deref(), Some(&token))?, &scope.workspace_id)?;
        db.update_cursor(&scope.workspace_id, &device, version, now_ms())
    })
    .await?;
    Ok(Json(serde_json::json!({})))
}

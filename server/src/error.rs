//! Errors as the wire carries them: an HTTP status and a JSON body
//! `{ code, message, retryAfterMs? }` (docs/PROTOCOL.md section 2), plus a
//! `Retry-After` header (whole seconds, rounded up) for `RATE_LIMIT`.
//!
//! | code | status |
//! |---|---|
//! | `INVALID` | 400 (413 when the body is too large) |
//! | `AUTH` | 401 |
//! | `FORBIDDEN` | 403 |
//! | `CURSOR_EXPIRED` | 410 |
//! | `RATE_LIMIT` | 429 |
//! | `UNAVAILABLE` (database errors included) | 503 |

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tidesync::core::SyncError;

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: SyncError,
}

/// The JSON body of an error response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ApiError {
    /// 413: the body is larger than the server accepts.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            error: SyncError::invalid("body", format!("larger than {limit} bytes")),
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (code, message) = match &self.error {
            // A database failure is the server's trouble: the client retries.
            SyncError::Storage(m) => ("UNAVAILABLE", format!("storage: {m}")),
            e => (e.code(), e.to_string()),
        };
        let retry_after_ms = match &self.error {
            SyncError::RateLimit { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        };
        ErrorBody { code, message, retry_after_ms }
    }
}

impl From<SyncError> for ApiError {
    fn from(error: SyncError) -> Self {
        let status = match &error {
            SyncError::Invalid(_) => StatusCode::BAD_REQUEST,
            SyncError::Auth(_) => StatusCode::UNAUTHORIZED,
            SyncError::Forbidden(_) => StatusCode::FORBIDDEN,
            SyncError::RateLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            SyncError::CursorExpired(_) => StatusCode::GONE,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError { status, error }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let retry_after = body.retry_after_ms;
        let mut res = (self.status, Json(body)).into_response();
        if let Some(ms) = retry_after {
            if let Ok(v) = HeaderValue::from_str(&ms.div_ceil(1000).max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

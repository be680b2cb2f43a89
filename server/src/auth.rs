//! Bearer tokens: how they are made, stored and checked.
//!
//! Two kinds are accepted. A bearer of three dot-separated parts is a JWT
//! when JWT auth is configured, verified by [`crate::jwt`] (its `sub` is
//! the user, one of its claims the workspaces). Any other bearer is an
//! opaque token of this server: 32 random bytes in hex. The database keeps only its SHA-256
//! (a leaked database does not leak usable tokens). A token belongs to a
//! user; the user's memberships are the workspaces the token may use.
//!
//! - no token, or one the database does not know: `AUTH` (401);
//! - a known token and a workspace its user is not a member of:
//!   `FORBIDDEN` (403).
//!
//! HTTP calls carry the token as `Authorization: Bearer <token>`; the
//! WebSocket watch, which browsers cannot give headers, as `?token=`.

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use tidesync::core::SyncError;

use crate::db::{Db, Grant};
use crate::jwt::{self, JwtVerifier};

/// A fresh random token (64 hex characters).
pub fn new_token() -> Result<String, SyncError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SyncError::Storage(format!("no randomness: {e}")))?;
    Ok(hex(&bytes))
}

/// What the database stores for a token.
pub fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

/// Verifies a JWT or looks an opaque token up (blocking: call from
/// `spawn_blocking`).
pub fn authenticate(db: &dyn Db, jwt: Option<&JwtVerifier>, token: Option<&str>) -> Result<Grant, SyncError> {
    let token = token.ok_or_else(|| SyncError::Auth("missing bearer token".into()))?;
    if let Some(verifier) = jwt.filter(|_| jwt::looks_like_jwt(token)) {
        return verifier.verify(token);
    }
    db.grant(&hash(token))?.ok_or_else(|| SyncError::Auth("unknown token".into()))
}

/// `FORBIDDEN` unless the grant covers `workspace`.
pub fn authorize(grant: &Grant, workspace: &str) -> Result<(), SyncError> {
    if grant.workspaces.iter().any(|w| w == workspace) {
        Ok(())
    } else {
        Err(SyncError::Forbidden(format!("this token may not use workspace {workspace:?}")))
    }
}

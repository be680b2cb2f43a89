//! tidesync-server: the reference sync server.
//!
//! It speaks the wire contract of docs/PROTOCOL.md (sections 1 to 3) over HTTP and
//! WebSocket and stores everything in SQLite (one machine) or PostgreSQL
//! (several stateless processes). The sync rules are not here: every push,
//! pull, cursor update and GC runs the core's algorithm
//! (`tidesync::core::server::apply`) over a database transaction, through the
//! core's storage traits ([`db`]).
//!
//! Modules, one concept each: [`config`] (command line), [`app`] (state,
//! router, serve), [`routes`] (push, pull, cursor), [`watch`] (WebSocket),
//! [`hub`] (wakes watchers), [`fanout`] (reads shared by watchers), [`auth`] (tokens), [`jwt`] (JWT tokens), [`metrics`] (`/metrics`), [`rate`] (rate limit), [`tables`] (the table allow-list),
//! [`gc`] (background GC), [`error`] (error responses), [`db`] (storage).

pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod fanout;
pub mod gc;
pub mod hub;
pub mod jwt;
pub mod metrics;
pub mod rate;
pub mod routes;
pub mod tables;
pub mod watch;

use std::sync::Arc;

use tidesync::core::SyncError;

use config::Database;
use db::Db;

/// Opens the database (running migrations) named by `database`.
pub fn open_db(database: &Database, pool_size: usize) -> Result<Arc<dyn Db>, SyncError> {
    Ok(match database {
        Database::Sqlite(path) => Arc::new(db::sqlite::SqliteDb::open(path)?),
        Database::Postgres(url) => Arc::new(db::postgres::PgDb::open(url, pool_size)?),
    })
}

/// Creates a token for `user` (a fresh name when `None`) with membership in
/// `workspaces`, storing only its hash; returns the token. `token` picks a
/// fixed token (the demo's) instead of a random one.
pub fn create_token(
    db: &dyn Db,
    workspaces: &[String],
    user: Option<&str>,
    token: Option<&str>,
) -> Result<String, SyncError> {
    let token = match token {
        Some(t) if t.len() >= 8 => t.to_string(),
        Some(_) => return Err(SyncError::invalid("token", "must be at least 8 characters")),
        None => auth::new_token()?,
    };
    let user = match user {
        Some(u) => u.to_string(),
        None => format!("user-{}", &auth::hash(&token)[..12]),
    };
    db.create_token(&auth::hash(&token), &user, workspaces, app::now_ms())?;
    Ok(token)
}

/// What `token revoke` revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    /// One token, by its value.
    Token(String),
    /// Every token of a user.
    User(String),
}

/// Revokes tokens; returns how many. Requests with them get 401 `AUTH` at
/// once, and watches opened with them close within [`watch::RECHECK`]
/// (close code 4401).
pub fn revoke_tokens(db: &dyn Db, which: &Revoke) -> Result<usize, SyncError> {
    match which {
        Revoke::Token(token) => db.revoke_token(&auth::hash(token)),
        Revoke::User(user) => db.revoke_user_tokens(user),
    }
}

/// Removes `user` from `workspace`; returns whether it was a member. Its
/// requests for the workspace then get 403 `FORBIDDEN`, and its watches on
/// it close within [`watch::RECHECK`] (close code 4403).
pub fn remove_member(db: &dyn Db, user: &str, workspace: &str) -> Result<bool, SyncError> {
    db.remove_member(user, workspace)
}

//! Storage: the [`Db`] the HTTP layer calls, implemented over SQLite
//! ([`sqlite`]) and PostgreSQL ([`postgres`]).
//!
//! The workspace store is written once ([`sql`]): it implements the core's
//! storage traits (`tidesync::core::server::{LogRead, WorkspaceStore}`) and
//! the token queries over one open transaction of either database, and the
//! core's apply algorithm (`tidesync::core::server::apply`) runs unchanged
//! inside it. What a backend adds is only how a transaction is opened and
//! serialised, and how a statement is bound and its rows read:
//!
//! - a push holds the workspace's write lock through its commit (SQLite:
//!   `BEGIN IMMEDIATE`; PostgreSQL: a row lock on the workspace's row,
//!   taken by `INSERT ... ON CONFLICT DO UPDATE`), so versions are assigned one after another and a
//!   version becomes visible only after every lower version has committed:
//!   a puller can never skip a change that commits later;
//! - a pull reads from one snapshot (SQLite: one read transaction;
//!   PostgreSQL: `REPEATABLE READ`), so its page and its `nextCursor` agree.
//!
//! Every method is synchronous; the HTTP layer calls it from
//! `tokio::task::spawn_blocking`.

pub mod batch;
pub mod page;
pub mod pool;
pub mod postgres;
pub mod row;
pub mod schema;
pub mod sql;
pub mod sqlite;

use serde_json::Value;
use tidesync::core::server::PushOutcome;
use tidesync::core::wire::{PullRequest, PushBatch};
use tidesync::core::SyncError;

/// A token's owner and the workspaces it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user_id: String,
    pub workspaces: Vec<String>,
}

/// One sync database.
pub trait Db: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Whether commits reach this process's watchers through the database
    /// (PostgreSQL's LISTEN/NOTIFY); otherwise the HTTP layer tells them.
    fn notifies(&self) -> bool;
    /// A cheap query that fails when the database is unreachable.
    fn health(&self) -> Result<(), SyncError>;

    /// Applies a batch (already decoded and authorized) at server time `now_ms`.
    fn push(&self, batch: &PushBatch<Value>, now_ms: u64) -> Result<PushOutcome<Value>, SyncError>;
    /// A page of changes above the request's cursor, encoded as the
    /// server sends it ([`page`]).
    fn pull(&self, req: &PullRequest) -> Result<page::EncodedPage, SyncError>;
    /// Records that `device_id` has pulled up to `version`.
    fn update_cursor(&self, workspace: &str, device_id: &str, version: u64, now_ms: u64) -> Result<(), SyncError>;
    /// The workspace's current serverVersion.
    fn version(&self, workspace: &str) -> Result<u64, SyncError>;
    /// Every workspace that has a row (for the GC task).
    fn workspaces(&self) -> Result<Vec<String>, SyncError>;
    /// Tombstone GC of one workspace (the core's `apply::gc`); returns how
    /// many log entries were purged.
    fn gc(&self, workspace: &str, now_ms: u64, retention_ms: u64) -> Result<usize, SyncError>;
    /// Raises the purge watermark (the core's `apply::purge_history`).
    fn purge_history(&self, workspace: &str, below: u64) -> Result<(), SyncError>;
    /// Forgets at most `limit` opIds of `workspace` remembered at or before
    /// `seen_until_ms`; returns how many (see `crate::gc` for why it is safe).
    fn prune_ops(&self, workspace: &str, seen_until_ms: u64, limit: usize) -> Result<usize, SyncError>;

    /// The grant of the token whose SHA-256 is `token_hash`, if any.
    fn grant(&self, token_hash: &str) -> Result<Option<Grant>, SyncError>;
    /// Stores a token (by hash) for `user_id`, creating the user, and adds
    /// the user to `workspaces`. Idempotent for the same token and user.
    fn create_token(
        &self,
        token_hash: &str,
        user_id: &str,
        workspaces: &[String],
        now_ms: u64,
    ) -> Result<(), SyncError>;
    /// Deletes the token whose SHA-256 is `token_hash`; returns how many
    /// (0 or 1). Its next request gets 401 `AUTH`, its open watches close.
    fn revoke_token(&self, token_hash: &str) -> Result<usize, SyncError>;
    /// Deletes every token of `user_id`; returns how many.
    fn revoke_user_tokens(&self, user_id: &str) -> Result<usize, SyncError>;
    /// Removes `user_id` from `workspace`; returns whether it was a member.
    fn remove_member(&self, user_id: &str, workspace: &str) -> Result<bool, SyncError>;
}

/// A database error, as the client sees it: retryable, no internals beyond
/// the driver's message.
pub(crate) fn storage(e: impl std::fmt::Display) -> SyncError {
    SyncError::Storage(e.to_string())
}

/// How long a device may go without reporting a cursor before GC stops
/// waiting for it (30 days). Its cursor then expires like any other.
pub const DEVICE_TTL_MS: u64 = 30 * 24 * 3600 * 1000;

//! The server-side apply algorithm, pure and sans-IO (docs/PROTOCOL.md sections 1-3).
//!
//! [`ServerState`] holds every workspace a sync server serves and implements
//! what a provider's `push`, `pull` and `updateCursor` do on the server:
//!
//! - **Push is idempotent by opId.** An op already seen in the workspace is
//!   answered `success: true` with the version it got the first time and
//!   changes nothing.
//! - **LWW** ([`crate::core::lww::decide`]) against the record's current state, a
//!   live row or a tombstone. A winning op gets the next serverVersion and
//!   becomes the record's state; a losing op is acknowledged (`success: true`,
//!   no serverVersion) and never applied. A put older than a tombstone never
//!   brings the record back.
//! - **A compacted change log**: one entry per record, its latest change, so a
//!   pull from cursor 0 is the full current state and the log stays bounded.
//! - **Cursors and history**: `pull` pages through versions above a cursor,
//!   filtered by tables and project; `purge_history` and `gc` raise a
//!   watermark below which cursors get `CURSOR_EXPIRED`.
//! - **Authorization**: tokens granted per workspace; no workspace ever reads
//!   or writes another's data.
//!
//! The algorithm itself is in [`apply`], written over the storage traits of
//! [`store`]; `ServerState` runs it over an in-memory store per workspace,
//! and the reference server (`server/`) over SQLite or PostgreSQL.
//!
//! Nothing here does I/O or reads a clock: the caller passes the time. The
//! payload type `P` passes through untouched (`serde_json::Value` natively,
//! `JsValue` in the browser); it only needs to be `Clone`.
//!
//! ```
//! use serde_json::{json, Value};
//! use tidesync::core::server::ServerState;
//! use tidesync::core::wire::{OpKind, PullRequest, PushBatch, PushOp, SyncScope};
//! use tidesync::core::ChangeStamp;
//!
//! let scope = SyncScope { workspace_id: "w1".into(), project_id: None };
//! let stamp = ChangeStamp {
//!     clock: 1,
//!     hlc: "001700000000000:00000:dev-a".into(),
//!     device_id: "dev-a".into(),
//!     op_id: "op-1".into(),
//! };
//! let op = PushOp {
//!     op_id: "op-1".into(),
//!     table_name: "messages".into(),
//!     op: OpKind::Put,
//!     pk: "m1".into(),
//!     payload: Some(json!({ "id": "m1", "text": "hi" })),
//!     stamp,
//! };
//! let batch = PushBatch { scope: scope.clone(), device_id: "dev-a".into(), ops: vec![op] };
//!
//! let mut server = ServerState::<Value>::new();
//! server.authorize(None, &scope).unwrap(); // open mode: no grant yet
//! let out = server.push(&batch, 1_700_000_000_000);
//! assert_eq!(out.result.results[0].server_version, Some(1));
//! assert_eq!(out.from_cursor, 0);
//!
//! let page = server
//!     .pull(&PullRequest { scope, cursor: 0, limit: 100, tables: None, rescan: false })
//!     .unwrap();
//! assert_eq!(page.changes.len(), 1);
//! assert_eq!(page.next_cursor, 1);
//! assert!(!page.has_more);
//! ```

pub mod apply;
pub mod store;
mod workspace;

use std::collections::{HashMap, HashSet};

use super::error::SyncError;
use super::pk::Pk;
use super::stamp::ChangeStamp;
use super::wire::{PullRequest, PullResponse, PushBatch, PushResult, SyncChange, SyncScope};
use workspace::Workspace;

pub use apply::MIN_RETENTION_MS;
pub use store::{LogRead, Scan, ScanFilter, WorkspaceStore};

/// The memory store never fails; a failure here would be a bug in it.
fn infallible<T>(r: Result<T, SyncError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => unreachable!("the in-memory workspace store failed: {e}"),
    }
}

/// What [`ServerState::push`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct PushOutcome<P> {
    /// The answer to the provider: one result per op, in order, and the
    /// workspace's serverVersion after the batch.
    pub result: PushResult<P>,
    /// The changes the batch applied (ops that won LWW), in version order.
    pub applied: Vec<SyncChange<P>>,
    /// The workspace's serverVersion before the batch: a subscriber whose
    /// cursor equals it may apply `applied` directly (`meta.fromCursor`).
    pub from_cursor: u64,
    /// The batch's projectId; every change in `applied` is tagged with it.
    pub project_id: Option<String>,
}

impl<P: Clone> PushOutcome<P> {
    /// The applied changes a subscriber asked for: `tables` (every table when
    /// empty) and `project_id` (every project when `None`; otherwise only
    /// changes pushed with that project id, as [`ServerState::pull`] filters).
    pub fn for_subscriber(&self, tables: &[String], project_id: Option<&str>) -> Vec<SyncChange<P>> {
        match project_id {
            Some(p) if self.project_id.as_deref() != Some(p) => Vec::new(),
            _ => filter_changes(&self.applied, tables, None),
        }
    }
}

/// The current state of one record, as [`ServerState::snapshot`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordState<P> {
    pub table_name: String,
    pub pk: Pk,
    /// The row; `None` when the record is deleted (a tombstone).
    pub payload: Option<P>,
    /// The stamp of the write that won LWW.
    pub stamp: ChangeStamp,
    /// The serverVersion that write got.
    pub version: u64,
}

/// Keeps the changes a subscriber asked for (used for fan-out): those of
/// `tables` (every table when `tables` is empty).
///
/// `project_id` is the subscriber's project. A [`SyncChange`] does not carry
/// the project it was pushed with, so this function cannot check it: with
/// `Some(_)` it keeps nothing, rather than hand a subscriber another
/// project's changes. Use [`PushOutcome::for_subscriber`], which knows the
/// batch's project, to fan out to project-scoped subscribers. (Subscription
/// batches are hints: a subscriber that misses one catches up by pulling.)
pub fn filter_changes<P: Clone>(
    changes: &[SyncChange<P>],
    tables: &[String],
    project_id: Option<&str>,
) -> Vec<SyncChange<P>> {
    if project_id.is_some() {
        return Vec::new();
    }
    changes.iter().filter(|c| tables.is_empty() || tables.contains(&c.table_name)).cloned().collect()
}

/// Every workspace a server serves, and which token may use which workspace.
#[derive(Debug, Clone)]
pub struct ServerState<P> {
    workspaces: HashMap<String, Workspace<P>>,
    /// token -> the workspaces it may use. Empty: open mode.
    grants: HashMap<String, HashSet<String>>,
}

impl<P: Clone> Default for ServerState<P> {
    fn default() -> Self {
        ServerState { workspaces: HashMap::new(), grants: HashMap::new() }
    }
}

impl<P: Clone> ServerState<P> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps a token to a workspace it may use. While no token was ever
    /// granted, every token (and `None`) may use every workspace (open mode,
    /// for local development).
    pub fn grant(&mut self, token: &str, workspace_id: &str) {
        self.grants.entry(token.to_string()).or_default().insert(workspace_id.to_string());
    }

    /// `AUTH` ([`SyncError::Auth`]) for an unknown or missing token once any
    /// grant exists; `FORBIDDEN` ([`SyncError::Forbidden`]) for a known token
    /// without that workspace.
    pub fn authorize(&self, token: Option<&str>, scope: &SyncScope) -> Result<(), SyncError> {
        if self.grants.is_empty() {
            return Ok(());
        }
        let token = token.ok_or_else(|| SyncError::Auth("no token".into()))?;
        let workspaces = self.grants.get(token).ok_or_else(|| SyncError::Auth("unknown token".into()))?;
        if workspaces.contains(&scope.workspace_id) {
            Ok(())
        } else {
            Err(SyncError::Forbidden(format!("this token may not use workspace {:?}", scope.workspace_id)))
        }
    }

    /// Applies a batch (already decoded, validated and authorized) at server
    /// time `now_ms`. Per op, in order:
    ///
    /// - opId already seen in this workspace: `success: true`, serverVersion =
    ///   the version it got when applied (`None` if it lost LWW), changes
    ///   nothing (idempotent);
    /// - else LWW against the record's current state (live row or tombstone):
    ///   if the op wins, serverVersion += 1, the record's state becomes the op
    ///   (a delete keeps a tombstone with its stamp), the record's log entry
    ///   moves to the new version, and the result is `success: true` with that
    ///   serverVersion; if it loses (or is already held), `success: true`
    ///   without serverVersion (acknowledged, not applied);
    /// - the opId is remembered either way.
    ///
    /// Changes are tagged with `batch.scope.project_id` and remember `now_ms`
    /// (tombstone GC). `result.server_version` is the version after the batch.
    pub fn push(&mut self, batch: &PushBatch<P>, now_ms: u64) -> PushOutcome<P> {
        let ws = self.workspaces.entry(batch.scope.workspace_id.clone()).or_default();
        infallible(apply::push(ws, batch, now_ms))
    }

    /// Changes with serverVersion > `req.cursor` in ascending order, at most
    /// `req.limit`, filtered by `req.tables` (if `Some`) and by
    /// `req.scope.project_id` (if `Some`: only changes pushed with that
    /// project id). Each record appears at most once, with its latest change.
    ///
    /// - `nextCursor`: when `hasMore`, the version of the last change
    ///   returned; otherwise the workspace's current serverVersion (the
    ///   response covers everything up to it, filtered-out changes included).
    /// - `hasMore`: more matching changes exist after the page.
    /// - `remaining`: how many matching changes remain after this page
    ///   (exact here; a store may report an upper bound, see
    ///   [`Scan::remaining`]); 0 exactly when `hasMore` is false.
    ///
    /// Errors: `CURSOR_EXPIRED` when `0 < cursor < watermark` (cursor 0, a
    /// full snapshot, is always valid) and for a cursor above the current
    /// serverVersion (the server lost history the device has, e.g. it was
    /// restored from a backup: the device rescans); `INVALID` for a limit
    /// of 0.
    pub fn pull(&self, req: &PullRequest) -> Result<PullResponse<P>, SyncError> {
        let empty = Workspace::default();
        let mut ws = self.workspaces.get(&req.scope.workspace_id).unwrap_or(&empty);
        apply::pull(&mut ws, req)
    }

    /// Records how far a device has pulled. `version` above the serverVersion
    /// is `INVALID`. Never moves a device's cursor backwards (keeps the max).
    /// The lowest device cursor bounds what [`ServerState::gc`] may purge.
    pub fn update_cursor(&mut self, scope: &SyncScope, device_id: &str, version: u64) -> Result<(), SyncError> {
        match self.workspaces.get_mut(&scope.workspace_id) {
            Some(ws) => apply::update_cursor(ws, device_id, version),
            None => {
                let mut ws = Workspace::default();
                apply::update_cursor(&mut ws, device_id, version)?;
                self.workspaces.insert(scope.workspace_id.clone(), ws);
                Ok(())
            }
        }
    }

    /// Fault injection and GC: forgets history at or below `below` (the
    /// watermark becomes `max(current, below)`, capped at the current
    /// serverVersion so a client that has pulled everything stays valid);
    /// clients whose cursor is in `1..below` get `CURSOR_EXPIRED` afterwards.
    pub fn purge_history(&mut self, workspace_id: &str, below: u64) {
        if let Some(ws) = self.workspaces.get_mut(workspace_id) {
            infallible(apply::purge_history(ws, below));
        }
    }

    /// GC: purges from the change log the tombstone changes (op delete)
    /// applied at least `retention_ms` before `now_ms` (server time, as passed
    /// to [`ServerState::push`]) whose version is at or below every known
    /// device cursor (every device has pulled them; with no known device, the
    /// current serverVersion is the bound). Raises the watermark to the
    /// highest purged version and returns how many changes were purged.
    ///
    /// `retention_ms` below [`MIN_RETENTION_MS`] (60 000) is raised to it.
    /// The purged records keep their tombstone stamp (see
    /// [`ServerState::snapshot`]), so an older put still cannot resurrect them.
    pub fn gc(&mut self, workspace_id: &str, now_ms: u64, retention_ms: u64) -> usize {
        self.workspaces.get_mut(workspace_id).map_or(0, |ws| infallible(apply::gc(ws, now_ms, retention_ms)))
    }

    /// The workspace's current serverVersion (0 before any applied change).
    pub fn server_version(&self, workspace_id: &str) -> u64 {
        self.workspaces.get(workspace_id).map_or(0, Workspace::version)
    }

    /// The current state of every record ever written in the workspace
    /// (including deleted ones, with `payload: None`), sorted by
    /// `(table, pk)`.
    pub fn snapshot(&self, workspace_id: &str) -> Vec<RecordState<P>> {
        let Some(ws) = self.workspaces.get(workspace_id) else {
            return Vec::new();
        };
        let mut out: Vec<RecordState<P>> = ws
            .records()
            .map(|((table, pk), r)| RecordState {
                table_name: table.clone(),
                pk: pk.clone(),
                payload: r.payload.clone(),
                stamp: r.stamp.clone(),
                version: r.version,
            })
            .collect();
        out.sort_by(|a, b| (&a.table_name, &a.pk).cmp(&(&b.table_name, &b.pk)));
        out
    }

    /// How many ops were applied (won LWW) in the workspace.
    pub fn applied_ops(&self, workspace_id: &str) -> u64 {
        self.workspaces.get(workspace_id).map_or(0, Workspace::applied_ops)
    }

    /// How many distinct opIds the workspace has seen (applied or not);
    /// with [`ServerState::applied_ops`] it lets tests check exactly-once.
    pub fn seen_ops(&self, workspace_id: &str) -> u64 {
        self.workspaces.get(workspace_id).map_or(0, Workspace::seen_ops)
    }
}

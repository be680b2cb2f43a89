//! The server-side apply algorithm over a [`WorkspaceStore`]: push
//! (idempotent by opId, LWW, one new version per applied op), pull (pages of
//! the compacted log above a cursor), device cursors, history purge and
//! tombstone GC. [`super::ServerState`] documents the rules; every backend
//! (memory, SQLite, PostgreSQL) runs these functions unchanged.
//!
//! The caller opens the store inside whatever transaction makes a call
//! atomic and, for push, serialised per workspace (versions are assigned
//! `version() + 1` at a time).

use crate::core::error::SyncError;
use crate::core::lww::{decide, Decision, Held};
use crate::core::wire::{OpKind, OpResult, PullRequest, PullResponse, PushBatch, PushOp, PushResult, SyncChange};

use super::store::{LogRead, ScanFilter, WorkspaceStore};
use super::PushOutcome;

/// The smallest tombstone retention [`gc`] accepts, in milliseconds.
pub const MIN_RETENTION_MS: u64 = 60_000;

/// Applies a batch (decoded, validated and authorized) at server time `now_ms`.
pub fn push<P: Clone, S: WorkspaceStore<P> + ?Sized>(
    store: &mut S,
    batch: &PushBatch<P>,
    now_ms: u64,
) -> Result<PushOutcome<P>, SyncError> {
    let from_cursor = store.version()?;
    let project = batch.scope.project_id.as_deref();
    let mut version = from_cursor;
    let mut results = Vec::with_capacity(batch.ops.len());
    let mut applied = Vec::new();
    for op in &batch.ops {
        let (result, change) = apply_op(store, op, project, now_ms, &mut version)?;
        results.push(result);
        applied.extend(change);
    }
    Ok(PushOutcome {
        result: PushResult { results, server_version: Some(version) },
        applied,
        from_cursor,
        project_id: batch.scope.project_id.clone(),
    })
}

/// One op: seen before, or LWW against the record's head.
fn apply_op<P: Clone, S: WorkspaceStore<P> + ?Sized>(
    store: &mut S,
    op: &PushOp<P>,
    project: Option<&str>,
    now_ms: u64,
    version: &mut u64,
) -> Result<(OpResult<P>, Option<SyncChange<P>>), SyncError> {
    if let Some(got) = store.seen_op(&op.op_id)? {
        let current = match got {
            Some(_) => None,
            None => store.current(&op.table_name, &op.pk)?,
        };
        return Ok((OpResult::acknowledged(&op.op_id, got, current), None));
    }
    let head = store.head(&op.table_name, &op.pk)?;
    let held = match &head {
        None => Held::Nothing,
        Some((OpKind::Put, stamp)) => Held::Live(stamp),
        Some((OpKind::Delete, stamp)) => Held::Tombstone(stamp),
    };
    let change = match decide(held, &op.stamp) {
        Decision::Apply => {
            *version += 1;
            let change = SyncChange {
                table_name: op.table_name.clone(),
                pk: op.pk.clone(),
                op: op.op,
                payload: match op.op {
                    OpKind::Put => op.payload.clone(),
                    OpKind::Delete => None,
                },
                server_version: *version,
                stamp: op.stamp.clone(),
            };
            store.write(&change, project, now_ms)?;
            Some(change)
        }
        Decision::Reject | Decision::AlreadyHeld => None,
    };
    let got = change.as_ref().map(|c| c.server_version);
    store.remember_op(&op.op_id, got)?;
    // Not applied: the device must learn what the record is on the server.
    let current = match got {
        Some(_) => None,
        None => store.current(&op.table_name, &op.pk)?,
    };
    Ok((OpResult::acknowledged(&op.op_id, got, current), change))
}

/// A page of changes above `req.cursor` (see `ServerState::pull`).
pub fn pull<P, S: LogRead<P> + ?Sized>(store: &mut S, req: &PullRequest) -> Result<PullResponse<P>, SyncError> {
    let version = store.version()?;
    let watermark = store.watermark()?;
    let limit = pull_limit(req, version, watermark)?;
    let filter = ScanFilter { tables: req.tables.as_deref(), project: req.scope.project_id.as_deref() };
    let scan = store.scan(req.cursor, limit, filter)?;
    let has_more = scan.remaining > 0;
    let next_cursor = next_cursor(scan.changes.last().map(|c| c.server_version), has_more, version);
    Ok(PullResponse { changes: scan.changes, next_cursor, has_more, remaining: Some(scan.remaining) })
}

/// The first half of [`pull`], for a store that reads and encodes its page
/// in one pass: whether the request's cursor may be served at `version`
/// (the workspace's serverVersion) and `watermark` (the purge watermark),
/// and the page's size.
pub fn pull_limit(req: &PullRequest, version: u64, watermark: u64) -> Result<usize, SyncError> {
    let cursor = req.cursor;
    if cursor > version {
        // The server lost history the device has (restored from a backup):
        // the device must rebuild from what the server has now.
        return Err(SyncError::CursorExpired(format!(
            "cursor {cursor} is above the server's version {version}; rescan from 0"
        )));
    }
    if cursor > 0 && cursor < watermark && !req.rescan {
        return Err(SyncError::CursorExpired(format!(
            "history below version {watermark} was purged; cursor {cursor} must rescan from 0"
        )));
    }
    if req.limit == 0 {
        return Err(SyncError::invalid("limit", "must be at least 1"));
    }
    Ok(usize::try_from(req.limit).unwrap_or(usize::MAX))
}

/// The second half of [`pull`]: where the next pull starts. After the
/// page's `last` change while more follow; otherwise at `version`, past
/// every change the filters skipped.
pub fn next_cursor(last: Option<u64>, has_more: bool, version: u64) -> u64 {
    match last {
        Some(last) if has_more => last,
        _ => version,
    }
}

/// Records how far a device has pulled (see `ServerState::update_cursor`).
pub fn update_cursor<P, S: WorkspaceStore<P> + ?Sized>(
    store: &mut S,
    device_id: &str,
    version: u64,
) -> Result<(), SyncError> {
    let current = store.version()?;
    if version > current {
        return Err(SyncError::invalid("version", format!("{version} is above the server's version {current}")));
    }
    store.raise_cursor(device_id, version)
}

/// Raises the watermark to `below`, capped at the current version (see
/// `ServerState::purge_history`).
pub fn purge_history<P, S: WorkspaceStore<P> + ?Sized>(store: &mut S, below: u64) -> Result<(), SyncError> {
    let version = store.version()?;
    store.raise_watermark(below.min(version))
}

/// Purges old tombstone changes that every device has pulled (see
/// `ServerState::gc`); returns how many.
pub fn gc<P, S: WorkspaceStore<P> + ?Sized>(store: &mut S, now_ms: u64, retention_ms: u64) -> Result<usize, SyncError> {
    let retention = retention_ms.max(MIN_RETENTION_MS);
    let Some(applied_until) = now_ms.checked_sub(retention) else {
        return Ok(0);
    };
    // A device whose cursor is at or above a change's version has pulled it.
    // With no known device, every change is old enough by this rule; unknown
    // devices are protected by the watermark (CURSOR_EXPIRED).
    let bound = match store.min_cursor()? {
        Some(c) => c,
        None => store.version()?,
    };
    let (purged, highest) = store.purge_tombstones(bound, applied_until)?;
    if let Some(highest) = highest {
        store.raise_watermark(highest)?;
    }
    Ok(purged)
}

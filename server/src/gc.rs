//! The background GC task: every `interval`, for every workspace,
//!
//! - runs the core's tombstone GC (`apply::gc`): tombstone changes older than
//!   the retention window (at least `MIN_RETENTION_MS`) and at or below every
//!   active device's cursor leave the change log, and the purge watermark
//!   rises to the highest purged version. Cursors below the watermark then
//!   get 410 `CURSOR_EXPIRED` and rescan;
//! - prunes the opIds remembered more than the retention window ago, in
//!   batches of [`OPS_BATCH`].
//!
//! Pruning an opId never lets its op apply twice: a re-sent op whose opId is
//! gone is judged by LWW against the record's head stamp, which the server
//! never forgets (a purged tombstone keeps it) and which only grows. The op
//! was judged against it once, so the head is now its own stamp
//! (`AlreadyHeld`) or a greater one (it loses): nothing is written. Only its
//! answer differs (no `serverVersion`). server/README.md says more.

use std::sync::Arc;
use std::time::Duration;

use tidesync::core::server::MIN_RETENTION_MS;
use tidesync::core::SyncError;

use crate::app::now_ms;
use crate::db::Db;
use crate::metrics::Metrics;

/// OpIds deleted per statement (each batch is its own short transaction).
pub const OPS_BATCH: usize = 10_000;

/// What one GC pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Tombstone changes purged from the log.
    pub tombstones: usize,
    /// OpIds forgotten.
    pub ops: usize,
}

/// One GC pass over every workspace.
pub fn run_once(db: &dyn Db, now_ms: u64, retention_ms: u64) -> Result<Collected, SyncError> {
    let mut out = Collected::default();
    for ws in db.workspaces()? {
        let c = run_workspace(db, &ws, now_ms, retention_ms)?;
        out.tombstones += c.tombstones;
        out.ops += c.ops;
    }
    Ok(out)
}

/// GC of one workspace: its tombstones, then its opIds.
pub fn run_workspace(db: &dyn Db, workspace: &str, now_ms: u64, retention_ms: u64) -> Result<Collected, SyncError> {
    let mut out = Collected { tombstones: db.gc(workspace, now_ms, retention_ms)?, ops: 0 };
    let Some(seen_until) = now_ms.checked_sub(retention_ms.max(MIN_RETENTION_MS)) else {
        return Ok(out);
    };
    loop {
        let n = db.prune_ops(workspace, seen_until, OPS_BATCH)?;
        out.ops += n;
        if n < OPS_BATCH {
            return Ok(out);
        }
    }
}

/// Runs [`run_once`] every `interval` until the process ends, counting
/// passes and what they removed in `metrics`.
pub fn spawn(db: Arc<dyn Db>, interval: Duration, retention_ms: u64, metrics: Arc<Metrics>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            let db = db.clone();
            let outcome = match tokio::task::spawn_blocking(move || run_once(&*db, now_ms(), retention_ms)).await {
                Ok(Ok(c)) => {
                    metrics.gc_purged.with_label_values(&["tombstones"]).inc_by(c.tombstones as u64);
                    metrics.gc_purged.with_label_values(&["ops"]).inc_by(c.ops as u64);
                    if c != Collected::default() {
                        tracing::info!(
                            tombstones = c.tombstones,
                            ops = c.ops,
                            "GC purged {} tombstone changes, {} opIds",
                            c.tombstones,
                            c.ops
                        );
                    }
                    "ok"
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "GC failed");
                    "error"
                }
                Err(e) => {
                    tracing::error!(error = %e, "GC task panicked");
                    "error"
                }
            };
            metrics.gc_runs.with_label_values(&[outcome]).inc();
        }
    });
}

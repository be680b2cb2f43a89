//! The background GC task: every `interval`, for every workspace, runs the
//! core's tombstone GC (`apply::gc`): tombstone changes older than the
//! retention window (at least `MIN_RETENTION_MS`) and at or below every
//! active device's cursor leave the change log, and the purge watermark
//! rises to the highest purged version. Cursors below the watermark then get
//! 410 `CURSOR_EXPIRED` and rescan.

use std::sync::Arc;
use std::time::Duration;

use tidesync::core::SyncError;

use crate::app::now_ms;
use crate::db::Db;

/// One GC pass over every workspace; returns how many entries were purged.
pub fn run_once(db: &dyn Db, now_ms: u64, retention_ms: u64) -> Result<usize, SyncError> {
    let mut purged = 0;
    for ws in db.workspaces()? {
        purged += db.gc(&ws, now_ms, retention_ms)?;
    }
    Ok(purged)
}

/// Runs [`run_once`] every `interval` until the process ends.
pub fn spawn(db: Arc<dyn Db>, interval: Duration, retention_ms: u64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            let db = db.clone();
            match tokio::task::spawn_blocking(move || run_once(&*db, now_ms(), retention_ms)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => eprintln!("tidesync-server: GC purged {n} tombstone changes"),
                Ok(Err(e)) => eprintln!("tidesync-server: GC failed: {e}"),
                Err(e) => eprintln!("tidesync-server: GC task panicked: {e}"),
            }
        }
    });
}

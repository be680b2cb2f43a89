//! Local garbage collection, conservative by design.
//!
//! A tombstone is what stops an older put from bringing a deleted record
//! back, so one is purged only when all of these hold:
//! - it is older than `retentionMs` (default 30 days);
//! - no op in the outbox is about its record (its delete was acknowledged);
//! - the device has completed its bootstrap, so every change it will pull
//!   from now on is newer than its cursor; and a server purges its own
//!   history only past its retention, answering older cursors with
//!   `CURSOR_EXPIRED`, whose rescan replaces local state anyway.
//!
//! Journal rows (`conflicts`, `sync_runs`) older than `retentionMs` are
//! dropped too; both journals are also bounded by count when written.
//! The scheduler runs this at most every [`GC_INTERVAL_MS`].

use serde::Serialize;
use serde_json::Value;

use super::{Engine, Platform};
use crate::core::{Pk, Result};
use crate::store::{Access, Log, Store, StoreTx};

/// How often the scheduler collects.
pub const GC_INTERVAL_MS: u64 = 3_600_000;
/// Tombstones examined per collection.
const BATCH: u32 = 1_000;

/// What a collection removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    pub tombstones: u64,
    pub conflicts: u64,
    pub runs: u64,
}

impl<S: Store, P: Platform> Engine<S, P> {
    /// Purges what is past retention (see the module docs).
    pub async fn collect_garbage(&self) -> Result<GcReport> {
        self.check_open()?;
        let (_, bootstrapped) = self.cursor_state().await?;
        let before = self.platform.now_ms().saturating_sub(self.config.retention_ms);
        let tx = self.store.begin(Access::All, None).await?;
        let mut report = GcReport::default();
        if bootstrapped {
            let old = tx.old_tombstones(before, BATCH).await?;
            let mut by_table: Vec<(String, Vec<Pk>)> = Vec::new();
            for t in old {
                match by_table.iter_mut().find(|(name, _)| *name == t.table_name) {
                    Some((_, pks)) => pks.push(t.pk),
                    None => by_table.push((t.table_name, vec![t.pk])),
                }
            }
            for (table, pks) in by_table {
                let ops = tx.ops_for(&table, &pks).await?;
                let free: Vec<Pk> = pks.into_iter().zip(ops).filter(|(_, o)| o.is_empty()).map(|(pk, _)| pk).collect();
                report.tombstones += free.len() as u64;
                tx.delete_tombstones(&table, &free).await?;
            }
        }
        report.conflicts = drop_old(&tx, Log::Conflicts, "at", before).await?;
        report.runs = drop_old(&tx, Log::Runs, "finishedAt", before).await?;
        tx.commit().await?;
        Ok(report)
    }
}

/// Drops the journal rows whose `field` (a time) is before `before`.
async fn drop_old<T: StoreTx>(tx: &T, log: Log, field: &str, before: u64) -> Result<u64> {
    let rows = tx.log_oldest(log, BATCH).await?;
    let old: Vec<u64> = rows
        .iter()
        .take_while(|r| r.get(field).and_then(Value::as_u64).is_some_and(|t| t < before))
        .filter_map(|r| r.get("id").and_then(Value::as_u64))
        .collect();
    if let Some(&last) = old.last() {
        tx.log_drop_through(log, last).await?;
    }
    Ok(old.len() as u64)
}

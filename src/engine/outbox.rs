//! Outbox inspection and repair: counts, the dead-letter list, retrying or
//! discarding failed ops, putting ops that were in flight when the page died
//! back to pending, and the `sync_runs` log.
//!
//! Which ops are in flight is one `sync_state` row (`inFlight`: the seqs of
//! the batch being pushed), written in the transaction that takes the batch
//! and cleared in the one that settles it. Marking 100 op rows instead would
//! rewrite every row and its indexes twice per batch. Capture reads the row
//! in its own transaction, so no tab ever coalesces into an op being sent.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use super::revert::{self, RevertKey};
use super::{Engine, Platform, STATE_IN_FLIGHT};
use crate::core::Result;
use crate::store::{Access, Log, OpState, PendingOp, Store, StoreTx};

/// How many `sync_runs` rows are kept (older ones are trimmed).
pub const RUNS_KEPT: u64 = 500;

/// How many ops are in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxCounts {
    pub pending: u64,
    pub in_flight: u64,
    pub failed: u64,
}

/// One row of `sync_runs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRun {
    pub started_at: u64,
    pub finished_at: u64,
    pub pushed: u64,
    pub failed: u64,
    pub retried: u64,
    pub batches: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The seqs of the batch in flight.
pub async fn in_flight<T: StoreTx>(tx: &T) -> Result<HashSet<u64>> {
    Ok(in_flight_from(tx.get_state(STATE_IN_FLIGHT).await?))
}

/// The seqs of the batch in flight, from its `sync_state` row.
pub fn in_flight_from(row: Option<serde_json::Value>) -> HashSet<u64> {
    let items = row.as_ref().and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    items.iter().filter_map(Value::as_u64).collect()
}

/// Records the seqs of the batch in flight (empty: none).
pub async fn set_in_flight<T: StoreTx>(tx: &T, seqs: &HashSet<u64>) -> Result<()> {
    let mut list: Vec<u64> = seqs.iter().copied().collect();
    list.sort_unstable();
    tx.put_state(STATE_IN_FLIGHT, serde_json::json!(list)).await
}

/// Counts of pending, in-flight and failed ops, read in `tx`.
async fn counts_in<T: StoreTx>(tx: &T) -> Result<OutboxCounts> {
    let (total, failed, in_flight) = crate::try_join!(tx.count_ops(), tx.count_failed(), in_flight(tx))?;
    let in_flight = in_flight.len() as u64;
    Ok(OutboxCounts { pending: total.saturating_sub(failed + in_flight), in_flight, failed })
}

/// Shows ops of the in-flight batch as `InFlight`.
pub fn mark_in_flight<R>(ops: &mut [PendingOp<R>], in_flight: &HashSet<u64>) {
    for op in ops {
        if op.seq.is_some_and(|s| in_flight.contains(&s)) {
            op.state = OpState::InFlight;
        }
    }
}

impl<S: Store, P: Platform> Engine<S, P> {
    /// Counts of pending, in-flight and failed ops.
    pub async fn outbox_counts(&self) -> Result<OutboxCounts> {
        self.check_open()?;
        let tx = self.store.begin(Access::System, None).await?;
        let counts = counts_in(&tx).await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// The dead-letter list: ops rejected permanently or past `maxAttempts`,
    /// each with the payload it would push.
    pub async fn failed_ops(&self) -> Result<Vec<PendingOp<S::Rec>>> {
        self.check_open()?;
        let tx = self.store.begin(Access::All, None).await?;
        let ops = tx.list_failed(u32::MAX).await?;
        let ops = Self::with_payloads(&tx, ops).await?;
        tx.commit().await?;
        Ok(ops)
    }

    /// Puts failed ops (all, or those named) back in the queue with their
    /// attempts reset. Returns how many.
    pub async fn retry_failed(&self, op_ids: Option<&[String]>) -> Result<u64> {
        self.check_open()?;
        let tx = self.store.begin(Access::System, None).await?;
        let mut again: Vec<PendingOp<S::Rec>> = tx
            .list_failed(u32::MAX)
            .await?
            .into_iter()
            .filter(|o| op_ids.is_none_or(|ids| ids.contains(&o.stamp.op_id)))
            .collect();
        for op in &mut again {
            op.state = OpState::Pending;
            op.attempts = 0;
            op.last_error = None;
        }
        let n = again.len() as u64;
        tx.put_ops(again).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Removes the named failed ops for good and notes their records to be
    /// given back the server's version before the next push (see
    /// [`super::revert`]). Ops that are not failed are left alone. Returns
    /// how many were removed.
    pub async fn discard_failed(&self, op_ids: &[String]) -> Result<u64> {
        self.check_open()?;
        let tx = self.store.begin(Access::System, None).await?;
        let discarded: Vec<PendingOp<S::Rec>> =
            tx.list_failed(u32::MAX).await?.into_iter().filter(|o| op_ids.contains(&o.stamp.op_id)).collect();
        let seqs: Vec<u64> = discarded.iter().filter_map(|o| o.seq).collect();
        let keys = discarded.into_iter().map(|o| RevertKey { table: o.table_name, pk: o.pk }).collect();
        crate::try_join!(tx.delete_ops(&seqs), revert::note(&tx, keys))?;
        tx.commit().await?;
        self.revert_due.set(!seqs.is_empty() || self.revert_due.get());
        Ok(seqs.len() as u64)
    }

    /// After a crash or reload, or when this engine takes over pushing, the
    /// batch that was in flight goes back to pending so it is sent again (the
    /// server's opId check makes that harmless). Returns how many ops.
    pub async fn recover_in_flight(&self) -> Result<u64> {
        let tx = self.store.begin(Access::System, None).await?;
        let stuck = in_flight(&tx).await?;
        if !stuck.is_empty() {
            set_in_flight(&tx, &HashSet::new()).await?;
        }
        tx.commit().await?;
        Ok(stuck.len() as u64)
    }

    /// Appends one row to `sync_runs`; returns the outbox counts after the
    /// run (read in the same transaction).
    pub async fn record_run(&self, run: &SyncRun) -> Result<OutboxCounts> {
        let tx = self.store.begin(Access::System, None).await?;
        tx.log_append(Log::Runs, vec![serde_json::to_value(run).unwrap_or(Value::Null)]).await?;
        let (_, counts) = crate::try_join!(tx.log_trim(Log::Runs, RUNS_KEPT), counts_in(&tx))?;
        tx.commit().await?;
        Ok(counts)
    }

    /// The most recent `sync_runs` rows, newest first.
    pub async fn recent_runs(&self, limit: u32) -> Result<Vec<Value>> {
        self.check_open()?;
        let tx = self.store.begin(Access::System, None).await?;
        let runs = tx.log_recent(Log::Runs, limit).await?;
        tx.commit().await?;
        Ok(runs)
    }
}

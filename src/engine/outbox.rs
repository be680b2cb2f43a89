//! Outbox inspection and repair: counts, the dead-letter list, retrying or
//! discarding failed ops, putting ops that were in flight when the page died
//! back to pending, and the `sync_runs` log.

use serde::Serialize;
use serde_json::Value;

use super::{Engine, Platform};
use crate::core::Result;
use crate::store::{Access, OpState, PendingOp, Store, StoreTx};

/// Ops per page when scanning the whole outbox.
const PAGE: u32 = 1000;

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

impl<S: Store, P: Platform> Engine<S, P> {
    /// Every op, FIFO, read page by page inside one transaction.
    async fn all_ops(tx: &S::Tx) -> Result<Vec<PendingOp<S::Rec>>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = tx.list_ops(after, PAGE).await?;
            let done = page.len() < PAGE as usize;
            after = page.last().and_then(|o| o.seq);
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }

    /// Counts of pending, in-flight and failed ops.
    pub async fn outbox_counts(&self) -> Result<OutboxCounts> {
        self.check_open()?;
        let tx = self.store.begin(Access::System, None).await?;
        let ops = Self::all_ops(&tx).await?;
        tx.commit().await?;
        let mut c = OutboxCounts::default();
        for op in ops {
            match op.state {
                OpState::Pending => c.pending += 1,
                OpState::InFlight => c.in_flight += 1,
                OpState::Failed => c.failed += 1,
            }
        }
        Ok(c)
    }

    /// The dead-letter list: ops rejected permanently or past `maxAttempts`.
    pub async fn failed_ops(&self) -> Result<Vec<PendingOp<S::Rec>>> {
        let ops = self.pending_ops(u32::MAX).await?;
        Ok(ops.into_iter().filter(|o| o.state == OpState::Failed).collect())
    }

    /// Puts failed ops (all, or those named) back in the queue with their
    /// attempts reset. Returns how many.
    pub async fn retry_failed(&self, op_ids: Option<&[String]>) -> Result<u64> {
        self.check_open()?;
        let tx = self.store.begin(Access::System, None).await?;
        let mut again: Vec<PendingOp<S::Rec>> = Self::all_ops(&tx)
            .await?
            .into_iter()
            .filter(|o| o.state == OpState::Failed && op_ids.is_none_or(|ids| ids.contains(&o.stamp.op_id)))
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

    /// Removes the named failed ops for good. Ops that are not failed are left
    /// alone. Returns how many were removed.
    pub async fn discard_failed(&self, op_ids: &[String]) -> Result<u64> {
        self.check_open()?;
        let tx = self.store.begin(Access::System, None).await?;
        let seqs: Vec<u64> = Self::all_ops(&tx)
            .await?
            .into_iter()
            .filter(|o| o.state == OpState::Failed && op_ids.contains(&o.stamp.op_id))
            .filter_map(|o| o.seq)
            .collect();
        tx.delete_ops(&seqs).await?;
        tx.commit().await?;
        Ok(seqs.len() as u64)
    }

    /// After a crash or reload, ops that were in flight go back to pending so
    /// they are sent again (the server's opId check makes that harmless).
    pub async fn recover_in_flight(&self) -> Result<u64> {
        let tx = self.store.begin(Access::System, None).await?;
        let mut stuck: Vec<PendingOp<S::Rec>> =
            Self::all_ops(&tx).await?.into_iter().filter(|o| o.state == OpState::InFlight).collect();
        for op in &mut stuck {
            op.state = OpState::Pending;
        }
        let n = stuck.len() as u64;
        tx.put_ops(stuck).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Appends one row to `sync_runs`.
    pub async fn record_run(&self, run: &SyncRun) -> Result<()> {
        let tx = self.store.begin(Access::System, None).await?;
        tx.add_run(serde_json::to_value(run).unwrap_or(Value::Null)).await?;
        tx.commit().await
    }

    /// The most recent `sync_runs` rows, newest first.
    pub async fn recent_runs(&self, limit: u32) -> Result<Vec<Value>> {
        self.check_open()?;
        let tx = self.store.begin(Access::System, None).await?;
        let runs = tx.recent_runs(limit).await?;
        tx.commit().await?;
        Ok(runs)
    }
}

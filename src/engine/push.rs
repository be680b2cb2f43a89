//! The outbox push loop's one step: take up to `batchSize` pending ops in FIFO
//! order, mark them in flight, send them, and settle the answer in one
//! transaction (acknowledged ops removed; permanent rejections and ops past
//! `maxAttempts` dead-lettered; the rest back to pending with one more
//! attempt). The scheduling around it (triggers, backoff waits, the Web Lock)
//! lives with the caller, so this runs the same natively and in the browser.

use std::collections::HashMap;

use serde::Serialize;

use super::conflicts::Version;
use super::events::{ErrorEvent, Event, PushEvent};
use super::lost::{self, LostOp};
use super::provider::Provider;
use super::{outbox, Engine, Platform};
use crate::core::wire::{OpKind, PushBatch, PushOp, PushResult, SyncScope};
use crate::core::{Result, SyncError};
use crate::store::{Access, OpState, PendingOp, Record, Store, StoreTx};

/// What one step did.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub sent: u64,
    /// Acknowledged and removed from the outbox.
    pub pushed: u64,
    /// Moved to the dead-letter state.
    pub failed: u64,
    /// Back to pending for another attempt.
    pub retried: u64,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The outbox has no pending op.
    Idle,
    /// A batch was settled; more may be waiting.
    Sent(StepReport),
    /// The batch must be tried again later: after the highest attempt count
    /// among its ops, with this error (RATE_LIMIT carries `retryAfterMs`).
    Retry { report: StepReport, attempt: u32, error: SyncError, op_ids: Vec<String> },
    /// The provider refused the credentials: stop until the app calls start().
    Paused(SyncError),
}

impl<S: Store, P: Platform> Engine<S, P> {
    /// Sends one batch of pending ops through `provider` and settles it.
    pub async fn push_step<V: Provider<Rec = S::Rec>>(&self, provider: &V) -> Result<Step> {
        self.check_open()?;
        let Some(taken) = self.take_batch().await? else {
            return Ok(Step::Idle);
        };
        let op_ids: Vec<String> = taken.iter().map(|(o, _)| o.stamp.op_id.clone()).collect();
        let batch = PushBatch {
            scope: SyncScope {
                workspace_id: self.config.workspace_id.clone(),
                project_id: self.config.project_id.clone(),
            },
            device_id: self.device_id.clone(),
            ops: taken.iter().map(|(op, payload)| push_op(op, payload)).collect(),
        };
        let ops: Vec<PendingOp<S::Rec>> = taken.iter().map(|(op, _)| op.clone()).collect();
        let payloads: Vec<Option<S::Rec>> = taken.into_iter().map(|(_, p)| p).collect();
        self.emit_all(vec![Event::PushBefore(PushEvent { op_ids: op_ids.clone(), report: None })]);
        let answer = provider.push(batch).await;
        let (report, outcome) = self.settle(&ops, &payloads, &answer).await?;
        let mut events = Vec::new();
        if report.failed > 0 {
            let failed: Vec<String> = match &answer {
                Ok(r) => r
                    .results
                    .iter()
                    .filter(|r| !r.success && r.retryable == Some(false))
                    .map(|r| r.op_id.clone())
                    .collect(),
                Err(_) => op_ids.clone(),
            };
            let message = match &answer {
                Ok(r) => r
                    .results
                    .iter()
                    .find(|r| !r.success)
                    .and_then(|r| r.error.clone())
                    .unwrap_or_else(|| "rejected".into()),
                Err(e) => e.to_string(),
            };
            events.push(Event::Error(ErrorEvent {
                code: "REJECTED".into(),
                message: format!("{} op(s) moved to the failed list: {message}", report.failed),
                retryable: false,
                op_ids: Some(failed),
            }));
        }
        events.push(Event::PushAfter(PushEvent { op_ids: op_ids.clone(), report: Some(report.clone()) }));
        self.emit_all(events);
        Ok(match outcome {
            Outcome::Settled => Step::Sent(report),
            Outcome::Retry(attempt, error) => Step::Retry { report, attempt, error, op_ids },
            Outcome::Paused(error) => Step::Paused(error),
        })
    }

    /// The first `batchSize` pending ops, marked in flight in one transaction,
    /// each with the payload to send: its own snapshot, or its record's row.
    async fn take_batch(&self) -> Result<Option<Vec<(PendingOp<S::Rec>, Option<S::Rec>)>>> {
        let want = self.config.batch_size as usize;
        let tx = self.store.begin(Access::All, None).await?;
        let (failed, mut in_flight) = futures::try_join!(tx.count_failed(), outbox::in_flight(&tx))?;
        // Failed and in-flight ops sit among the pending ones in FIFO order:
        // read past them in the same request.
        let skip = (failed + in_flight.len() as u64).min(u32::MAX as u64 / 2) as u32;
        let mut ops = Vec::with_capacity(want);
        let mut after = None;
        loop {
            let page = tx.list_ops(after, want as u32 + skip).await?;
            let done = page.len() < (want as u32 + skip) as usize;
            after = page.last().and_then(|o| o.seq);
            let free = page
                .into_iter()
                .filter(|o| o.state != OpState::Failed && !o.seq.is_some_and(|s| in_flight.contains(&s)));
            ops.extend(free.take(want - ops.len()));
            if done || ops.len() >= want {
                break;
            }
        }
        if ops.is_empty() {
            tx.commit().await?;
            return Ok(None);
        }
        let mut sends: Vec<Option<S::Rec>> = ops.iter().map(|o| o.payload.clone()).collect();
        // Put ops without a snapshot push their record's row: one read per table.
        let mut by_table: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            if op.op == OpKind::Put && op.payload.is_none() {
                by_table.entry(op.table_name.clone()).or_default().push(i);
            }
        }
        for (table, idx) in by_table {
            let pks: Vec<_> = idx.iter().map(|&i| ops[i].pk.clone()).collect();
            for (i, row) in idx.into_iter().zip(tx.get_records(&table, &pks).await?) {
                sends[i] = row;
            }
        }
        in_flight.extend(ops.iter().filter_map(|o| o.seq));
        outbox::set_in_flight(&tx, &in_flight).await?;
        tx.commit().await?;
        outbox::mark_in_flight(&mut ops, &in_flight);
        Ok(Some(ops.into_iter().zip(sends).collect()))
    }

    /// Applies the answer (or the failure) to the in-flight ops.
    async fn settle(
        &self,
        ops: &[PendingOp<S::Rec>],
        payloads: &[Option<S::Rec>],
        answer: &Result<PushResult>,
    ) -> Result<(StepReport, Outcome)> {
        let max_attempts = self.config.max_attempts;
        let mut report = StepReport { sent: ops.len() as u64, ..Default::default() };
        let mut done = Vec::new();
        let mut keep = Vec::new();
        let mut top_attempt = 0;
        let outcome = match answer {
            Ok(result) => {
                let by_id: HashMap<&str, _> = result.results.iter().map(|r| (r.op_id.as_str(), r)).collect();
                for op in ops {
                    match by_id.get(op.stamp.op_id.as_str()) {
                        Some(r) if r.success => done.push(op.seq),
                        Some(r) if r.retryable == Some(false) => {
                            let why = r.error.clone().or_else(|| r.code.clone()).unwrap_or_else(|| "rejected".into());
                            keep.push(self.dead(op, why));
                        }
                        // A retryable rejection, or an op the server did not answer.
                        _ => {
                            let (next, attempt) = self.again(op, max_attempts, "not acknowledged");
                            top_attempt = top_attempt.max(attempt);
                            keep.push(next);
                        }
                    }
                }
                if top_attempt > 0 {
                    Outcome::Retry(top_attempt, SyncError::Unavailable("some ops were not acknowledged".into()))
                } else {
                    Outcome::Settled
                }
            }
            Err(e @ (SyncError::Auth(_) | SyncError::Forbidden(_))) => {
                keep.extend(ops.iter().map(|op| self.back_to_pending(op)));
                Outcome::Paused(e.clone())
            }
            // The server refused the batch as invalid: dead letters. (A
            // malformed answer, path "pushResult...", is the provider's fault
            // and is retried like a network error below.)
            Err(SyncError::Invalid(inv)) if !inv.path.starts_with("pushResult") => {
                keep.extend(ops.iter().map(|op| self.dead(op, format!("rejected as invalid: {inv}"))));
                Outcome::Settled
            }
            Err(e) => {
                for op in ops {
                    let (next, attempt) = self.again(op, max_attempts, &e.to_string());
                    top_attempt = top_attempt.max(attempt);
                    keep.push(next);
                }
                Outcome::Retry(top_attempt, e.clone())
            }
        };
        for op in &keep {
            match op.state {
                OpState::Failed => report.failed += 1,
                _ => report.retried += 1,
            }
        }
        report.pushed = done.len() as u64;
        let tx = self.store.begin(Access::System, None).await?;
        // A write made while the batch was out may have given an op its own
        // payload snapshot: settle the stored op, changing only its state.
        let mut by_table: HashMap<String, Vec<crate::core::Pk>> = HashMap::new();
        for op in &keep {
            by_table.entry(op.table_name.clone()).or_default().push(op.pk.clone());
        }
        let mut stored: HashMap<Option<u64>, PendingOp<S::Rec>> = HashMap::new();
        for (table, pks) in by_table {
            stored.extend(tx.ops_for(&table, &pks).await?.into_iter().flatten().map(|o| (o.seq, o)));
        }
        let keep: Vec<PendingOp<S::Rec>> = keep
            .into_iter()
            .filter_map(|k| {
                let mut current = stored.remove(&k.seq)?;
                current.state = k.state;
                current.attempts = k.attempts;
                current.last_error = k.last_error;
                Some(current)
            })
            .collect();
        let seqs: Vec<u64> = done.into_iter().flatten().collect();
        let mut still = outbox::in_flight(&tx).await?;
        for op in ops {
            if let Some(s) = op.seq {
                still.remove(&s);
            }
        }
        // Acknowledged but not applied: a newer version won on the server.
        let lost: Vec<LostOp> = match answer {
            Ok(result) => {
                let by_id: HashMap<&str, _> = result.results.iter().map(|r| (r.op_id.as_str(), r)).collect();
                ops.iter()
                    .zip(payloads)
                    .filter(|(op, _)| {
                        by_id.get(op.stamp.op_id.as_str()).is_some_and(|r| r.success && r.server_version.is_none())
                    })
                    .map(|(op, payload)| LostOp {
                        table: op.table_name.clone(),
                        pk: op.pk.clone(),
                        version: Version {
                            op: op.op,
                            payload: payload.as_ref().filter(|_| op.op == OpKind::Put).map(Record::to_json),
                            stamp: op.stamp.clone(),
                        },
                    })
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        if !lost.is_empty() {
            let mut known = lost::load(&tx).await?;
            known.extend(lost);
            lost::save(&tx, known).await?;
        }
        futures::try_join!(tx.delete_ops(&seqs), tx.put_ops(keep), outbox::set_in_flight(&tx, &still))?;
        tx.commit().await?;
        Ok((report, outcome))
    }

    fn dead(&self, op: &PendingOp<S::Rec>, why: String) -> PendingOp<S::Rec> {
        let mut next = self.back_to_pending(op);
        next.state = OpState::Failed;
        next.attempts = op.attempts + 1;
        next.last_error = Some(why);
        next
    }

    /// One more failed attempt: pending again, or dead past `maxAttempts`.
    fn again(&self, op: &PendingOp<S::Rec>, max_attempts: u32, why: &str) -> (PendingOp<S::Rec>, u32) {
        let mut next = self.back_to_pending(op);
        next.attempts = op.attempts + 1;
        next.last_error = Some(why.to_string());
        if next.attempts >= max_attempts {
            next.state = OpState::Failed;
            next.last_error = Some(format!("gave up after {} attempts: {why}", next.attempts));
        }
        let attempts = next.attempts;
        (next, attempts)
    }

    /// The op pending again, as it was before it was taken.
    fn back_to_pending(&self, op: &PendingOp<S::Rec>) -> PendingOp<S::Rec> {
        let mut next = op.clone();
        next.state = OpState::Pending;
        next
    }
}

enum Outcome {
    Settled,
    Retry(u32, SyncError),
    Paused(SyncError),
}

fn push_op<R: Clone>(op: &PendingOp<R>, payload: &Option<R>) -> PushOp<R> {
    PushOp {
        op_id: op.stamp.op_id.clone(),
        table_name: op.table_name.clone(),
        op: op.op,
        pk: op.pk.clone(),
        payload: if op.op == OpKind::Put { payload.clone() } else { None },
        stamp: op.stamp.clone(),
    }
}

//! The outbox push loop's one step: take up to `batchSize` pending ops in
//! FIFO order, mark them in flight, send them, and settle the answer (see
//! [`super::settle`]). The scheduling around it (triggers, backoff waits,
//! the Web Lock) lives with the caller, so this runs the same natively and
//! in the browser.
//!
//! **One bad op never poisons its batch.** When the provider refuses a
//! batch as a whole as invalid (a 413, a batch-level `INVALID`, a record it
//! cannot encode), the batch is split in halves and each half sent on its
//! own, down to the op at fault, which alone is dead-lettered with the
//! error; every other op is sent. A transient failure (unavailable, network,
//! rate limit) stops the step: those ops wait and go again, and never count
//! toward `maxAttempts`.

use serde::Serialize;

use super::provider::Provider;
use super::settle::Sent;
use super::{outbox, Engine, Platform};
use crate::core::settle::{batch_failure, BatchFailure};
use crate::core::wire::{OpKind, PushBatch, PushOp, SyncScope};
use crate::core::{Result, SyncError};
use crate::store::{Access, OpState, PendingOp, Store, StoreTx};

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
    /// The batch must be tried again later: backoff step `attempt`, with
    /// this error (RATE_LIMIT carries `retryAfterMs`).
    Retry { report: StepReport, attempt: u32, error: SyncError, op_ids: Vec<String> },
    /// The provider refused the credentials: stop until the app calls start().
    Paused(SyncError),
    /// Another engine holds the lease: nothing was taken or sent.
    LeadLost,
}

/// What [`Engine::take_batch`] found.
enum Taken<R> {
    LeadLost,
    Nothing,
    Batch(Vec<(PendingOp<R>, Option<R>)>),
}

impl<S: Store, P: Platform> Engine<S, P> {
    /// Sends one batch of pending ops through `provider` and settles it.
    pub async fn push_step<V: Provider<Rec = S::Rec>>(&self, provider: &V) -> Result<Step> {
        self.push_step_as(provider, None).await
    }

    /// [`Self::push_step`] as the lease holder `lease`, claimed in the
    /// transaction that takes the batch ([`super::lease`]): when another
    /// engine holds the lease, nothing is taken or sent.
    pub async fn push_step_as<V: Provider<Rec = S::Rec>>(&self, provider: &V, lease: Option<&str>) -> Result<Step> {
        self.check_open()?;
        let taken = match self.take_batch(lease).await? {
            Taken::LeadLost => return Ok(Step::LeadLost),
            Taken::Nothing => None,
            Taken::Batch(batch) => Some(batch),
        };
        if self.revert_due.get() {
            // Records of discarded ops get the server's version back. A
            // failure here is reported and tried again on the next step; it
            // never holds up the outbox.
            match self.revert_discarded(provider).await {
                Ok(_) => self.revert_due.set(false),
                Err(e) => self.emit_all(vec![super::Event::error(&e, None)]),
            }
        }
        let Some(taken) = taken else {
            return Ok(Step::Idle);
        };
        let op_ids: Vec<String> = taken.iter().map(|(o, _)| o.stamp.op_id.clone()).collect();
        let push_ops: Vec<PushOp<S::Rec>> = taken.iter().map(|(op, payload)| push_op(op, payload)).collect();
        let (ops, payloads): (Vec<_>, Vec<_>) = taken.into_iter().unzip();
        self.emit_all(vec![super::Event::PushBefore(super::events::PushEvent {
            op_ids: op_ids.clone(),
            report: None,
        })]);
        let sent = self.send_split(provider, push_ops).await;
        match self.settle(&ops, &payloads, &sent).await {
            Ok(step) => Ok(step),
            Err(e) => {
                self.stranded.set(true);
                Err(e)
            }
        }
    }

    /// Sends `ops`, splitting a batch the provider refuses as a whole (see
    /// the module docs). One answer per op, in order.
    async fn send_split<V: Provider<Rec = S::Rec>>(&self, provider: &V, ops: Vec<PushOp<S::Rec>>) -> Vec<Sent<S::Rec>> {
        let scope =
            SyncScope { workspace_id: self.config.workspace_id.clone(), project_id: self.config.project_id.clone() };
        let mut out: Vec<Option<Sent<S::Rec>>> = ops.iter().map(|_| None).collect();
        // Ranges still to send, the next one last.
        let mut todo = vec![(0, ops.len())];
        while let Some((start, end)) = todo.pop() {
            let batch =
                PushBatch { scope: scope.clone(), device_id: self.device_id.clone(), ops: ops[start..end].to_vec() };
            match provider.push(batch).await {
                Ok(result) => {
                    self.transport_failures.set(0);
                    let mut results = result.results;
                    for (i, op) in ops.iter().enumerate().take(end).skip(start) {
                        let at = results.iter().position(|r| r.op_id == op.op_id);
                        out[i] = Some(Sent::Answer(at.map(|at| results.swap_remove(at))));
                    }
                }
                Err(e) => match batch_failure(&e) {
                    BatchFailure::Split if end - start > 1 => {
                        let mid = start + (end - start) / 2;
                        todo.push((mid, end));
                        todo.push((start, mid));
                    }
                    BatchFailure::Split => out[start] = Some(Sent::Refused(e.to_string())),
                    failure => {
                        // Whatever is left waits: the provider is down or
                        // refuses the credentials.
                        let pause = failure == BatchFailure::Pause;
                        if !pause {
                            self.transport_failures.set(self.transport_failures.get().saturating_add(1));
                        }
                        let left = std::iter::once((start, end)).chain(todo.drain(..));
                        for (s, e2) in left.collect::<Vec<_>>() {
                            for slot in &mut out[s..e2] {
                                *slot = Some(if pause { Sent::Paused(e.clone()) } else { Sent::Failed(e.clone()) });
                            }
                        }
                    }
                },
            }
        }
        out.into_iter().map(|s| s.unwrap_or(Sent::Answer(None))).collect()
    }

    /// The first `batchSize` pending ops, marked in flight in one transaction,
    /// each with the payload to send: its own snapshot, or its record's row.
    /// With `lease`, the same transaction claims the lease first.
    ///
    /// After a settle that did not commit (`stranded`), that batch is still
    /// marked in flight; this engine pushes alone, so the transaction puts
    /// it back among the pending ops before it takes the next batch.
    async fn take_batch(&self, lease: Option<&str>) -> Result<Taken<S::Rec>> {
        let want = self.config.batch_size as usize;
        let now = self.platform.now_ms();
        let tx = self.store.begin(Access::All, None).await?;
        // The state rows in one read: the batch in flight, the discarded
        // ops' records, and the lease when it is claimed.
        let keys = [super::STATE_IN_FLIGHT, super::revert::STATE_REVERT, super::lease::LEASE_KEY];
        let keys = if lease.is_some() { &keys[..] } else { &keys[..2] };
        let (failed, states) = crate::try_join!(tx.count_failed(), tx.get_states(keys))?;
        let mut states = states.into_iter();
        let mut in_flight = outbox::in_flight_from(states.next().flatten());
        let revert = states.next().flatten();
        let lease_row = states.next().flatten();
        if let Some(holder) = lease {
            let how = super::lease::Claim::IfFree(None);
            if !super::lease::claim_in(&tx, lease_row.as_ref(), holder, how, now).await? {
                tx.commit().await?;
                return Ok(Taken::LeadLost);
            }
        }
        let recovering = self.stranded.get();
        if recovering {
            in_flight.clear();
        }
        // Any engine may have discarded ops (see engine::revert).
        if revert.as_ref().and_then(serde_json::Value::as_array).is_some_and(|a| !a.is_empty()) {
            self.revert_due.set(true);
        }
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
            if recovering {
                outbox::set_in_flight(&tx, &in_flight).await?;
            }
            tx.commit().await?;
            self.stranded.set(false);
            return Ok(Taken::Nothing);
        }
        let mut sends: Vec<Option<S::Rec>> = ops.iter().map(|o| o.payload.clone()).collect();
        // Put ops without a snapshot push their record's row: one read per table.
        let mut by_table: std::collections::HashMap<String, Vec<usize>> = std::collections::HashMap::new();
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
        self.stranded.set(false);
        outbox::mark_in_flight(&mut ops, &in_flight);
        Ok(Taken::Batch(ops.into_iter().zip(sends).collect()))
    }
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

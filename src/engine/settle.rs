//! Settling a sent batch in ONE transaction, by the verdicts of
//! [`crate::core::settle`]:
//!
//! - an op is settled only if the stored op at its seq is still the op that
//!   was sent (same opId): another engine may have recovered the batch and
//!   coalesced a later edit into that op, which must still be sent;
//! - applied ops leave the outbox;
//! - superseded ops leave it too, and the server's current version is
//!   applied like a remote change (LWW against what the device holds now),
//!   journalled as the op's conflict and announced with
//!   `sync.conflict:action:detected`;
//! - a write made on top of a version the server answers with (a key
//!   recreated after the server purged its tombstone) is restamped above
//!   it and queued again: the record's newest op gets a clock above the
//!   server's, a new HLC and opId, and the row (or tombstone) carries them;
//!   the restamped rows take one write sequence number and are announced
//!   with `change` (they are local writes);
//! - rejections are dead-lettered; op-level retryable answers count an
//!   attempt; transport failures count none.

use std::collections::HashMap;

use super::apply::{Advance, Applied};
use super::conflicts::Version;
use super::events::{ChangeSource, ErrorEvent, Event, PushEvent};
use super::lost::{self, LostOp};
use super::push::{Step, StepReport};
use super::{new_uuid, outbox, Engine, Platform};
use crate::core::settle::{verdict, Verdict};
use crate::core::wire::{OpKind, OpResult, SyncChange};
use crate::core::{ChangeStamp, Pk, Result, SyncError};
use crate::store::schema::ORDER_KEY;
use crate::store::{Access, OpState, PendingOp, Record, Store, StoreTx};

/// What came back for one sent op.
#[derive(Debug, Clone)]
pub enum Sent<P> {
    /// The provider answered the call; the op's result, if it has one.
    Answer(Option<OpResult<P>>),
    /// The op alone was refused as a batch (it is the one at fault).
    Refused(String),
    /// The call failed in transit: send again later, no attempt counted.
    Failed(SyncError),
    /// The provider refused the credentials.
    Paused(SyncError),
}

/// One op's fate, decided before the transaction writes.
enum Fate<R> {
    Remove,
    /// Back to pending as it is (a transport failure): its row holds
    /// nothing to change, so nothing is written.
    Wait,
    /// Another attempt counted, or dead-lettered.
    Update {
        state: OpState,
        attempts: u32,
        error: String,
    },
    Restamp(SyncChange<R>),
}

impl<S: Store, P: Platform> Engine<S, P> {
    /// Applies the answers to the in-flight ops (see the module docs).
    pub(crate) async fn settle(
        &self,
        ops: &[PendingOp<S::Rec>],
        payloads: &[Option<S::Rec>],
        sent: &[Sent<S::Rec>],
    ) -> Result<Step> {
        let max_attempts = self.config.max_attempts;
        let mut report = StepReport { sent: ops.len() as u64, ..Default::default() };
        let mut fates = Vec::with_capacity(ops.len());
        let mut currents: Vec<SyncChange<S::Rec>> = Vec::new();
        let mut lost_ops: Vec<LostOp> = Vec::new();
        let mut remembered: Vec<LostOp> = Vec::new();
        let mut dead: Vec<(String, String)> = Vec::new();
        let (mut top_attempt, mut transient, mut paused) = (0, None, None);
        for ((op, answer), payload) in ops.iter().zip(sent).zip(payloads) {
            let v = match answer {
                Sent::Answer(r) => verdict(&op.stamp, op.base, r.as_ref()),
                Sent::Refused(why) => Verdict::Rejected(why.clone()),
                Sent::Failed(e) => {
                    transient = Some(e.clone());
                    fates.push(Fate::Wait);
                    continue;
                }
                Sent::Paused(e) => {
                    paused = Some(e.clone());
                    fates.push(Fate::Wait);
                    continue;
                }
            };
            let fate = match v {
                Verdict::Applied => Fate::Remove,
                Verdict::Superseded(current) => {
                    lost_ops.push(lost_op(op, payload.as_ref()));
                    currents.push(current);
                    Fate::Remove
                }
                Verdict::Lost => {
                    remembered.push(lost_op(op, payload.as_ref()));
                    Fate::Remove
                }
                Verdict::Restamp(current) => Fate::Restamp(current),
                Verdict::Rejected(why) => {
                    dead.push((op.stamp.op_id.clone(), why.clone()));
                    Fate::Update { state: OpState::Failed, attempts: op.attempts + 1, error: why }
                }
                Verdict::Again(why) => {
                    let attempts = op.attempts + 1;
                    top_attempt = top_attempt.max(attempts);
                    if attempts >= max_attempts {
                        dead.push((op.stamp.op_id.clone(), why.clone()));
                        let error = format!("gave up after {attempts} attempts: {why}");
                        Fate::Update { state: OpState::Failed, attempts, error }
                    } else {
                        Fate::Update { state: OpState::Pending, attempts, error: why }
                    }
                }
            };
            fates.push(fate);
        }

        let tx = self.store.begin(Access::All, None).await?;
        let mut restamped = Restamped::default();
        let mut written =
            self.write_settle(&tx, ops, fates, &currents, lost_ops, remembered, &mut report, &mut restamped).await;
        if written.is_ok() && self.fault.get() == Some(super::Fault::FailSettle) {
            self.fault.set(None);
            written = Err(SyncError::Quota("injected fault: the settle could not be written".into()));
        }
        let applied = match written {
            Ok(applied) => applied,
            Err(e) => {
                let _ = tx.abort().await;
                return Err(e);
            }
        };
        tx.commit().await?;

        self.announce_restamps(restamped);
        if let Some((applied, clock, cursors)) = applied {
            let applied = self.applied(applied, clock, cursors);
            let received = currents.len() as u64;
            self.after_apply(applied, received, self.pull_cursor().await?.0, "push").await;
        }
        let op_ids: Vec<String> = ops.iter().map(|o| o.stamp.op_id.clone()).collect();
        let mut events = Vec::new();
        if !dead.is_empty() {
            events.push(Event::Error(ErrorEvent {
                code: "REJECTED".into(),
                message: format!("{} op(s) moved to the failed list: {}", dead.len(), dead[0].1),
                retryable: false,
                op_ids: Some(dead.into_iter().map(|(id, _)| id).collect()),
            }));
        }
        events.push(Event::PushAfter(PushEvent { op_ids: op_ids.clone(), report: Some(report.clone()) }));
        self.emit_all(events);
        Ok(if let Some(e) = paused {
            Step::Paused(e)
        } else if let Some(e) = transient {
            Step::Retry { report, attempt: self.transport_failures.get().max(1), error: e, op_ids }
        } else if top_attempt > 0 {
            let e = SyncError::Unavailable("some ops were not acknowledged".into());
            Step::Retry { report, attempt: top_attempt, error: e, op_ids }
        } else {
            Step::Sent(report)
        })
    }

    /// The settle's reads and writes, in `tx`.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    async fn write_settle(
        &self,
        tx: &S::Tx,
        ops: &[PendingOp<S::Rec>],
        fates: Vec<Fate<S::Rec>>,
        currents: &[SyncChange<S::Rec>],
        lost_ops: Vec<LostOp>,
        remembered: Vec<LostOp>,
        report: &mut StepReport,
        restamped_rows: &mut Restamped,
    ) -> Result<Option<(Applied<S::Rec>, crate::core::HlcClock, super::cursors::Cursors)>> {
        // The stored ops of every record in the batch, oldest first.
        let mut keys: HashMap<String, Vec<Pk>> = HashMap::new();
        for op in ops {
            let pks = keys.entry(op.table_name.clone()).or_default();
            if !pks.contains(&op.pk) {
                pks.push(op.pk.clone());
            }
        }
        let mut stored: HashMap<(String, Pk), Vec<PendingOp<S::Rec>>> = HashMap::new();
        for (table, pks) in &keys {
            for (pk, list) in pks.iter().zip(tx.ops_for(table, pks).await?) {
                stored.insert((table.clone(), pk.clone()), list);
            }
        }
        let same_op = |op: &PendingOp<S::Rec>, stored: &HashMap<(String, Pk), Vec<PendingOp<S::Rec>>>| {
            stored
                .get(&(op.table_name.clone(), op.pk.clone()))
                .and_then(|l| l.iter().find(|s| s.seq == op.seq && s.stamp.op_id == op.stamp.op_id))
                .cloned()
        };
        let mut deletes = Vec::new();
        let mut puts = Vec::new();
        let mut restamps = Vec::new();
        for (op, fate) in ops.iter().zip(fates) {
            // Not the op that was sent any more: leave the stored one alone.
            let Some(current) = same_op(op, &stored) else { continue };
            match fate {
                Fate::Remove => {
                    report.pushed += 1;
                    deletes.extend(current.seq);
                }
                Fate::Wait => report.retried += 1,
                Fate::Update { state, attempts, error } => {
                    match state {
                        OpState::Failed => report.failed += 1,
                        _ => report.retried += 1,
                    }
                    let mut kept = current;
                    kept.state = state;
                    kept.attempts = attempts;
                    kept.last_error = Some(error);
                    puts.push(kept);
                }
                Fate::Restamp(winner) => {
                    report.retried += 1;
                    restamps.push((current, winner));
                }
            }
        }
        let mut restamped: Vec<(String, Pk)> = Vec::new();
        for (sent, winner) in restamps {
            let key = (sent.table_name.clone(), sent.pk.clone());
            let list = stored.get(&key).cloned().unwrap_or_default();
            let newest = list.last().cloned().unwrap_or_else(|| sent.clone());
            if newest.seq != sent.seq {
                // A newer write of the record is queued: it carries the
                // user's latest intent and is the one to restamp.
                deletes.extend(sent.seq);
            }
            // Two ops of one record in the batch: its newest is restamped once.
            if !restamped.contains(&key) {
                let (op, row_changed) = self.restamp(tx, newest, &winner, &mut restamped_rows.seq).await?;
                if row_changed {
                    restamped_rows.add(&key.0, &key.1);
                }
                puts.push(op);
                restamped.push(key);
            }
        }
        let mut still = outbox::in_flight(tx).await?;
        for op in ops {
            if let Some(s) = op.seq {
                still.remove(&s);
            }
        }
        if !remembered.is_empty() {
            let mut known = lost::load(tx).await?;
            known.extend(remembered);
            lost::save(tx, known).await?;
        }
        crate::try_join!(tx.delete_ops(&deletes), tx.put_ops(puts), outbox::set_in_flight(tx, &still))?;
        if currents.is_empty() {
            return Ok(None);
        }
        self.apply_in(tx, currents, Advance::Keep, lost_ops).await
    }

    /// `op` (the record's newest) with a stamp above `winner`'s, and the
    /// row or tombstone it is about carrying that stamp; with whether the
    /// row itself was rewritten. The first rewritten row of the transaction
    /// takes its write sequence number (`taken`); later ones share it.
    async fn restamp(
        &self,
        tx: &S::Tx,
        mut op: PendingOp<S::Rec>,
        winner: &SyncChange<S::Rec>,
        taken: &mut Option<u64>,
    ) -> Result<(PendingOp<S::Rec>, bool)> {
        let table = op.table_name.clone();
        let order_key = self.table(&table)?.order_key;
        let now = self.platform.now_ms();
        let ((stored_hlc, _), seq) = super::load_hlc_and_seq(tx).await?;
        let hlc = {
            let mut clock = self.hlc.borrow_mut();
            clock.observe_state(stored_hlc);
            clock.tick(now).to_string()
        };
        let stamp = ChangeStamp {
            clock: winner.stamp.clock.max(op.stamp.clock) + 1,
            hlc,
            device_id: self.device_id.clone(),
            op_id: new_uuid(&self.platform),
        };
        let pks = std::slice::from_ref(&op.pk);
        let mut row_changed = false;
        match op.op {
            OpKind::Put => match op.payload.take() {
                Some(snapshot) => op.payload = Some(restamped(&snapshot, &stamp, order_key)),
                None => {
                    if let Some(row) = tx.get_records(&table, pks).await?.pop().flatten() {
                        tx.put_records(&table, vec![restamped(&row, &stamp, order_key)]).await?;
                        row_changed = true;
                    }
                }
            },
            OpKind::Delete => {
                if let Some(mut tomb) = tx.get_tombstones(&table, pks).await?.pop().flatten() {
                    tomb.stamp = stamp.clone();
                    tx.put_tombstones(vec![tomb]).await?;
                }
            }
        }
        let hlc_row = serde_json::Value::String(self.hlc.borrow().state().encode());
        let at = if row_changed { *taken.get_or_insert(seq + 1) } else { seq };
        super::write_seq::put(tx, super::STATE_HLC, hlc_row, at).await?;
        op.stamp = stamp;
        op.state = OpState::Pending;
        op.last_error = None;
        Ok((op, row_changed))
    }

    /// `change` (here and to other tabs) for the rows a settle restamped.
    fn announce_restamps(&self, restamped: Restamped) {
        let events = self.announce(restamped.rows, ChangeSource::Local, restamped.seq.as_slice());
        self.emit_all(events);
    }
}

/// The rows a settle rewrote with a new stamp, by table, and the write
/// sequence number they took.
#[derive(Default)]
struct Restamped {
    rows: Vec<(String, Vec<Pk>)>,
    seq: Option<u64>,
}

impl Restamped {
    fn add(&mut self, table: &str, pk: &Pk) {
        match self.rows.iter_mut().find(|(t, _)| t == table) {
            Some((_, pks)) => pks.push(pk.clone()),
            None => self.rows.push((table.to_string(), vec![pk.clone()])),
        }
    }
}

fn restamped<R: Record>(row: &R, stamp: &ChangeStamp, order_key: bool) -> R {
    let key = if order_key { row.str_field(ORDER_KEY) } else { None };
    row.stamped(stamp.clock, &stamp.hlc, key.as_deref())
}

/// The sent op as the losing side of a conflict, with what it sent.
fn lost_op<R: Record>(op: &PendingOp<R>, payload: Option<&R>) -> LostOp {
    LostOp {
        table: op.table_name.clone(),
        pk: op.pk.clone(),
        version: Version {
            op: op.op,
            payload: payload.filter(|_| op.op == OpKind::Put).map(Record::to_json),
            stamp: op.stamp.clone(),
        },
    }
}

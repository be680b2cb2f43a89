//! Write capture: every local write and its outbox entry in ONE transaction.
//!
//! For a batch of writes to one table the engine (1) validates everything, so
//! one bad record rejects the whole call and writes nothing; (2) opens one
//! readwrite transaction and issues all reads at once (live rows, tombstones,
//! the records' ops, the persisted HLC, the outbox size); (3) has the pure
//! planner [`crate::core::capture`] decide stamps, rows, tombstones and
//! coalescing; (4) issues all writes and awaits the commit. Nothing but store
//! requests is awaited while the transaction is open.
//!
//! Capacity: if the new ops would take the outbox past `maxPendingOps`, the
//! transaction is abandoned before any write, `sync.queue:action:full` is
//! emitted once, and the call waits and retries until there is room.

use serde_json::Value;

use super::events::{CapturedEvent, ChangeSource, Event, QueueFullEvent};
use super::{new_uuids, Engine, Fault, Platform, STATE_HLC};
use crate::core::capture::{self, Context, Current, Plan, Write};
use crate::core::{ChangeStamp, Pk, Result, SyncError};
use crate::store::{Access, OpState, Record, Store, StoreTx};

/// How long a write waits between checks for room in a full outbox.
const ROOM_POLL_MS: u64 = 100;

/// Why an attempt did not commit.
enum Attempt {
    /// Committed: the stamps, the capture report, the write sequence number.
    Done(Vec<ChangeStamp>, CapturedEvent, u64),
    NeedRoom(QueueFullEvent),
}

/// What a capture wrote, before it commits.
struct Stamped {
    stamps: Vec<ChangeStamp>,
    captured: CapturedEvent,
    /// The advanced clock, kept only if the transaction commits.
    clock: crate::core::HlcClock,
    /// The transaction's write sequence number.
    seq: u64,
}

impl<S: Store, P: Platform> Engine<S, P> {
    /// Writes one record.
    pub async fn put(&self, table: &str, record: S::Rec) -> Result<ChangeStamp> {
        let mut stamps = self.bulk_put(table, vec![record]).await?;
        stamps.pop().ok_or_else(|| SyncError::Storage("no stamp returned".into()))
    }

    /// Writes records in one transaction; all or nothing.
    pub async fn bulk_put(&self, table: &str, records: Vec<S::Rec>) -> Result<Vec<ChangeStamp>> {
        let key_path = &self.table(table)?.primary_key;
        let mut writes = Vec::with_capacity(records.len());
        for (i, r) in records.into_iter().enumerate() {
            // One bad record refuses the call before anything is opened or
            // written: plain JSON data only (Record::check_plain), and a key.
            let located = |mut e: crate::core::Invalid, rest: &str| {
                e.path = format!("records[{i}]{rest}");
                SyncError::Invalid(e)
            };
            r.check_plain().map_err(|e| {
                let rest = match e.path.as_str() {
                    "" => String::new(),
                    p if p.starts_with('[') => p.to_string(),
                    p => format!(".{p}"),
                };
                located(e, &rest)
            })?;
            let pk = r.pk(key_path).map_err(|e| {
                let rest = e.path.strip_prefix("record").unwrap_or("").to_string();
                located(e, &rest)
            })?;
            writes.push(Write::Put(pk, r));
        }
        self.write(table, writes).await
    }

    /// Deletes one record, leaving a tombstone.
    pub async fn delete(&self, table: &str, pk: Pk) -> Result<ChangeStamp> {
        let mut stamps = self.bulk_delete(table, vec![pk]).await?;
        stamps.pop().ok_or_else(|| SyncError::Storage("no stamp returned".into()))
    }

    /// Deletes records in one transaction; all or nothing.
    pub async fn bulk_delete(&self, table: &str, pks: Vec<Pk>) -> Result<Vec<ChangeStamp>> {
        self.table(table)?;
        self.write(table, pks.into_iter().map(Write::Delete).collect()).await
    }

    /// Writes a record a `resolve` hook merged: it may carry the engine's
    /// fields of either side, which are replaced like any stamp.
    pub(crate) async fn put_merged(&self, table: &str, record: S::Rec) -> Result<ChangeStamp> {
        let pk = record.pk(&self.table(table)?.primary_key).map_err(SyncError::Invalid)?;
        let mut stamps = self.write_checked(table, vec![Write::Put(pk, record)], false).await?;
        stamps.pop().ok_or_else(|| SyncError::Storage("no stamp returned".into()))
    }

    async fn write(&self, table: &str, writes: Vec<Write<S::Rec>>) -> Result<Vec<ChangeStamp>> {
        self.write_checked(table, writes, true).await
    }

    /// `strict`: a record that sets the engine's fields (`clock`, `hlc`,
    /// `order_key`) to anything but what the stored row holds is refused.
    async fn write_checked(&self, table: &str, writes: Vec<Write<S::Rec>>, strict: bool) -> Result<Vec<ChangeStamp>> {
        self.check_open()?;
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut reported_full = false;
        loop {
            match self.attempt(table, &writes, strict).await? {
                Attempt::Done(stamps, captured, seq) => {
                    let changed = vec![(table.to_string(), unique_pks(&writes))];
                    let mut events = self.announce(changed, ChangeSource::Local, &[seq]);
                    events.push(Event::OpCaptured(captured));
                    self.emit_all(events);
                    return Ok(stamps);
                }
                Attempt::NeedRoom(full) => {
                    if full.waiting > self.config.max_pending_ops {
                        return Err(SyncError::invalid(
                            "records",
                            format!("{} new ops can never fit maxPendingOps {}", full.waiting, full.max_pending_ops),
                        ));
                    }
                    if !reported_full {
                        reported_full = true;
                        self.emit_all(vec![Event::QueueFull(full)]);
                    }
                    self.platform.sleep(ROOM_POLL_MS).await;
                    self.check_open()?;
                }
            }
        }
    }

    async fn attempt(&self, table: &str, writes: &[Write<S::Rec>], strict: bool) -> Result<Attempt> {
        let pks = unique_pks(writes);
        let tx = self.store.begin(Access::Write, Some(table)).await?;
        match self.stamp_and_write(&tx, table, writes, &pks, strict).await {
            Ok(Some(Stamped { stamps, captured, clock, seq })) => {
                if self.fault.get() == Some(Fault::FailBeforeCommit) {
                    self.fault.set(None);
                    tx.abort().await?;
                    return Err(SyncError::Storage("injected fault: failed before commit".into()));
                }
                tx.commit().await?;
                *self.hlc.borrow_mut() = clock;
                self.never_captured.set(false);
                Ok(Attempt::Done(stamps, captured, seq))
            }
            Ok(None) => {
                let pending = tx.count_ops().await?;
                tx.abort().await?;
                let waiting = self.new_op_estimate(writes);
                Ok(Attempt::NeedRoom(QueueFullEvent { pending, max_pending_ops: self.config.max_pending_ops, waiting }))
            }
            Err(e) => {
                let _ = tx.abort().await;
                Err(e)
            }
        }
    }

    /// Upper bound of new ops for the queue-full report.
    fn new_op_estimate(&self, writes: &[Write<S::Rec>]) -> u64 {
        unique_pks(writes).len() as u64
    }

    /// Reads what the writes depend on, stamps them in order, and issues every
    /// write. `None` when the outbox has no room for the new ops (nothing
    /// written).
    async fn stamp_and_write(
        &self,
        tx: &S::Tx,
        table: &str,
        writes: &[Write<S::Rec>],
        pks: &[Pk],
        strict: bool,
    ) -> Result<Option<Stamped>> {
        let schema = self.table(table)?;
        let (rows, tombs, mut ops, state, pending) = crate::try_join!(
            tx.get_records(table, pks),
            tx.get_tombstones(table, pks),
            tx.ops_for(table, pks),
            super::load_write_state(tx),
            tx.count_ops(),
        )?;
        let super::WriteState { hlc: stored_hlc, in_flight, cursors, write_seq: seq } = state;
        // What this write is made on top of (see core::settle).
        let base = cursors.get(table);
        // Decide with the in-flight batch marked; store rows keep their own state.
        for list in &mut ops {
            super::outbox::mark_in_flight(list, &in_flight);
        }
        let mut clock = self.hlc.borrow().clone();
        clock.observe_state(stored_hlc.0);
        let current = rows
            .into_iter()
            .zip(tombs)
            .zip(ops)
            .map(|((live, tomb), ops)| Current { live, tomb_clock: tomb.map(|t| t.stamp.clock), ops })
            .collect();
        let ctx = Context {
            table,
            device_id: &self.device_id,
            now_ms: self.platform.now_ms(),
            base,
            order_key: schema.order_key,
            strict,
        };
        let op_ids = new_uuids(&self.platform, writes.len());
        let Plan { stamps, puts, deletes, tomb_puts, tomb_deletes, mut op_writes, new_ops, coalesced } =
            capture::plan(&ctx, writes, pks, current, &mut clock, op_ids).map_err(SyncError::Invalid)?;
        if pending + new_ops > self.config.max_pending_ops && new_ops > 0 {
            return Ok(None);
        }
        // The batch in flight was marked for the decision only: stored rows
        // keep their own state.
        for op in &mut op_writes {
            if op.seq.is_some_and(|s| in_flight.contains(&s)) {
                op.state = OpState::Pending;
            }
        }
        let seq = seq + 1;
        crate::try_join!(
            tx.put_records(table, puts),
            tx.delete_records(table, &deletes),
            tx.put_tombstones(tomb_puts),
            tx.delete_tombstones(table, &tomb_deletes),
            tx.put_ops(op_writes),
            super::write_seq::put(tx, STATE_HLC, Value::String(clock.state().encode()), seq),
        )?;
        let captured = CapturedEvent {
            table: table.to_string(),
            op_ids: stamps.iter().map(|s| s.op_id.clone()).collect(),
            coalesced,
            pending: pending + new_ops,
        };
        Ok(Some(Stamped { stamps, captured, clock, seq }))
    }
}

fn unique_pks<R>(writes: &[Write<R>]) -> Vec<Pk> {
    let mut seen = std::collections::HashSet::new();
    writes.iter().map(Write::pk).filter(|pk| seen.insert((*pk).clone())).cloned().collect()
}

//! Applying remote changes: one page (or subscription batch) and its cursor
//! advance in ONE transaction, so a reload never applies a page twice and
//! never loses one.
//!
//! What each change does is decided by the pure [`crate::core::judge`]:
//! this module reads what the device holds for the batch's records (live
//! rows, tombstones, their ops, the lost ops, the cursors and the clock),
//! has it judged, and writes the outcome, the conflict journal and the
//! cursors in the same transaction.

use std::collections::HashMap;

use serde_json::Value;

use super::apply_blind::Blind;
use super::conflicts;
use super::cursors::{Cursors, STATE_CURSORS};
use super::lost::{self, LostOp};
use super::{Engine, Platform, STATE_HLC_REMOTE};
use crate::core::judge::{judge_batch, writes, Context, Local, Locals, Writes};
pub use crate::core::judge::{remote_row, Applied};
use crate::core::wire::SyncChange;
use crate::core::{HlcClock, Pk, Result};
use crate::store::{Access, Store, StoreTx};

/// How applying a batch moves the cursors (see [`super::cursors`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Advance<'a> {
    /// A page or subscription batch: only if every one of `tables` is still
    /// at `from` (else someone else applied it), then they move to `to`.
    Check { tables: &'a [String], from: u64, to: u64 },
    /// A rescan: `tables` move to `to` whatever they were.
    Set { tables: &'a [String], to: u64 },
    /// The server's current versions from a push answer: no cursor moves.
    Keep,
}

impl<S: Store, P: Platform> Engine<S, P> {
    /// Applies `changes` and moves the cursors of `tables` from `from` to
    /// `to`, in one transaction. `None` (nothing applied) when a stored
    /// cursor of `tables` is not `from`: someone else applied this range.
    pub async fn apply_batch(
        &self,
        changes: &[SyncChange<S::Rec>],
        tables: &[String],
        from: u64,
        to: u64,
    ) -> Result<Option<Applied<S::Rec>>> {
        self.check_open()?;
        if self.may_apply_blind(changes) {
            let tx = self.store.begin(Access::All, None).await?;
            match self.apply_blind(&tx, changes, tables, from, to).await {
                Ok(Blind::Applied(applied, clock, cursors)) => {
                    tx.commit().await?;
                    return Ok(Some(self.applied(applied, clock, cursors)));
                }
                Ok(Blind::CursorMoved) => {
                    tx.abort().await?;
                    return Ok(None);
                }
                Ok(Blind::Captured) => tx.abort().await?,
                Err(e) => {
                    let _ = tx.abort().await;
                    return Err(e);
                }
            }
        }
        let tx = self.store.begin(Access::All, None).await?;
        match self.apply_in(&tx, changes, Advance::Check { tables, from, to }, Vec::new()).await {
            Ok(Some((applied, clock, cursors))) => {
                tx.commit().await?;
                Ok(Some(self.applied(applied, clock, cursors)))
            }
            Ok(None) => {
                tx.abort().await?;
                Ok(None)
            }
            Err(e) => {
                let _ = tx.abort().await;
                Err(e)
            }
        }
    }

    /// After a commit: the clock and the cursor hint move on.
    pub(crate) fn applied(&self, applied: Applied<S::Rec>, clock: HlcClock, cursors: Cursors) -> Applied<S::Rec> {
        *self.hlc.borrow_mut() = clock;
        self.set_cursor_hint(cursors, None);
        applied
    }

    /// The body of [`Engine::apply_batch`] in the caller's transaction.
    /// `lost` are ops this device just learned lost on the server: a change
    /// of their record is journalled as their conflict. Returns the cursors
    /// as they are after the batch.
    #[allow(clippy::type_complexity)]
    pub(crate) async fn apply_in(
        &self,
        tx: &S::Tx,
        changes: &[SyncChange<S::Rec>],
        advance: Advance<'_>,
        lost: Vec<LostOp>,
    ) -> Result<Option<(Applied<S::Rec>, HlcClock, Cursors)>> {
        let mut tables: Vec<(String, Vec<Pk>)> = Vec::new();
        let mut seen: HashMap<(&str, &Pk), ()> = HashMap::with_capacity(changes.len());
        for c in changes {
            self.table(&c.table_name)?;
            if seen.insert((c.table_name.as_str(), &c.pk), ()).is_none() {
                match tables.iter_mut().find(|(t, _)| *t == c.table_name) {
                    Some((_, pks)) => pks.push(c.pk.clone()),
                    None => tables.push((c.table_name.clone(), vec![c.pk.clone()])),
                }
            }
        }
        let reads = tables.iter().map(|(t, pks)| async move {
            crate::try_join!(tx.get_records(t, pks), tx.get_tombstones(t, pks), tx.ops_for(t, pks))
        });
        let (per_table, stored_cursors, (stored_hlc, seq), mut lost_ops) = crate::try_join!(
            crate::core::join::try_join_all(reads),
            tx.get_state(STATE_CURSORS),
            super::load_hlc_and_seq(tx),
            lost::load(tx),
        )?;
        let lost_before = lost_ops.len();
        let fresh_lost = !lost.is_empty();
        lost_ops.extend(lost);
        let mut cursors = Cursors::decode(stored_cursors.as_ref()).unwrap_or_default();
        let cursors_moved = match advance {
            Advance::Check { tables, from, to } => {
                if !cursors.all_at(tables, from) {
                    return Ok(None);
                }
                cursors.set(tables, to);
                true
            }
            Advance::Set { tables, to } => {
                cursors.set(tables, to);
                true
            }
            Advance::Keep => false,
        };
        let mut clock = self.hlc.borrow().clone();
        clock.observe_state(stored_hlc.0);
        let mut locals: Locals<S::Rec> = HashMap::with_capacity(changes.len());
        for ((table, pks), (rows, tombs, ops)) in tables.iter().zip(per_table) {
            for (((pk, live), tomb), ops) in pks.iter().zip(rows).zip(tombs).zip(ops) {
                locals.insert((table.clone(), pk.clone()), Local::new(live, tomb, ops));
            }
        }
        let mut out = {
            let resolvers = self.resolvers.borrow();
            let ctx = Context {
                device_id: &self.device_id,
                now_ms: self.platform.now_ms(),
                order_key: &|t| self.table(t).is_ok_and(|s| s.order_key),
                resolves: &|t| resolvers.contains_key(t),
            };
            judge_batch(&ctx, changes, &mut locals, &mut lost_ops, &mut clock)?
        };
        let Writes { rows, tomb_puts, tomb_deletes, op_puts } = writes(&tables, locals);
        let row_writes = rows.into_iter().map(|w| async move {
            crate::try_join!(tx.put_records(&w.table, w.puts), tx.delete_records(&w.table, &w.deletes))
        });
        let tomb_removals = tomb_deletes.iter().map(|(t, pk)| tx.delete_tombstones(t, std::slice::from_ref(pk)));
        // The write sequence advances only if rows change; the `hlcRemote`
        // row carries it either way.
        let seq = seq + u64::from(!out.changed.is_empty());
        crate::try_join!(
            crate::core::join::try_join_all(row_writes),
            crate::core::join::try_join_all(tomb_removals),
            tx.put_tombstones(tomb_puts),
            tx.put_ops(op_puts),
            conflicts::record(tx, &out.conflicts),
            async {
                if fresh_lost || lost_ops.len() != lost_before {
                    lost::save(tx, lost_ops).await?;
                }
                Ok(())
            },
            async {
                if cursors_moved {
                    tx.put_state(STATE_CURSORS, cursors.encode()).await?;
                }
                Ok(())
            },
            super::write_seq::put(tx, STATE_HLC_REMOTE, Value::String(clock.state().encode()), seq),
        )?;
        if !out.changed.is_empty() {
            out.seqs.push(seq);
        }
        Ok(Some((out, clock, cursors)))
    }
}

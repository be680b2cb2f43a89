//! Applying remote changes: one page (or subscription batch) and its cursor
//! advance in ONE transaction, so a reload never applies a page twice and
//! never loses one.
//!
//! Each change is judged by the order of docs/PROTOCOL.md section 1 against what
//! the device holds for its record: the live row (its `clock` and `hlc`), its
//! tombstone, and so its newest unsynced op, whose stamp is the row's. The
//! winner is written, the loser never. A remote delete removes the row and
//! leaves a tombstone. Nothing here creates an op, so applies never echo.
//!
//! A remote change of another device that meets a local op not yet
//! acknowledged is a conflict, journalled with both versions. When the remote
//! version wins, the local op keeps a copy of the row it was about (the row
//! is about to move past it), is still pushed, and is acknowledged without
//! effect by the server, where the same order decides.

use std::collections::HashMap;

use serde_json::Value;

use super::apply_blind::Blind;
use super::conflicts::{self, Conflict, Version, Winner};
use super::cursors::{Cursors, STATE_CURSORS};
use super::lost::{self, LostOp};
use super::{Engine, Platform, STATE_HLC_REMOTE};
use crate::core::hlc::{Hlc, Receive};
use crate::core::lww::{decide, Decision, Held};
use crate::core::wire::{OpKind, SyncChange};
use crate::core::{ChangeStamp, HlcClock, Pk, Result, SyncError};
use crate::store::schema::{CLOCK_FIELD, HLC_FIELD, ORDER_KEY};
use crate::store::{Access, PendingOp, Record, Store, StoreTx, Tombstone};

/// What applying a batch did.
#[derive(Debug, Clone)]
pub struct Applied<R> {
    /// Changes written (they won).
    pub applied: u64,
    /// Records written, by table, in first-seen order.
    pub changed: Vec<(String, Vec<Pk>)>,
    pub conflicts: Vec<Conflict>,
    /// How far ahead of local time the furthest remote HLC was, when it was
    /// past `maxClockDriftMs` (applied, but not merged into the clock).
    pub drift_ms: Option<u64>,
    /// Conflicts of tables with a `resolve` hook: both versions, for the hook.
    pub merges: Vec<Merge<R>>,
    /// The write sequence numbers of the transaction (see [`super::write_seq`]).
    pub seqs: Vec<u64>,
}

impl<R> Default for Applied<R> {
    fn default() -> Self {
        Applied {
            applied: 0,
            changed: Vec::new(),
            conflicts: Vec::new(),
            drift_ms: None,
            merges: Vec::new(),
            seqs: Vec::new(),
        }
    }
}

/// The two versions of a conflicting record (`None`: a delete).
#[derive(Debug, Clone)]
pub struct Merge<R> {
    pub table: String,
    pub local: Option<R>,
    pub remote: Option<R>,
}

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

/// What the device holds for one record while a batch is judged.
struct Local<R> {
    live: Option<R>,
    tomb: Option<Tombstone>,
    ops: Vec<PendingOp<R>>,
    row_dirty: bool,
    tomb_dirty: bool,
    ops_dirty: bool,
}

/// The stamp a stored row carries: its `clock` and `hlc` (whose last part is
/// the device). The opId is not stored; two versions with equal clock and
/// HLC are the same write, which [`judge`] treats as already held.
pub fn row_stamp<R: Record>(row: &R) -> Option<ChangeStamp> {
    let clock = row.u64_field(CLOCK_FIELD)?;
    let hlc = row.str_field(HLC_FIELD)?;
    let device_id = Hlc::parse(&hlc).ok()?.device_id;
    Some(ChangeStamp { clock, hlc, device_id, op_id: String::new() })
}

/// LWW of an incoming version against a live row and a tombstone.
pub fn judge(live: Option<&ChangeStamp>, tomb: Option<&ChangeStamp>, incoming: &ChangeStamp) -> Decision {
    let same = |s: &ChangeStamp| s.clock == incoming.clock && s.hlc == incoming.hlc;
    if live.is_some_and(same) || tomb.is_some_and(|t| t == incoming) {
        return Decision::AlreadyHeld;
    }
    decide(Held::from_parts(live, tomb), incoming)
}

/// The row to store for a remote put: the payload as sent when it already
/// carries the change's clock and HLC (no copy), otherwise a stamped copy.
/// `order_key` is kept from the payload, else from the local row, else the HLC.
pub fn remote_row<R: Record>(payload: &R, stamp: &ChangeStamp, local: Option<&R>, order_key: bool) -> R {
    let key = order_key.then(|| payload.str_field(ORDER_KEY)).flatten();
    // An HLC names one write, so a payload carrying the change's HLC was
    // stored by that write, with its clock.
    let stamped =
        payload.str_field(HLC_FIELD).as_deref() == Some(stamp.hlc.as_str()) && payload.u64_field(CLOCK_FIELD).is_some();
    if stamped && (!order_key || key.is_some()) {
        return payload.clone();
    }
    let key = if order_key {
        key.or_else(|| local.and_then(|r| r.str_field(ORDER_KEY))).or_else(|| Some(stamp.hlc.clone()))
    } else {
        None
    };
    payload.stamped(stamp.clock, &stamp.hlc, key.as_deref())
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
        let mut held: HashMap<(String, Pk), Local<S::Rec>> = HashMap::with_capacity(changes.len());
        for ((table, pks), (rows, tombs, ops)) in tables.iter().zip(per_table) {
            for (((pk, live), tomb), ops) in pks.iter().zip(rows).zip(tombs).zip(ops) {
                let local = Local { live, tomb, ops, row_dirty: false, tomb_dirty: false, ops_dirty: false };
                held.insert((table.clone(), pk.clone()), local);
            }
        }

        let now = self.platform.now_ms();
        let mut out = Applied::default();
        for c in changes {
            if let Ok(remote_hlc) = Hlc::parse(&c.stamp.hlc) {
                if let Receive::Drift { ahead_ms } = clock.receive(&remote_hlc, now) {
                    out.drift_ms = Some(out.drift_ms.unwrap_or(0).max(ahead_ms));
                }
            }
            let order_key = self.table(&c.table_name)?.order_key;
            let local = held
                .get_mut(&(c.table_name.clone(), c.pk.clone()))
                .ok_or_else(|| SyncError::Storage("record state missing".into()))?;
            let live_stamp = local.live.as_ref().and_then(row_stamp);
            let decision = judge(live_stamp.as_ref(), local.tomb.as_ref().map(|t| &t.stamp), &c.stamp);
            if decision == Decision::AlreadyHeld {
                continue;
            }
            let foreign = c.stamp.device_id != self.device_id;
            // Which version of ours this change meets, if it is a conflict:
            // an unsynced op; an op the server acknowledged without applying
            // (this is the version that beat it, if the row still holds the
            // op's); or a version this device wrote with the same record
            // clock (written without knowing each other).
            let held_now =
                Held::from_parts(live_stamp.as_ref(), local.tomb.as_ref().map(|t| &t.stamp)).stamp().cloned();
            let same_write = |s: &ChangeStamp| held_now.as_ref().is_some_and(|h| h.clock == s.clock && h.hlc == s.hlc);
            let lost =
                lost_ops.iter().position(|l| l.table == c.table_name && l.pk == c.pk).map(|i| lost_ops.remove(i));
            let live_json = || local.live.as_ref().map(Record::to_json);
            let mine: Option<Version> = if !foreign {
                None
            } else if let Some(newest) = local.ops.last() {
                let payload = if newest.op == OpKind::Put { live_json() } else { None };
                Some(Version { op: newest.op, payload, stamp: newest.stamp.clone() })
            } else if let Some(l) = lost.filter(|l| same_write(&l.version.stamp) && decision == Decision::Apply) {
                Some(l.version)
            } else {
                held_now.as_ref().filter(|h| h.device_id == self.device_id && h.clock == c.stamp.clock).map(|h| {
                    let live = local.live.is_some() && live_stamp.as_ref() == Some(h);
                    let op = if live { OpKind::Put } else { OpKind::Delete };
                    Version { op, payload: if live { live_json() } else { None }, stamp: h.clone() }
                })
            };
            if let Some(version) = mine {
                let winner = if decision == Decision::Apply { Winner::Remote } else { Winner::Local };
                // Only the side whose version lost merges, so two devices
                // never answer each other's merges with merges.
                if winner == Winner::Remote && self.resolvers.borrow().contains_key(&c.table_name) {
                    out.merges.push(Merge {
                        table: c.table_name.clone(),
                        local: version.payload.as_ref().map(S::Rec::from_json),
                        remote: c.payload.clone(),
                    });
                }
                out.conflicts.push(Conflict {
                    id: None,
                    table: c.table_name.clone(),
                    pk: c.pk.clone(),
                    local: version,
                    remote: Version {
                        op: c.op,
                        payload: c.payload.as_ref().map(Record::to_json),
                        stamp: c.stamp.clone(),
                    },
                    winner,
                    at: now,
                });
            }
            if decision == Decision::Reject {
                continue;
            }
            // The row moves past the local ops: they keep their own copy.
            for op in local.ops.iter_mut() {
                if op.payload.is_none() && op.op == OpKind::Put {
                    op.payload = local.live.clone();
                    local.ops_dirty = true;
                }
            }
            match (&c.op, &c.payload) {
                (OpKind::Put, Some(payload)) => {
                    local.live = Some(remote_row(payload, &c.stamp, local.live.as_ref(), order_key));
                    if local.tomb.take().is_some() {
                        local.tomb_dirty = true;
                    }
                }
                _ => {
                    local.live = None;
                    let tomb = Tombstone {
                        table_name: c.table_name.clone(),
                        pk: c.pk.clone(),
                        stamp: c.stamp.clone(),
                        deleted_at: now,
                    };
                    local.tomb = Some(tomb);
                    local.tomb_dirty = true;
                }
            }
            local.row_dirty = true;
            out.applied += 1;
            match out.changed.iter_mut().find(|(t, _)| *t == c.table_name) {
                Some((_, pks)) => pks.push(c.pk.clone()),
                None => out.changed.push((c.table_name.clone(), vec![c.pk.clone()])),
            }
        }
        for (_, pks) in out.changed.iter_mut() {
            let mut seen = std::collections::HashSet::new();
            pks.retain(|pk| seen.insert(pk.clone()));
        }

        let mut writes = Vec::new();
        let mut tomb_puts = Vec::new();
        let mut tomb_deletes: Vec<(String, Pk)> = Vec::new();
        let mut op_puts = Vec::new();
        for (table, pks) in &tables {
            let mut puts = Vec::new();
            let mut deletes = Vec::new();
            for pk in pks {
                let Some(local) = held.remove(&(table.clone(), pk.clone())) else { continue };
                if local.row_dirty {
                    match local.live {
                        Some(row) => puts.push(row),
                        None => deletes.push(pk.clone()),
                    }
                }
                if local.tomb_dirty {
                    match local.tomb {
                        Some(t) => tomb_puts.push(t),
                        None => tomb_deletes.push((table.clone(), pk.clone())),
                    }
                }
                if local.ops_dirty {
                    op_puts.extend(local.ops);
                }
            }
            writes.push((table.as_str(), puts, deletes));
        }
        let row_writes = writes.into_iter().map(|(table, puts, deletes)| async move {
            crate::try_join!(tx.put_records(table, puts), tx.delete_records(table, &deletes))
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

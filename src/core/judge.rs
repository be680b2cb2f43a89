//! Judging remote changes: what a batch of server changes does to the
//! records this device holds, decided in order, with no I/O.
//!
//! Each change is judged by the order of docs/PROTOCOL.md section 1 against
//! what the device holds for its record ([`Local`]): the live row (its
//! `clock` and `hlc`), its tombstone, and so its newest unsynced op, whose
//! stamp is the row's. The winner is written, the loser never. A remote
//! delete removes the row and leaves a tombstone. Nothing here creates an
//! op, so applies never echo.
//!
//! A change of another device that meets a version of this device's own is
//! a [`Conflict`]: an unsynced op; an op the server acknowledged without
//! applying it ([`LostOp`], if the row still holds that op's version); or a
//! version this device wrote with the same record clock. When the remote
//! version wins, the local ops keep a copy of the row they were about (the
//! row is about to move past them), and a table with a `resolve` hook gets
//! both versions ([`Merge`]).
//!
//! The engine reads each record's [`Local`], calls [`judge_batch`], then
//! issues [`writes`] in the same transaction.

use std::collections::{HashMap, HashSet};

use super::conflict::{Conflict, LostOp, Version, Winner};
use super::hlc::{Hlc, HlcClock, Receive};
use super::lww::{decide, Decision, Held};
use super::record::{PendingOp, Record, Tombstone, CLOCK_FIELD, HLC_FIELD, ORDER_KEY};
use super::wire::{OpKind, SyncChange};
use super::{ChangeStamp, Pk, SyncError};

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
    /// The write sequence numbers of the transaction (the engine's, once
    /// it has written).
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
#[derive(Debug, Clone, PartialEq)]
pub struct Merge<R> {
    pub table: String,
    pub local: Option<R>,
    pub remote: Option<R>,
}

/// What the device holds for one record while a batch is judged, and what
/// of it the batch changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Local<R> {
    pub live: Option<R>,
    pub tomb: Option<Tombstone>,
    /// Its ops in the outbox, oldest first.
    pub ops: Vec<PendingOp<R>>,
    pub row_dirty: bool,
    pub tomb_dirty: bool,
    pub ops_dirty: bool,
}

impl<R> Local<R> {
    /// The record as read, nothing changed yet.
    pub fn new(live: Option<R>, tomb: Option<Tombstone>, ops: Vec<PendingOp<R>>) -> Local<R> {
        Local { live, tomb, ops, row_dirty: false, tomb_dirty: false, ops_dirty: false }
    }
}

/// Every record a batch names, by table and primary key.
pub type Locals<R> = HashMap<(String, Pk), Local<R>>;

/// What the judgement needs to know of the device and its tables.
pub struct Context<'a> {
    pub device_id: &'a str,
    pub now_ms: u64,
    /// Whether a table gives its records an `order_key`.
    pub order_key: &'a dyn Fn(&str) -> bool,
    /// Whether a table has a `resolve` hook.
    pub resolves: &'a dyn Fn(&str) -> bool,
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

/// Judges `changes` in order against `locals` (which must hold every record
/// they name), changing the records that lose and marking what to write;
/// `clock` receives every remote HLC. A lost op whose record a change
/// names leaves `lost_ops` (journalled with it if it is that conflict).
pub fn judge_batch<R: Record>(
    ctx: &Context<'_>,
    changes: &[SyncChange<R>],
    locals: &mut Locals<R>,
    lost_ops: &mut Vec<LostOp>,
    clock: &mut HlcClock,
) -> Result<Applied<R>, SyncError> {
    let now = ctx.now_ms;
    let mut out = Applied::default();
    for c in changes {
        if let Ok(remote_hlc) = Hlc::parse(&c.stamp.hlc) {
            if let Receive::Drift { ahead_ms } = clock.receive(&remote_hlc, now) {
                out.drift_ms = Some(out.drift_ms.unwrap_or(0).max(ahead_ms));
            }
        }
        let local = locals
            .get_mut(&(c.table_name.clone(), c.pk.clone()))
            .ok_or_else(|| SyncError::Storage("record state missing".into()))?;
        let live_stamp = local.live.as_ref().and_then(row_stamp);
        let decision = judge(live_stamp.as_ref(), local.tomb.as_ref().map(|t| &t.stamp), &c.stamp);
        if decision == Decision::AlreadyHeld {
            continue;
        }
        let foreign = c.stamp.device_id != ctx.device_id;
        // Which version of ours this change meets, if it is a conflict (see
        // the module docs).
        let held_now = Held::from_parts(live_stamp.as_ref(), local.tomb.as_ref().map(|t| &t.stamp)).stamp().cloned();
        let same_write = |s: &ChangeStamp| held_now.as_ref().is_some_and(|h| h.clock == s.clock && h.hlc == s.hlc);
        let lost = lost_ops.iter().position(|l| l.table == c.table_name && l.pk == c.pk).map(|i| lost_ops.remove(i));
        let live_json = || local.live.as_ref().map(Record::to_json);
        let mine: Option<Version> = if !foreign {
            None
        } else if let Some(newest) = local.ops.last() {
            let payload = if newest.op == OpKind::Put { live_json() } else { None };
            Some(Version { op: newest.op, payload, stamp: newest.stamp.clone() })
        } else if let Some(l) = lost.filter(|l| same_write(&l.version.stamp) && decision == Decision::Apply) {
            Some(l.version)
        } else {
            held_now.as_ref().filter(|h| h.device_id == ctx.device_id && h.clock == c.stamp.clock).map(|h| {
                let live = local.live.is_some() && live_stamp.as_ref() == Some(h);
                let op = if live { OpKind::Put } else { OpKind::Delete };
                Version { op, payload: if live { live_json() } else { None }, stamp: h.clone() }
            })
        };
        if let Some(version) = mine {
            let winner = if decision == Decision::Apply { Winner::Remote } else { Winner::Local };
            // Only the side whose version lost merges, so two devices
            // never answer each other's merges with merges.
            if winner == Winner::Remote && (ctx.resolves)(&c.table_name) {
                out.merges.push(Merge {
                    table: c.table_name.clone(),
                    local: version.payload.as_ref().map(R::from_json),
                    remote: c.payload.clone(),
                });
            }
            out.conflicts.push(Conflict {
                id: None,
                table: c.table_name.clone(),
                pk: c.pk.clone(),
                local: version,
                remote: Version { op: c.op, payload: c.payload.as_ref().map(Record::to_json), stamp: c.stamp.clone() },
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
                let order_key = (ctx.order_key)(&c.table_name);
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
        let mut seen = HashSet::new();
        pks.retain(|pk| seen.insert(pk.clone()));
    }
    Ok(out)
}

/// One table's row writes: the rows to put and the keys to delete.
#[derive(Debug, Clone, PartialEq)]
pub struct RowWrites<R> {
    pub table: String,
    pub puts: Vec<R>,
    pub deletes: Vec<Pk>,
}

/// What a judged batch writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Writes<R> {
    /// One entry per table of `tables`, in its order.
    pub rows: Vec<RowWrites<R>>,
    pub tomb_puts: Vec<Tombstone>,
    pub tomb_deletes: Vec<(String, Pk)>,
    /// Ops that took a copy of their row.
    pub op_puts: Vec<PendingOp<R>>,
}

/// The writes of what [`judge_batch`] changed in `locals`, for the records
/// of `tables` (each table's keys in the order given).
pub fn writes<R>(tables: &[(String, Vec<Pk>)], mut locals: Locals<R>) -> Writes<R> {
    let mut out = Writes { rows: Vec::new(), tomb_puts: Vec::new(), tomb_deletes: Vec::new(), op_puts: Vec::new() };
    for (table, pks) in tables {
        let mut rows = RowWrites { table: table.clone(), puts: Vec::new(), deletes: Vec::new() };
        for pk in pks {
            let Some(local) = locals.remove(&(table.clone(), pk.clone())) else { continue };
            if local.row_dirty {
                match local.live {
                    Some(row) => rows.puts.push(row),
                    None => rows.deletes.push(pk.clone()),
                }
            }
            if local.tomb_dirty {
                match local.tomb {
                    Some(t) => out.tomb_puts.push(t),
                    None => out.tomb_deletes.push((table.clone(), pk.clone())),
                }
            }
            if local.ops_dirty {
                out.op_puts.extend(local.ops);
            }
        }
        out.rows.push(rows);
    }
    out
}

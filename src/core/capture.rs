//! Capture planning: what a batch of local writes to one table does, decided
//! in order against the records' current state, with no I/O.
//!
//! For each write it decides the stamp (clock one above the record's row or
//! tombstone, a fresh HLC tick, the next op id), the row (stamped, keeping
//! its `order_key` or taking the HLC as one), the tombstone (put for a
//! delete, removed by a put), and the outbox:
//! - coalescing: a write to a record whose newest op is still `Pending`
//!   replaces that op's stamp (its queue position stays);
//! - an op in flight or failed is never touched: the write gets a new op,
//!   and the older ops receive a copy of the row they were about, since the
//!   row is about to move past them.
//!
//! The engine reads the state, calls [`plan`], checks the outbox's room
//! against [`Plan::new_ops`], and issues the plan's writes in the same
//! transaction.

use std::collections::HashMap;

use super::hlc::HlcClock;
use super::record::{OpState, PendingOp, Record, Tombstone, CLOCK_FIELD, HLC_FIELD, ORDER_KEY};
use super::wire::OpKind;
use super::{ChangeStamp, Invalid, Pk};

/// One write of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Write<R> {
    Put(Pk, R),
    Delete(Pk),
}

impl<R> Write<R> {
    pub fn pk(&self) -> &Pk {
        match self {
            Write::Put(pk, _) | Write::Delete(pk) => pk,
        }
    }
}

/// What is stored about one record when the batch starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Current<R> {
    pub live: Option<R>,
    pub tomb_clock: Option<u64>,
    /// The record's ops, oldest first; those of the batch in flight marked
    /// `InFlight` (they are never coalesced into).
    pub ops: Vec<PendingOp<R>>,
}

/// The batch's fixed facts.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub table: &'a str,
    pub device_id: &'a str,
    pub now_ms: u64,
    /// The device's cursor for the table: what the writes are made on top
    /// of (see [`super::settle`]).
    pub base: u64,
    /// The table keeps an `order_key`.
    pub order_key: bool,
    /// Refuse a record that sets an engine field to something other than
    /// the stored row holds (app writes; a `resolve` hook's merge may carry
    /// either side's).
    pub strict: bool,
}

/// Everything the batch writes, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<R> {
    /// One stamp per write, in order.
    pub stamps: Vec<ChangeStamp>,
    /// Rows to put, and keys whose row goes (deleted).
    pub puts: Vec<R>,
    pub deletes: Vec<Pk>,
    pub tomb_puts: Vec<Tombstone>,
    pub tomb_deletes: Vec<Pk>,
    /// New ops (without seq) and changed ones.
    pub op_writes: Vec<PendingOp<R>>,
    /// Ops this batch adds to the outbox.
    pub new_ops: u64,
    /// Writes folded into an op still pending.
    pub coalesced: usize,
}

/// Plans `writes` against `current` (one entry per key of `pks`, the keys
/// of the writes, each once, in first-write order). `clock` advances one
/// tick per write; `op_ids` gives one id per write. A strict batch is
/// refused, whole, at the first record that sets an engine field
/// (`records[i].<field>`).
pub fn plan<R: Record>(
    ctx: &Context<'_>,
    writes: &[Write<R>],
    pks: &[Pk],
    current: Vec<Current<R>>,
    clock: &mut HlcClock,
    op_ids: impl IntoIterator<Item = String>,
) -> Result<Plan<R>, Invalid> {
    let mut state: HashMap<&Pk, (Current<R>, Vec<bool>)> = HashMap::with_capacity(pks.len());
    for (pk, cur) in pks.iter().zip(current) {
        let dirty = vec![false; cur.ops.len()];
        state.insert(pk, (cur, dirty));
    }
    let mut op_ids = op_ids.into_iter();
    let mut stamps = Vec::with_capacity(writes.len());
    let (mut new_ops, mut coalesced) = (0u64, 0usize);
    let mut tomb_writes: HashMap<&Pk, Option<Tombstone>> = HashMap::new();
    for (i, w) in writes.iter().enumerate() {
        let pk = w.pk();
        let Some((cur, dirty)) = state.get_mut(pk) else {
            return Err(Invalid::rule(format!("records[{i}]"), "its key was not read"));
        };
        if let (true, Write::Put(_, rec)) = (ctx.strict, w) {
            if let Some(field) = engine_field_set(rec, cur.live.as_ref(), ctx.order_key) {
                return Err(Invalid::rule(
                    format!("records[{i}].{field}"),
                    format!("{field} is written by the engine: leave it out, or keep the value the stored record has"),
                ));
            }
        }
        let live_clock = cur.live.as_ref().and_then(|r| r.u64_field(CLOCK_FIELD));
        let stamp = ChangeStamp {
            clock: ChangeStamp::next_clock(live_clock, cur.tomb_clock),
            hlc: clock.tick(ctx.now_ms).to_string(),
            device_id: ctx.device_id.to_string(),
            op_id: op_ids.next().unwrap_or_default(),
        };
        let (kind, new_live) = match w {
            Write::Put(_, rec) => {
                let order_key = ctx.order_key.then(|| {
                    cur.live.as_ref().and_then(|r| r.str_field(ORDER_KEY)).unwrap_or_else(|| stamp.hlc.clone())
                });
                if cur.tomb_clock.is_some() {
                    tomb_writes.insert(pk, None);
                }
                (OpKind::Put, Some(rec.stamped(stamp.clock, &stamp.hlc, order_key.as_deref())))
            }
            Write::Delete(_) => {
                let tomb = Tombstone {
                    table_name: ctx.table.to_string(),
                    pk: pk.clone(),
                    stamp: stamp.clone(),
                    deleted_at: ctx.now_ms,
                };
                tomb_writes.insert(pk, Some(tomb));
                cur.tomb_clock = Some(stamp.clock);
                (OpKind::Delete, None)
            }
        };
        match cur.ops.last_mut() {
            Some(op) if op.state == OpState::Pending => {
                op.stamp = stamp.clone();
                op.op = kind;
                op.base = ctx.base;
                op.payload = None;
                if let Some(d) = dirty.last_mut() {
                    *d = true;
                }
                coalesced += 1;
            }
            _ => {
                // Older ops can no longer read the row: give them their copy.
                for (op, d) in cur.ops.iter_mut().zip(dirty.iter_mut()) {
                    if op.payload.is_none() && op.op == OpKind::Put {
                        op.payload = cur.live.clone();
                        *d = true;
                    }
                }
                cur.ops.push(PendingOp {
                    seq: None,
                    table_name: ctx.table.to_string(),
                    pk: pk.clone(),
                    op: kind,
                    stamp: stamp.clone(),
                    state: OpState::Pending,
                    attempts: 0,
                    created_at: ctx.now_ms,
                    base: ctx.base,
                    last_error: None,
                    payload: None,
                });
                dirty.push(true);
                new_ops += 1;
            }
        }
        cur.live = new_live;
        stamps.push(stamp);
    }

    let mut out = Plan {
        stamps,
        puts: Vec::new(),
        deletes: Vec::new(),
        tomb_puts: Vec::new(),
        tomb_deletes: Vec::new(),
        op_writes: Vec::new(),
        new_ops,
        coalesced,
    };
    for pk in pks {
        let Some((cur, dirty)) = state.remove(pk) else { continue };
        match cur.live {
            Some(row) => out.puts.push(row),
            None => out.deletes.push(pk.clone()),
        }
        out.op_writes.extend(cur.ops.into_iter().zip(dirty).filter(|(_, d)| *d).map(|(op, _)| op));
        match tomb_writes.remove(pk) {
            Some(Some(t)) => out.tomb_puts.push(t),
            Some(None) => out.tomb_deletes.push(pk.clone()),
            None => {}
        }
    }
    Ok(out)
}

/// The engine field a record sets to something other than what the stored
/// row holds (a record read with `get`, changed and put back passes).
fn engine_field_set<R: Record>(rec: &R, live: Option<&R>, order_key: bool) -> Option<&'static str> {
    let fields: &[&'static str] =
        if order_key { &[CLOCK_FIELD, HLC_FIELD, ORDER_KEY] } else { &[CLOCK_FIELD, HLC_FIELD] };
    fields
        .iter()
        .copied()
        .find(|&field| rec.key_field(field).is_some_and(|set| live.and_then(|l| l.key_field(field)) != Some(set)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::hlc::HlcState;
    use serde_json::{json, Value};

    fn ctx(strict: bool) -> Context<'static> {
        Context { table: "notes", device_id: "dev-a", now_ms: 1_700_000_000_000, base: 7, order_key: false, strict }
    }

    fn key(s: &str) -> Pk {
        Pk::Str(s.into())
    }

    fn empty() -> Current<Value> {
        Current { live: None, tomb_clock: None, ops: Vec::new() }
    }

    fn run(c: &Context<'_>, writes: &[Write<Value>], current: Vec<Current<Value>>) -> Result<Plan<Value>, Invalid> {
        let pks: Vec<Pk> = {
            let mut seen = Vec::new();
            for w in writes {
                if !seen.contains(w.pk()) {
                    seen.push(w.pk().clone());
                }
            }
            seen
        };
        let mut clock = HlcClock::new("dev-a", HlcState::default(), u64::MAX);
        plan(c, writes, &pks, current, &mut clock, (0..).map(|i| format!("op-{i}")))
    }

    #[test]
    fn two_writes_to_one_new_record_make_one_pending_op() {
        let writes = vec![
            Write::Put(key("a"), json!({ "id": "a", "v": 1 })),
            Write::Put(key("a"), json!({ "id": "a", "v": 2 })),
        ];
        let p = run(&ctx(true), &writes, vec![empty()]).unwrap();
        assert_eq!(p.stamps.iter().map(|s| s.clock).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!((p.new_ops, p.coalesced), (1, 1));
        assert_eq!(p.op_writes.len(), 1);
        let op = &p.op_writes[0];
        assert_eq!((op.stamp.op_id.as_str(), op.base, op.seq), ("op-1", 7, None));
        assert_eq!(p.puts[0]["v"], 2);
        assert_eq!(p.puts[0]["clock"], 2);
        assert!(p.stamps[0].hlc < p.stamps[1].hlc, "one HLC tick per write");
    }

    #[test]
    fn a_write_behind_an_op_in_flight_gets_its_own_op_and_the_old_one_a_copy() {
        let live = json!({ "id": "a", "v": 1, "clock": 4, "hlc": "x" });
        let mut in_flight =
            run(&ctx(true), &[Write::Put(key("a"), json!({ "id": "a" }))], vec![empty()]).unwrap().op_writes;
        in_flight[0].seq = Some(1);
        in_flight[0].state = OpState::InFlight;
        let cur = Current { live: Some(live.clone()), tomb_clock: None, ops: in_flight };
        let p = run(&ctx(true), &[Write::Delete(key("a"))], vec![cur]).unwrap();
        assert_eq!((p.new_ops, p.coalesced), (1, 0));
        assert_eq!(p.op_writes.len(), 2);
        assert_eq!(p.op_writes[0].payload.as_ref(), Some(&live), "the op in flight keeps the row it was about");
        assert_eq!(p.op_writes[1].op, OpKind::Delete);
        assert_eq!(p.stamps[0].clock, 5);
        assert_eq!((p.deletes.clone(), p.tomb_puts.len()), (vec![key("a")], 1));
    }

    #[test]
    fn a_put_over_a_tombstone_removes_it_and_clocks_above_it() {
        let cur = Current { live: None, tomb_clock: Some(9), ops: Vec::new() };
        let p = run(&ctx(true), &[Write::Put(key("a"), json!({ "id": "a" }))], vec![cur]).unwrap();
        assert_eq!(p.stamps[0].clock, 10);
        assert_eq!(p.tomb_deletes, vec![key("a")]);
        assert!(p.tomb_puts.is_empty());
    }

    #[test]
    fn a_strict_batch_refuses_an_engine_field_and_a_merge_may_carry_one() {
        let live = json!({ "id": "a", "clock": 4, "hlc": "x" });
        let cur = || Current { live: Some(live.clone()), tomb_clock: None, ops: Vec::new() };
        let writes = vec![
            Write::Put(key("a"), json!({ "id": "a", "clock": 4, "hlc": "x", "v": 1 })),
            Write::Put(key("a"), json!({ "id": "a", "clock": 99 })),
        ];
        let err = run(&ctx(true), &writes, vec![cur()]).unwrap_err();
        assert_eq!(err.path, "records[1].clock", "the row as the first write left it is what counts");
        assert!(run(&ctx(false), &writes, vec![cur()]).is_ok());
    }

    #[test]
    fn order_keys_are_kept_or_taken_from_the_hlc() {
        let c = Context { order_key: true, ..ctx(true) };
        let kept = Current { live: Some(json!({ "id": "a", "order_key": "k1" })), tomb_clock: None, ops: Vec::new() };
        let p = run(
            &c,
            &[
                Write::Put(key("a"), json!({ "id": "a", "order_key": "k1" })),
                Write::Put(key("b"), json!({ "id": "b" })),
            ],
            vec![kept, empty()],
        )
        .unwrap();
        assert_eq!(p.puts[0]["order_key"], "k1");
        assert_eq!(p.puts[1]["order_key"], Value::String(p.stamps[1].hlc.clone()));
    }
}

//! Judging remote changes with no store: each test gives `judge_batch`
//! what a device holds for a few records and asserts what the batch
//! decides (rows, tombstones, op copies, conflicts, merges) and what
//! `writes` would write.

use serde_json::{json, Value};
use tidesync::core::conflict::{LostOp, Version, Winner};
use tidesync::core::judge::{judge_batch, writes, Applied, Context, Local, Locals, Merge, RowWrites};
use tidesync::core::wire::{OpKind, SyncChange};
use tidesync::core::{ChangeStamp, Hlc, HlcClock, HlcState, Pk, SyncError};
use tidesync::store::{OpState, PendingOp, Tombstone};

const ME: &str = "dev-me";
const THEM: &str = "dev-them";
const NOW: u64 = 1_700_000_100_000;
/// Past this, a remote HLC counts as drift.
const DRIFT_MS: u64 = 60_000;

fn hlc(ms: u64, device: &str) -> String {
    Hlc { ms, counter: 0, device_id: device.into() }.to_string()
}

fn stamp(clock: u64, ms: u64, device: &str) -> ChangeStamp {
    ChangeStamp { clock, hlc: hlc(ms, device), device_id: device.into(), op_id: format!("op-{device}-{clock}-{ms}") }
}

/// A stored row carrying `s`.
fn row(id: &str, text: &str, s: &ChangeStamp) -> Value {
    json!({ "id": id, "text": text, "clock": s.clock, "hlc": s.hlc })
}

fn put(id: &str, text: &str, s: ChangeStamp) -> SyncChange<Value> {
    SyncChange {
        table_name: "notes".into(),
        pk: id.into(),
        op: OpKind::Put,
        payload: Some(json!({ "id": id, "text": text })),
        server_version: 1,
        stamp: s,
    }
}

fn delete(id: &str, s: ChangeStamp) -> SyncChange<Value> {
    SyncChange {
        table_name: "notes".into(),
        pk: id.into(),
        op: OpKind::Delete,
        payload: None,
        server_version: 1,
        stamp: s,
    }
}

fn op(id: &str, s: ChangeStamp) -> PendingOp<Value> {
    PendingOp {
        seq: Some(1),
        table_name: "notes".into(),
        pk: id.into(),
        op: OpKind::Put,
        stamp: s,
        state: OpState::Pending,
        attempts: 0,
        created_at: NOW - 10,
        base: 0,
        last_error: None,
        payload: None,
    }
}

fn key(id: &str) -> (String, Pk) {
    ("notes".to_string(), id.into())
}

fn locals(entries: Vec<(&str, Local<Value>)>) -> Locals<Value> {
    entries.into_iter().map(|(id, l)| (key(id), l)).collect()
}

/// Judges `changes` as device ME, `resolves` telling whether `notes` has a hook.
fn run(
    changes: &[SyncChange<Value>],
    held: &mut Locals<Value>,
    lost: &mut Vec<LostOp>,
    resolves: bool,
) -> Result<(Applied<Value>, HlcClock), SyncError> {
    let mut clock = HlcClock::new(ME, HlcState { ms: NOW - 1_000, counter: 0 }, DRIFT_MS);
    let ctx = Context { device_id: ME, now_ms: NOW, order_key: &|_| false, resolves: &|_| resolves };
    let applied = judge_batch(&ctx, changes, held, lost, &mut clock)?;
    Ok((applied, clock))
}

#[test]
fn a_new_record_is_written_stamped() {
    let s = stamp(1, NOW - 5, THEM);
    let mut held = locals(vec![("a", Local::new(None, None, vec![]))]);
    let (out, _) = run(&[put("a", "hello", s.clone())], &mut held, &mut vec![], false).unwrap();
    assert_eq!(out.applied, 1);
    assert_eq!(out.changed, vec![("notes".to_string(), vec![Pk::from("a")])]);
    assert!(out.conflicts.is_empty());
    let a = &held[&key("a")];
    assert_eq!(a.live, Some(row("a", "hello", &s)));
    assert!(a.row_dirty && !a.tomb_dirty && !a.ops_dirty);
}

#[test]
fn an_older_version_is_refused_and_nothing_is_written() {
    let mine = stamp(5, NOW - 50, ME);
    let mut held = locals(vec![("a", Local::new(Some(row("a", "mine", &mine)), None, vec![]))]);
    let (out, _) = run(&[put("a", "old", stamp(3, NOW - 5, THEM))], &mut held, &mut vec![], false).unwrap();
    assert_eq!(out.applied, 0);
    assert!(out.changed.is_empty());
    assert_eq!(held[&key("a")].live, Some(row("a", "mine", &mine)));
    let w = writes(&[("notes".to_string(), vec![Pk::from("a")])], held);
    assert_eq!(w.rows, vec![RowWrites { table: "notes".into(), puts: vec![], deletes: vec![] }]);
    assert!(w.tomb_puts.is_empty() && w.tomb_deletes.is_empty() && w.op_puts.is_empty());
}

#[test]
fn a_version_already_held_is_skipped() {
    let s = stamp(2, NOW - 5, THEM);
    let mut held = locals(vec![("a", Local::new(Some(row("a", "same", &s)), None, vec![]))]);
    let (out, _) = run(&[put("a", "same", s)], &mut held, &mut vec![], false).unwrap();
    assert_eq!(out.applied, 0);
    assert!(!held[&key("a")].row_dirty);
}

#[test]
fn a_remote_delete_leaves_a_tombstone_and_a_put_removes_one() {
    let old = stamp(1, NOW - 500, THEM);
    let del = stamp(2, NOW - 5, THEM);
    let dead = Tombstone { table_name: "notes".into(), pk: "b".into(), stamp: old.clone(), deleted_at: NOW - 400 };
    let mut held = locals(vec![
        ("a", Local::new(Some(row("a", "x", &old)), None, vec![])),
        ("b", Local::new(None, Some(dead), vec![])),
    ]);
    let back = stamp(2, NOW - 4, THEM);
    let (out, _) =
        run(&[delete("a", del.clone()), put("b", "back", back.clone())], &mut held, &mut vec![], false).unwrap();
    assert_eq!(out.applied, 2);
    let w = writes(&[("notes".to_string(), vec![Pk::from("a"), Pk::from("b")])], held);
    assert_eq!(w.rows[0].deletes, vec![Pk::from("a")]);
    assert_eq!(w.rows[0].puts, vec![row("b", "back", &back)]);
    assert_eq!(
        w.tomb_puts,
        vec![Tombstone { table_name: "notes".into(), pk: "a".into(), stamp: del, deleted_at: NOW }]
    );
    assert_eq!(w.tomb_deletes, vec![key("b")]);
}

#[test]
fn a_newer_remote_version_over_an_unsynced_op_is_a_conflict_the_remote_wins() {
    let mine = stamp(2, NOW - 50, ME);
    let local_row = row("a", "mine", &mine);
    let mut held = locals(vec![("a", Local::new(Some(local_row.clone()), None, vec![op("a", mine.clone())]))]);
    let theirs = stamp(3, NOW - 5, THEM);
    let (out, _) = run(&[put("a", "theirs", theirs.clone())], &mut held, &mut vec![], true).unwrap();
    assert_eq!(out.applied, 1);
    assert_eq!(out.conflicts.len(), 1);
    let c = &out.conflicts[0];
    assert_eq!(c.winner, Winner::Remote);
    assert_eq!(c.local, Version { op: OpKind::Put, payload: Some(local_row.clone()), stamp: mine });
    assert_eq!(c.remote.stamp, theirs);
    assert_eq!(c.at, NOW);
    // The hook sees both versions; the op keeps a copy of the row it was about.
    assert_eq!(
        out.merges,
        vec![Merge {
            table: "notes".into(),
            local: Some(local_row.clone()),
            remote: Some(json!({ "id": "a", "text": "theirs" }))
        }]
    );
    let a = &held[&key("a")];
    assert!(a.ops_dirty);
    assert_eq!(a.ops[0].payload, Some(local_row));
    assert_eq!(a.live, Some(row("a", "theirs", &theirs)));
}

#[test]
fn an_older_remote_version_over_an_unsynced_op_is_a_conflict_the_local_side_wins() {
    let mine = stamp(4, NOW - 50, ME);
    let mut held = locals(vec![("a", Local::new(Some(row("a", "mine", &mine)), None, vec![op("a", mine.clone())]))]);
    let (out, _) = run(&[put("a", "theirs", stamp(3, NOW - 5, THEM))], &mut held, &mut vec![], true).unwrap();
    assert_eq!(out.applied, 0);
    assert_eq!(out.conflicts.len(), 1);
    assert_eq!(out.conflicts[0].winner, Winner::Local);
    // Only the side that lost merges.
    assert!(out.merges.is_empty());
    let a = &held[&key("a")];
    assert!(!a.row_dirty && !a.ops_dirty);
    assert_eq!(a.ops[0].payload, None);
}

#[test]
fn this_devices_own_change_coming_back_is_no_conflict() {
    let mine = stamp(2, NOW - 50, ME);
    let newer = stamp(3, NOW - 40, ME);
    let mut held = locals(vec![("a", Local::new(Some(row("a", "v2", &mine)), None, vec![op("a", mine)]))]);
    let (out, _) = run(&[put("a", "v3", newer)], &mut held, &mut vec![], true).unwrap();
    assert_eq!(out.applied, 1);
    assert!(out.conflicts.is_empty() && out.merges.is_empty());
}

#[test]
fn a_lost_op_meets_the_version_that_beat_it() {
    let mine = stamp(2, NOW - 50, ME);
    let local_row = row("a", "mine", &mine);
    let lost_version = Version { op: OpKind::Put, payload: Some(local_row.clone()), stamp: mine.clone() };
    let other = LostOp { table: "notes".into(), pk: "z".into(), version: lost_version.clone() };
    let mut lost = vec![LostOp { table: "notes".into(), pk: "a".into(), version: lost_version.clone() }, other.clone()];
    let mut held = locals(vec![("a", Local::new(Some(local_row), None, vec![]))]);
    let (out, _) = run(&[put("a", "winner", stamp(3, NOW - 5, THEM))], &mut held, &mut lost, false).unwrap();
    assert_eq!(out.conflicts.len(), 1);
    assert_eq!(out.conflicts[0].local, lost_version);
    assert_eq!(out.conflicts[0].winner, Winner::Remote);
    // The record's lost op is settled; the other one waits for its record.
    assert_eq!(lost, vec![other]);
}

#[test]
fn a_remote_clock_far_ahead_is_applied_but_not_merged_into_the_clock() {
    let far = stamp(1, NOW + 10 * DRIFT_MS, THEM);
    let near = stamp(1, NOW + 10, THEM);
    let mut held = locals(vec![("a", Local::new(None, None, vec![])), ("b", Local::new(None, None, vec![]))]);
    let (out, clock) = run(&[put("a", "far", far), put("b", "near", near)], &mut held, &mut vec![], false).unwrap();
    assert_eq!(out.applied, 2);
    assert_eq!(out.drift_ms, Some(10 * DRIFT_MS));
    // The near one is merged: the clock stands at or above it, below the far one.
    let state = clock.state();
    assert!(state.ms >= NOW + 10 && state.ms < NOW + DRIFT_MS, "{state:?}");
}

#[test]
fn a_record_named_twice_is_judged_in_order_and_changed_once() {
    let first = stamp(1, NOW - 10, THEM);
    let second = stamp(2, NOW - 5, THEM);
    let mut held = locals(vec![("a", Local::new(None, None, vec![]))]);
    let batch = [put("a", "one", first), put("a", "two", second.clone())];
    let (out, _) = run(&batch, &mut held, &mut vec![], false).unwrap();
    assert_eq!(out.applied, 2);
    assert_eq!(out.changed, vec![("notes".to_string(), vec![Pk::from("a")])]);
    assert_eq!(held[&key("a")].live, Some(row("a", "two", &second)));
}

#[test]
fn a_change_of_a_record_not_read_is_an_error_not_a_guess() {
    let mut held = locals(vec![]);
    let err = run(&[put("a", "x", stamp(1, NOW, THEM))], &mut held, &mut vec![], false).unwrap_err();
    assert_eq!(err.code(), "STORAGE");
}

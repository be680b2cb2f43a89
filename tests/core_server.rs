//! The server-side apply algorithm (`tidesync::core::server`): idempotent push,
//! LWW with tombstones, the compacted change log, pagination and filters,
//! cursors, history purge and GC, authorization and workspace isolation, and
//! convergence whatever the delivery order. Each test is named after what it
//! shows.

#![cfg(not(target_arch = "wasm32"))]

use serde_json::{json, Value};
use tidesync::core::server::{filter_changes, RecordState, ServerState};
use tidesync::core::wire::{OpKind, PullRequest, PullResponse, PushBatch, PushOp, SyncChange, SyncScope};
use tidesync::core::{ChangeStamp, Hlc, Pk, SyncError};

/// A plausible wall-clock time (2023-11-14), in milliseconds.
const T0: u64 = 1_700_000_000_000;

type Server = ServerState<Value>;

fn scope(ws: &str, project: Option<&str>) -> SyncScope {
    SyncScope { workspace_id: ws.to_string(), project_id: project.map(str::to_string) }
}

fn stamp(clock: u64, ms: u64, device: &str, op_id: &str) -> ChangeStamp {
    let hlc = Hlc { ms, counter: 0, device_id: device.to_string() };
    ChangeStamp { clock, hlc: hlc.to_string(), device_id: device.to_string(), op_id: op_id.to_string() }
}

fn put_op(table: &str, pk: impl Into<Pk>, st: ChangeStamp) -> PushOp<Value> {
    PushOp {
        op_id: st.op_id.clone(),
        table_name: table.to_string(),
        op: OpKind::Put,
        pk: pk.into(),
        payload: Some(json!({ "by": st.op_id })),
        stamp: st,
    }
}

fn delete_op(table: &str, pk: impl Into<Pk>, st: ChangeStamp) -> PushOp<Value> {
    PushOp {
        op_id: st.op_id.clone(),
        table_name: table.to_string(),
        op: OpKind::Delete,
        pk: pk.into(),
        payload: None,
        stamp: st,
    }
}

/// A put of `t/pk` by device `d` with clock 1 and a distinct HLC.
fn simple_put(table: &str, pk: &str, op_id: &str, ms: u64) -> PushOp<Value> {
    put_op(table, pk, stamp(1, ms, "d", op_id))
}

fn batch(ws: &str, project: Option<&str>, ops: Vec<PushOp<Value>>) -> PushBatch<Value> {
    PushBatch { scope: scope(ws, project), device_id: "d".to_string(), ops }
}

fn request(ws: &str, project: Option<&str>, cursor: u64, limit: u64) -> PullRequest {
    PullRequest { scope: scope(ws, project), cursor, limit, tables: None }
}

fn pull(server: &Server, ws: &str, cursor: u64) -> PullResponse<Value> {
    server.pull(&request(ws, None, cursor, 1000)).unwrap()
}

fn record<'a>(snap: &'a [RecordState<Value>], table: &str, pk: &str) -> &'a RecordState<Value> {
    let pk = Pk::from(pk);
    snap.iter().find(|r| r.table_name == table && r.pk == pk).expect("record in snapshot")
}

fn versions(changes: &[SyncChange<Value>]) -> Vec<u64> {
    changes.iter().map(|c| c.server_version).collect()
}

#[test]
fn idempotent_push_same_batch_twice_gives_same_results_and_changes_nothing() {
    let mut server = Server::new();
    let b = batch(
        "w1",
        None,
        vec![
            simple_put("t", "a", "op-1", T0),
            simple_put("t", "b", "op-2", T0 + 1),
            delete_op("t", "a", stamp(2, T0 + 2, "d", "op-3")),
        ],
    );
    let first = server.push(&b, T0);
    assert_eq!(server.server_version("w1"), 3);
    assert_eq!(server.applied_ops("w1"), 3);
    let snap = server.snapshot("w1");

    let second = server.push(&b, T0 + 10);
    assert_eq!(second.result, first.result);
    assert!(second.applied.is_empty());
    assert_eq!(second.from_cursor, 3);
    assert_eq!(server.server_version("w1"), 3);
    assert_eq!(server.applied_ops("w1"), 3);
    assert_eq!(server.seen_ops("w1"), 3);
    assert_eq!(server.snapshot("w1"), snap);
    let got: Vec<_> = first.result.results.iter().map(|r| r.server_version).collect();
    assert_eq!(got, vec![Some(1), Some(2), Some(3)]);
    assert!(first.result.results.iter().all(|r| r.success));
}

#[test]
fn resent_op_keeps_the_version_it_got_or_none_if_it_lost() {
    let mut server = Server::new();
    let winner = put_op("t", "a", stamp(5, T0, "d", "win"));
    let loser = put_op("t", "a", stamp(1, T0, "d", "lose"));
    server.push(&batch("w1", None, vec![winner.clone(), loser.clone()]), T0);
    // The record changes again: the resent winner still reports version 1.
    server.push(&batch("w1", None, vec![put_op("t", "a", stamp(9, T0, "d", "later"))]), T0);
    let again = server.push(&batch("w1", None, vec![winner, loser]), T0);
    assert_eq!(again.result.results[0].server_version, Some(1));
    assert_eq!(again.result.results[1].server_version, None);
    assert!(again.result.results.iter().all(|r| r.success));
    assert_eq!(server.server_version("w1"), 2);
    assert_eq!((server.applied_ops("w1"), server.seen_ops("w1")), (2, 3));
}

#[test]
fn duplicate_op_id_inside_one_batch_is_applied_once() {
    let mut server = Server::new();
    let op = simple_put("t", "a", "op-1", T0);
    let out = server.push(&batch("w1", None, vec![op.clone(), op]), T0);
    assert_eq!(out.applied.len(), 1);
    assert_eq!(out.result.results[1].server_version, Some(1));
    assert_eq!(server.server_version("w1"), 1);
}

#[test]
fn lww_put_put_higher_clock_wins_in_either_order() {
    for reversed in [false, true] {
        let mut server = Server::new();
        // The lower clock has the later HLC: clock decides first.
        let high = put_op("t", "a", stamp(3, T0, "d1", "high"));
        let low = put_op("t", "a", stamp(2, T0 + 99_999, "d2", "low"));
        let mut ops = vec![high, low];
        if reversed {
            ops.reverse();
        }
        for op in ops {
            server.push(&batch("w1", None, vec![op]), T0);
        }
        let snap = server.snapshot("w1");
        assert_eq!(record(&snap, "t", "a").stamp.op_id, "high");
        assert_eq!(record(&snap, "t", "a").payload, Some(json!({ "by": "high" })));
    }
}

#[test]
fn lww_put_put_same_clock_higher_hlc_wins() {
    let mut server = Server::new();
    let later = put_op("t", "a", stamp(1, T0 + 5, "d1", "later"));
    let earlier = put_op("t", "a", stamp(1, T0, "d2", "earlier"));
    let out = server.push(&batch("w1", None, vec![later, earlier]), T0);
    assert_eq!(out.result.results[0].server_version, Some(1));
    assert!(out.result.results[1].success);
    assert_eq!(out.result.results[1].server_version, None);
    assert_eq!(out.applied.len(), 1);
    assert_eq!(record(&server.snapshot("w1"), "t", "a").stamp.op_id, "later");
    assert_eq!((server.applied_ops("w1"), server.seen_ops("w1")), (1, 2));
}

#[test]
fn put_older_than_tombstone_is_acknowledged_not_applied_and_pull_shows_the_delete() {
    let mut server = Server::new();
    server.push(&batch("w1", None, vec![simple_put("t", "a", "p1", T0)]), T0);
    let del = delete_op("t", "a", stamp(2, T0 + 10, "d", "del"));
    server.push(&batch("w1", None, vec![del]), T0);
    // Arrives late, created before the delete.
    let stale = put_op("t", "a", stamp(2, T0 + 5, "d2", "stale"));
    let out = server.push(&batch("w1", None, vec![stale]), T0);
    assert!(out.result.results[0].success);
    assert_eq!(out.result.results[0].server_version, None);
    assert!(out.applied.is_empty());
    assert_eq!(server.server_version("w1"), 2);

    let rec = record(&server.snapshot("w1"), "t", "a").clone();
    assert_eq!((rec.payload, rec.stamp.op_id, rec.version), (None, "del".into(), 2));
    let page = pull(&server, "w1", 0);
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].op, OpKind::Delete);
    assert_eq!(page.changes[0].payload, None);
    assert_eq!(page.changes[0].stamp.op_id, "del");
}

#[test]
fn newer_put_beats_a_tombstone() {
    let mut server = Server::new();
    let del = delete_op("t", "a", stamp(2, T0, "d", "del"));
    let newer = put_op("t", "a", stamp(3, T0 + 1, "d", "back"));
    let out = server.push(&batch("w1", None, vec![del, newer]), T0);
    assert_eq!(versions(&out.applied), vec![1, 2]);
    let rec = record(&server.snapshot("w1"), "t", "a").clone();
    assert_eq!(rec.payload, Some(json!({ "by": "back" })));
    let page = pull(&server, "w1", 0);
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].op, OpKind::Put);
}

#[test]
fn pagination_25_changes_limit_10_gives_10_10_5_without_skips_or_repeats() {
    let mut server = Server::new();
    let ops = (0..25).map(|i| simple_put("t", &format!("k{i:02}"), &format!("op{i}"), T0 + i)).collect();
    server.push(&batch("w1", None, ops), T0);

    let mut cursor = 0;
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page = server.pull(&request("w1", None, cursor, 10)).unwrap();
        assert!(page.next_cursor > cursor || !page.has_more);
        pages.push((page.changes.len(), page.has_more, page.remaining, page.next_cursor));
        seen.extend(versions(&page.changes));
        cursor = page.next_cursor;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(pages, vec![(10, true, Some(15), 10), (10, true, Some(5), 20), (5, false, Some(0), 25)]);
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());
    // Caught up: an empty page that stays at the server's version.
    let tail = server.pull(&request("w1", None, 25, 10)).unwrap();
    assert_eq!((tail.changes.len(), tail.has_more, tail.next_cursor), (0, false, 25));
}

#[test]
fn tables_filter_keeps_only_those_tables_and_next_cursor_passes_filtered_changes() {
    let mut server = Server::new();
    let ops = vec![
        simple_put("a", "1", "o1", T0),
        simple_put("b", "1", "o2", T0 + 1),
        simple_put("a", "2", "o3", T0 + 2),
        simple_put("b", "2", "o4", T0 + 3),
        simple_put("c", "1", "o5", T0 + 4),
    ];
    server.push(&batch("w1", None, ops), T0);
    let mut req = request("w1", None, 0, 100);
    req.tables = Some(vec!["a".into()]);
    let page = server.pull(&req).unwrap();
    assert_eq!(versions(&page.changes), vec![1, 3]);
    assert!(page.changes.iter().all(|c| c.table_name == "a"));
    assert_eq!((page.next_cursor, page.has_more, page.remaining), (5, false, Some(0)));

    // Paged: hasMore and remaining count only matching changes.
    req.tables = Some(vec!["a".into(), "b".into()]);
    req.limit = 3;
    let first = server.pull(&req).unwrap();
    assert_eq!(versions(&first.changes), vec![1, 2, 3]);
    assert_eq!((first.next_cursor, first.has_more, first.remaining), (3, true, Some(1)));
    req.cursor = first.next_cursor;
    let second = server.pull(&req).unwrap();
    assert_eq!(versions(&second.changes), vec![4]);
    assert_eq!((second.next_cursor, second.has_more), (5, false));
}

#[test]
fn project_filter_keeps_only_that_projects_changes_and_next_cursor_passes_the_rest() {
    let mut server = Server::new();
    server.push(&batch("w1", Some("p1"), vec![simple_put("t", "a", "o1", T0)]), T0);
    server.push(&batch("w1", Some("p2"), vec![simple_put("t", "b", "o2", T0)]), T0);
    server.push(&batch("w1", None, vec![simple_put("t", "c", "o3", T0)]), T0);
    server.push(&batch("w1", Some("p2"), vec![simple_put("t", "d", "o4", T0)]), T0);

    let p1 = server.pull(&request("w1", Some("p1"), 0, 100)).unwrap();
    assert_eq!(versions(&p1.changes), vec![1]);
    assert_eq!((p1.next_cursor, p1.has_more), (4, false));
    let p2 = server.pull(&request("w1", Some("p2"), 0, 1)).unwrap();
    assert_eq!(versions(&p2.changes), vec![2]);
    assert_eq!((p2.next_cursor, p2.has_more, p2.remaining), (2, true, Some(1)));
    let p2 = server.pull(&request("w1", Some("p2"), 2, 1)).unwrap();
    assert_eq!(versions(&p2.changes), vec![4]);
    assert_eq!((p2.next_cursor, p2.has_more), (4, false));
    // No project filter: everything.
    assert_eq!(versions(&pull(&server, "w1", 0).changes), vec![1, 2, 3, 4]);
}

#[test]
fn compaction_three_writes_to_one_record_pull_from_zero_gives_one_change() {
    let mut server = Server::new();
    for (i, clock) in [1u64, 2, 3].into_iter().enumerate() {
        let op = put_op("t", "a", stamp(clock, T0, "d", &format!("w{i}")));
        server.push(&batch("w1", None, vec![op]), T0);
    }
    server.push(&batch("w1", None, vec![simple_put("t", "b", "other", T0)]), T0);
    let page = pull(&server, "w1", 0);
    assert_eq!(versions(&page.changes), vec![3, 4]);
    assert_eq!(page.changes[0].stamp.op_id, "w2");
    assert_eq!(page.next_cursor, 4);
    // A cursor past the old entries still sees the latest change once.
    assert_eq!(versions(&pull(&server, "w1", 1).changes), vec![3, 4]);

    // The log stays bounded by the number of records.
    for i in 0..100u64 {
        let op = put_op("t", "a", stamp(10 + i, T0, "d", &format!("x{i}")));
        server.push(&batch("w1", None, vec![op]), T0);
    }
    let page = pull(&server, "w1", 0);
    assert_eq!(page.changes.len(), 2);
    assert_eq!(page.remaining, Some(0));
}

#[test]
fn cursor_expired_after_purge_history_between_zero_and_watermark_and_cursor_zero_still_works() {
    let mut server = Server::new();
    let ops = (0..10).map(|i| simple_put("t", &format!("k{i}"), &format!("o{i}"), T0 + i)).collect();
    server.push(&batch("w1", None, ops), T0);
    server.purge_history("w1", 6);
    for cursor in 1..6 {
        let err = server.pull(&request("w1", None, cursor, 100)).unwrap_err();
        assert!(matches!(err, SyncError::CursorExpired(_)), "{cursor}: {err:?}");
        assert_eq!(err.code(), "CURSOR_EXPIRED");
    }
    assert_eq!(pull(&server, "w1", 6).changes.len(), 4);
    let full = pull(&server, "w1", 0);
    assert_eq!((full.changes.len(), full.next_cursor), (10, 10));
    // The watermark never moves back, and never above the server's version.
    server.purge_history("w1", 2);
    assert!(server.pull(&request("w1", None, 5, 100)).is_err());
    server.purge_history("w1", 1_000);
    assert!(server.pull(&request("w1", None, 10, 100)).is_ok());
    assert!(server.pull(&request("w1", None, 9, 100)).is_err());
}

#[test]
fn pull_with_cursor_above_server_version_is_invalid() {
    let mut server = Server::new();
    server.push(&batch("w1", None, vec![simple_put("t", "a", "o", T0)]), T0);
    let err = server.pull(&request("w1", None, 2, 10)).unwrap_err();
    assert_eq!(err.code(), "INVALID");
    let err = server.pull(&request("nowhere", None, 1, 10)).unwrap_err();
    assert_eq!(err.code(), "INVALID");
    let empty = server.pull(&request("nowhere", None, 0, 10)).unwrap();
    assert_eq!((empty.changes.len(), empty.next_cursor, empty.has_more), (0, 0, false));
}

#[test]
fn update_cursor_keeps_the_max_and_rejects_versions_above_server_version() {
    let mut server = Server::new();
    let ops = (0..3).map(|i| simple_put("t", &format!("k{i}"), &format!("o{i}"), T0)).collect();
    server.push(&batch("w1", None, ops), T0);
    let s = scope("w1", None);
    let err = server.update_cursor(&s, "dev", 4).unwrap_err();
    assert_eq!(err.code(), "INVALID");
    server.update_cursor(&s, "dev", 3).unwrap();
    server.update_cursor(&s, "dev", 1).unwrap();
    // The device is at 3, not 1: a tombstone at version 3 is GC-able.
    let del = delete_op("t", "k0", stamp(2, T0, "d", "del"));
    server.push(&batch("w1", None, vec![del]), T0);
    server.update_cursor(&s, "dev", 4).unwrap();
    server.update_cursor(&s, "dev", 2).unwrap();
    assert_eq!(server.gc("w1", T0 + 60_000, 60_000), 1);
}

#[test]
fn gc_purges_only_tombstones_older_than_retention_and_below_every_device_cursor() {
    let mut server = Server::new();
    let s = scope("w1", None);
    let push = |server: &mut Server, op, now| server.push(&batch("w1", None, vec![op]), now);
    push(&mut server, simple_put("t", "a", "pa", T0), T0); // v1
    push(&mut server, simple_put("t", "b", "pb", T0), T0); // v2
    push(&mut server, delete_op("t", "a", stamp(2, T0, "d", "da")), T0); // v3
    push(&mut server, delete_op("t", "b", stamp(2, T0, "d", "db")), T0 + 50_000); // v4
    push(&mut server, simple_put("t", "c", "pc", T0), T0); // v5
    server.update_cursor(&s, "d1", 5).unwrap();
    server.update_cursor(&s, "d2", 3).unwrap();

    // Retention below the minimum is raised to 60 s: nothing is old enough.
    assert_eq!(server.gc("w1", T0 + 30_000, 1_000), 0);
    // v3 is 70 s old and every device has pulled it; v4 is 20 s old and d2 is at 3.
    assert_eq!(server.gc("w1", T0 + 70_000, 0), 1);
    assert_eq!(versions(&pull(&server, "w1", 0).changes), vec![4, 5]);
    assert!(server.pull(&request("w1", None, 2, 10)).is_err());
    assert!(server.pull(&request("w1", None, 3, 10)).is_ok());

    // v4 is old enough now, but d2 has not pulled it.
    assert_eq!(server.gc("w1", T0 + 500_000, 60_000), 0);
    // A long retention keeps it even once every device has.
    server.update_cursor(&s, "d2", 5).unwrap();
    assert_eq!(server.gc("w1", T0 + 500_000, 10_000_000), 0);
    assert_eq!(server.gc("w1", T0 + 500_000, 60_000), 1);
    assert_eq!(versions(&pull(&server, "w1", 0).changes), vec![5]);
    let err = server.pull(&request("w1", None, 3, 10)).unwrap_err();
    assert_eq!(err.code(), "CURSOR_EXPIRED");
    // Live rows are never purged.
    assert_eq!(server.gc("w1", u64::MAX, 60_000), 0);

    // The purged tombstone still stops an older put (no resurrection).
    let stale = push(&mut server, put_op("t", "a", stamp(1, T0 + 1, "d9", "stale")), T0);
    assert!(stale.applied.is_empty());
    let rec = record(&server.snapshot("w1"), "t", "a").clone();
    assert_eq!((rec.payload, rec.stamp.op_id), (None, "da".to_string()));
}

#[test]
fn auth_open_mode_accepts_any_token_and_no_token() {
    let server = Server::new();
    assert_eq!(server.authorize(None, &scope("w1", None)), Ok(()));
    assert_eq!(server.authorize(Some("whatever"), &scope("w2", Some("p"))), Ok(()));
}

#[test]
fn auth_after_grant_unknown_or_missing_token_is_auth_and_other_workspace_is_forbidden() {
    let mut server = Server::new();
    server.grant("t1", "w1");
    server.grant("t2", "w2");
    server.grant("t2", "w3");
    assert_eq!(server.authorize(Some("t1"), &scope("w1", Some("p"))), Ok(()));
    assert_eq!(server.authorize(Some("t2"), &scope("w3", None)), Ok(()));
    let code = |t: Option<&str>, ws: &str| server.authorize(t, &scope(ws, None)).unwrap_err().code();
    assert_eq!(code(Some("nope"), "w1"), "AUTH");
    assert_eq!(code(None, "w1"), "AUTH");
    assert_eq!(code(Some("t1"), "w2"), "FORBIDDEN");
    assert_eq!(code(Some("t2"), "w1"), "FORBIDDEN");
}

#[test]
fn workspaces_are_isolated_push_to_w1_is_invisible_in_w2() {
    let mut server = Server::new();
    server.push(&batch("w1", None, vec![simple_put("t", "a", "o1", T0)]), T0);
    let page = pull(&server, "w2", 0);
    assert!(page.changes.is_empty());
    assert_eq!(page.next_cursor, 0);
    assert_eq!(server.server_version("w2"), 0);
    assert!(server.snapshot("w2").is_empty());
    // The same opId in another workspace is a different op.
    let out = server.push(&batch("w2", None, vec![simple_put("t", "a", "o1", T0)]), T0);
    assert_eq!(out.result.results[0].server_version, Some(1));
    assert_eq!(out.from_cursor, 0);
    // Cursors, purges and GC of one workspace do not touch the other.
    server.purge_history("w1", 1);
    assert!(server.update_cursor(&scope("w2", None), "d", 1).is_ok());
    assert_eq!(pull(&server, "w2", 0).changes.len(), 1);
    assert_eq!((server.applied_ops("w1"), server.applied_ops("w2")), (1, 1));
    assert_eq!(server.seen_ops("nowhere"), 0);
}

#[test]
fn from_cursor_equals_the_previous_server_version() {
    let mut server = Server::new();
    let mut previous = 0;
    for i in 0..4u64 {
        let ops = (0..=i).map(|j| simple_put("t", &format!("k{j}"), &format!("o{i}-{j}"), T0 + i)).collect();
        let out = server.push(&batch("w1", None, ops), T0);
        assert_eq!(out.from_cursor, previous);
        assert_eq!(out.applied.first().map(|c| c.server_version), Some(previous + 1));
        previous = server.server_version("w1");
        assert_eq!(out.result.server_version, Some(previous));
        assert_eq!(versions(&out.applied), (out.from_cursor + 1..=previous).collect::<Vec<_>>());
    }
}

#[test]
fn fan_out_filter_keeps_the_subscribers_tables_and_project() {
    let mut server = Server::new();
    let ops = vec![simple_put("a", "1", "o1", T0), simple_put("b", "1", "o2", T0)];
    let out = server.push(&batch("w1", Some("p1"), ops), T0);
    assert_eq!(out.project_id.as_deref(), Some("p1"));
    let a = vec!["a".to_string()];
    assert_eq!(versions(&filter_changes(&out.applied, &a, None)), vec![1]);
    assert_eq!(versions(&filter_changes(&out.applied, &[], None)), vec![1, 2]);
    assert_eq!(versions(&out.for_subscriber(&a, Some("p1"))), vec![1]);
    assert_eq!(versions(&out.for_subscriber(&[], None)), vec![1, 2]);
    assert!(out.for_subscriber(&[], Some("p2")).is_empty());
    // A bare change slice does not know its project: never leak to another one.
    assert!(filter_changes(&out.applied, &[], Some("p2")).is_empty());
}

// ------------------------------------------------------------ randomized

/// SplitMix64: a small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

/// Three devices, five keys, random puts and deletes with random stamps, cut
/// into random batches; returns every batch (each op exactly once).
fn random_batches(rng: &mut Rng) -> Vec<PushBatch<Value>> {
    let mut batches = Vec::new();
    for dev in ["dev-a", "dev-b", "dev-c"] {
        let mut ops = Vec::new();
        for i in 0..30 {
            let key = format!("k{}", rng.below(5));
            let mut st = stamp(1 + rng.below(4), T0 + rng.below(20), dev, &format!("{dev}-{i}"));
            st.hlc =
                Hlc { ms: T0 + rng.below(20), counter: rng.below(3) as u32, device_id: dev.to_string() }.to_string();
            ops.push(if rng.below(3) == 0 { delete_op("t", key.as_str(), st) } else { put_op("t", key.as_str(), st) });
        }
        while !ops.is_empty() {
            let n = (1 + rng.below(5) as usize).min(ops.len());
            let rest = ops.split_off(n);
            let mut b = batch("w1", None, ops);
            b.device_id = dev.to_string();
            batches.push(b);
            ops = rest;
        }
    }
    batches
}

#[test]
fn randomized_delivery_order_and_duplicates_converge_to_the_max_stamp_per_record() {
    for seed in 0..200u64 {
        let mut rng = Rng(seed);
        let batches = random_batches(&mut rng);
        let all_ops: Vec<&PushOp<Value>> = batches.iter().flat_map(|b| &b.ops).collect();

        // Expected: per key, the op with the greatest stamp.
        let mut expected: Vec<RecordState<Value>> = Vec::new();
        for key in 0..5 {
            let pk = Pk::from(format!("k{key}"));
            let Some(win) = all_ops.iter().filter(|o| o.pk == pk).max_by(|a, b| a.stamp.cmp(&b.stamp)) else {
                continue;
            };
            expected.push(RecordState {
                table_name: "t".into(),
                pk,
                payload: win.payload.clone(),
                stamp: win.stamp.clone(),
                version: 0,
            });
        }

        // Deliver in random order, with random duplicates (retries).
        let mut delivery: Vec<&PushBatch<Value>> = batches.iter().collect();
        for b in &batches {
            if rng.below(3) == 0 {
                delivery.push(b);
            }
        }
        rng.shuffle(&mut delivery);
        let mut server = Server::new();
        for (i, b) in delivery.iter().enumerate() {
            let before = server.server_version("w1");
            let out = server.push(b, T0 + i as u64);
            assert_eq!(out.from_cursor, before);
            assert!(out.result.results.iter().all(|r| r.success));
        }

        let mut snap = server.snapshot("w1");
        let versions_by_key: Vec<u64> = snap.iter().map(|r| r.version).collect();
        snap.iter_mut().for_each(|r| r.version = 0);
        assert_eq!(snap, expected, "seed {seed}");
        assert_eq!(server.seen_ops("w1"), all_ops.len() as u64, "seed {seed}");
        assert!(server.applied_ops("w1") <= server.seen_ops("w1"));
        assert_eq!(server.applied_ops("w1"), server.server_version("w1"));

        // Pull from 0 in small pages is the snapshot: one change per record.
        let mut cursor = 0;
        let mut pulled = Vec::new();
        loop {
            let page = server.pull(&request("w1", None, cursor, 2)).unwrap();
            pulled.extend(page.changes);
            cursor = page.next_cursor;
            if !page.has_more {
                break;
            }
        }
        assert_eq!(cursor, server.server_version("w1"));
        pulled.sort_by(|a, b| a.pk.cmp(&b.pk));
        let pulled_versions: Vec<u64> = pulled.iter().map(|c| c.server_version).collect();
        assert_eq!(pulled_versions, versions_by_key, "seed {seed}");
        for (change, want) in pulled.iter().zip(&expected) {
            assert_eq!((&change.stamp, &change.payload), (&want.stamp, &want.payload));
        }

        // Re-delivering everything changes nothing.
        let version = server.server_version("w1");
        for b in &batches {
            assert!(server.push(b, T0).applied.is_empty());
        }
        assert_eq!(server.server_version("w1"), version);
    }
}

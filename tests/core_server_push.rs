//! The push side of the server-side apply algorithm (`tidesync::core::server`):
//! idempotent push, LWW with tombstones, the `from_cursor` of each push,
//! fan-out filtering, authorization and workspace isolation. Pull, cursors,
//! purge and GC are in `core_server_pull.rs`; convergence whatever the
//! delivery order is in `core_server_converge.rs`. Each test is named after
//! what it shows.

#![cfg(not(target_arch = "wasm32"))]

mod server_support;

use serde_json::json;
use server_support::*;
use tidesync::core::server::filter_changes;
use tidesync::core::wire::OpKind;

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

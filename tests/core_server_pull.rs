//! The pull side of the server-side apply algorithm (`tidesync::core::server`):
//! the compacted change log, pagination, table and project filters, cursors,
//! history purge and tombstone GC. Push, LWW, authorization and isolation are
//! in `core_server_push.rs`. Each test is named after what it shows.

#![cfg(not(target_arch = "wasm32"))]

mod server_support;

use server_support::*;
use tidesync::core::SyncError;

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
fn rescan_pages_may_start_below_the_watermark_and_page_to_the_end() {
    let mut server = Server::new();
    let ops = (0..10).map(|i| simple_put("t", &format!("k{i}"), &format!("o{i}"), T0 + i)).collect();
    server.push(&batch("w1", None, ops), T0);
    server.purge_history("w1", 6);
    let mut req = request("w1", None, 3, 4);
    assert_eq!(server.pull(&req).unwrap_err().code(), "CURSOR_EXPIRED");
    req.rescan = true;
    let page = server.pull(&req).unwrap();
    assert_eq!((versions(&page.changes), page.next_cursor, page.has_more), (vec![4, 5, 6, 7], 7, true));
    req.cursor = page.next_cursor;
    let page = server.pull(&req).unwrap();
    assert_eq!((versions(&page.changes), page.next_cursor, page.has_more), (vec![8, 9, 10], 10, false));
}

#[test]
fn pull_with_cursor_above_server_version_must_rescan() {
    // The server lost history the device has (restored from a backup): the
    // device rebuilds from what the server has, instead of INVALID forever.
    let mut server = Server::new();
    server.push(&batch("w1", None, vec![simple_put("t", "a", "o", T0)]), T0);
    let err = server.pull(&request("w1", None, 2, 10)).unwrap_err();
    assert_eq!(err.code(), "CURSOR_EXPIRED");
    let err = server.pull(&request("nowhere", None, 1, 10)).unwrap_err();
    assert_eq!(err.code(), "CURSOR_EXPIRED");
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
fn remaining_stays_exact_while_paging_with_writes_filters_and_projects_in_between() {
    let mut server = Server::new();
    let tables = ["a", "b", "c"];
    let mut op = 0u64;
    let mut write = |server: &mut Server, project: Option<&str>, n: u64| {
        let ops = (0..n)
            .map(|_| {
                op += 1;
                let (t, k) = (tables[(op % 3) as usize], format!("k{}", op % 40));
                simple_put(t, &k, &format!("op{op}"), T0 + op)
            })
            .collect();
        server.push(&batch("w1", project, ops), T0);
    };
    write(&mut server, None, 60);
    write(&mut server, Some("p1"), 30);
    for (tables, project) in [(None, None), (Some(vec!["a".to_string(), "c".to_string()]), None), (None, Some("p1"))] {
        let mut cursor = 0;
        for step in 0.. {
            let mut req = request("w1", project, cursor, 7);
            req.tables = tables.clone();
            let page = server.pull(&req).unwrap();
            // The truth: the changes of a whole pull from the page's end, on a
            // copy (so this server's own scans stay a chain of pages).
            let mut all = request("w1", project, page.changes.last().map_or(cursor, |c| c.server_version), 1000);
            all.tables = tables.clone();
            let fresh = server.clone().pull(&all).unwrap().changes.len() as u64;
            assert_eq!(page.remaining, Some(fresh), "step {step} from {cursor} ({tables:?}, {project:?})");
            if step % 3 == 1 {
                write(&mut server, if step % 2 == 0 { project } else { None }, 4);
            }
            cursor = page.next_cursor;
            if !page.has_more {
                break;
            }
        }
    }
}

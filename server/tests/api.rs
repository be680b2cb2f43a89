//! The server over HTTP and WebSocket, each test on SQLite and on
//! PostgreSQL: idempotent push, LWW, paging with ties at page edges,
//! cross-workspace denial, GC then 410, validation, rate limit, live watch.

mod support;

use serde_json::{json, Value};
use support::*;
use tidesync::core::server::MIN_RETENTION_MS;
use tidesync_server::app::Limits;
use tidesync_server::gc;

on_both_backends!(
    push_is_idempotent_by_op_id,
    lww_keeps_the_greater_stamp_and_tombstones_win_over_older_puts,
    paging_with_equal_timestamps_and_rewrites_at_page_edges_skips_and_repeats_nothing,
    thirteen_cross_workspace_attempts_are_denied_and_change_nothing,
    gc_purges_old_tombstones_below_every_cursor_then_old_cursors_get_410,
    op_ids_pruned_past_retention_are_judged_by_lww_again_and_change_nothing,
    bad_input_is_a_typed_400_or_413_and_changes_nothing,
    rate_limit_answers_429_with_retry_after,
    watch_sends_committed_changes_with_from_cursor,
    watch_resumes_from_a_cursor_and_filters_tables,
    remaining_is_a_cheap_upper_bound_and_zero_exactly_on_the_last_page,
);

fn push_is_idempotent_by_op_id(b: &Backend) {
    let s = start(b);
    let ws = unique("w");
    let t = s.token(&[&ws]);
    let ops = vec![
        put("notes", json!("a"), 1, 1000, "d1", "op-1", json!({ "id": "a", "text": "one" })),
        put("notes", json!(5), 1, 1001, "d1", "op-2", json!({ "id": 5 })),
        put("notes", json!("5"), 1, 1002, "d1", "op-3", json!({ "id": "5" })),
    ];
    let first = s.push(&t, &batch(&ws, "d1", ops.clone())).ok();
    let got: Vec<Value> = first["results"].as_array().unwrap().iter().map(|r| r["serverVersion"].clone()).collect();
    assert_eq!(got, vec![json!(1), json!(2), json!(3)]);
    assert_eq!(first["serverVersion"], 3);
    // The very same batch again, then a batch mixing old and new ops.
    let again = s.push(&t, &batch(&ws, "d1", ops.clone())).ok();
    assert_eq!(again["results"], first["results"]);
    assert_eq!(again["serverVersion"], 3);
    let mixed = vec![ops[1].clone(), put("notes", json!("b"), 1, 1003, "d1", "op-4", json!({ "id": "b" }))];
    let mixed = s.push(&t, &batch(&ws, "d1", mixed)).ok();
    assert_eq!(mixed["results"][0]["serverVersion"], 2);
    assert_eq!(mixed["results"][1]["serverVersion"], 4);
    let page = s.pull(&t, &ws, 0, 100).ok();
    assert_eq!(versions(&page), vec![1, 2, 3, 4]);
    // 5 and "5" are different keys.
    let pks: Vec<&Value> = page["changes"].as_array().unwrap().iter().map(|c| &c["pk"]).collect();
    assert_eq!(pks, vec![&json!("a"), &json!(5), &json!("5"), &json!("b")]);
    assert_eq!(page["changes"][0]["payload"], json!({ "id": "a", "text": "one" }));
}

fn lww_keeps_the_greater_stamp_and_tombstones_win_over_older_puts(b: &Backend) {
    let s = start(b);
    let ws = unique("w");
    let t = s.token(&[&ws]);
    let newer = put("t", json!("k"), 2, 2000, "dev-b", "b1", json!({ "v": "newer" }));
    let older = put("t", json!("k"), 1, 9000, "dev-a", "a1", json!({ "v": "older clock" }));
    assert_eq!(s.push(&t, &batch(&ws, "dev-b", vec![newer])).ok()["results"][0]["serverVersion"], 1);
    // A lower clock loses even with a later HLC: acknowledged, not applied,
    // and answered with what the server holds, so the device can adopt it.
    let r = s.push(&t, &batch(&ws, "dev-a", vec![older.clone()])).ok();
    assert_eq!(r["results"][0]["success"], true);
    assert!(r["results"][0].get("serverVersion").is_none());
    let current = &r["results"][0]["current"];
    assert_eq!(
        (&current["op"], &current["serverVersion"], &current["stamp"]["opId"]),
        (&json!("put"), &json!(1), &json!("b1"))
    );
    assert_eq!(current["payload"], json!({ "v": "newer" }));
    // Re-sent, it lost the first time: the same answer.
    let again = s.push(&t, &batch(&ws, "dev-a", vec![older])).ok();
    assert_eq!(again["results"][0]["current"], *current);
    // Equal clock: the HLC decides.
    let tie = put("t", json!("k"), 2, 2001, "dev-a", "a2", json!({ "v": "same clock, later hlc" }));
    assert_eq!(s.push(&t, &batch(&ws, "dev-a", vec![tie])).ok()["results"][0]["serverVersion"], 2);
    // A delete with a greater stamp, then a put with a smaller one: no resurrection.
    let del = delete("t", json!("k"), 3, 3000, "dev-b", "b2");
    assert_eq!(s.push(&t, &batch(&ws, "dev-b", vec![del])).ok()["results"][0]["serverVersion"], 3);
    let late = put("t", json!("k"), 2, 9999, "dev-z", "z1", json!({ "v": "late" }));
    let r = s.push(&t, &batch(&ws, "dev-z", vec![late])).ok();
    assert!(r["results"][0].get("serverVersion").is_none());
    let page = s.pull(&t, &ws, 0, 10).ok();
    assert_eq!(page["changes"].as_array().unwrap().len(), 1, "compacted: one change per record");
    assert_eq!(page["changes"][0]["op"], "delete");
    assert_eq!(page["changes"][0]["stamp"]["opId"], "b2");
    assert!(page["changes"][0].get("payload").is_none());
    // A put that beats the tombstone brings the record back.
    let back = put("t", json!("k"), 4, 4000, "dev-a", "a3", json!({ "v": "back" }));
    assert_eq!(s.push(&t, &batch(&ws, "dev-a", vec![back])).ok()["results"][0]["serverVersion"], 4);
    let page = s.pull(&t, &ws, 3, 10).ok();
    assert_eq!(page["changes"][0]["payload"], json!({ "v": "back" }));
}

fn paging_with_equal_timestamps_and_rewrites_at_page_edges_skips_and_repeats_nothing(b: &Backend) {
    let s = start(b);
    let ws = unique("w");
    let t = s.token(&[&ws]);
    // 30 records written in the same millisecond by three devices.
    let ops = (0..30)
        .map(|i| {
            let dev = format!("d{}", i % 3);
            put("t", json!(format!("k{i:02}")), 1, 5000, &dev, &format!("op{i}"), json!({ "i": i }))
        })
        .collect();
    s.push(&t, &batch(&ws, "d0", ops)).ok();
    let mut cursor = 0;
    let mut seen: Vec<u64> = Vec::new();
    let mut latest = std::collections::BTreeMap::new();
    let mut pages = 0;
    loop {
        let page = s.pull(&t, &ws, cursor, 10).ok();
        let vs = versions(&page);
        assert!(vs.windows(2).all(|w| w[0] < w[1]) && vs.iter().all(|v| *v > cursor), "{vs:?} after {cursor}");
        for c in page["changes"].as_array().unwrap() {
            latest.insert(c["pk"].as_str().unwrap().to_string(), c["payload"]["i"].as_i64().unwrap());
        }
        seen.extend(&vs);
        cursor = page["nextCursor"].as_u64().unwrap();
        pages += 1;
        if pages == 1 {
            // Rewrite the record at the page's edge, one already returned and
            // one not yet returned: each moves to the end of the log.
            assert_eq!(cursor, 10);
            let rewrites = vec![
                put("t", json!("k09"), 2, 5000, "d9", "re-9", json!({ "i": 109 })),
                put("t", json!("k00"), 2, 5000, "d9", "re-0", json!({ "i": 100 })),
                put("t", json!("k10"), 2, 5000, "d9", "re-10", json!({ "i": 110 })),
            ];
            s.push(&t, &batch(&ws, "d9", rewrites)).ok();
        }
        if !page["hasMore"].as_bool().unwrap() {
            break;
        }
    }
    // 30 originals; k10 moved before it was read, k09 and k00 are read twice.
    assert_eq!(seen.len(), 32);
    let unique_versions: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique_versions.len(), seen.len(), "no version twice");
    assert_eq!(latest.len(), 30);
    assert_eq!((latest["k00"], latest["k09"], latest["k10"], latest["k11"]), (100, 109, 110, 11));
    assert_eq!(cursor, 33);
    // Limit 1 walks the same log one by one; `remaining` counts down.
    let mut cursor = 0;
    let mut n = 0;
    loop {
        let page = s.pull(&t, &ws, cursor, 1).ok();
        n += page["changes"].as_array().unwrap().len();
        cursor = page["nextCursor"].as_u64().unwrap();
        if !page["hasMore"].as_bool().unwrap() {
            assert_eq!(page["remaining"], 0);
            break;
        }
    }
    assert_eq!((n, cursor), (30, 33));
}

/// `remaining` is `version - the page's last version` (no count of the rest
/// of the log), never below the true count, and 0 exactly when `hasMore` is
/// false, also when the last page is exactly `limit` long.
fn remaining_is_a_cheap_upper_bound_and_zero_exactly_on_the_last_page(b: &Backend) {
    let s = start(b);
    let ws = unique("rem");
    let t = s.token(&[&ws]);
    let key = |i: u64| json!(format!("k{i}"));
    let ops = (0..10).map(|i| put("a", key(i), 1, 1000 + i, "d", &format!("o{i}"), json!({ "i": i }))).collect();
    s.push(&t, &batch(&ws, "d", ops)).ok();
    // Rewrite k0..k4 (versions 11..15), then k9 (16): the log holds 6..9 and 11..16.
    let rewrites = [0, 1, 2, 3, 4, 9].iter().map(|&i| put("a", key(i), 2, 2000 + i, "d", &format!("r{i}"), json!({})));
    s.push(&t, &batch(&ws, "d", rewrites.collect())).ok();
    s.push(&t, &batch(&ws, "d", vec![put("b", json!("x"), 1, 3000, "d", "b1", json!({}))])).ok();
    let pull = |cursor: u64, limit: u64, tables: Option<&[&str]>| {
        let mut body = json!({ "scope": { "workspaceId": ws }, "cursor": cursor, "limit": limit });
        if let Some(t) = tables {
            body["tables"] = json!(t);
        }
        let page = s.post("/v1/pull", Some(&t), &body).ok();
        (
            versions(&page),
            page["hasMore"].as_bool().unwrap(),
            page["remaining"].as_u64().unwrap(),
            page["nextCursor"].clone(),
        )
    };
    // 8 entries follow version 7 (8, 9, 11..17); the bound says 17 - 7.
    assert_eq!(pull(0, 2, None), (vec![6, 7], true, 10, json!(7)));
    assert_eq!(pull(7, 8, None), (vec![8, 9, 11, 12, 13, 14, 15, 16], true, 1, json!(16)));
    assert_eq!(pull(16, 1, None), (vec![17], false, 0, json!(17)));
    // Exactly `limit` left: the last page says so.
    assert_eq!(pull(0, 11, None), (vec![6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17], false, 0, json!(17)));
    // Filtered: 1 entry of table a follows version 15, the bound says 2.
    assert_eq!(pull(0, 9, Some(&["a"])), (vec![6, 7, 8, 9, 11, 12, 13, 14, 15], true, 2, json!(15)));
    assert_eq!(pull(15, 9, Some(&["a"])), (vec![16], false, 0, json!(17)));
    assert_eq!(pull(0, 1, Some(&["b"])), (vec![17], false, 0, json!(17)));
}

fn thirteen_cross_workspace_attempts_are_denied_and_change_nothing(b: &Backend) {
    let s = start(b);
    let (wa, wb) = (unique("wa"), unique("wb"));
    let (ta, tb) = (s.token(&[&wa]), s.token(&[&wb]));
    s.push(&ta, &batch(&wa, "da", vec![put("t", json!("a"), 1, 1, "da", "a1", json!({ "secret": "A" }))])).ok();
    s.push(&tb, &batch(&wb, "db", vec![put("t", json!("b"), 1, 1, "db", "b1", json!({ "secret": "B" }))])).ok();
    let evil = |ws: &str| batch(ws, "x", vec![put("t", json!("b"), 9, 9, "x", &unique("x"), json!({ "pwned": 1 }))]);
    let pull_body = |ws: &str| json!({ "scope": { "workspaceId": ws }, "cursor": 0, "limit": 100 });
    let cursor_body = |ws: &str| json!({ "scope": { "workspaceId": ws }, "deviceId": "x", "version": 1 });
    let mut statuses = vec![
        s.push(&ta, &evil(&wb)).status,
        s.post("/v1/pull", Some(&ta), &pull_body(&wb)).status,
        s.post("/v1/cursor", Some(&ta), &cursor_body(&wb)).status,
        s.watch(&ta, &wb, "").err().unwrap_or(101),
        s.push(&tb, &evil(&wa)).status,
        s.post("/v1/pull", Some(&tb), &pull_body(&wa)).status,
        s.post("/v1/cursor", Some(&tb), &cursor_body(&wa)).status,
        s.watch(&tb, &wa, "").err().unwrap_or(101),
    ];
    let scoped = json!({ "scope": { "workspaceId": wb, "projectId": "p" }, "deviceId": "x",
                         "ops": evil(&wb)["ops"] });
    statuses.push(s.push(&ta, &scoped).status);
    assert_eq!(statuses, vec![403; 9]);
    let unknown = "not-a-token-at-all";
    let denied = vec![
        s.push(unknown, &evil(&wa)).status,
        s.post("/v1/pull", Some(unknown), &pull_body(&wa)).status,
        s.post("/v1/cursor", None, &cursor_body(&wa)).status,
        s.watch(unknown, &wa, "").err().unwrap_or(101),
    ];
    assert_eq!(denied, vec![401; 4]);
    let r = s.post("/v1/pull", Some(unknown), &pull_body(&wa));
    assert_eq!((r.status, r.code()), (401, "AUTH"));
    let r = s.pull(&ta, &wb, 0, 1);
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    // Nothing moved: each workspace holds its own single record.
    for (t, ws, secret) in [(&ta, &wa, "A"), (&tb, &wb, "B")] {
        let page = s.pull(t, ws, 0, 100).ok();
        assert_eq!(page["changes"].as_array().unwrap().len(), 1);
        assert_eq!(page["changes"][0]["payload"]["secret"], secret);
        assert_eq!(page["nextCursor"], 1);
    }
}

fn gc_purges_old_tombstones_below_every_cursor_then_old_cursors_get_410(b: &Backend) {
    let s = start(b);
    let ws = unique("w");
    let t = s.token(&[&ws]);
    let ops = vec![
        put("t", json!("keep"), 1, 1, "d", "p1", json!({})),
        put("t", json!("gone"), 1, 2, "d", "p2", json!({})),
        delete("t", json!("gone"), 2, 3, "d", "p3"),
        put("t", json!("later"), 1, 4, "d", "p4", json!({})),
    ];
    s.push(&t, &batch(&ws, "d", ops)).ok();
    // Versions: keep 1, gone 3 (the delete), later 4.
    let cursor = |device: &str, v: u64| {
        s.post("/v1/cursor", Some(&t), &json!({ "scope": { "workspaceId": ws }, "deviceId": device, "version": v }))
    };
    assert_eq!(cursor("phone", 2).status, 200);
    assert_eq!(cursor("laptop", 4).status, 200);
    assert_eq!(cursor("laptop", 1).status, 200, "a lower cursor is accepted and ignored");
    let r = cursor("laptop", 99);
    assert_eq!((r.status, r.code()), (400, "INVALID"), "a cursor above the server's version");
    let later = now_ms() + 2 * MIN_RETENTION_MS;
    // Within the minimum retention (a smaller one asked for is raised): nothing.
    assert_eq!(s.db.gc(&ws, now_ms() + 1000, 10).unwrap(), 0);
    // The phone (cursor 2) has not pulled the tombstone (3): nothing.
    assert_eq!(s.db.gc(&ws, later, MIN_RETENTION_MS).unwrap(), 0);
    assert_eq!(s.pull(&t, &ws, 1, 10).status, 200);
    assert_eq!(cursor("phone", 3).status, 200);
    assert_eq!(s.db.gc(&ws, later, MIN_RETENTION_MS).unwrap(), 1);
    // Cursors below the purge watermark (3) must rescan.
    for c in [1, 2] {
        let r = s.pull(&t, &ws, c, 10);
        assert_eq!((r.status, r.code()), (410, "CURSOR_EXPIRED"), "cursor {c}: {}", r.body);
    }
    // A rescan's later pages (rescan: true) may page below the watermark.
    let rescan = json!({ "scope": { "workspaceId": ws }, "cursor": 1, "limit": 10, "rescan": true });
    assert_eq!(versions(&s.post("/v1/pull", Some(&t), &rescan).ok()), vec![4]);
    // From 3 on, and from 0 (a rescan), pulls work; the rescan has no tombstone.
    assert_eq!(versions(&s.pull(&t, &ws, 3, 10).ok()), vec![4]);
    let full = s.pull(&t, &ws, 0, 10).ok();
    assert_eq!(versions(&full), vec![1, 4]);
    // The purged delete still beats an older put (no resurrection), and the
    // answer names it: its stamp and version survive the purge.
    let old = put("t", json!("gone"), 1, 9, "z", "z1", json!({ "back": true }));
    let r = s.push(&t, &batch(&ws, "z", vec![old])).ok();
    assert!(r["results"][0].get("serverVersion").is_none());
    let current = &r["results"][0]["current"];
    assert_eq!(
        (&current["op"], &current["serverVersion"], &current["stamp"]["opId"]),
        (&json!("delete"), &json!(3), &json!("p3"))
    );
    assert!(current.get("payload").is_none());
}

fn op_ids_pruned_past_retention_are_judged_by_lww_again_and_change_nothing(b: &Backend) {
    let s = start(b);
    let ws = unique("w");
    let t = s.token(&[&ws]);
    let won = put("t", json!("a"), 2, 2, "d1", "won", json!({ "v": "won" }));
    let lost = put("t", json!("a"), 1, 9, "d2", "lost", json!({ "v": "lost" }));
    let recreated = put("t", json!("g"), 1, 1, "d1", "g-put", json!({ "v": "deleted later" }));
    s.push(&t, &batch(&ws, "d1", vec![won.clone()])).ok();
    assert!(s.push(&t, &batch(&ws, "d2", vec![lost.clone()])).ok()["results"][0].get("serverVersion").is_none());
    s.push(&t, &batch(&ws, "d1", vec![recreated.clone(), delete("t", json!("g"), 2, 3, "d1", "g-del")])).ok();
    let cursor = json!({ "scope": { "workspaceId": ws }, "deviceId": "d1", "version": 3 });
    assert_eq!(s.post("/v1/cursor", Some(&t), &cursor).status, 200);
    let resend = || s.push(&t, &batch(&ws, "d1", vec![won.clone(), lost.clone(), recreated.clone()])).ok();
    let answers = |r: &Value| -> Vec<Value> {
        r["results"].as_array().unwrap().iter().map(|x| json!([x["success"], x["serverVersion"]])).collect()
    };
    // Within retention every opId is remembered: the original answers.
    let c = gc::run_workspace(&*s.db, &ws, now_ms() + 1000, MIN_RETENTION_MS).unwrap();
    assert_eq!((c.tombstones, c.ops), (0, 0));
    assert_eq!(answers(&resend()), vec![json!([true, 1]), json!([true, null]), json!([true, 2])]);
    // Past retention the opIds are gone (and the tombstone of g purged): the
    // same ops are judged by LWW again. "won" is the record's head
    // (AlreadyHeld), "lost" and "g-put" are below it (the purged tombstone
    // keeps its stamp): all acknowledged, none applied.
    let c = gc::run_workspace(&*s.db, &ws, now_ms() + 2 * MIN_RETENTION_MS, MIN_RETENTION_MS).unwrap();
    assert_eq!((c.tombstones, c.ops), (1, 4), "g's tombstone; won, lost, g-put and g-del");
    let r = resend();
    assert_eq!(answers(&r), vec![json!([true, null]); 3], "pruned opIds answer as not applied");
    assert_eq!(r["serverVersion"], 3, "nothing applied");
    let page = s.pull(&t, &ws, 0, 10).ok();
    assert_eq!(versions(&page), vec![1]);
    assert_eq!((&page["changes"][0]["stamp"]["opId"], &page["nextCursor"]), (&json!("won"), &json!(3)));
    // Judged again, they are remembered again; new ops apply as before.
    assert_eq!(answers(&resend()), vec![json!([true, null]); 3]);
    let new = put("t", json!("b"), 1, 4, "d1", "new", json!({}));
    assert_eq!(s.push(&t, &batch(&ws, "d1", vec![new])).ok()["serverVersion"], 4);
}

fn bad_input_is_a_typed_400_or_413_and_changes_nothing(b: &Backend) {
    let s = start_with(
        b,
        Opts { limits: Limits { max_body_bytes: 20_000, max_batch_ops: 5, ..Limits::default() }, ..Opts::default() },
    );
    let ws = unique("w");
    let t = s.token(&[&ws]);
    let good = |i: u64| put("t", json!(format!("k{i}")), 1, i, "d", &format!("g{i}"), json!({}));
    s.push(&t, &batch(&ws, "d", vec![good(1)])).ok();
    let mut bad_payload = good(2);
    bad_payload["payload"] = json!("a string");
    let mut bad_pk = good(3);
    bad_pk["pk"] = json!({ "no": "objects" });
    let mut empty_table = good(4);
    empty_table["tableName"] = json!("");
    let mut mismatched = good(5);
    mismatched["stamp"]["opId"] = json!("other");
    let cases: Vec<(&str, String, u16)> = vec![
        ("not JSON", "{".into(), 400),
        ("no ops", json!({ "scope": { "workspaceId": ws }, "deviceId": "d" }).to_string(), 400),
        ("payload not an object", batch(&ws, "d", vec![good(6), bad_payload]).to_string(), 400),
        ("object pk", batch(&ws, "d", vec![bad_pk]).to_string(), 400),
        ("empty table", batch(&ws, "d", vec![empty_table]).to_string(), 400),
        ("stamp opId", batch(&ws, "d", vec![mismatched]).to_string(), 400),
        ("too many ops", batch(&ws, "d", (10..16).map(good).collect()).to_string(), 400),
        (
            "too large",
            batch(&ws, "d", vec![put("t", json!("x"), 1, 1, "d", "big", json!({ "b": "x".repeat(30_000) }))])
                .to_string(),
            413,
        ),
    ];
    for (what, body, status) in cases {
        let r = s.post_raw("/v1/push", Some(&t), &body);
        assert_eq!((r.status, r.code()), (status, "INVALID"), "{what}: {}", r.body);
        assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let r = s.post("/v1/pull", Some(&t), &json!({ "scope": { "workspaceId": ws }, "cursor": -1, "limit": 10 }));
    assert_eq!((r.status, r.code()), (400, "INVALID"));
    // A cursor above the server's version (the server was restored from a
    // backup): the client must rescan, not retry INVALID forever.
    let r = s.pull(&t, &ws, 5, 10);
    assert_eq!((r.status, r.code()), (410, "CURSOR_EXPIRED"), "cursor above the version");
    // Only the first good op ever landed.
    let page = s.pull(&t, &ws, 0, 100).ok();
    assert_eq!((versions(&page), &page["nextCursor"]), (vec![1], &json!(1)));
}

fn rate_limit_answers_429_with_retry_after(b: &Backend) {
    let s = start_with(b, Opts { rate_limit: 1.0, rate_burst: 2.0, ..Opts::default() });
    let ws = unique("w");
    let t = s.token(&[&ws]);
    assert_eq!(s.pull(&t, &ws, 0, 1).status, 200);
    assert_eq!(s.pull(&t, &ws, 0, 1).status, 200);
    let r = s.pull(&t, &ws, 0, 1);
    assert_eq!((r.status, r.code()), (429, "RATE_LIMIT"));
    let ms = r.body["retryAfterMs"].as_u64().unwrap();
    assert!((1..=1000).contains(&ms), "{ms}");
    assert_eq!(r.retry_after.as_deref(), Some("1"));
    // Another token has its own bucket.
    let other = s.token(&[&ws]);
    assert_eq!(s.pull(&other, &ws, 0, 1).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(ms + 50));
    assert_eq!(s.pull(&t, &ws, 0, 1).status, 200);
}

fn watch_sends_committed_changes_with_from_cursor(b: &Backend) {
    let s = start(b);
    let ws = unique("w");
    let t = s.token(&[&ws]);
    s.push(&t, &batch(&ws, "d", vec![put("t", json!("a"), 1, 1, "d", "o1", json!({ "n": 1 }))])).ok();
    let mut w = s.watch(&t, &ws, "").unwrap();
    assert_eq!(w.next(), json!({ "type": "ready", "cursor": 1 }));
    let started = std::time::Instant::now();
    s.push(&t, &batch(&ws, "d", vec![put("t", json!("b"), 1, 2, "d", "o2", json!({ "n": 2 }))])).ok();
    let msg = w.next();
    assert!(started.elapsed().as_secs() < 5);
    assert_eq!((msg["type"].as_str(), &msg["fromCursor"], &msg["nextCursor"]), (Some("changes"), &json!(1), &json!(2)));
    assert_eq!(msg["changes"][0]["pk"], "b");
    assert_eq!(msg["changes"][0]["payload"], json!({ "n": 2 }));
    // A re-sent (idempotent) batch applies nothing and sends nothing.
    s.push(&t, &batch(&ws, "d", vec![put("t", json!("b"), 1, 2, "d", "o2", json!({ "n": 2 }))])).ok();
    s.push(&t, &batch(&ws, "d", vec![delete("t", json!("a"), 2, 3, "d", "o3")])).ok();
    let msg = w.next();
    assert_eq!((&msg["fromCursor"], &msg["changes"][0]["op"]), (&json!(2), &json!("delete")));
    // Another workspace's writes never reach this watch.
    let other = unique("w");
    let to = s.token(&[&other]);
    s.push(&to, &batch(&other, "d", vec![put("t", json!("z"), 1, 1, "d", "z1", json!({}))])).ok();
    assert_eq!(w.try_next(500), None);
}

fn watch_resumes_from_a_cursor_and_filters_tables(b: &Backend) {
    let s = start(b);
    let ws = unique("w");
    let t = s.token(&[&ws]);
    let ops = vec![
        put("a", json!(1), 1, 1, "d", "o1", json!({})),
        put("b", json!(1), 1, 2, "d", "o2", json!({})),
        put("a", json!(2), 1, 3, "d", "o3", json!({})),
    ];
    s.push(&t, &batch(&ws, "d", ops)).ok();
    let tables = "&tables=%5B%22a%22%5D&cursor=1";
    let mut w = s.watch(&t, &ws, tables).unwrap();
    assert_eq!(w.next(), json!({ "type": "ready", "cursor": 1 }));
    // The catch-up batch: table a only, from 1, up to the version (3).
    let msg = w.next();
    assert_eq!((versions(&msg), &msg["fromCursor"], &msg["nextCursor"]), (vec![3], &json!(1), &json!(3)));
    s.push(&t, &batch(&ws, "d", vec![put("b", json!(2), 1, 4, "d", "o4", json!({}))])).ok();
    s.push(&t, &batch(&ws, "d", vec![put("a", json!(3), 1, 5, "d", "o5", json!({}))])).ok();
    // The skipped change of table b is no gap: the batch follows on from 3,
    // whether the watch woke for version 4 on its own or not.
    let msg = w.next();
    assert_eq!((versions(&msg), &msg["fromCursor"], &msg["nextCursor"]), (vec![5], &json!(3), &json!(5)));
    assert_eq!(s.watch(&t, &ws, "&tables=notjson").err(), Some(400));
}

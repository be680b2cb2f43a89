//! The table allow-list, on SQLite and on PostgreSQL: ops, pulls and
//! watches of tables the server does not allow are refused with `INVALID`
//! naming the field at fault, a put above its table's payload limit with
//! 413, and nothing changes.

mod support;

use serde_json::json;
use support::*;
use tidesync_server::app::Limits;
use tidesync_server::tables::TableRules;

on_both_backends!(only_allowed_tables_within_their_payload_limits_are_synced);

fn only_allowed_tables_within_their_payload_limits_are_synced(b: &Backend) {
    let rules = TableRules::parse(&["notes".into(), "files:40".into()]).unwrap();
    let s = start_with(b, Opts { limits: Limits { tables: rules, ..Limits::default() }, ..Opts::default() });
    let ws = unique("tables");
    let t = s.token(&[&ws]);
    // {"id":"f1","blob":"..."} is 40 bytes with a 19-character blob.
    let blob = |n: usize| json!({ "id": "f1", "blob": "x".repeat(n) });
    assert_eq!(serde_json::to_vec(&blob(19)).unwrap().len(), 40);

    // One unknown table in a batch refuses the whole batch.
    let mixed = batch(
        &ws,
        "d",
        vec![
            put("notes", json!("n1"), 1, 1, "d", "a1", json!({})),
            put("secrets", json!("s1"), 1, 2, "d", "a2", json!({})),
        ],
    );
    let r = s.push(&t, &mixed);
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{}", r.body);
    let msg = r.body["message"].as_str().unwrap();
    assert!(msg.contains("ops[1].tableName") && msg.contains("secrets"), "{msg}");

    // A put above its table's limit: 413; at the limit it applies.
    let r = s.push(&t, &batch(&ws, "d", vec![put("files", json!("f1"), 1, 3, "d", "b1", blob(20))]));
    assert_eq!((r.status, r.code()), (413, "INVALID"), "{}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("ops[0].payload"), "{}", r.body);
    assert_eq!(s.db.version(&ws).unwrap(), 0, "nothing was written");
    s.push(&t, &batch(&ws, "d", vec![put("files", json!("f1"), 1, 4, "d", "b2", blob(19))])).ok();
    // Deletes carry no payload; a table without a limit takes any size.
    s.push(&t, &batch(&ws, "d", vec![put("notes", json!("n1"), 1, 5, "d", "c1", blob(5000))])).ok();
    s.push(&t, &batch(&ws, "d", vec![delete("files", json!("f1"), 2, 6, "d", "c2")])).ok();
    assert_eq!(s.db.version(&ws).unwrap(), 3);

    // Pulls and watches may name only allowed tables.
    let pull = |tables: serde_json::Value| {
        s.post(
            "/v1/pull",
            Some(&t),
            &json!({ "scope": { "workspaceId": ws }, "cursor": 0, "limit": 10, "tables": tables }),
        )
    };
    let r = pull(json!(["notes", "secrets"]));
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("tables[1]"), "{}", r.body);
    assert_eq!(versions(&pull(json!(["notes"])).ok()), vec![2]);
    assert_eq!(versions(&s.pull(&t, &ws, 0, 10).ok()), vec![2, 3]);
    assert_eq!(s.watch(&t, &ws, "&tables=%5B%22secrets%22%5D").err(), Some(400));
    let mut w = s.watch(&t, &ws, "&tables=%5B%22files%22%5D").unwrap();
    assert_eq!(w.next()["type"], "ready");
}

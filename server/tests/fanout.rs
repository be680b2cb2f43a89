//! Many watchers of one workspace, on SQLite and on PostgreSQL: the
//! watchers one wake reaches share their page reads and token checks, and
//! still each gets exactly what a pull from its own cursor with its own
//! filters returns; a revoked token's watcher gets nothing more and closes
//! with 4401 while the others go on.

mod support;

use serde_json::json;
use support::*;
use tidesync_server::{revoke_tokens, Revoke};

on_both_backends!(watchers_of_one_wake_share_reads_and_each_gets_its_own_stream);

fn watchers_of_one_wake_share_reads_and_each_gets_its_own_stream(b: &Backend) {
    let s = start(b);
    let ws = unique("fan");
    let (t, doomed) = (s.token(&[&ws]), s.token(&[&ws]));
    let mut all: Vec<_> = (0..8).map(|_| s.watch(&t, &ws, "").unwrap()).collect();
    let mut only_a: Vec<_> = (0..3).map(|_| s.watch(&t, &ws, "&tables=%5B%22a%22%5D").unwrap()).collect();
    let mut other = s.watch(&doomed, &ws, "").unwrap();
    for w in all.iter_mut().chain(only_a.iter_mut()).chain([&mut other]) {
        assert_eq!(w.next(), json!({ "type": "ready", "cursor": 0 }));
    }
    let mut a_sent = 0;
    for v in 1..=6u64 {
        let table = if v % 2 == 1 { "a" } else { "b" };
        s.push(&t, &batch(&ws, "d", vec![put(table, json!(v), 1, v, "d", &unique("f"), json!({}))])).ok();
        for w in all.iter_mut().chain([&mut other]) {
            let m = w.next();
            assert_eq!((versions(&m), &m["fromCursor"], &m["nextCursor"]), (vec![v], &json!(v - 1), &json!(v)));
        }
        if table == "a" {
            for w in &mut only_a {
                let m = w.next();
                assert_eq!((versions(&m), &m["fromCursor"], &m["nextCursor"]), (vec![v], &json!(a_sent), &json!(v)));
            }
            a_sent = v;
        }
    }
    assert_eq!(revoke_tokens(&*s.db, &Revoke::Token(doomed)).unwrap(), 1);
    s.push(&t, &batch(&ws, "d", vec![put("a", json!(7), 1, 7, "d", &unique("f"), json!({}))])).ok();
    let (code, texts) = other.closed_within(5000);
    assert_eq!((code, texts), (Some(4401), vec![]), "the revoked token's watch gets nothing more");
    for w in all.iter_mut().chain(only_a.iter_mut()) {
        assert_eq!(versions(&w.next()), vec![7]);
    }
}

//! Revoking access, each test on SQLite and on PostgreSQL: `token revoke`
//! (one token, or all of a user's) and `member remove` take effect at once
//! for HTTP calls, and close open watches within 5 s with the close code
//! that tells the client why (4401: refresh the token; 4403: no longer a
//! member), without sending them another batch.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::*;
use tidesync_server::{remove_member, revoke_tokens, Revoke};

on_both_backends!(
    a_revoked_token_gets_401_at_once_and_its_idle_watch_closes_with_4401,
    revoking_a_users_tokens_closes_its_watches_before_the_next_batch,
    a_removed_member_gets_403_and_its_watch_closes_with_4403_other_workspaces_stay,
);

/// The longest a watch may stay open after access is taken away.
const DEADLINE: Duration = Duration::from_secs(5);

fn a_revoked_token_gets_401_at_once_and_its_idle_watch_closes_with_4401(b: &Backend) {
    let s = start(b);
    let ws = unique("w");
    let (t, other) = (s.token(&[&ws]), s.token(&[&ws]));
    let mut w = s.watch(&t, &ws, "").unwrap();
    assert_eq!(w.next()["type"], "ready");
    s.push(&t, &batch(&ws, "d", vec![put("t", json!("a"), 1, 1, "d", "o1", json!({}))])).ok();
    assert_eq!(w.next()["fromCursor"], 0, "the watch works before the revoke");

    let started = Instant::now();
    assert_eq!(revoke_tokens(&*s.db, &Revoke::Token(t.clone())).unwrap(), 1);
    // HTTP: refused at once, on every route.
    let r = s.pull(&t, &ws, 0, 10);
    assert_eq!((r.status, r.code()), (401, "AUTH"));
    let r = s.push(&t, &batch(&ws, "d", vec![put("t", json!("b"), 1, 2, "d", "o2", json!({}))]));
    assert_eq!((r.status, r.code()), (401, "AUTH"));
    let cursor = json!({ "scope": { "workspaceId": ws }, "deviceId": "d", "version": 1 });
    assert_eq!(s.post("/v1/cursor", Some(&t), &cursor).status, 401);
    assert_eq!(s.watch(&t, &ws, "").err(), Some(401));
    // No write wakes the watch: the periodic re-check closes it.
    let (code, texts) = w.closed_within(DEADLINE.as_millis() as u64);
    let took = started.elapsed();
    assert_eq!(code, Some(4401), "closed within {DEADLINE:?} with 4401 (after {took:?})");
    assert!(texts.is_empty(), "{texts:?}");
    eprintln!("revoke -> close 4401 (idle watch): {took:?}");
    assert_eq!(revoke_tokens(&*s.db, &Revoke::Token(t)).unwrap(), 0, "already revoked");
    // Another token of the workspace is untouched; nothing was written.
    assert_eq!(versions(&s.pull(&other, &ws, 0, 10).ok()), vec![1]);
}

fn revoking_a_users_tokens_closes_its_watches_before_the_next_batch(b: &Backend) {
    let s = start(b);
    let ws = unique("w");
    let alice = unique("alice");
    let (t1, t2) = (s.token_for(&alice, &[&ws]), s.token_for(&alice, &[&ws]));
    let bob = s.token(&[&ws]);
    let mut w1 = s.watch(&t1, &ws, "").unwrap();
    let mut w2 = s.watch(&t2, &ws, "").unwrap();
    let mut wb = s.watch(&bob, &ws, "").unwrap();
    for w in [&mut w1, &mut w2, &mut wb] {
        assert_eq!(w.next()["type"], "ready");
    }
    let started = Instant::now();
    assert_eq!(revoke_tokens(&*s.db, &Revoke::User(alice.clone())).unwrap(), 2);
    // A write right after the revoke wakes every watch: alice's close
    // without receiving it, bob's receives it.
    s.push(&bob, &batch(&ws, "db", vec![put("t", json!("x"), 1, 1, "db", "x1", json!({ "secret": 1 }))])).ok();
    for w in [&mut w1, &mut w2] {
        let (code, texts) = w.closed_within(DEADLINE.as_millis() as u64);
        assert_eq!(code, Some(4401), "after {:?}", started.elapsed());
        assert!(texts.is_empty(), "a revoked token received {texts:?}");
    }
    eprintln!("revoke --user -> close 4401 (woken by a write): {:?}", started.elapsed());
    assert_eq!(wb.next()["changes"][0]["pk"], "x");
    assert_eq!(s.pull(&t2, &ws, 0, 10).status, 401);
    assert_eq!(revoke_tokens(&*s.db, &Revoke::User(unique("nobody"))).unwrap(), 0);
}

fn a_removed_member_gets_403_and_its_watch_closes_with_4403_other_workspaces_stay(b: &Backend) {
    let s = start(b);
    let (ws, ws2) = (unique("w"), unique("w"));
    let alice = unique("alice");
    let t = s.token_for(&alice, &[&ws, &ws2]);
    let bob = s.token(&[&ws]);
    let mut gone = s.watch(&t, &ws, "").unwrap();
    let mut kept = s.watch(&t, &ws2, "").unwrap();
    assert_eq!(gone.next()["type"], "ready");
    assert_eq!(kept.next()["type"], "ready");

    let started = Instant::now();
    assert!(remove_member(&*s.db, &alice, &ws).unwrap());
    let r = s.pull(&t, &ws, 0, 10);
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    assert_eq!(s.watch(&t, &ws, "").err(), Some(403));
    s.push(&bob, &batch(&ws, "db", vec![put("t", json!("x"), 1, 1, "db", "x1", json!({ "secret": 1 }))])).ok();
    let (code, texts) = gone.closed_within(DEADLINE.as_millis() as u64);
    assert_eq!(code, Some(4403), "after {:?}", started.elapsed());
    assert!(texts.is_empty(), "a removed member received {texts:?}");
    eprintln!("member remove -> close 4403: {:?}", started.elapsed());
    assert!(!remove_member(&*s.db, &alice, &ws).unwrap(), "no longer a member");
    // The other workspace: still allowed, still live, past several re-checks.
    s.push(&t, &batch(&ws2, "da", vec![put("t", json!("y"), 1, 1, "da", "y1", json!({}))])).ok();
    assert_eq!(kept.next()["changes"][0]["pk"], "y");
    assert_eq!(kept.closed_within(4500).0, None, "the watch on the other workspace stays open");
    assert_eq!(s.pull(&t, &ws2, 0, 10).status, 200);
}

//! Two server instances on one PostgreSQL (each with its own pool and
//! LISTEN connection, as two processes would have): a watcher on either one
//! sees writes made through the other, live, and concurrent pushes through
//! both get gapless versions that a concurrent puller never skips.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;
use support::*;

fn two_instances() -> Option<(TestServer, TestServer)> {
    let b = Backend::postgres()?;
    Some((start(&b), start(&b)))
}

#[test]
fn a_write_through_one_instance_reaches_watchers_on_the_other() {
    let Some((a, b)) = two_instances() else { return };
    let ws = unique("w");
    let t = a.token(&[&ws]);
    let mut on_a = a.watch(&t, &ws, "").unwrap();
    let mut on_b = b.watch(&t, &ws, "").unwrap();
    assert_eq!(on_a.next()["type"], "ready");
    assert_eq!(on_b.next()["type"], "ready");

    b.push(&t, &batch(&ws, "db", vec![put("t", json!("x"), 1, 1, "db", "x1", json!({ "via": "b" }))])).ok();
    for w in [&mut on_a, &mut on_b] {
        let msg = w.next();
        assert_eq!((&msg["fromCursor"], &msg["changes"][0]["payload"]["via"]), (&json!(0), &json!("b")));
    }
    a.push(&t, &batch(&ws, "da", vec![put("t", json!("y"), 1, 2, "da", "y1", json!({ "via": "a" }))])).ok();
    for w in [&mut on_a, &mut on_b] {
        let msg = w.next();
        assert_eq!((&msg["fromCursor"], &msg["changes"][0]["payload"]["via"]), (&json!(1), &json!("a")));
    }
}

#[test]
fn concurrent_pushes_through_two_instances_get_gapless_versions_no_puller_skips() {
    let Some((a, b)) = two_instances() else { return };
    let ws = unique("w");
    let t = a.token(&[&ws]);
    let servers = Arc::new([a, b]);
    const WRITERS: usize = 4;
    const BATCHES: usize = 20;
    const OPS: usize = 5;
    let done = Arc::new(AtomicBool::new(false));

    // A puller following the log through instance 0 while writes commit.
    let puller = {
        let (servers, ws, t, done) = (servers.clone(), ws.clone(), t.clone(), done.clone());
        std::thread::spawn(move || {
            let mut cursor = 0;
            let mut seen = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = servers[0].pull(&t, &ws, cursor, 7).ok();
                let vs = versions(&page);
                assert!(vs.iter().all(|v| *v > cursor));
                seen.extend(vs);
                cursor = page["nextCursor"].as_u64().unwrap();
                if finished && !page["hasMore"].as_bool().unwrap() {
                    return seen;
                }
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (servers, ws, t) = (servers.clone(), ws.clone(), t.clone());
            std::thread::spawn(move || {
                let dev = format!("dev{w}");
                for i in 0..BATCHES {
                    let ops = (0..OPS)
                        .map(|j| {
                            let id = format!("{w}-{i}-{j}");
                            put("t", json!(id), 1, 1 + i as u64, &dev, &format!("op-{id}"), json!({}))
                        })
                        .collect();
                    // Alternate instances.
                    let r = servers[(w + i) % 2].push(&t, &batch(&ws, &dev, ops)).ok();
                    assert!(r["results"].as_array().unwrap().iter().all(|r| r["serverVersion"].is_u64()));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = puller.join().unwrap();
    let total = (WRITERS * BATCHES * OPS) as u64;
    // Every version from 1 to the total was seen exactly once, in order.
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    let page = servers[1].pull(&t, &ws, 0, 10_000).ok();
    let pks: BTreeSet<String> =
        page["changes"].as_array().unwrap().iter().map(|c| c["pk"].as_str().unwrap().to_string()).collect();
    assert_eq!(pks.len() as u64, total);
}

//! Operations, on SQLite and on PostgreSQL: `/metrics` counts requests by
//! route and code, applied ops, served changes, open watches, fan-out
//! latency and GC runs; a graceful shutdown finishes an in-flight push,
//! closes watches with 1012 (reconnect) and stops accepting connections.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;
use tidesync_server::config::Database;
use tidesync_server::gc;

on_both_backends!(metrics_count_what_the_server_did, shutdown_finishes_in_flight_requests_and_closes_watches_with_1012);

/// The value of the sample whose line starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
        .parse()
        .unwrap()
}

fn metrics(s: &TestServer) -> String {
    ureq::get(&format!("{}/metrics", s.base)).call().unwrap().into_string().unwrap()
}

fn metrics_count_what_the_server_did(b: &Backend) {
    let s = start(b);
    let ws = unique("metrics");
    let t = s.token(&[&ws]);
    let ops = (0..3).map(|i| put("t", json!(i), 1, i + 1, "d", &unique("m"), json!({}))).collect();
    s.push(&t, &batch(&ws, "d", ops)).ok();
    assert_eq!(s.push("not-a-token", &batch(&ws, "d", vec![])).status, 401);
    assert_eq!(versions(&s.pull(&t, &ws, 0, 10).ok()).len(), 3);
    let mut w = s.watch(&t, &ws, "").unwrap();
    assert_eq!(w.next()["type"], "ready");
    s.push(&t, &batch(&ws, "d", vec![put("t", json!(9), 1, 9, "d", &unique("m"), json!({}))])).ok();
    assert_eq!(versions(&w.next()), vec![4]);
    // GC every 100 ms, with a retention so long that it removes nothing
    // (the PostgreSQL database is shared with other tests).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let retention = 100 * 365 * 24 * 3600 * 1000;
    rt.block_on(async { gc::spawn(s.db.clone(), Duration::from_millis(100), retention, s.app.metrics.clone()) });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !metrics(&s).contains(r#"tidesync_gc_runs_total{outcome="ok"}"#) {
        assert!(Instant::now() < deadline, "no GC pass within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }

    let m = metrics(&s);
    assert_eq!(sample(&m, r#"tidesync_http_requests_total{code="200",route="/v1/push"}"#), 2.0);
    assert_eq!(sample(&m, r#"tidesync_http_requests_total{code="401",route="/v1/push"}"#), 1.0);
    assert_eq!(sample(&m, r#"tidesync_http_requests_total{code="200",route="/v1/pull"}"#), 1.0);
    assert_eq!(sample(&m, r#"tidesync_http_requests_total{code="101",route="/v1/watch"}"#), 1.0);
    // Every request is timed by its route (the 401 too), each well under a second.
    assert_eq!(sample(&m, r#"tidesync_http_request_seconds_count{route="/v1/push"}"#), 3.0);
    assert_eq!(sample(&m, r#"tidesync_http_request_seconds_count{route="/v1/pull"}"#), 1.0);
    let pull = sample(&m, r#"tidesync_http_request_seconds_sum{route="/v1/pull"}"#);
    assert!(pull > 0.0 && pull < 1.0, "{pull}");
    assert_eq!(sample(&m, "tidesync_push_ops_applied_total"), 4.0);
    assert_eq!(sample(&m, "tidesync_pull_changes_served_total"), 3.0);
    assert_eq!(sample(&m, "tidesync_watch_changes_sent_total"), 1.0);
    assert_eq!(sample(&m, "tidesync_watches_open"), 1.0);
    assert_eq!(sample(&m, "tidesync_fanout_seconds_count"), 1.0);
    assert!(sample(&m, "tidesync_fanout_seconds_sum") < 1.0);
    assert!(sample(&m, r#"tidesync_gc_runs_total{outcome="ok"}"#) >= 1.0, "{m}");
    assert_eq!(sample(&m, r#"tidesync_gc_purged_total{what="tombstones"}"#), 0.0);
    drop(w);
    let deadline = Instant::now() + Duration::from_secs(5);
    while sample(&metrics(&s), "tidesync_watches_open") != 0.0 {
        assert!(Instant::now() < deadline, "the closed watch is still counted");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Holds the write lock a push of `ws` needs, from another connection;
/// dropping the returned value releases it.
fn hold_write_lock(s: &TestServer, ws: &str) -> Box<dyn FnOnce()> {
    match &s.database {
        Database::Sqlite(path) => {
            let c = rusqlite::Connection::open(path).unwrap();
            c.execute_batch("BEGIN IMMEDIATE").unwrap();
            Box::new(move || c.execute_batch("COMMIT").unwrap())
        }
        Database::Postgres(url) => {
            let mut c = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
            c.batch_execute("BEGIN").unwrap();
            c.execute("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE", &[&ws]).unwrap();
            Box::new(move || c.batch_execute("COMMIT").unwrap())
        }
    }
}

fn shutdown_finishes_in_flight_requests_and_closes_watches_with_1012(b: &Backend) {
    let (s, stop) = start_stoppable(b, Opts::default());
    let ws = unique("shutdown");
    let t = s.token(&[&ws]);
    s.push(&t, &batch(&ws, "d", vec![put("t", json!(1), 1, 1, "d", &unique("s"), json!({}))])).ok();
    let mut w = s.watch(&t, &ws, "").unwrap();
    assert_eq!(w.next()["type"], "ready");

    let release = hold_write_lock(&s, &ws);
    let pusher = {
        let (base, t, body) =
            (s.base.clone(), t.clone(), batch(&ws, "d", vec![put("t", json!(2), 1, 2, "d", &unique("s"), json!({}))]));
        std::thread::spawn(move || -> (u16, Value) {
            let r = ureq::post(&format!("{base}/v1/push")).set("authorization", &format!("Bearer {t}")).send_json(body);
            let r = r.unwrap_or_else(|e| match e {
                ureq::Error::Status(_, r) => r,
                e => panic!("the in-flight push failed: {e}"),
            });
            (r.status(), r.into_json().unwrap())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(!pusher.is_finished(), "the push waits for the write lock");

    let done = stop.stop();
    let (code, _) = w.closed_within(3000);
    assert_eq!(code, Some(1012), "a reconnectable close");
    let deadline = Instant::now() + Duration::from_secs(3);
    while std::net::TcpStream::connect(&s.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pusher.is_finished(), "the push is still in flight");
    assert!(done.try_recv().is_err(), "the server waits for it");

    release();
    let (status, body) = pusher.join().unwrap();
    assert_eq!((status, &body["serverVersion"]), (200, &json!(2)), "{body}");
    done.recv_timeout(Duration::from_secs(10)).expect("the server stopped");
    assert_eq!(s.db.version(&ws).unwrap(), 2);
}

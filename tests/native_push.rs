//! The push loop natively: the engine over the memory store pushes to the
//! core's server algorithm through a provider with fault switches, on a test
//! clock. The same engine code runs in the browser (tests/browser/push.rs).
#![cfg(not(target_arch = "wasm32"))]

mod sync_support;

use std::rc::Rc;

use futures::executor::block_on;
use futures::FutureExt;
use serde_json::{json, Value};
use tidesync::core::wire::{PushBatch, PushResult};
use tidesync::core::{Result, SyncError};
use tidesync::engine::driver::Driver;
use tidesync::engine::provider::Provider;
use tidesync::engine::push::Step;
use tidesync::engine::{Engine, EngineConfig, Event, TestPlatform};
use tidesync::store::memory::MemoryStore;
use tidesync::store::TableSchema;

use sync_support::Server;

type TestEngine = Engine<MemoryStore, TestPlatform>;

fn open(store: &MemoryStore, platform: &TestPlatform, batch: u32) -> TestEngine {
    let mut config = EngineConfig::new("w1", vec![TableSchema::simple("notes")]);
    config.batch_size = batch;
    config.backoff_ms = vec![100, 200, 400];
    config.max_attempts = 5;
    block_on(Engine::open(config, store.reopen(config_schema()), platform.clone())).unwrap()
}

fn config_schema() -> tidesync::store::Schema {
    tidesync::store::Schema::new(vec![TableSchema::simple("notes")])
}

fn setup(batch: u32) -> (MemoryStore, TestPlatform, TestEngine, Server) {
    let store = MemoryStore::new(config_schema());
    let platform = TestPlatform::new(1_700_000_000_000, 42);
    let engine = open(&store, &platform, batch);
    (store, platform, engine, Server::default())
}

fn put(e: &TestEngine, id: &str, v: i64) {
    block_on(e.put("notes", json!({ "id": id, "v": v }))).unwrap();
}

#[test]
fn steps_push_fifo_batches_and_remove_acknowledged_ops() {
    let (_s, _p, e, server) = setup(2);
    for i in 0..5 {
        put(&e, &format!("r{i}"), i);
    }
    let mut sent = Vec::new();
    while let Step::Sent(r) = block_on(e.push_step(&server)).unwrap() {
        sent.push(r.pushed);
    }
    assert_eq!(sent, [2, 2, 1]);
    assert!(block_on(e.pending_ops(10)).unwrap().is_empty());
    assert_eq!(server.state.borrow().applied_ops("w1"), 5);
}

#[test]
fn transport_failures_never_dead_letter_and_back_off_on_a_capped_schedule() {
    let (_s, _p, e, server) = setup(10);
    put(&e, "a", 1);
    // Far more failures than maxAttempts (5): an outage of any length.
    for attempt in 1..=20 {
        server.failures.borrow_mut().push_back(SyncError::Unavailable("down".into()));
        match block_on(e.push_step(&server)).unwrap() {
            Step::Retry { attempt: a, .. } => assert_eq!(a, attempt, "the backoff step grows"),
            other => panic!("expected a retry, got {other:?}"),
        }
    }
    let ops = block_on(e.pending_ops(10)).unwrap();
    assert_eq!((ops.len(), ops[0].attempts), (1, 0), "no attempt counted for a transport failure");
    assert!(block_on(e.failed_ops()).unwrap().is_empty());
    assert!(matches!(block_on(e.push_step(&server)).unwrap(), Step::Sent(_)));
    assert_eq!(server.state.borrow().applied_ops("w1"), 1);
}

#[test]
fn op_level_failures_count_attempts_then_dead_letter_past_max() {
    let (_s, _p, e, server) = setup(10);
    put(&e, "a", 1);
    // A provider that answers the call but acknowledges nothing.
    struct Silent;
    impl Provider for Silent {
        type Rec = Value;
        async fn push(&self, _batch: PushBatch<Value>) -> Result<PushResult<Value>> {
            Ok(PushResult { results: Vec::new(), server_version: None })
        }
        push_only_provider!();
    }
    for attempt in 1..=4 {
        match block_on(e.push_step(&Silent)).unwrap() {
            Step::Retry { attempt: a, .. } => assert_eq!(a, attempt),
            other => panic!("expected a retry, got {other:?}"),
        }
    }
    block_on(e.push_step(&Silent)).unwrap();
    let failed = block_on(e.failed_ops()).unwrap();
    assert_eq!(failed.len(), 1, "past maxAttempts the op is dead-lettered, not dropped");
    assert!(failed[0].last_error.as_deref().unwrap().contains("gave up after 5 attempts"));
    assert_eq!(block_on(e.push_step(&server)).unwrap(), Step::Idle, "failed ops are not pushed");
    assert_eq!(block_on(e.retry_failed(None)).unwrap(), 1);
    assert!(matches!(block_on(e.push_step(&server)).unwrap(), Step::Sent(_)));
    assert_eq!(server.state.borrow().applied_ops("w1"), 1);
}

#[test]
fn permanent_rejections_are_dead_lettered_and_the_rest_acknowledged() {
    let (_s, p, e, server) = setup(10);
    for i in 0..10 {
        put(&e, &format!("r{i}"), i);
    }
    let ops = block_on(e.pending_ops(10)).unwrap();
    server.reject.borrow_mut().extend([ops[2].stamp.op_id.clone(), ops[5].stamp.op_id.clone()]);
    match block_on(e.push_step(&server)).unwrap() {
        Step::Sent(r) => assert_eq!((r.sent, r.pushed, r.failed), (10, 8, 2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(block_on(e.failed_ops()).unwrap().len(), 2);
    assert!(p.event_names().contains(&"sync.error:action"));
    server.reject.borrow_mut().clear();
    let ids: Vec<String> = block_on(e.failed_ops()).unwrap().iter().map(|o| o.stamp.op_id.clone()).collect();
    assert_eq!(block_on(e.discard_failed(&ids[..1])).unwrap(), 1, "discard removes for good");
    block_on(e.retry_failed(None)).unwrap();
    block_on(e.push_step(&server)).unwrap();
    assert_eq!(server.state.borrow().snapshot("w1").len(), 9);
}

#[test]
fn a_write_during_a_push_is_not_lost_and_the_sent_op_keeps_its_payload() {
    let (_s, _p, e, server) = setup(10);
    put(&e, "a", 1);
    // Take the batch by hand: push fails after the write below was captured.
    struct Slow<'a>(&'a TestEngine);
    impl Provider for Slow<'_> {
        type Rec = Value;
        async fn push(&self, batch: PushBatch<Value>) -> Result<PushResult<Value>> {
            assert_eq!(batch.ops[0].payload.as_ref().unwrap()["v"], 1);
            self.0.put("notes", json!({ "id": "a", "v": 2 })).await.unwrap();
            Err(SyncError::Unavailable("cut".into()))
        }
        push_only_provider!();
    }
    block_on(e.push_step(&Slow(&e))).unwrap();
    let ops = block_on(e.pending_ops(10)).unwrap();
    assert_eq!(ops.len(), 2, "the newer write got its own op");
    assert_eq!(ops[0].payload.as_ref().unwrap()["v"], 1, "the sent op still carries what it sent");
    assert_eq!(ops[1].payload.as_ref().unwrap()["v"], 2);
    while let Step::Sent(_) = block_on(e.push_step(&server)).unwrap() {}
    let snap = server.state.borrow().snapshot("w1");
    assert_eq!(snap[0].payload.as_ref().unwrap()["v"], 2, "the server ends with the last write");
}

#[test]
fn an_op_in_flight_at_a_crash_is_sent_again_and_applied_once() {
    let (store, p, e, server) = setup(10);
    put(&e, "a", 1);
    // The push reaches the server, but the page dies before the answer
    // arrives: the step is dropped mid-await, as a closed tab drops it.
    struct DiesAfterSend(Server);
    impl Provider for DiesAfterSend {
        type Rec = Value;
        async fn push(&self, batch: PushBatch<Value>) -> Result<PushResult<Value>> {
            self.0.push(batch).await?;
            futures::future::pending().await
        }
        push_only_provider!();
    }
    assert!(e.push_step(&DiesAfterSend(server.clone())).now_or_never().is_none());
    drop(e);
    let e = open(&store, &p, 10);
    assert_eq!(block_on(e.outbox_counts()).unwrap().in_flight, 1, "the store still says in flight");
    assert_eq!(block_on(e.recover_in_flight()).unwrap(), 1, "taking over puts it back to pending");
    assert!(matches!(block_on(e.push_step(&server)).unwrap(), Step::Sent(_)));
    let s = server.state.borrow();
    assert_eq!((s.seen_ops("w1"), s.applied_ops("w1")), (1, 1));
}

#[test]
fn the_driver_waits_the_backoff_schedule_and_pauses_on_auth() {
    let (_s, p, e, server) = setup(10);
    let e = Rc::new(e);
    let driver = Driver::new(e.clone(), server.clone(), true);
    driver.set_leader(true);
    put(&e, "a", 1);
    server.failures.borrow_mut().extend([
        SyncError::Unavailable("1".into()),
        SyncError::RateLimit { message: "slow down".into(), retry_after_ms: Some(2000) },
    ]);
    let err = block_on(driver.sync_now()).unwrap_err();
    assert_eq!(err.code(), "UNAVAILABLE");
    let err = block_on(driver.sync_now()).unwrap_err();
    assert_eq!(err.code(), "RATE_LIMIT");
    let before = p.now.get();
    let retries: Vec<(u32, u64)> = p
        .events
        .borrow()
        .iter()
        .filter_map(|e| match e {
            Event::Retry(r) => Some((r.attempt, r.delay_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 2);
    assert!((100..=120).contains(&retries[0].1), "first retry after ~100 ms: {retries:?}");
    assert!(retries[1].1 >= 2000, "RATE_LIMIT waits at least retryAfterMs: {retries:?}");
    server.failures.borrow_mut().push_back(SyncError::Auth("expired".into()));
    // Even syncNow waits out retryAfterMs (the test clock jumps while it waits).
    assert_eq!(block_on(driver.sync_now()).unwrap_err().code(), "AUTH");
    assert!(p.now.get() - before >= 2000, "syncNow waited {} ms", p.now.get() - before);
    assert_eq!(driver.state().phase, "paused");
    assert_eq!(block_on(driver.sync_now()).unwrap_err().code(), "AUTH", "no attempt while paused");
    driver.start();
    let report = block_on(driver.sync_now()).unwrap();
    assert_eq!(report.pushed, 1);
    assert_eq!(*server.pushes.borrow(), 4, "three failures, one success, nothing while paused");
    assert!(block_on(e.recent_runs(10)).unwrap().len() >= 4, "one sync_runs row per run");
}

#[test]
fn no_push_while_offline() {
    let (_s, p, e, server) = setup(10);
    let driver = Driver::new(Rc::new(e), server.clone(), true);
    driver.set_leader(true);
    p.offline.set(true);
    assert_eq!(block_on(driver.sync_now()).unwrap_err().code(), "UNAVAILABLE");
    assert_eq!(*server.pushes.borrow(), 0);
}

#[test]
fn a_batch_is_taken_only_while_its_engine_holds_the_lease() {
    use tidesync::engine::lease::{self, Claim, TTL_MS};
    let (store, p, e, server) = setup(10);
    put(&e, "a", 1);
    // Another engine on the same database took the lease.
    let other = open(&store, &p, 10);
    assert!(block_on(lease::claim(&other, "other", Claim::TakeOver)).unwrap());
    assert_eq!(block_on(e.push_step_as(&server, Some("mine"))).unwrap(), Step::LeadLost);
    let counts = block_on(e.outbox_counts()).unwrap();
    assert_eq!((counts.pending, counts.in_flight), (1, 0), "nothing was marked in flight");
    assert_eq!(server.state.borrow().seen_ops("w1"), 0, "nothing was sent");

    // Its holder went silent: the batch's own transaction takes the lease.
    p.now.set(p.now.get() + TTL_MS);
    assert!(matches!(block_on(e.push_step_as(&server, Some("mine"))).unwrap(), Step::Sent(_)));
    assert_eq!(server.state.borrow().applied_ops("w1"), 1);
    assert!(!block_on(lease::claim(&other, "other", Claim::IfFree(None))).unwrap(), "renewed by the batch");
    assert_eq!(block_on(lease::expiry(&e)).unwrap(), Some(p.now.get() + TTL_MS));
}

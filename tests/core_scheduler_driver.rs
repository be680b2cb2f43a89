//! The driver executes the scheduler's plan: its loop, polled by hand on the
//! test clock (every sleep jumps the clock at once), makes exactly the
//! provider calls, at exactly the times, that the scheduler's rules give.
#![cfg(not(target_arch = "wasm32"))]

mod sync_support;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::executor::block_on;
use serde_json::{json, Value};
use tidesync::core::scheduler::{COALESCE_MS, PERIODIC_MS};
use tidesync::core::wire::{PullRequest, PullResponse, PushBatch, PushResult, SyncScope};
use tidesync::core::{Result, SyncError};
use tidesync::engine::driver::Driver;
use tidesync::engine::provider::{Provider, Sink, Unsubscribe};
use tidesync::engine::{Engine, EngineConfig, Event, TestPlatform};
use tidesync::store::memory::MemoryStore;
use tidesync::store::{Schema, TableSchema};

use sync_support::Server;

const T0: u64 = 1_700_000_000_000;

/// The test server, with a log of every call and the time (from `T0`) it came at.
#[derive(Clone)]
struct Logged {
    server: Server,
    platform: TestPlatform,
    log: Rc<RefCell<Vec<(&'static str, u64)>>>,
}

impl Logged {
    fn note(&self, call: &'static str) {
        let at = self.platform.now.get() - T0;
        let mut log = self.log.borrow_mut();
        if log.last() != Some(&(call, at)) {
            log.push((call, at));
        }
    }

    fn calls(&self) -> Vec<(&'static str, u64)> {
        self.log.borrow().clone()
    }
}

impl Provider for Logged {
    type Rec = Value;

    async fn push(&self, batch: PushBatch<Value>) -> Result<PushResult<Value>> {
        self.note("push");
        self.server.push(batch).await
    }

    async fn pull(&self, req: PullRequest) -> Result<PullResponse<Value>> {
        self.note("pull");
        self.server.pull(req).await
    }

    async fn subscribe(&self, scope: SyncScope, tables: Vec<String>, sink: Sink<Value>) -> Result<Unsubscribe> {
        self.note("subscribe");
        self.server.subscribe(scope, tables, sink).await
    }

    async fn update_cursor(&self, scope: SyncScope, device_id: String, version: u64) -> Result<()> {
        self.note("cursor");
        self.server.update_cursor(scope, device_id, version).await
    }
}

type TestDriver = Driver<MemoryStore, TestPlatform, Logged>;

fn setup() -> (TestDriver, Logged) {
    let schema = || Schema::new(vec![TableSchema::simple("notes")]);
    let platform = TestPlatform::new(T0, 42);
    let mut config = EngineConfig::new("w1", vec![TableSchema::simple("notes")]);
    config.backoff_ms = vec![100, 200, 400];
    let engine = block_on(Engine::open(config, MemoryStore::new(schema()), platform.clone())).unwrap();
    let provider = Logged { server: Server::default(), platform, log: Rc::default() };
    (Driver::new(Rc::new(engine), provider.clone(), true), provider)
}

fn put(driver: &TestDriver, id: &str) {
    block_on(driver.engine().put("notes", json!({ "id": id }))).unwrap();
    driver.wake();
}

/// Polls `run` until `done` holds; panics if it takes more than 1000 polls.
fn poll_until(run: &mut Pin<Box<dyn Future<Output = ()> + '_>>, mut done: impl FnMut() -> bool) {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if done() {
            return;
        }
        if let Poll::Ready(()) = run.as_mut().poll(&mut cx) {
            assert!(done(), "the loop ended first");
            return;
        }
    }
    panic!("not done after 1000 polls");
}

fn retry_delays(driver: &TestDriver) -> Vec<u64> {
    let events = driver.engine().platform().events.borrow();
    events
        .iter()
        .filter_map(|e| match e {
            Event::Retry(r) => Some(r.delay_ms),
            _ => None,
        })
        .collect()
}

#[test]
fn the_loop_pushes_a_burst_once_then_pulls_every_periodic_ms() {
    let (driver, server) = setup();
    put(&driver, "a");
    put(&driver, "b");
    put(&driver, "c");
    driver.set_leader(true);
    let mut run: Pin<Box<dyn Future<Output = ()>>> = Box::pin(driver.run());
    let c = COALESCE_MS;
    let third_periodic = 2 * c + 3 * (PERIODIC_MS + c);
    poll_until(&mut run, || server.calls().last() == Some(&("pull", third_periodic)));
    let calls = server.calls();
    assert_eq!(
        calls,
        [
            // One run after the coalesce window: one push for the burst,
            // the bootstrap, the subscription, the first cursor report.
            ("push", c),
            ("pull", c),
            ("subscribe", c),
            ("cursor", c),
            // The new subscription: pull what came before it.
            ("pull", 2 * c),
            // Then quiet: a pull every PERIODIC_MS (after the window).
            ("pull", 2 * c + PERIODIC_MS + c),
            ("pull", 2 * c + 2 * (PERIODIC_MS + c)),
            ("pull", third_periodic),
        ]
    );
}

#[test]
fn a_failed_push_waits_its_backoff_in_full_then_runs_again() {
    let (driver, server) = setup();
    server.server.failures.borrow_mut().push_back(SyncError::Unavailable("down".into()));
    put(&driver, "a");
    driver.set_leader(true);
    let mut run: Pin<Box<dyn Future<Output = ()>>> = Box::pin(driver.run());
    poll_until(&mut run, || server.calls().iter().filter(|(call, _)| *call == "push").count() == 2);
    let delays = retry_delays(&driver);
    assert_eq!(delays.len(), 1);
    assert!((100..120).contains(&delays[0]), "the first step of [100, 200, 400], jittered: {delays:?}");
    let c = COALESCE_MS;
    // The failed run ends before pulling; the next one comes after the
    // backoff and the coalesce window, and goes all the way.
    let again = c + delays[0] + c;
    assert_eq!(
        server.calls(),
        [("push", c), ("push", again), ("pull", again), ("subscribe", again), ("cursor", again)]
    );
    drop(run);
}

#[test]
fn auth_pauses_the_loop_until_start() {
    let (driver, server) = setup();
    server.server.failures.borrow_mut().push_back(SyncError::Auth("expired".into()));
    put(&driver, "a");
    driver.set_leader(true);
    let mut run: Pin<Box<dyn Future<Output = ()>>> = Box::pin(driver.run());
    poll_until(&mut run, || driver.state().phase == "paused");
    // Writes and ten periodic timers later, still no second push.
    put(&driver, "b");
    let paused_at = driver.engine().platform().now.get();
    poll_until(&mut run, || driver.engine().platform().now.get() >= paused_at + 10 * PERIODIC_MS);
    assert_eq!(server.calls(), [("push", COALESCE_MS)]);
    assert_eq!(driver.state().phase, "paused");
    driver.start();
    poll_until(&mut run, || server.calls().len() > 1);
    assert_eq!(server.calls()[1].0, "push");
    assert!(driver.state().paused.is_none());
}

#[test]
fn shutdown_ends_the_loop() {
    let (driver, _server) = setup();
    driver.set_leader(true);
    let mut run: Pin<Box<dyn Future<Output = ()>>> = Box::pin(driver.run());
    poll_until(&mut run, || driver.engine().platform().now.get() > T0 + PERIODIC_MS);
    driver.shutdown();
    let mut cx = Context::from_waker(Waker::noop());
    let ended = (0..10).any(|_| run.as_mut().poll(&mut cx).is_ready());
    assert!(ended, "the loop ends within a few polls of shutdown");
    assert_eq!(driver.state().phase, "closed");
}

//! What the engine needs from its surroundings, as one small trait: time,
//! randomness, sleeping, and delivering events. The browser implementation
//! lives in the wasm layer; tests and the simulator use [`TestPlatform`], whose
//! clock they control.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use super::events::Event;
use crate::core::rng::SplitMix64;

#[allow(async_fn_in_trait)]
pub trait Platform {
    /// Wall-clock milliseconds since the Unix epoch (`Date.now()`).
    fn now_ms(&self) -> u64;
    /// Fills `buf` with cryptographically random bytes (`crypto.getRandomValues`).
    fn fill_random(&self, buf: &mut [u8]);
    /// Resolves after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> impl Future<Output = ()>;
    /// Delivers an event to the app's handlers. Called with no borrow held.
    fn emit(&self, event: Event);
    /// Whether the device believes it has a network (`navigator.onLine`).
    fn is_online(&self) -> bool {
        true
    }
    /// Tells other engines on the same database (other tabs) about a change.
    fn broadcast(&self, _change: &super::events::ChangeEvent) {}
}

/// A deterministic platform: a settable clock, a seeded random source, and a
/// log of emitted events.
#[derive(Clone, Default)]
pub struct TestPlatform {
    pub now: Rc<Cell<u64>>,
    /// `navigator.onLine` as the engine sees it (true unless a test sets it).
    pub offline: Rc<Cell<bool>>,
    seed: Rc<Cell<u64>>,
    pub events: Rc<RefCell<Vec<Event>>>,
}

impl TestPlatform {
    pub fn new(now_ms: u64, seed: u64) -> Self {
        TestPlatform { now: Rc::new(Cell::new(now_ms)), seed: Rc::new(Cell::new(seed)), ..Default::default() }
    }

    /// The events emitted so far, by name.
    pub fn event_names(&self) -> Vec<&'static str> {
        self.events.borrow().iter().map(Event::name).collect()
    }
}

impl Platform for TestPlatform {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        let mut rng = SplitMix64(self.seed.get());
        rng.fill(buf);
        self.seed.set(rng.0);
    }

    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        // Time passes instantly: the simulated clock jumps forward, and the
        // task yields once so other tasks of the executor run.
        self.now.set(self.now.get() + ms);
        YieldOnce(false)
    }

    fn emit(&self, event: Event) {
        self.events.borrow_mut().push(event);
    }

    fn is_online(&self) -> bool {
        !self.offline.get()
    }
}

/// A future that is pending once (waking itself), then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

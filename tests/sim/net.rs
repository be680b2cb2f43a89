//! The simulated network between devices and the core's server algorithm:
//! a provider per device whose calls fail, time out after reaching the
//! server, rate-limit or reject ops permanently when the seed says so, and
//! subscription batches that wait in a queue to be delivered late, twice,
//! out of order or never. It also records every op the server acknowledged.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::Value;
use tidesync::core::rng::SplitMix64;
use tidesync::core::server::ServerState;
use tidesync::core::wire::{OpResult, PullRequest, PullResponse, PushBatch, PushResult, SyncChange, SyncScope};
use tidesync::core::{ChangeStamp, Pk, Result, SyncError};
use tidesync::engine::provider::{Provider, Sink, SubscriptionEvent, SubscriptionStatus, Unsubscribe};

/// Fault rates in percent; all zero once the run quiesces.
#[derive(Clone, Copy, Default)]
pub struct Faults {
    pub push_lost: u64,
    pub answer_lost: u64,
    pub rate_limit: u64,
    pub reject: u64,
    pub pull_fail: u64,
    pub batch_drop: u64,
    pub batch_dup: u64,
}

/// A batch on its way to one device.
pub struct InFlight {
    pub device: usize,
    pub changes: Vec<SyncChange<Value>>,
    pub from: u64,
}

/// What the whole simulated world shares.
pub struct World {
    pub server: RefCell<ServerState<Value>>,
    pub rng: RefCell<SplitMix64>,
    pub faults: Cell<Faults>,
    pub queue: RefCell<Vec<InFlight>>,
    pub sinks: RefCell<Vec<Option<Sink<Value>>>>,
    /// Every op the server answered `success: true`: (table, pk, stamp).
    pub acked: RefCell<Vec<(String, Pk, ChangeStamp)>>,
    pub now: Cell<u64>,
}

impl World {
    pub fn new(seed: u64, devices: usize) -> Rc<World> {
        Rc::new(World {
            server: RefCell::new(ServerState::new()),
            rng: RefCell::new(SplitMix64(seed ^ 0x9e37_79b9_7f4a_7c15)),
            faults: Cell::new(Faults::default()),
            queue: RefCell::new(Vec::new()),
            sinks: RefCell::new(vec![None; devices]),
            acked: RefCell::new(Vec::new()),
            now: Cell::new(1_700_000_000_000),
        })
    }

    pub fn roll(&self, percent: u64) -> bool {
        percent > 0 && self.rng.borrow_mut().below(100) < percent
    }

    /// Delivers the queued batch at `i` (a random one, for reordering).
    pub fn deliver(&self, i: usize) {
        let batch = self.queue.borrow_mut().remove(i);
        let sink = self.sinks.borrow()[batch.device].clone();
        if let Some(sink) = sink {
            sink(SubscriptionEvent::Changes(Ok(batch.changes), Some(batch.from)));
        }
    }
}

/// One device's provider.
#[derive(Clone)]
pub struct Net {
    pub world: Rc<World>,
    pub device: usize,
}

impl Provider for Net {
    type Rec = Value;

    async fn push(&self, batch: PushBatch<Value>) -> Result<PushResult<Value>> {
        let w = &self.world;
        let f = w.faults.get();
        if w.roll(f.push_lost) {
            return Err(SyncError::Unavailable("push lost".into()));
        }
        if w.roll(f.rate_limit) {
            return Err(SyncError::RateLimit { message: "slow down".into(), retry_after_ms: Some(500) });
        }
        let mut batch = batch;
        let mut rejected = Vec::new();
        if w.roll(f.reject) && !batch.ops.is_empty() {
            rejected.push(batch.ops.remove(0).op_id);
        }
        let outcome = w.server.borrow_mut().push(&batch, w.now.get());
        for (op, r) in batch.ops.iter().zip(&outcome.result.results) {
            if r.success {
                w.acked.borrow_mut().push((op.table_name.clone(), op.pk.clone(), op.stamp.clone()));
            }
        }
        // Fan-out to every subscribed device, through the queue.
        for device in 0..w.sinks.borrow().len() {
            if w.sinks.borrow()[device].is_none() {
                continue;
            }
            let changes = outcome.for_subscriber(&[], None);
            if changes.is_empty() || w.roll(f.batch_drop) {
                continue;
            }
            let copies = if w.roll(f.batch_dup) { 2 } else { 1 };
            for _ in 0..copies {
                let b = InFlight { device, changes: changes.clone(), from: outcome.from_cursor };
                w.queue.borrow_mut().push(b);
            }
        }
        if w.roll(f.answer_lost) {
            return Err(SyncError::Unavailable("answer lost".into()));
        }
        let mut result = outcome.result;
        for op_id in rejected {
            result.results.push(OpResult {
                op_id,
                success: false,
                server_version: None,
                error: Some("rejected".into()),
                code: Some("INVALID".into()),
                retryable: Some(false),
                current: None,
            });
        }
        Ok(result)
    }

    async fn pull(&self, req: PullRequest) -> Result<PullResponse<Value>> {
        if self.world.roll(self.world.faults.get().pull_fail) {
            return Err(SyncError::Unavailable("pull failed".into()));
        }
        self.world.server.borrow().pull(&req)
    }

    async fn subscribe(&self, _scope: SyncScope, _tables: Vec<String>, sink: Sink<Value>) -> Result<Unsubscribe> {
        sink(SubscriptionEvent::Status(SubscriptionStatus::Connected));
        self.world.sinks.borrow_mut()[self.device] = Some(sink);
        let world = Rc::downgrade(&self.world);
        let device = self.device;
        Ok(Unsubscribe::new(move || {
            if let Some(w) = world.upgrade() {
                w.sinks.borrow_mut()[device] = None;
                w.queue.borrow_mut().retain(|b| b.device != device);
            }
        }))
    }

    async fn update_cursor(&self, scope: SyncScope, device_id: String, version: u64) -> Result<()> {
        self.world.server.borrow_mut().update_cursor(&scope, &device_id, version)
    }
}

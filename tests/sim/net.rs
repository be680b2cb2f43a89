//! The simulated network between databases and the core's server algorithm:
//! a provider per engine (tab) whose calls fail, time out after reaching the
//! server, rate-limit or reject ops permanently when the seed says so, refuse
//! as a whole (like a 413) any batch holding a record marked `big`, and
//! subscription batches that wait in a queue to be delivered late, twice,
//! out of order or never. It also records every op the server acknowledged
//! and every serverVersion it gave an opId (exactly-once is checked on it).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
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

/// Which subscription: (database index, tab id).
pub type SinkKey = (usize, u64);

/// A subscription: its tables and its sink.
pub type Subscriber = (Vec<String>, Sink<Value>);

/// A batch on its way to one subscription.
pub struct InFlight {
    pub to: SinkKey,
    pub changes: Vec<SyncChange<Value>>,
    pub from: u64,
}

/// What the server answered, for the exactly-once check.
#[derive(Default)]
pub struct Ledger {
    /// Every opId the server processed, with the serverVersion it got when
    /// applied (`None`: acknowledged without being applied).
    pub versions: HashMap<String, Option<u64>>,
    /// An opId answered differently twice (applied twice, or applied after
    /// it was acknowledged as not applied).
    pub twice: Vec<String>,
}

/// What the whole simulated world shares.
pub struct World {
    pub server: RefCell<ServerState<Value>>,
    pub rng: RefCell<SplitMix64>,
    pub faults: Cell<Faults>,
    pub queue: RefCell<Vec<InFlight>>,
    /// Each subscription's tables and sink; ordered, so the fan-out draws
    /// the same random numbers every run.
    pub sinks: RefCell<BTreeMap<SinkKey, Subscriber>>,
    /// Every op the server answered `success: true`: (table, pk, stamp).
    pub acked: RefCell<Vec<(String, Pk, ChangeStamp)>>,
    pub ledger: RefCell<Ledger>,
    pub now: Cell<u64>,
    /// Batches refused whole because they held a big record.
    pub too_large: Cell<u64>,
    tabs: Cell<u64>,
}

/// Whether a record is one the server refuses to take (too large).
pub fn is_big(payload: Option<&Value>) -> bool {
    payload.is_some_and(|p| p["big"] == true)
}

impl World {
    pub fn new(seed: u64) -> Rc<World> {
        Rc::new(World {
            server: RefCell::new(ServerState::new()),
            rng: RefCell::new(SplitMix64(seed ^ 0x9e37_79b9_7f4a_7c15)),
            faults: Cell::new(Faults::default()),
            queue: RefCell::new(Vec::new()),
            sinks: RefCell::new(BTreeMap::new()),
            acked: RefCell::new(Vec::new()),
            ledger: RefCell::new(Ledger::default()),
            now: Cell::new(1_700_000_000_000),
            too_large: Cell::new(0),
            tabs: Cell::new(0),
        })
    }

    /// A fresh tab id.
    pub fn next_tab(&self) -> u64 {
        self.tabs.set(self.tabs.get() + 1);
        self.tabs.get()
    }

    pub fn roll(&self, percent: u64) -> bool {
        percent > 0 && self.rng.borrow_mut().below(100) < percent
    }

    /// Delivers the queued batch at `i` (a random one, for reordering).
    pub fn deliver(&self, i: usize) {
        let batch = self.queue.borrow_mut().remove(i);
        let sink = self.sinks.borrow().get(&batch.to).map(|(_, s)| s.clone());
        if let Some(sink) = sink {
            sink(SubscriptionEvent::Changes(Ok(batch.changes), Some(batch.from)));
        }
    }

    fn note_answers(&self, batch: &PushBatch<Value>, results: &[OpResult<Value>]) {
        let mut ledger = self.ledger.borrow_mut();
        for (op, r) in batch.ops.iter().zip(results) {
            if r.success {
                self.acked.borrow_mut().push((op.table_name.clone(), op.pk.clone(), op.stamp.clone()));
            }
            let v = r.server_version;
            // A replay must get the first answer again: not applied stays
            // not applied, and an applied op keeps its serverVersion.
            match ledger.versions.get(&op.op_id) {
                Some(before) if *before != v => ledger.twice.push(op.op_id.clone()),
                Some(_) => {}
                None => {
                    ledger.versions.insert(op.op_id.clone(), v);
                }
            }
        }
    }
}

/// One engine's provider.
#[derive(Clone)]
pub struct Net {
    pub world: Rc<World>,
    pub device: usize,
    pub tab: u64,
}

impl Provider for Net {
    type Rec = Value;

    async fn push(&self, batch: PushBatch<Value>) -> Result<PushResult<Value>> {
        let w = &self.world;
        let f = w.faults.get();
        // The server's body limit: refused whole, before anything is applied.
        if batch.ops.iter().any(|o| is_big(o.payload.as_ref())) {
            w.too_large.set(w.too_large.get() + 1);
            return Err(SyncError::invalid("batch", "too large"));
        }
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
        w.note_answers(&batch, &outcome.result.results);
        // Fan-out to every subscription, through the queue.
        let subscribers: Vec<(SinkKey, Vec<String>)> =
            w.sinks.borrow().iter().map(|(k, (tables, _))| (*k, tables.clone())).collect();
        for (to, tables) in subscribers {
            let changes = outcome.for_subscriber(&tables, None);
            if changes.is_empty() || w.roll(f.batch_drop) {
                continue;
            }
            let copies = if w.roll(f.batch_dup) { 2 } else { 1 };
            for _ in 0..copies {
                let b = InFlight { to, changes: changes.clone(), from: outcome.from_cursor };
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

    async fn subscribe(&self, _scope: SyncScope, tables: Vec<String>, sink: Sink<Value>) -> Result<Unsubscribe> {
        sink(SubscriptionEvent::Status(SubscriptionStatus::Connected));
        let key = (self.device, self.tab);
        self.world.sinks.borrow_mut().insert(key, (tables, sink));
        let world = Rc::downgrade(&self.world);
        Ok(Unsubscribe::new(move || {
            if let Some(w) = world.upgrade() {
                w.sinks.borrow_mut().remove(&key);
                w.queue.borrow_mut().retain(|b| b.to != key);
            }
        }))
    }

    async fn update_cursor(&self, scope: SyncScope, device_id: String, version: u64) -> Result<()> {
        self.world.server.borrow_mut().update_cursor(&scope, &device_id, version)
    }
}

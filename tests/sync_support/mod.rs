//! A provider over the core's server algorithm for native engine tests, with
//! fault switches: scripted push and pull failures, permanent rejections,
//! and subscription batches dropped, duplicated or held back (reordered).
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use serde_json::Value;
use tidesync::core::server::ServerState;
use tidesync::core::wire::{OpResult, PullRequest, PullResponse, PushBatch, PushResult, SyncChange, SyncScope};
use tidesync::core::{Result, SyncError};
use tidesync::engine::provider::{Provider, Sink, SubscriptionEvent, SubscriptionStatus, Unsubscribe};

type Batch = (Vec<SyncChange<Value>>, Option<u64>);
/// A batch held back to be delivered after the next one.
type Held = (Sink<Value>, Batch);
/// A subscriber: id, where it receives, its tables.
type Subscriber = (u64, Sink<Value>, Vec<String>);

/// One shared server; each device gets its own `Server` handle (clone).
#[derive(Clone, Default)]
pub struct Server {
    pub state: Rc<RefCell<ServerState<Value>>>,
    /// Errors the next pushes return, in order.
    pub failures: Rc<RefCell<VecDeque<SyncError>>>,
    /// Errors the next pulls return, in order.
    pub pull_failures: Rc<RefCell<VecDeque<SyncError>>>,
    /// opIds answered `success: false, retryable: false`.
    pub reject: Rc<RefCell<Vec<String>>>,
    pub pushes: Rc<RefCell<u32>>,
    pub pulls: Rc<Cell<u32>>,
    subscribers: Rc<RefCell<Vec<Subscriber>>>,
    next_id: Rc<Cell<u64>>,
    /// Subscription faults: drop, duplicate, hold back the next N batches.
    pub drop: Rc<Cell<u32>>,
    pub duplicate: Rc<Cell<u32>>,
    pub reorder: Rc<Cell<u32>>,
    held: Rc<RefCell<Option<Held>>>,
    pub now: Rc<Cell<u64>>,
}

impl Server {
    pub fn deliver(sink: &Sink<Value>, batch: Batch) {
        sink(SubscriptionEvent::Changes(Ok(batch.0), batch.1));
    }
}

impl Provider for Server {
    type Rec = Value;

    async fn push(&self, mut batch: PushBatch<Value>) -> Result<PushResult<Value>> {
        *self.pushes.borrow_mut() += 1;
        if let Some(e) = self.failures.borrow_mut().pop_front() {
            return Err(e);
        }
        let rejected = self.reject.borrow().clone();
        let ids: Vec<String> = batch.ops.iter().map(|o| o.op_id.clone()).collect();
        batch.ops.retain(|o| !rejected.contains(&o.op_id));
        let outcome = self.state.borrow_mut().push(&batch, self.now.get());
        let mut result = outcome.result.clone();
        for id in ids.into_iter().filter(|id| rejected.contains(id)) {
            result.results.push(OpResult {
                op_id: id,
                success: false,
                server_version: None,
                error: Some("no".into()),
                code: None,
                retryable: Some(false),
                current: None,
            });
        }
        let subs: Vec<_> = self.subscribers.borrow().iter().map(|(_, s, t)| (s.clone(), t.clone())).collect();
        for (sink, tables) in subs {
            let changes = outcome.for_subscriber(&tables, None);
            if changes.is_empty() {
                continue;
            }
            let batch = (changes, Some(outcome.from_cursor));
            if self.drop.get() > 0 {
                self.drop.set(self.drop.get() - 1);
                continue;
            }
            if self.reorder.get() > 0 && self.held.borrow().is_none() {
                self.reorder.set(self.reorder.get() - 1);
                *self.held.borrow_mut() = Some((sink, batch));
                continue;
            }
            Self::deliver(&sink, batch.clone());
            if self.duplicate.get() > 0 {
                self.duplicate.set(self.duplicate.get() - 1);
                Self::deliver(&sink, batch);
            }
            if let Some((s, b)) = self.held.borrow_mut().take() {
                Self::deliver(&s, b);
            }
        }
        Ok(result)
    }

    async fn pull(&self, req: PullRequest) -> Result<PullResponse<Value>> {
        self.pulls.set(self.pulls.get() + 1);
        if let Some(e) = self.pull_failures.borrow_mut().pop_front() {
            return Err(e);
        }
        self.state.borrow().pull(&req)
    }

    async fn subscribe(&self, _scope: SyncScope, tables: Vec<String>, sink: Sink<Value>) -> Result<Unsubscribe> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        sink(SubscriptionEvent::Status(SubscriptionStatus::Connected));
        self.subscribers.borrow_mut().push((id, sink, tables));
        let subs = self.subscribers.clone();
        Ok(Unsubscribe::new(move || subs.borrow_mut().retain(|(i, _, _)| *i != id)))
    }

    async fn update_cursor(&self, scope: SyncScope, device_id: String, version: u64) -> Result<()> {
        self.state.borrow_mut().update_cursor(&scope, &device_id, version)
    }
}

/// The non-push methods of a test provider that only pushes: every call fails
/// as a network error would.
#[macro_export]
macro_rules! push_only_provider {
    () => {
        async fn pull(
            &self,
            _req: tidesync::core::wire::PullRequest,
        ) -> tidesync::core::Result<tidesync::core::wire::PullResponse<serde_json::Value>> {
            Err(tidesync::core::SyncError::Unavailable("this test provider only pushes".into()))
        }
        async fn subscribe(
            &self,
            _scope: tidesync::core::wire::SyncScope,
            _tables: Vec<String>,
            _sink: tidesync::engine::provider::Sink<serde_json::Value>,
        ) -> tidesync::core::Result<tidesync::engine::provider::Unsubscribe> {
            Err(tidesync::core::SyncError::Unavailable("this test provider only pushes".into()))
        }
        async fn update_cursor(
            &self,
            _scope: tidesync::core::wire::SyncScope,
            _device_id: String,
            _version: u64,
        ) -> tidesync::core::Result<()> {
            Ok(())
        }
    };
}

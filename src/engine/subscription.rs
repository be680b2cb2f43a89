//! The realtime subscription's I/O side: the inbox its batches and status
//! changes land in, and the provider's unsubscribe handle. When to
//! subscribe again is the scheduler's decision ([`crate::core::scheduler::Link`]).
//!
//! Batches are hints (docs/PROTOCOL.md section 3). The driver applies a batch
//! directly only when its `fromCursor` is the cursor; anything else (a gap,
//! a duplicate, a reordered or malformed batch, no meta) makes it pull.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::provider::{Sink, SubscriptionEvent, Unsubscribe};
use super::signal::Signal;

/// The subscription's shared state.
pub struct Subscription<R> {
    inbox: Rc<RefCell<VecDeque<SubscriptionEvent<R>>>>,
    wake: Signal,
    handle: RefCell<Option<Unsubscribe>>,
}

impl<R: 'static> Subscription<R> {
    pub fn new(wake: Signal) -> Self {
        Subscription { inbox: Rc::default(), wake, handle: RefCell::new(None) }
    }

    /// Where the provider delivers: queues the event and wakes the loop.
    pub fn sink(&self) -> Sink<R> {
        let inbox = Rc::downgrade(&self.inbox);
        let wake = self.wake.clone();
        Rc::new(move |event| {
            if let Some(inbox) = inbox.upgrade() {
                inbox.borrow_mut().push_back(event);
                wake.notify();
            }
        })
    }

    /// Whether something was delivered since the last [`Self::drain`].
    pub fn has_news(&self) -> bool {
        !self.inbox.borrow().is_empty()
    }

    /// Everything delivered since the last call, in order.
    pub fn drain(&self) -> Vec<SubscriptionEvent<R>> {
        self.inbox.borrow_mut().drain(..).collect()
    }

    /// `subscribe` resolved to this handle (a previous one is dropped).
    pub fn attach(&self, handle: Unsubscribe) {
        self.close();
        *self.handle.borrow_mut() = Some(handle);
    }

    /// Calls the provider's unsubscribe function, if subscribed.
    pub fn close(&self) {
        if let Some(h) = self.handle.borrow_mut().take() {
            h.call();
        }
    }
}

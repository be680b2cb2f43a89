//! The realtime subscription as the scheduler keeps it: the inbox its
//! batches and status changes land in, the provider's unsubscribe handle,
//! and when to try again after it failed.
//!
//! Batches are hints (docs/PROTOCOL.md section 3). The scheduler applies a batch
//! directly only when its `fromCursor` is the cursor; anything else (a gap,
//! a duplicate, a reordered or malformed batch, no meta) makes it pull.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use super::provider::{Sink, SubscriptionEvent, Unsubscribe};
use super::signal::Signal;

/// Whether the engine has a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// None yet, or it ended: subscribe when `retry_at` has passed.
    Down { attempt: u32, retry_at: u64 },
    /// `subscribe` resolved.
    Up,
}

/// The subscription's shared state.
pub struct Subscription<R> {
    inbox: Rc<RefCell<VecDeque<SubscriptionEvent<R>>>>,
    wake: Signal,
    handle: RefCell<Option<Unsubscribe>>,
    link: Cell<Link>,
}

impl<R: 'static> Subscription<R> {
    pub fn new(wake: Signal) -> Self {
        Subscription {
            inbox: Rc::default(),
            wake,
            handle: RefCell::new(None),
            link: Cell::new(Link::Down { attempt: 0, retry_at: 0 }),
        }
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

    /// Everything delivered since the last call, in order.
    pub fn drain(&self) -> Vec<SubscriptionEvent<R>> {
        self.inbox.borrow_mut().drain(..).collect()
    }

    pub fn has_events(&self) -> bool {
        !self.inbox.borrow().is_empty()
    }

    pub fn link(&self) -> Link {
        self.link.get()
    }

    /// `subscribe` resolved to this handle.
    pub fn up(&self, handle: Unsubscribe) {
        self.close();
        *self.handle.borrow_mut() = Some(handle);
        self.link.set(Link::Up);
    }

    /// It failed or errored: drop it and try again at `retry_at`.
    pub fn down(&self, attempt: u32, retry_at: u64) {
        self.close();
        self.link.set(Link::Down { attempt, retry_at });
    }

    /// Calls the provider's unsubscribe function, if subscribed.
    pub fn close(&self) {
        if let Some(h) = self.handle.borrow_mut().take() {
            h.call();
        }
    }
}

//! The backend as the engine sees it (docs/PROTOCOL.md section 3). The wasm layer
//! adapts the app's JS provider object to this trait; native tests and the
//! simulator implement it over the core's server algorithm.

use std::rc::Rc;

use serde::Serialize;

use crate::core::wire::{PullRequest, PullResponse, PushBatch, PushResult, SyncChange, SyncScope};
use crate::core::Result;

/// The state a subscription reports through `onStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionStatus {
    Connected,
    Disconnected,
    Error,
}

/// What a subscription delivers to the engine.
pub enum SubscriptionEvent<R> {
    /// A batch of changes and its `meta.fromCursor`, or the reason the batch
    /// was malformed (it is then not applied).
    Changes(Result<Vec<SyncChange<R>>>, Option<u64>),
    Status(SubscriptionStatus),
}

/// Where a subscription delivers its events.
pub type Sink<R> = Rc<dyn Fn(SubscriptionEvent<R>)>;

/// Ends a subscription (the function `subscribe` resolved to).
pub struct Unsubscribe(Option<Box<dyn FnOnce()>>);

impl Unsubscribe {
    pub fn new(f: impl FnOnce() + 'static) -> Self {
        Unsubscribe(Some(Box::new(f)))
    }

    /// Calls the provider's unsubscribe function (once).
    pub fn call(mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

#[allow(async_fn_in_trait)]
pub trait Provider {
    /// The payload type carried in ops and changes.
    type Rec;

    /// Sends a batch. A rejection is a `SyncError` whose code says what to do:
    /// `RATE_LIMIT` waits `retryAfterMs`, `AUTH`/`FORBIDDEN` pause pushing,
    /// `INVALID` dead-letters the batch, anything else is retried with backoff.
    /// The result is validated by the adapter against the ops that were sent.
    async fn push(&self, batch: PushBatch<Self::Rec>) -> Result<PushResult<Self::Rec>>;

    /// Fetches the changes after `req.cursor`. The adapter validates the page
    /// against the request (versions ascending and above the cursor, a cursor
    /// that never goes back, only requested tables); the engine checks again.
    async fn pull(&self, req: PullRequest) -> Result<PullResponse<Self::Rec>>;

    /// Starts delivering change batches to `sink`.
    async fn subscribe(&self, scope: SyncScope, tables: Vec<String>, sink: Sink<Self::Rec>) -> Result<Unsubscribe>;

    /// Tells the backend how far this device has applied (for its GC).
    async fn update_cursor(&self, scope: SyncScope, device_id: String, version: u64) -> Result<()>;
}

//! The backend as the engine sees it (PROTOCOL.md section 3). The wasm layer
//! adapts the app's JS provider object to this trait; native tests and the
//! simulator implement it over the core's server algorithm.

use crate::core::wire::{PushBatch, PushResult};
use crate::core::Result;

#[allow(async_fn_in_trait)]
pub trait Provider {
    /// The payload type carried in ops and changes.
    type Rec;

    /// Sends a batch. A rejection is a `SyncError` whose code says what to do:
    /// `RATE_LIMIT` waits `retryAfterMs`, `AUTH`/`FORBIDDEN` pause pushing,
    /// `INVALID` dead-letters the batch, anything else is retried with backoff.
    /// The result is validated by the adapter against the ops that were sent.
    async fn push(&self, batch: PushBatch<Self::Rec>) -> Result<PushResult>;
}

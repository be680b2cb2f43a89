//! The events an engine reports (docs/PROTOCOL.md section 4), as plain data. The
//! platform delivers them; the wasm layer turns each into a JS object.

use serde::Serialize;

use crate::core::{ChangeStamp, Pk};

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeSource {
    Local,
    Remote,
    Tab,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    pub table: String,
    pub pks: Vec<Pk>,
    pub source: ChangeSource,
    /// The write sequence numbers of the transactions reported (see
    /// [`super::write_seq`]); a notice from another tab may cover several.
    pub seqs: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapturedEvent {
    pub table: String,
    pub op_ids: Vec<String>,
    /// Ops that replaced the content of a queued op instead of adding one.
    pub coalesced: usize,
    pub pending: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueFullEvent {
    pub pending: u64,
    pub max_pending_ops: u64,
    /// New ops the waiting write needs room for.
    pub waiting: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEvent {
    pub code: String,
    pub message: String,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op_ids: Option<Vec<String>>,
}

/// Around each pushed batch: the op ids, and after the push what happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushEvent {
    pub op_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub report: Option<super::push::StepReport>,
}

/// A batch will be tried again after `delay_ms`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryEvent {
    pub attempt: u32,
    pub delay_ms: u64,
    pub op_ids: Vec<String>,
    pub code: String,
}

/// Outbox counts and timings, after each run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsEvent {
    pub pending: u64,
    pub failed: u64,
    pub pushed: u64,
    pub run_ms: u64,
    pub cursor: u64,
}

/// A pull page, subscription batch or rescan was applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullEvent {
    /// Changes received.
    pub changes: u64,
    /// Changes that won and were written.
    pub applied: u64,
    pub cursor: u64,
    /// `pull`, `subscription` or `rescan`.
    pub source: &'static str,
}

/// Bootstrap (or rescan) progress: changes of this page, and what is left.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressEvent {
    pub applied: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
    pub cursor: u64,
}

/// The subscription connected, disconnected or errored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEvent {
    pub status: super::provider::SubscriptionStatus,
    /// Reconnection attempts since it was last connected.
    pub attempt: u32,
}

/// One event and its payload (serialised as the payload alone).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Event {
    Change(ChangeEvent),
    OpCaptured(CapturedEvent),
    QueueFull(QueueFullEvent),
    Error(ErrorEvent),
    PushBefore(PushEvent),
    PushAfter(PushEvent),
    Retry(RetryEvent),
    Stats(StatsEvent),
    Pull(PullEvent),
    Progress(ProgressEvent),
    Conflict(Box<super::conflicts::Conflict>),
    Subscription(StatusEvent),
}

impl Event {
    /// The event's name as apps subscribe to it.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Change(_) => "change",
            Event::OpCaptured(_) => "sync.op:action:captured",
            Event::QueueFull(_) => "sync.queue:action:full",
            Event::Error(_) => "sync.error:action",
            Event::PushBefore(_) => "sync.push:action:before",
            Event::PushAfter(_) => "sync.push:action:after",
            Event::Retry(_) => "sync.retry:action",
            Event::Stats(_) => "sync.stats:action",
            Event::Pull(_) => "sync.pull:action:received",
            Event::Progress(_) => BOOTSTRAP_PROGRESS,
            Event::Conflict(_) => "sync.conflict:action:detected",
            Event::Subscription(_) => "sync.subscription:action:statusChange",
        }
    }

    pub fn error(err: &crate::core::SyncError, op_ids: Option<Vec<String>>) -> Event {
        Event::Error(ErrorEvent {
            code: err.code().to_string(),
            message: err.to_string(),
            retryable: err.retryable(),
            op_ids,
        })
    }
}

/// Every event name an app may subscribe to.
pub const EVENT_NAMES: [&str; 11] = [
    "change",
    "sync.op:action:captured",
    "sync.push:action:before",
    "sync.push:action:after",
    "sync.pull:action:received",
    "sync.conflict:action:detected",
    "sync.error:action",
    "sync.retry:action",
    "sync.queue:action:full",
    "sync.stats:action",
    "sync.subscription:action:statusChange",
];

/// The bootstrap progress event, listed apart for clarity.
pub const BOOTSTRAP_PROGRESS: &str = "sync.bootstrap:action:progress";

/// Whether `name` is an event an app may subscribe to.
pub fn is_event_name(name: &str) -> bool {
    EVENT_NAMES.contains(&name) || name == BOOTSTRAP_PROGRESS
}

/// Stamps returned to the app by a write.
pub type Stamps = Vec<ChangeStamp>;

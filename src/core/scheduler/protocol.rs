//! What the scheduler and its executor say to each other: the [`Input`]s
//! it takes (with the outcome of every step it asked for), the
//! [`Action`]s it answers with, and the [`Phase`] it shows. Plain data; the
//! decisions are in the parent module.

use crate::core::error::SyncError;

/// What the engine is doing, as `status().phase` and events spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Idle,
    Offline,
    Paused,
    Pushing,
    Pulling,
    Bootstrapping,
    Rescanning,
    Backoff,
    Closed,
}

impl Phase {
    /// The name JS sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Offline => "offline",
            Phase::Paused => "paused",
            Phase::Pushing => "pushing",
            Phase::Pulling => "pulling",
            Phase::Bootstrapping => "bootstrapping",
            Phase::Rescanning => "rescanning",
            Phase::Backoff => "backoff",
            Phase::Closed => "closed",
        }
    }
}

/// Whether the engine has a realtime subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// None yet, or it ended: subscribe when `retry_at` has passed.
    Down { attempt: u32, retry_at: u64 },
    /// `subscribe` resolved.
    Up,
}

impl Link {
    /// Failed attempts in a row (0 while up).
    pub fn attempt(self) -> u32 {
        match self {
            Link::Down { attempt, .. } => attempt,
            Link::Up => 0,
        }
    }
}

/// How one push batch went.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// A batch was settled (`failed` of its ops were dead-lettered); more
    /// may be waiting.
    Sent { failed: u64 },
    /// The outbox has no pending op.
    Idle,
    /// The push guard answered that another engine leads now.
    LeadLost,
    /// Backoff step `attempt` failed with `error`; `jitter` is in `[0, 1)`.
    Retry { attempt: u32, error: SyncError, jitter: f64 },
    /// The provider refused the credentials.
    Paused(SyncError),
    /// The batch could not be sent at all (a storage error): the run ends.
    Failed(SyncError),
}

/// How pulling until caught up went.
#[derive(Debug, Clone, PartialEq)]
pub enum Pulled {
    /// The last page came in.
    CaughtUp,
    /// The engine closed between pages.
    Interrupted,
    /// A page or the cursor could not be read; `jitter` is in `[0, 1)`.
    Failed { error: SyncError, jitter: f64 },
}

/// A status change the provider delivered for the subscription.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LinkStatus {
    Connected,
    Disconnected,
    /// It failed: drop it and subscribe again after a backoff step.
    Error {
        jitter: f64,
    },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Everything that could go through went through.
    Drained,
    /// Try again after `delay_ms`, waited in full.
    Retry { delay_ms: u64 },
    /// Paused by `AUTH`/`FORBIDDEN` until `start()`.
    Paused,
    /// A storage error stopped the push; wait for the next trigger.
    Failed,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// `start()`: push (again), clearing an AUTH pause.
    Started,
    /// `stop()`: no push until `start()`; writes keep being captured.
    Stopped,
    /// The engine is closing: the loop ends, the subscription too.
    Shutdown,
    /// This engine gained (`true`) or lost the database's lead.
    Leader(bool),
    /// The device went online (`true`) or offline.
    Online(bool),
    /// Something may need a push (a local or another tab's write).
    Wake,
    /// The server may have news (a gap in the batches, online, visible).
    PullDue,
    /// The subscription delivered something no run has handled yet: the
    /// next run handles its inbox before it pushes.
    Delivered,
    /// The loop begins.
    LoopStarted,
    /// A [`Action::Wait`] ended early: something woke the loop.
    Woken,
    /// A [`Action::Wait`] or [`Action::Sleep`] reached its time.
    TimerFired,
    /// The run the loop started with [`Action::Run`] ended.
    RunFinished(RunEnd),
    /// A run begins (`force_pull`: `syncNow` always pulls).
    RunStarted { force_pull: bool },
    /// One [`Action::Push`] batch went this way.
    Pushed(Batch),
    /// The inbox was handled; the local cursor and whether bootstrap is done.
    InboxHandled { cursor: u64, bootstrapped: bool },
    /// The pull fell back to a rescan (`CURSOR_EXPIRED`).
    Rescanning,
    /// The [`Action::Pull`] ended.
    Pulled(Pulled),
    /// The provider changed the subscription's status.
    LinkStatus(LinkStatus),
    /// `subscribe` resolved.
    Subscribed,
    /// `subscribe` rejected with `error`; `jitter` is in `[0, 1)`.
    SubscribeFailed { error: SyncError, jitter: f64 },
    /// The provider accepted this cursor.
    CursorReported { cursor: u64 },
    /// An error was reported that decides nothing (shown by `status()`).
    ErrorSeen(SyncError),
    /// `syncNow()` was called.
    SyncNow,
}

/// Something to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Wait until `until` or the next trigger, whichever comes first; answer
    /// [`Input::TimerFired`] or [`Input::Woken`].
    Wait { until: u64 },
    /// Wait until `until` whatever happens; answer [`Input::TimerFired`].
    Sleep { until: u64 },
    /// Run once; answer [`Input::RunFinished`].
    Run,
    /// The loop ends.
    Exit,
    /// Push one batch (asking the push guard first); answer [`Input::Pushed`].
    Push,
    /// The run's push part is over: record it and report its stats.
    RecordPushRun,
    /// Tell the app that attempt `attempt` failed with `code` and the next
    /// one comes after `delay_ms`.
    Retrying { attempt: u32, delay_ms: u64, code: &'static str },
    /// Handle the subscription's batches and status changes, then read the
    /// cursor; answer [`Input::InboxHandled`] or [`Input::Pulled`].
    HandleInbox,
    /// Pull from `from` until caught up; answer [`Input::Pulled`].
    Pull { from: u64 },
    /// Subscribe; answer [`Input::Subscribed`] or [`Input::SubscribeFailed`].
    Subscribe,
    /// Drop the subscription (call the provider's unsubscribe).
    Unsubscribe,
    /// Tell the provider the local cursor if it is above `above`; answer
    /// [`Input::CursorReported`] if it accepted.
    ReportCursor { above: u64 },
    /// Run local GC.
    CollectGarbage,
    /// The run ends this way.
    Finish(RunEnd),
    /// `syncNow` rejects with this error.
    Reject(SyncError),
    /// `syncNow` waits until `until` (a server's `retryAfterMs`) first.
    Hold { until: u64 },
}

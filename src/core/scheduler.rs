//! The sync scheduler as a plain state machine: it decides WHEN the engine
//! pushes, pulls, subscribes, backs off, reports its cursor and collects
//! garbage, and what `status().phase` says meanwhile. It does no I/O: the
//! engine's driver feeds it [`Input`]s with the time they happened at and
//! performs the [`Action`]s it answers with (the shape of automerge's
//! `sync.rs` and powersync-sqlite-core).
//!
//! The rules:
//! - The loop runs only while this engine leads, is started, is not paused
//!   and is online; otherwise it waits for a trigger.
//! - A trigger (a write, a wake, leadership, `start()`) starts a run after
//!   [`COALESCE_MS`]; triggers during that window join the same run.
//! - Without a trigger the loop runs every [`PERIODIC_MS`], and that run
//!   pulls; a subscription that is down is retried at its retry time.
//! - A failed batch or pull waits its backoff step (jittered, never sooner
//!   than a server's `retryAfterMs`) in full; `retryAfterMs` also holds
//!   back `syncNow`. `AUTH`/`FORBIDDEN` pause until `start()`.
//! - A run pushes batch by batch while online (a push guard that answers
//!   "no longer leading" stops it), handles the subscription's inbox (first,
//!   before the push, when it holds a delivery at the run's start), pulls
//!   when a pull is due, the bootstrap is not done or no subscription is
//!   live, then (re)subscribes, reports the cursor at most every
//!   [`CURSOR_REPORT_MS`] and collects garbage at most every GC interval.

mod protocol;

pub use protocol::{Action, Batch, Input, Link, LinkStatus, Phase, Pulled, RunEnd};

use super::backoff::retry_delay;
use super::error::SyncError;

/// How often the loop runs without a trigger.
pub const PERIODIC_MS: u64 = 30_000;
/// How long a trigger waits for more writes to join the same run: a timer of
/// 0 ms, which still yields one turn of the event loop, so the writes of one
/// task go out together. Any longer wait adds straight to the end-to-end
/// latency of every write (a write's push and, on the other device, the
/// apply of its subscription batch): 1 ms here measured about 1 ms more at
/// the median than 0.
pub const COALESCE_MS: u64 = 0;
/// The cursor is reported to the provider at most this often.
pub const CURSOR_REPORT_MS: u64 = 5_000;

/// What the scheduler needs from the engine's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// The app's `backoffMs` schedule.
    pub backoff_ms: Vec<u64>,
    /// Local GC runs at most this often.
    pub gc_interval_ms: u64,
    /// Whether pushing starts without `start()`.
    pub started: bool,
}

/// What the loop is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// Not waiting (before the loop starts, during a run, after it ended).
    Nothing,
    /// A trigger, or the timer at `until` (`periodic`: that timer pulls).
    Trigger { until: u64, periodic: bool },
    /// The coalesce window, then a run.
    Coalesce,
    /// The backoff delay, then a run.
    Backoff,
}

/// When a run handles the subscription's inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum InboxTurn {
    /// After the push part (the usual order).
    #[default]
    AfterPush,
    /// Before the push part: the run began with a delivery.
    First,
    /// Handled before the push part, which found this cursor and bootstrap state.
    Handled { cursor: u64, bootstrapped: bool },
}

/// The run in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct RunTally {
    force_pull: bool,
    inbox: InboxTurn,
    batches: u32,
    failed: u64,
    error: bool,
}

/// The scheduler's state: plain data, cloned and compared in tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduler {
    config: SchedulerConfig,
    phase: Phase,
    leader: bool,
    started: bool,
    online: bool,
    shut_down: bool,
    paused: Option<SyncError>,
    last_error: Option<SyncError>,
    last_sync_at: Option<u64>,
    /// No push before this time (a server's `retryAfterMs`), even on `syncNow`.
    not_before: Option<u64>,
    /// A trigger came that no run has covered yet.
    woken: bool,
    /// The subscription delivered something no run has handled yet.
    delivered: bool,
    /// A pull is due (a gap, a reconnect, the periodic timer, going online).
    pull_due: bool,
    /// Failed pulls in a row.
    pull_attempt: u32,
    link: Link,
    /// The last cursor the provider accepted, and when.
    reported: (u64, u64),
    /// When local GC last ran (0: not yet).
    last_gc: u64,
    waiting: Waiting,
    run: Option<RunTally>,
}

impl Scheduler {
    pub fn new(config: SchedulerConfig) -> Self {
        Scheduler {
            started: config.started,
            config,
            phase: Phase::Idle,
            leader: false,
            online: true,
            shut_down: false,
            paused: None,
            last_error: None,
            last_sync_at: None,
            not_before: None,
            woken: false,
            delivered: false,
            pull_due: true,
            pull_attempt: 0,
            link: Link::Down { attempt: 0, retry_at: 0 },
            reported: (0, 0),
            last_gc: 0,
            waiting: Waiting::Nothing,
            run: None,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }
    pub fn leader(&self) -> bool {
        self.leader
    }
    pub fn started(&self) -> bool {
        self.started
    }
    pub fn online(&self) -> bool {
        self.online
    }
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }
    /// A trigger is pending (the executor wakes its wait when this turns on).
    pub fn woken(&self) -> bool {
        self.woken
    }
    pub fn paused(&self) -> Option<&SyncError> {
        self.paused.as_ref()
    }
    pub fn last_error(&self) -> Option<&SyncError> {
        self.last_error.as_ref()
    }
    pub fn last_sync_at(&self) -> Option<u64> {
        self.last_sync_at
    }
    pub fn not_before(&self) -> Option<u64> {
        self.not_before
    }
    pub fn link(&self) -> Link {
        self.link
    }

    /// Pushing is allowed now.
    pub fn may_push(&self) -> bool {
        self.leader && self.started && self.paused.is_none() && self.online
    }

    /// Takes in `input`, which happened at `now`, and says what to do.
    pub fn on(&mut self, input: Input, now: u64) -> Vec<Action> {
        match input {
            Input::Started => {
                self.started = true;
                self.paused = None;
                self.woken = true;
                Vec::new()
            }
            Input::Stopped => {
                self.started = false;
                Vec::new()
            }
            Input::Shutdown => {
                self.shut_down = true;
                self.woken = true;
                vec![Action::Unsubscribe]
            }
            Input::Leader(leader) => {
                self.leader = leader;
                self.woken = true;
                Vec::new()
            }
            Input::Online(online) => {
                self.online = online;
                Vec::new()
            }
            Input::Wake => {
                self.woken = true;
                Vec::new()
            }
            Input::PullDue => {
                self.pull_due = true;
                Vec::new()
            }
            Input::Delivered => {
                self.delivered = true;
                Vec::new()
            }
            Input::ErrorSeen(error) => {
                self.last_error = Some(error);
                Vec::new()
            }
            Input::SyncNow => self.sync_now(now),
            Input::LoopStarted => self.next_round(now),
            // Triggers do not cut the coalesce window or a backoff short.
            Input::Woken => match self.waiting {
                Waiting::Coalesce | Waiting::Backoff => Vec::new(),
                Waiting::Trigger { .. } | Waiting::Nothing => self.next_round(now),
            },
            Input::TimerFired => match self.waiting {
                Waiting::Trigger { periodic, .. } => {
                    self.pull_due |= periodic;
                    self.next_round(now)
                }
                Waiting::Coalesce => {
                    self.waiting = Waiting::Nothing;
                    vec![Action::Run]
                }
                Waiting::Backoff | Waiting::Nothing => self.next_round(now),
            },
            Input::RunFinished(RunEnd::Retry { delay_ms }) => {
                self.phase = Phase::Backoff;
                self.waiting = Waiting::Backoff;
                vec![Action::Sleep { until: now + delay_ms }]
            }
            Input::RunFinished(_) => self.wait_for_trigger(now),
            Input::LinkStatus(status) => self.link_status(status, now),
            Input::Subscribed => {
                self.link = Link::Up;
                // Changes committed before it started are pulled, in a run of their own.
                self.pull_due = true;
                self.woken = true;
                Vec::new()
            }
            Input::SubscribeFailed { error, jitter } => {
                let attempt = self.link.attempt() + 1;
                let delay_ms = self.delay_for(attempt, &error, jitter, now);
                self.last_error = Some(error);
                self.link = Link::Down { attempt, retry_at: now + delay_ms };
                Vec::new()
            }
            Input::CursorReported { cursor } => {
                self.reported = (cursor, now);
                Vec::new()
            }
            run_input => self.run_step(run_input, now),
        }
    }

    /// The steps of a run, in order.
    fn run_step(&mut self, input: Input, now: u64) -> Vec<Action> {
        if let Input::RunStarted { force_pull } = input {
            // The run covers every trigger so far.
            self.woken = false;
            // Delivered changes go first: an empty outbox (the device that
            // only receives) costs them no push step.
            let inbox_first = std::mem::take(&mut self.delivered) && self.online;
            let inbox = if inbox_first { InboxTurn::First } else { InboxTurn::AfterPush };
            self.run = Some(RunTally { force_pull, inbox, ..RunTally::default() });
            if inbox_first {
                self.phase = Phase::Pulling;
                return vec![Action::HandleInbox];
            }
            self.phase = Phase::Pushing;
            return self.next_batch(now);
        }
        let Some(run) = self.run.as_mut() else { return Vec::new() };
        match input {
            Input::Pushed(Batch::Sent { failed }) => {
                run.batches += 1;
                run.failed += failed;
                self.next_batch(now)
            }
            Input::Pushed(Batch::Idle) => self.end_push(now),
            Input::Pushed(Batch::LeadLost) => {
                self.leader = false;
                self.end_push(now)
            }
            Input::Pushed(Batch::Retry { attempt, error, jitter }) => {
                run.batches += 1;
                run.error = true;
                let delay_ms = self.delay_for(attempt, &error, jitter, now);
                let mut out = vec![Action::Retrying { attempt, delay_ms, code: error.code() }];
                self.last_error = Some(error);
                out.extend(self.record_push(now));
                out.extend(self.finish(RunEnd::Retry { delay_ms }));
                out
            }
            Input::Pushed(Batch::Paused(error)) => {
                run.error = true;
                self.pause(error);
                let mut out = self.record_push(now);
                out.extend(self.finish(RunEnd::Paused));
                out
            }
            Input::Pushed(Batch::Failed(error)) => {
                run.error = true;
                self.last_error = Some(error);
                let mut out = self.record_push(now);
                out.extend(self.finish(RunEnd::Failed));
                out
            }
            Input::InboxHandled { cursor, bootstrapped } => {
                if run.inbox == InboxTurn::First {
                    // Now the push part, then the pull the inbox asks for.
                    run.inbox = InboxTurn::Handled { cursor, bootstrapped };
                    self.phase = Phase::Pushing;
                    return self.next_batch(now);
                }
                self.after_inbox(cursor, bootstrapped, now)
            }
            Input::Rescanning => {
                self.phase = Phase::Rescanning;
                Vec::new()
            }
            Input::Pulled(Pulled::CaughtUp) => {
                self.pull_due = false;
                self.pull_attempt = 0;
                self.last_sync_at = Some(now);
                self.after_pull(now)
            }
            Input::Pulled(Pulled::Interrupted) => self.after_pull(now),
            Input::Pulled(Pulled::Failed { error, jitter }) => {
                if pauses(&error) {
                    self.pause(error);
                    return self.finish(RunEnd::Paused);
                }
                self.pull_attempt += 1;
                let attempt = self.pull_attempt;
                let delay_ms = self.delay_for(attempt, &error, jitter, now);
                let retrying = Action::Retrying { attempt, delay_ms, code: error.code() };
                self.last_error = Some(error);
                self.phase = Phase::Backoff;
                let mut out = vec![retrying];
                out.extend(self.finish(RunEnd::Retry { delay_ms }));
                out
            }
            _ => Vec::new(),
        }
    }

    /// The next batch, unless going offline stopped the push.
    fn next_batch(&mut self, now: u64) -> Vec<Action> {
        if !self.online {
            return self.end_push(now);
        }
        vec![Action::Push]
    }

    /// The push part drained: on to the inbox and the pull (not while offline).
    fn end_push(&mut self, now: u64) -> Vec<Action> {
        let mut out = self.record_push(now);
        if self.run.is_some_and(|r| r.force_pull) {
            self.pull_due = true;
        }
        match self.run.map(|r| r.inbox) {
            _ if !self.online => out.extend(self.after_pull(now)),
            Some(InboxTurn::Handled { cursor, bootstrapped }) => {
                out.extend(self.after_inbox(cursor, bootstrapped, now))
            }
            _ => out.push(Action::HandleInbox),
        }
        out
    }

    /// After the inbox: pull from `cursor` when a pull is due, bootstrap is
    /// not done or no subscription is live.
    fn after_inbox(&mut self, cursor: u64, bootstrapped: bool, now: u64) -> Vec<Action> {
        if !self.pull_due && bootstrapped && self.link == Link::Up {
            return self.after_pull(now);
        }
        self.phase = if bootstrapped { Phase::Pulling } else { Phase::Bootstrapping };
        vec![Action::Pull { from: cursor }]
    }

    /// A run that sent or tried something is recorded; one without an error
    /// counts as a sync.
    fn record_push(&mut self, now: u64) -> Vec<Action> {
        let Some(run) = self.run else { return Vec::new() };
        if run.batches == 0 && !run.error {
            return Vec::new();
        }
        if !run.error {
            self.last_sync_at = Some(now);
        }
        vec![Action::RecordPushRun]
    }

    /// Everything went through: subscribe if due, report the cursor and
    /// collect garbage on their cadence.
    fn after_pull(&mut self, now: u64) -> Vec<Action> {
        let failed = self.run.map_or(0, |r| r.failed);
        if self.pull_attempt == 0 && failed == 0 {
            // The last error is history.
            self.last_error = None;
        }
        let mut out = Vec::new();
        if let Link::Down { retry_at, .. } = self.link {
            if now >= retry_at && !self.shut_down {
                out.push(Action::Subscribe);
            }
        }
        let (sent, at) = self.reported;
        if at == 0 || now.saturating_sub(at) >= CURSOR_REPORT_MS {
            out.push(Action::ReportCursor { above: sent });
        }
        if self.last_gc == 0 || now.saturating_sub(self.last_gc) >= self.config.gc_interval_ms {
            self.last_gc = now.max(1);
            out.push(Action::CollectGarbage);
        }
        if self.phase != Phase::Paused && self.phase != Phase::Backoff {
            self.phase = Phase::Idle;
        }
        out.extend(self.finish(RunEnd::Drained));
        out
    }

    fn finish(&mut self, end: RunEnd) -> Vec<Action> {
        self.run = None;
        vec![Action::Finish(end)]
    }

    fn pause(&mut self, error: SyncError) {
        self.last_error = Some(error.clone());
        self.paused = Some(error);
        self.phase = Phase::Paused;
    }

    fn link_status(&mut self, status: LinkStatus, now: u64) -> Vec<Action> {
        // Batches may have been missed while it was away.
        self.pull_due = true;
        let LinkStatus::Error { jitter } = status else { return Vec::new() };
        let attempt = self.link.attempt() + 1;
        let error = SyncError::Unavailable("subscription error".into());
        let delay_ms = self.delay_for(attempt, &error, jitter, now);
        self.link = Link::Down { attempt, retry_at: now + delay_ms };
        vec![Action::Unsubscribe]
    }

    /// The loop's next move after a trigger, a backoff or at its start.
    fn next_round(&mut self, now: u64) -> Vec<Action> {
        self.woken = false;
        if self.shut_down {
            self.phase = Phase::Closed;
            self.waiting = Waiting::Nothing;
            return vec![Action::Exit];
        }
        if !self.may_push() {
            self.phase = if !self.online {
                Phase::Offline
            } else if self.paused.is_some() {
                Phase::Paused
            } else {
                Phase::Idle
            };
            return self.wait_for_trigger(now);
        }
        self.waiting = Waiting::Coalesce;
        vec![Action::Sleep { until: now + COALESCE_MS }]
    }

    /// Waits for a trigger, the periodic pull or the subscription's retry
    /// time, whichever comes first. The retry time counts only when a run may
    /// follow (only a run subscribes): a follower or a paused or offline
    /// engine whose subscription is down does not wake every millisecond.
    fn wait_for_trigger(&mut self, now: u64) -> Vec<Action> {
        if self.woken {
            return self.next_round(now);
        }
        let periodic_at = now + PERIODIC_MS;
        let until = match self.link {
            Link::Down { retry_at, .. } if self.may_push() => periodic_at.min(retry_at.max(now + COALESCE_MS)),
            _ => periodic_at,
        };
        self.waiting = Waiting::Trigger { until, periodic: until == periodic_at };
        vec![Action::Wait { until }]
    }

    fn sync_now(&mut self, now: u64) -> Vec<Action> {
        if !self.online {
            return vec![Action::Reject(SyncError::Unavailable("the device is offline".into()))];
        }
        if let Some(e) = &self.paused {
            return vec![Action::Reject(e.clone())];
        }
        // A server that asked us to wait is not asked again sooner.
        match self.not_before {
            Some(t) if t > now => vec![Action::Hold { until: t }],
            _ => Vec::new(),
        }
    }

    /// How long to wait before attempt `attempt + 1` after `error`; a
    /// server's `retryAfterMs` also holds back `syncNow`.
    fn delay_for(&mut self, attempt: u32, error: &SyncError, jitter: f64, now: u64) -> u64 {
        let retry_after = match error {
            SyncError::RateLimit { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        };
        let delay_ms = retry_delay(attempt, &self.config.backoff_ms, retry_after, jitter);
        if retry_after.is_some() {
            self.not_before = Some(now + delay_ms);
        }
        delay_ms
    }
}

/// Whether `error` pauses syncing until `start()` (no backoff, no jitter).
pub fn pauses(error: &SyncError) -> bool {
    matches!(error, SyncError::Auth(_) | SyncError::Forbidden(_))
}

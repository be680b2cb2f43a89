//! The executor of the sync scheduler ([`crate::core::scheduler`]): it feeds
//! the scheduler what happened (the app's calls, timers, the outcome of each
//! push batch, pull, subscribe) and performs what it answers (push, pull,
//! subscribe, wait, report the cursor, collect garbage). It decides nothing
//! about timing itself; it only owns the I/O: the provider, the push guard,
//! the subscription's inbox, timers and the events the app sees.
//!
//! One loop per engine ([`Driver::run`]) waits and runs; `syncNow`
//! ([`Driver::sync_now`]) runs once more on demand. Runs never overlap.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::events::{ErrorEvent, Event, RetryEvent, StatsEvent, StatusEvent};
use super::gc::GC_INTERVAL_MS;
use super::outbox::SyncRun;
use super::provider::{Provider, SubscriptionEvent, SubscriptionStatus};
use super::push::Step;
use super::signal::Signal;
use super::subscription::Subscription;
use super::{Engine, Platform};
use crate::core::join::{select, Exclusive, First};
use crate::core::scheduler::{pauses, Action, Batch, Input, LinkStatus, Pulled, RunEnd, Scheduler, SchedulerConfig};
use crate::core::{Result, SyncError};
use crate::store::Store;

pub use crate::core::scheduler::{COALESCE_MS, CURSOR_REPORT_MS, PERIODIC_MS};

/// What `syncNow` resolves to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub pushed: u64,
    pub pulled: u64,
    pub conflicts: u64,
    pub failed: u64,
    pub duration_ms: u64,
}

/// The scheduler's view, for `status()`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DriverState {
    pub phase: &'static str,
    pub leader: bool,
    pub started: bool,
    pub paused: Option<SyncError>,
    pub last_sync_at: Option<u64>,
    pub last_error: Option<SyncError>,
    /// No push before this time (a server's `retryAfterMs`), even on `syncNow`.
    pub not_before: Option<u64>,
}

/// How each push batch checks that this engine still leads (see
/// `set_push_guard`): first `leading`, then a claim of the lease `holder` in
/// the transaction that marks the batch in flight. When either fails the
/// engine sends nothing, calls `lost` and follows.
#[derive(Clone)]
pub struct PushGuard {
    /// The lease holder id this engine claims as ([`super::lease`]).
    pub holder: String,
    /// Asked first, without a transaction (the Web Lock is still held).
    pub leading: Rc<dyn Fn() -> bool>,
    /// Another engine leads now: stand down.
    pub lost: Rc<dyn Fn()>,
}

/// Runs an engine's outbox through a provider.
pub struct Driver<S: Store, P: Platform, V: Provider<Rec = S::Rec>> {
    engine: Rc<Engine<S, P>>,
    provider: V,
    /// Wakes the loop's wait; set whenever the scheduler gets a trigger or
    /// the subscription delivers.
    wake: Signal,
    running: Exclusive,
    scheduler: RefCell<Scheduler>,
    subscription: Subscription<S::Rec>,
    push_guard: RefCell<Option<PushGuard>>,
}

/// What one run has done so far, for `syncNow`'s report, the run's record
/// and the events.
struct RunLog {
    push: SyncRun,
    report: SyncReport,
    /// The ops of the batch that must be retried.
    retry_ops: Vec<String>,
    /// The error a [`RunEnd::Failed`] run rejects with.
    failure: Option<SyncError>,
}

impl<S: Store, P: Platform, V: Provider<Rec = S::Rec>> Driver<S, P, V> {
    pub fn new(engine: Rc<Engine<S, P>>, provider: V, auto_start: bool) -> Self {
        let config = SchedulerConfig {
            backoff_ms: engine.config().backoff_ms.clone(),
            gc_interval_ms: GC_INTERVAL_MS,
            started: auto_start,
        };
        let wake = Signal::default();
        Driver {
            engine,
            provider,
            subscription: Subscription::new(wake.clone()),
            wake,
            running: Exclusive::default(),
            scheduler: RefCell::new(Scheduler::new(config)),
            push_guard: RefCell::new(None),
        }
    }

    pub fn engine(&self) -> &Rc<Engine<S, P>> {
        &self.engine
    }

    pub fn state(&self) -> DriverState {
        let s = self.scheduler.borrow();
        DriverState {
            phase: s.phase().as_str(),
            leader: s.leader(),
            started: s.started(),
            paused: s.paused().cloned(),
            last_sync_at: s.last_sync_at(),
            last_error: s.last_error().cloned(),
            not_before: s.not_before(),
        }
    }

    /// Something happened that may need a push.
    pub fn wake(&self) {
        self.feed_now(Input::Wake);
    }

    /// Something happened after which the server may have news (online,
    /// visible again): the next run pulls.
    pub fn wake_pull(&self) {
        self.feed_now(Input::PullDue);
        self.feed_now(Input::Wake);
    }

    /// Marks whether this engine holds the database's lock (the one pusher).
    pub fn set_leader(&self, leader: bool) {
        self.feed_now(Input::Leader(leader));
    }

    /// Makes every push batch check `guard`; when it fails the engine stops
    /// leading (another engine pushes this database now), so that an engine
    /// that lost its lease while asleep never pushes after waking.
    pub fn set_push_guard(&self, guard: PushGuard) {
        *self.push_guard.borrow_mut() = Some(guard);
    }

    /// Starts pushing (again): clears an AUTH pause.
    pub fn start(&self) {
        self.feed_now(Input::Started);
    }

    /// Stops pushing until `start()`; writes keep being captured.
    pub fn stop(&self) {
        self.feed_now(Input::Stopped);
    }

    /// Ends the loop (the engine is closing) and the subscription.
    pub fn shutdown(&self) {
        self.feed_now(Input::Shutdown);
    }

    /// Gives the scheduler `input` at the current time (and the device's
    /// online state first, if it changed), and wakes the loop if that made
    /// a trigger pending.
    fn feed(&self, input: Input) -> Vec<Action> {
        let platform = self.engine.platform();
        let (now, online) = (platform.now_ms(), platform.is_online());
        let mut s = self.scheduler.borrow_mut();
        let was_woken = s.woken();
        let mut actions = if s.online() != online { s.on(Input::Online(online), now) } else { Vec::new() };
        actions.extend(s.on(input, now));
        let woke = !was_woken && s.woken();
        drop(s);
        if woke {
            self.wake.notify();
        }
        actions
    }

    /// [`Self::feed`] for inputs whose only possible answer is to drop the
    /// subscription.
    fn feed_now(&self, input: Input) {
        for action in self.feed(input) {
            if action == Action::Unsubscribe {
                self.subscription.close();
            }
        }
    }

    /// The loop. Returns when the engine closes.
    pub async fn run(&self) {
        let platform = self.engine.platform();
        let mut input = Input::LoopStarted;
        loop {
            if self.engine.is_closed() && !self.scheduler.borrow().is_shut_down() {
                self.feed_now(Input::Shutdown);
            }
            let mut next = None;
            for action in self.feed(input) {
                next = match action {
                    Action::Wait { until } => {
                        let ms = until.saturating_sub(platform.now_ms());
                        match select(self.wake.wait(), platform.sleep(ms)).await {
                            First::Left(()) => Some(Input::Woken),
                            First::Right(()) => Some(Input::TimerFired),
                        }
                    }
                    Action::Sleep { until } => {
                        platform.sleep(until.saturating_sub(platform.now_ms())).await;
                        Some(Input::TimerFired)
                    }
                    Action::Run => {
                        let end = self.run_once(false).await.map_or(RunEnd::Failed, |(_, end)| end);
                        Some(Input::RunFinished(end))
                    }
                    Action::Exit => return,
                    Action::Unsubscribe => {
                        self.subscription.close();
                        next
                    }
                    _ => next,
                };
            }
            // The scheduler always answers the loop with something to wait for.
            let Some(n) = next else { return };
            input = n;
        }
    }

    /// `syncNow()`: pushes everything now and reports. Rejects with the error
    /// that stopped it (the ops stay queued and the loop retries them).
    pub async fn sync_now(&self) -> Result<SyncReport> {
        let platform = self.engine.platform();
        let started = platform.now_ms();
        for action in self.feed(Input::SyncNow) {
            match action {
                Action::Reject(e) => return Err(e),
                Action::Hold { until } => platform.sleep(until.saturating_sub(platform.now_ms())).await,
                _ => {}
            }
        }
        let (report, end) = self.run_once(true).await?;
        if let RunEnd::Retry { .. } | RunEnd::Paused = end {
            self.wake();
            let error = self.scheduler.borrow().last_error().cloned();
            return Err(error.unwrap_or(SyncError::Unavailable("push failed".into())));
        }
        Ok(SyncReport { duration_ms: platform.now_ms().saturating_sub(started), ..report })
    }

    /// Pushes everything, then brings the local state up to the server's,
    /// step by step as the scheduler says.
    async fn run_once(&self, force_pull: bool) -> Result<(SyncReport, RunEnd)> {
        let _guard = self.running.hold().await;
        let started_at = self.engine.platform().now_ms();
        let push = SyncRun { started_at, finished_at: 0, pushed: 0, failed: 0, retried: 0, batches: 0, error: None };
        let mut log = RunLog { push, report: SyncReport::default(), retry_ops: Vec::new(), failure: None };
        if self.subscription.has_news() {
            self.feed_now(Input::Delivered);
        }
        let mut queue: VecDeque<Action> = self.feed(Input::RunStarted { force_pull }).into();
        // This run covers every trigger so far.
        self.wake.clear();
        while let Some(action) = queue.pop_front() {
            let answer = match action {
                Action::Push => self.push_batch(&mut log).await,
                Action::RecordPushRun => {
                    self.record_push(&mut log).await;
                    Vec::new()
                }
                Action::Retrying { attempt, delay_ms, code } => {
                    let op_ids = std::mem::take(&mut log.retry_ops);
                    let retry = RetryEvent { attempt, delay_ms, op_ids, code: code.into() };
                    self.engine.emit_all(vec![Event::Retry(retry)]);
                    Vec::new()
                }
                Action::HandleInbox => self.handle_inbox(&mut log.report).await,
                Action::Pull { from } => self.pull_from(from, &mut log.report).await,
                Action::Subscribe => self.subscribe().await,
                Action::Unsubscribe => {
                    self.subscription.close();
                    Vec::new()
                }
                Action::ReportCursor { above } => self.report_cursor(above).await,
                Action::CollectGarbage => {
                    if let Err(e) = self.engine.collect_garbage().await {
                        self.note_error(&e);
                    }
                    Vec::new()
                }
                Action::Finish(end) => {
                    log.report.pushed = log.push.pushed;
                    log.report.failed = log.push.failed;
                    return match end {
                        RunEnd::Failed => Err(log.failure.unwrap_or(SyncError::Unavailable("push failed".into()))),
                        end => Ok((log.report, end)),
                    };
                }
                Action::Wait { .. }
                | Action::Sleep { .. }
                | Action::Run
                | Action::Exit
                | Action::Reject(_)
                | Action::Hold { .. } => Vec::new(),
            };
            // What an action led to comes before what was planned after it.
            for a in answer.into_iter().rev() {
                queue.push_front(a);
            }
        }
        Ok((log.report, RunEnd::Drained))
    }

    /// Sends one batch, its lease claimed in the transaction that takes it.
    async fn push_batch(&self, log: &mut RunLog) -> Vec<Action> {
        let guard = self.push_guard.borrow().clone();
        if let Some(guard) = &guard {
            if !(guard.leading)() {
                (guard.lost)();
                return self.feed(Input::Pushed(Batch::LeadLost));
            }
        }
        let run = &mut log.push;
        let batch = match self.engine.push_step_as(&self.provider, guard.as_ref().map(|g| g.holder.as_str())).await {
            Err(e) => {
                run.error = Some(e.to_string());
                self.emit_error(&e);
                log.failure = Some(e.clone());
                Batch::Failed(e)
            }
            Ok(Step::Idle) => Batch::Idle,
            Ok(Step::LeadLost) => {
                if let Some(guard) = &guard {
                    (guard.lost)();
                }
                Batch::LeadLost
            }
            Ok(Step::Sent(r)) => {
                run.batches += 1;
                run.pushed += r.pushed;
                run.failed += r.failed;
                Batch::Sent { failed: r.failed }
            }
            Ok(Step::Retry { report, attempt, error, op_ids }) => {
                run.batches += 1;
                run.pushed += report.pushed;
                run.failed += report.failed;
                run.retried += report.retried;
                run.error = Some(error.to_string());
                let jitter = self.jitter();
                self.emit_error(&error);
                log.retry_ops = op_ids;
                Batch::Retry { attempt, error, jitter }
            }
            Ok(Step::Paused(error)) => {
                run.error = Some(error.to_string());
                self.emit_error(&error);
                Batch::Paused(error)
            }
        };
        self.feed(Input::Pushed(batch))
    }

    /// Records the run's push part and reports its stats.
    async fn record_push(&self, log: &mut RunLog) {
        let run = &mut log.push;
        run.finished_at = self.engine.platform().now_ms();
        let counts = self.engine.record_run(run).await.unwrap_or_default();
        self.engine.emit_all(vec![Event::Stats(StatsEvent {
            pending: counts.pending + counts.in_flight,
            failed: counts.failed,
            pushed: run.pushed,
            run_ms: run.finished_at.saturating_sub(run.started_at),
            cursor: self.engine.pull_cursor().await.map(|c| c.0).unwrap_or(0),
        })]);
    }

    /// Emits the error event for `e` (the scheduler records it with the
    /// input that carries it).
    fn emit_error(&self, e: &SyncError) {
        self.engine.emit_all(vec![Event::Error(ErrorEvent {
            code: e.code().into(),
            message: e.to_string(),
            retryable: e.retryable(),
            op_ids: None,
        })]);
    }

    /// Emits the error event for `e` and shows it in `status()`.
    fn note_error(&self, e: &SyncError) {
        self.emit_error(e);
        self.feed_now(Input::ErrorSeen(e.clone()));
    }

    /// A number in `[0, 1)` that spreads out the retries of many devices.
    fn jitter(&self) -> f64 {
        let mut r = [0u8; 4];
        self.engine.platform().fill_random(&mut r);
        u32::from_le_bytes(r) as f64 / (u32::MAX as f64 + 1.0)
    }
}

impl<S: Store, P: Platform, V: Provider<Rec = S::Rec>> Driver<S, P, V> {
    /// Applies the subscription's batches that continue the cursor, passes
    /// its status changes on, then reads the cursor.
    async fn handle_inbox(&self, report: &mut SyncReport) -> Vec<Action> {
        for event in self.subscription.drain() {
            match event {
                SubscriptionEvent::Changes(Ok(changes), Some(from)) => {
                    match self.engine.apply_subscription(&changes, from).await {
                        Ok(Some(step)) => {
                            report.pulled += step.received;
                            report.conflicts += step.conflicts;
                        }
                        Ok(None) => self.feed_now(Input::PullDue),
                        Err(e) => {
                            self.note_error(&e);
                            self.feed_now(Input::PullDue);
                        }
                    }
                }
                SubscriptionEvent::Changes(Ok(_), None) => self.feed_now(Input::PullDue),
                SubscriptionEvent::Changes(Err(e), _) => {
                    self.note_error(&e);
                    self.feed_now(Input::PullDue);
                }
                SubscriptionEvent::Status(status) => {
                    let attempt = self.scheduler.borrow().link().attempt();
                    self.engine.emit_all(vec![Event::Subscription(StatusEvent { status, attempt })]);
                    let status = match status {
                        SubscriptionStatus::Connected => LinkStatus::Connected,
                        SubscriptionStatus::Disconnected => LinkStatus::Disconnected,
                        SubscriptionStatus::Error => LinkStatus::Error { jitter: self.jitter() },
                    };
                    self.feed_now(Input::LinkStatus(status));
                }
            }
        }
        match self.engine.pull_cursor().await {
            Ok((cursor, bootstrapped)) => self.feed(Input::InboxHandled { cursor, bootstrapped }),
            Err(e) => self.pull_failed(e),
        }
    }

    /// Pulls from `cursor` until caught up; the next page is fetched while
    /// the current one is applied.
    async fn pull_from(&self, mut cursor: u64, report: &mut SyncReport) -> Vec<Action> {
        let engine = &self.engine;
        let mut prefetched = None;
        loop {
            if self.scheduler.borrow().is_shut_down() || engine.is_closed() {
                return self.feed(Input::Pulled(Pulled::Interrupted));
            }
            let page = match prefetched.take() {
                Some(page) => page,
                // At cursor 0 a database that ever captured a write is not
                // empty: it may hold a record whose delete the server has
                // purged (cursor 0 is never expired), so it rescans, which
                // also drops what the server no longer has. Tables with no
                // row here (a table added later) pull page by page.
                None if cursor == 0 && engine.must_rescan_from_zero().await => {
                    Err(SyncError::CursorExpired("cursor 0 on a database with writes".into()))
                }
                None => engine.fetch_page(&self.provider, cursor).await,
            };
            let step = match page {
                Ok(page) if page.has_more => {
                    let next_cursor = page.next_cursor;
                    let (step, next) = crate::core::join::join(
                        engine.apply_page(page, cursor),
                        engine.fetch_page(&self.provider, next_cursor),
                    )
                    .await;
                    prefetched = Some(next);
                    step
                }
                Ok(page) => engine.apply_page(page, cursor).await,
                Err(SyncError::CursorExpired(_)) => {
                    self.feed_now(Input::Rescanning);
                    engine.rescan(&self.provider).await
                }
                Err(e) => Err(e),
            };
            match step {
                Ok(step) if step.stale => {
                    prefetched = None;
                    match engine.cursor_state().await {
                        Ok((c, _)) => cursor = c,
                        Err(e) => return self.pull_failed(e),
                    }
                }
                Ok(step) => {
                    report.pulled += step.received;
                    report.conflicts += step.conflicts;
                    cursor = step.cursor;
                    if !step.has_more {
                        return self.feed(Input::Pulled(Pulled::CaughtUp));
                    }
                }
                Err(e) => return self.pull_failed(e),
            }
        }
    }

    fn pull_failed(&self, error: SyncError) -> Vec<Action> {
        self.emit_error(&error);
        let jitter = if pauses(&error) { 0.0 } else { self.jitter() };
        self.feed(Input::Pulled(Pulled::Failed { error, jitter }))
    }

    async fn subscribe(&self) -> Vec<Action> {
        let engine = &self.engine;
        match self.provider.subscribe(engine.scope(), engine.table_names(), self.subscription.sink()).await {
            Ok(handle) => {
                self.subscription.attach(handle);
                self.feed(Input::Subscribed)
            }
            Err(error) => {
                self.emit_error(&error);
                let jitter = self.jitter();
                let answer = self.feed(Input::SubscribeFailed { error, jitter });
                let attempt = self.scheduler.borrow().link().attempt();
                let status = StatusEvent { status: SubscriptionStatus::Error, attempt };
                engine.emit_all(vec![Event::Subscription(status)]);
                answer
            }
        }
    }

    /// Tells the provider the cursor if it moved past `above`.
    async fn report_cursor(&self, above: u64) -> Vec<Action> {
        let Ok((cursor, _)) = self.engine.cursor_state().await else { return Vec::new() };
        if cursor <= above {
            return Vec::new();
        }
        let engine = &self.engine;
        match self.provider.update_cursor(engine.scope(), engine.device_id().to_string(), cursor).await {
            Ok(_) => self.feed(Input::CursorReported { cursor }),
            Err(_) => Vec::new(),
        }
    }
}

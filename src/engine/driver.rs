//! The sync scheduler: when to push the outbox and pull, and how long to wait
//! after a failure. It runs one loop per engine while the engine leads its
//! database (holds the Web Lock, or the lease where there are no Web Locks;
//! a push guard, if set, is asked before every batch), wakes on triggers
//! (a local or another tab's write, a subscription batch, going online, the
//! page becoming visible, a periodic timer, `syncNow`), coalesces bursts,
//! never attempts while offline, waits out backoff and `retryAfterMs`, and
//! pauses on `AUTH` until `start()`.
//!
//! A run pushes everything, then handles the subscription's inbox, then
//! pulls until caught up when it must (bootstrap, a gap in the batches, a
//! reconnect, the periodic timer, `syncNow`, or no live subscription), with a
//! rescan on `CURSOR_EXPIRED`. After that it (re)subscribes, and tells the
//! provider its cursor at most every [`CURSOR_REPORT_MS`].

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::events::{ErrorEvent, Event, RetryEvent, StatsEvent, StatusEvent};
use super::gc::GC_INTERVAL_MS;
use super::outbox::SyncRun;
use super::provider::{Provider, SubscriptionEvent, SubscriptionStatus};
use super::push::Step;
use super::signal::Signal;
use super::subscription::{Link, Subscription};
use super::{Engine, Platform};
use crate::core::backoff::retry_delay;
use crate::core::{Result, SyncError};
use crate::store::Store;

/// How often the loop runs without a trigger.
pub const PERIODIC_MS: u64 = 30_000;
/// How long a trigger waits for more writes to join the same run: one turn
/// of the event loop, so the writes of one task go out together. Longer
/// waits add straight to the end-to-end latency of every write (a write's
/// push and, on the other device, the apply of its subscription batch).
pub const COALESCE_MS: u64 = 1;
/// The cursor is reported to the provider at most this often.
pub const CURSOR_REPORT_MS: u64 = 5_000;

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

/// Asked right before each push batch whether this engine still leads
/// (see `set_push_guard`); `false` makes it stop pushing and follow.
pub type PushGuard = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = bool>>>>;

/// Runs an engine's outbox through a provider.
pub struct Driver<S: Store, P: Platform, V: Provider<Rec = S::Rec>> {
    engine: Rc<Engine<S, P>>,
    provider: V,
    wake: Signal,
    running: super::join::Exclusive,
    state: RefCell<DriverState>,
    stopped: Cell<bool>,
    /// A pull is due (a gap, a reconnect, a timer, going online).
    pull_due: Cell<bool>,
    /// Failed pull attempts in a row.
    pull_attempt: Cell<u32>,
    subscription: Subscription<S::Rec>,
    /// The last cursor told to the provider, and when.
    reported: Cell<(u64, u64)>,
    /// When local GC last ran (0: not yet).
    last_gc: Cell<u64>,
    push_guard: RefCell<Option<PushGuard>>,
}

/// How a run ended.
enum RunEnd {
    Drained,
    Retry { delay_ms: u64 },
    Paused,
}

impl<S: Store, P: Platform, V: Provider<Rec = S::Rec>> Driver<S, P, V> {
    pub fn new(engine: Rc<Engine<S, P>>, provider: V, auto_start: bool) -> Self {
        let state = DriverState { phase: "idle", started: auto_start, ..Default::default() };
        let wake = Signal::default();
        Driver {
            engine,
            provider,
            subscription: Subscription::new(wake.clone()),
            wake,
            running: super::join::Exclusive::default(),
            state: RefCell::new(state),
            stopped: Cell::new(false),
            pull_due: Cell::new(true),
            pull_attempt: Cell::new(0),
            reported: Cell::new((0, 0)),
            last_gc: Cell::new(0),
            push_guard: RefCell::new(None),
        }
    }

    pub fn engine(&self) -> &Rc<Engine<S, P>> {
        &self.engine
    }

    pub fn state(&self) -> DriverState {
        self.state.borrow().clone()
    }

    /// Something happened that may need a push.
    pub fn wake(&self) {
        self.wake.notify();
    }

    /// Something happened after which the server may have news (online,
    /// visible again): the next run pulls.
    pub fn wake_pull(&self) {
        self.pull_due.set(true);
        self.wake.notify();
    }

    /// Marks whether this engine holds the database's lock (the one pusher).
    pub fn set_leader(&self, leader: bool) {
        self.state.borrow_mut().leader = leader;
        self.wake();
    }

    /// Makes every push batch ask `guard` first; when it answers `false`
    /// the engine stops leading (another engine pushes this database now).
    /// Used where leadership is a lease rather than a Web Lock, so that an
    /// engine that lost its lease while asleep never pushes after waking.
    pub fn set_push_guard(&self, guard: PushGuard) {
        *self.push_guard.borrow_mut() = Some(guard);
    }

    /// Starts pushing (again): clears an AUTH pause.
    pub fn start(&self) {
        let mut s = self.state.borrow_mut();
        s.started = true;
        s.paused = None;
        drop(s);
        self.wake();
    }

    /// Stops pushing until `start()`; writes keep being captured.
    pub fn stop(&self) {
        self.state.borrow_mut().started = false;
    }

    /// Ends the loop (the engine is closing) and the subscription.
    pub fn shutdown(&self) {
        self.stopped.set(true);
        self.subscription.close();
        self.wake();
    }

    fn may_push(&self) -> bool {
        let s = self.state.borrow();
        s.leader && s.started && s.paused.is_none() && self.engine.platform().is_online()
    }

    fn set_phase(&self, phase: &'static str) {
        self.state.borrow_mut().phase = phase;
    }

    /// The loop. Returns when the engine closes.
    pub async fn run(&self) {
        while !self.stopped.get() && !self.engine.is_closed() {
            if !self.may_push() {
                let phase = if !self.engine.platform().is_online() {
                    "offline"
                } else if self.state.borrow().paused.is_some() {
                    "paused"
                } else {
                    "idle"
                };
                self.set_phase(phase);
                self.wait_for_trigger().await;
                continue;
            }
            self.engine.platform().sleep(COALESCE_MS).await;
            match self.run_once(false).await {
                Ok((_, RunEnd::Retry { delay_ms })) => {
                    self.set_phase("backoff");
                    // Backoff and retryAfterMs are waited out in full.
                    self.engine.platform().sleep(delay_ms).await;
                }
                Ok((_, RunEnd::Paused)) | Ok((_, RunEnd::Drained)) | Err(_) => self.wait_for_trigger().await,
            }
        }
        self.set_phase("closed");
    }

    async fn wait_for_trigger(&self) {
        let platform = self.engine.platform();
        let mut wait_ms = PERIODIC_MS;
        if let Link::Down { retry_at, .. } = self.subscription.link() {
            wait_ms = wait_ms.min(retry_at.saturating_sub(platform.now_ms()).max(COALESCE_MS));
        }
        if let super::join::First::Right(()) = super::join::select(self.wake.wait(), platform.sleep(wait_ms)).await {
            if wait_ms == PERIODIC_MS {
                self.pull_due.set(true);
            }
        }
    }

    /// `syncNow()`: pushes everything now and reports. Rejects with the error
    /// that stopped it (the ops stay queued and the loop retries them).
    pub async fn sync_now(&self) -> Result<SyncReport> {
        let started = self.engine.platform().now_ms();
        if !self.engine.platform().is_online() {
            return Err(SyncError::Unavailable("the device is offline".into()));
        }
        if let Some(e) = self.state.borrow().paused.clone() {
            return Err(e);
        }
        // A server that asked us to wait is not asked again sooner.
        let not_before = self.state.borrow().not_before;
        if let Some(t) = not_before {
            let now = self.engine.platform().now_ms();
            if t > now {
                self.engine.platform().sleep(t - now).await;
            }
        }
        let (report, end) = self.run_once(true).await?;
        if let RunEnd::Retry { .. } | RunEnd::Paused = end {
            self.wake();
            return Err(self.state.borrow().last_error.clone().unwrap_or(SyncError::Unavailable("push failed".into())));
        }
        Ok(SyncReport { duration_ms: self.engine.platform().now_ms().saturating_sub(started), ..report })
    }

    /// Pushes everything, then brings the local state up to the server's.
    async fn run_once(&self, force_pull: bool) -> Result<(SyncReport, RunEnd)> {
        let _guard = self.running.hold().await;
        let (mut report, end) = self.push_all().await?;
        if let RunEnd::Retry { .. } | RunEnd::Paused = end {
            return Ok((report, end));
        }
        if force_pull {
            self.pull_due.set(true);
        }
        let end = self.pull_all(&mut report).await;
        if let RunEnd::Drained = end {
            // Everything went through: the last error is history.
            if self.pull_attempt.get() == 0 && report.failed == 0 {
                self.state.borrow_mut().last_error = None;
            }
            self.ensure_subscribed().await;
            self.report_cursor().await;
            self.maybe_collect().await;
        }
        if self.state.borrow().phase != "paused" && self.state.borrow().phase != "backoff" {
            self.set_phase("idle");
        }
        Ok((report, end))
    }

    /// Pushes batches until the outbox is drained or a batch must wait.
    async fn push_all(&self) -> Result<(SyncReport, RunEnd)> {
        self.set_phase("pushing");
        let started = self.engine.platform().now_ms();
        let mut run =
            SyncRun { started_at: started, finished_at: 0, pushed: 0, failed: 0, retried: 0, batches: 0, error: None };
        let end = loop {
            // Going offline stops a run between batches.
            if !self.engine.platform().is_online() {
                break Ok(RunEnd::Drained);
            }
            let guard = self.push_guard.borrow().clone();
            if let Some(guard) = guard {
                if !guard().await {
                    self.state.borrow_mut().leader = false;
                    break Ok(RunEnd::Drained);
                }
            }
            let step = match self.engine.push_step(&self.provider).await {
                Ok(s) => s,
                Err(e) => {
                    run.error = Some(e.to_string());
                    self.note_error(&e);
                    break Err(e);
                }
            };
            match step {
                Step::Idle => break Ok(RunEnd::Drained),
                Step::Sent(r) => {
                    run.batches += 1;
                    run.pushed += r.pushed;
                    run.failed += r.failed;
                }
                Step::Retry { report, attempt, error, op_ids } => {
                    run.batches += 1;
                    run.pushed += report.pushed;
                    run.failed += report.failed;
                    run.retried += report.retried;
                    run.error = Some(error.to_string());
                    let delay_ms = self.delay_for(attempt, &error);
                    self.note_error(&error);
                    self.engine.emit_all(vec![Event::Retry(RetryEvent {
                        attempt,
                        delay_ms,
                        op_ids,
                        code: error.code().into(),
                    })]);
                    break Ok(RunEnd::Retry { delay_ms });
                }
                Step::Paused(error) => {
                    run.error = Some(error.to_string());
                    self.note_error(&error);
                    self.state.borrow_mut().paused = Some(error);
                    self.set_phase("paused");
                    break Ok(RunEnd::Paused);
                }
            }
        };
        run.finished_at = self.engine.platform().now_ms();
        if run.batches > 0 || run.error.is_some() {
            let counts = self.engine.record_run(&run).await.unwrap_or_default();
            if run.error.is_none() {
                self.state.borrow_mut().last_sync_at = Some(run.finished_at);
            }
            self.engine.emit_all(vec![Event::Stats(StatsEvent {
                pending: counts.pending + counts.in_flight,
                failed: counts.failed,
                pushed: run.pushed,
                run_ms: run.finished_at.saturating_sub(run.started_at),
                cursor: self.engine.pull_cursor().await.map(|c| c.0).unwrap_or(0),
            })]);
        }
        let report = SyncReport { pushed: run.pushed, failed: run.failed, ..Default::default() };
        end.map(|e| (report, e))
    }

    fn note_error(&self, e: &SyncError) {
        self.state.borrow_mut().last_error = Some(e.clone());
        self.engine.emit_all(vec![Event::Error(ErrorEvent {
            code: e.code().into(),
            message: e.to_string(),
            retryable: e.retryable(),
            op_ids: None,
        })]);
    }
}

impl<S: Store, P: Platform, V: Provider<Rec = S::Rec>> Driver<S, P, V> {
    /// How long to wait before attempt `attempt + 1` after `error`; a
    /// server's `retryAfterMs` also holds back `syncNow`.
    fn delay_for(&self, attempt: u32, error: &SyncError) -> u64 {
        let retry_after = match error {
            SyncError::RateLimit { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        };
        let platform = self.engine.platform();
        let mut r = [0u8; 4];
        platform.fill_random(&mut r);
        let jitter = u32::from_le_bytes(r) as f64 / (u32::MAX as f64 + 1.0);
        let delay_ms = retry_delay(attempt, &self.engine.config().backoff_ms, retry_after, jitter);
        if retry_after.is_some() {
            self.state.borrow_mut().not_before = Some(platform.now_ms() + delay_ms);
        }
        delay_ms
    }

    /// Handles the subscription's inbox, then pulls until caught up if a pull
    /// is due, the bootstrap is not done, or no subscription is live.
    async fn pull_all(&self, report: &mut SyncReport) -> RunEnd {
        if !self.engine.platform().is_online() {
            return RunEnd::Drained;
        }
        for event in self.subscription.drain() {
            match event {
                SubscriptionEvent::Changes(Ok(changes), Some(from)) => {
                    match self.engine.apply_subscription(&changes, from).await {
                        Ok(Some(step)) => {
                            report.pulled += step.received;
                            report.conflicts += step.conflicts;
                        }
                        Ok(None) => self.pull_due.set(true),
                        Err(e) => {
                            self.note_error(&e);
                            self.pull_due.set(true);
                        }
                    }
                }
                SubscriptionEvent::Changes(Ok(_), None) => self.pull_due.set(true),
                SubscriptionEvent::Changes(Err(e), _) => {
                    self.note_error(&e);
                    self.pull_due.set(true);
                }
                SubscriptionEvent::Status(status) => self.on_status(status),
            }
        }
        let (mut cursor, bootstrapped) = match self.engine.pull_cursor().await {
            Ok(state) => state,
            Err(e) => return self.pull_failed(e),
        };
        if !self.pull_due.get() && bootstrapped && self.subscription.link() == Link::Up {
            return RunEnd::Drained;
        }
        self.set_phase(if bootstrapped { "pulling" } else { "bootstrapping" });
        // The next page is fetched while the current one is applied.
        let engine = &self.engine;
        let mut prefetched = None;
        loop {
            if self.stopped.get() || engine.is_closed() {
                return RunEnd::Drained;
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
                    let (step, next) = super::join::join(
                        engine.apply_page(page, cursor),
                        engine.fetch_page(&self.provider, next_cursor),
                    )
                    .await;
                    prefetched = Some(next);
                    step
                }
                Ok(page) => engine.apply_page(page, cursor).await,
                Err(SyncError::CursorExpired(_)) => {
                    self.set_phase("rescanning");
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
                        break;
                    }
                }
                Err(e) => return self.pull_failed(e),
            }
        }
        self.pull_due.set(false);
        self.pull_attempt.set(0);
        self.state.borrow_mut().last_sync_at = Some(self.engine.platform().now_ms());
        RunEnd::Drained
    }

    fn pull_failed(&self, e: SyncError) -> RunEnd {
        self.note_error(&e);
        if let SyncError::Auth(_) | SyncError::Forbidden(_) = e {
            self.state.borrow_mut().paused = Some(e);
            self.set_phase("paused");
            return RunEnd::Paused;
        }
        let attempt = self.pull_attempt.get() + 1;
        self.pull_attempt.set(attempt);
        let delay_ms = self.delay_for(attempt, &e);
        self.engine.emit_all(vec![Event::Retry(RetryEvent {
            attempt,
            delay_ms,
            op_ids: Vec::new(),
            code: e.code().into(),
        })]);
        self.set_phase("backoff");
        RunEnd::Retry { delay_ms }
    }

    fn on_status(&self, status: SubscriptionStatus) {
        let attempt = match self.subscription.link() {
            Link::Down { attempt, .. } => attempt,
            Link::Up => 0,
        };
        self.engine.emit_all(vec![Event::Subscription(StatusEvent { status, attempt })]);
        match status {
            // Batches may have been missed while it was away.
            SubscriptionStatus::Connected | SubscriptionStatus::Disconnected => self.pull_due.set(true),
            SubscriptionStatus::Error => {
                let attempt = attempt + 1;
                let delay = self.delay_for(attempt, &SyncError::Unavailable("subscription error".into()));
                self.subscription.down(attempt, self.engine.platform().now_ms() + delay);
                self.pull_due.set(true);
            }
        }
    }

    /// Subscribes when there is no live subscription and its retry time has come.
    async fn ensure_subscribed(&self) {
        let Link::Down { attempt, retry_at } = self.subscription.link() else { return };
        let now = self.engine.platform().now_ms();
        if now < retry_at || self.stopped.get() {
            return;
        }
        let engine = &self.engine;
        match self.provider.subscribe(engine.scope(), engine.table_names(), self.subscription.sink()).await {
            Ok(handle) => {
                self.subscription.up(handle);
                // Changes committed before the subscription started are pulled.
                self.pull_due.set(true);
                if self.subscription.has_events() || self.pull_due.get() {
                    self.wake();
                }
            }
            Err(e) => {
                let attempt = attempt + 1;
                self.note_error(&e);
                let delay = self.delay_for(attempt, &e);
                self.subscription.down(attempt, now + delay);
                engine.emit_all(vec![Event::Subscription(StatusEvent { status: SubscriptionStatus::Error, attempt })]);
            }
        }
    }

    /// Local GC, at most every [`GC_INTERVAL_MS`].
    async fn maybe_collect(&self) {
        let now = self.engine.platform().now_ms();
        let last = self.last_gc.get();
        if last != 0 && now.saturating_sub(last) < GC_INTERVAL_MS {
            return;
        }
        self.last_gc.set(now.max(1));
        if let Err(e) = self.engine.collect_garbage().await {
            self.note_error(&e);
        }
    }

    /// Tells the provider the cursor, at most every [`CURSOR_REPORT_MS`].
    async fn report_cursor(&self) {
        let Ok((cursor, _)) = self.engine.cursor_state().await else { return };
        let (sent, at) = self.reported.get();
        let now = self.engine.platform().now_ms();
        if cursor <= sent || (at != 0 && now.saturating_sub(at) < CURSOR_REPORT_MS) {
            return;
        }
        let engine = &self.engine;
        let answer = self.provider.update_cursor(engine.scope(), engine.device_id().to_string(), cursor).await;
        if answer.is_ok() {
            self.reported.set((cursor, now));
        }
    }
}

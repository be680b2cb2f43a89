//! The push scheduler: when to run the outbox, and how long to wait after a
//! failure. It runs one loop per engine while the engine leads its database
//! (holds the Web Lock), wakes on triggers (a local or another tab's write,
//! going online, the page becoming visible, a periodic timer, `syncNow`),
//! coalesces bursts, never attempts while offline, waits out backoff and
//! `retryAfterMs`, and pauses on `AUTH` until `start()`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::future::select;
use futures::lock::Mutex;
use serde::Serialize;

use super::events::{ErrorEvent, Event, RetryEvent, StatsEvent};
use super::outbox::SyncRun;
use super::provider::Provider;
use super::push::Step;
use super::signal::Signal;
use super::{Engine, Platform};
use crate::core::backoff::retry_delay;
use crate::core::{Result, SyncError};
use crate::store::Store;

/// How often the loop runs without a trigger.
pub const PERIODIC_MS: u64 = 30_000;
/// How long a trigger waits for more writes to join the same run.
pub const COALESCE_MS: u64 = 5;

/// What `syncNow` resolves to.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
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

/// Runs an engine's outbox through a provider.
pub struct Driver<S: Store, P: Platform, V: Provider<Rec = S::Rec>> {
    engine: Rc<Engine<S, P>>,
    provider: V,
    wake: Signal,
    running: Mutex<()>,
    state: RefCell<DriverState>,
    stopped: Cell<bool>,
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
        Driver {
            engine,
            provider,
            wake: Signal::default(),
            running: Mutex::new(()),
            state: RefCell::new(state),
            stopped: Cell::new(false),
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

    /// Marks whether this engine holds the database's lock (the one pusher).
    pub fn set_leader(&self, leader: bool) {
        self.state.borrow_mut().leader = leader;
        self.wake();
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

    /// Ends the loop (the engine is closing).
    pub fn shutdown(&self) {
        self.stopped.set(true);
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
                self.set_phase(if !self.engine.platform().is_online() { "offline" } else { "idle" });
                self.wait_for_trigger().await;
                continue;
            }
            self.engine.platform().sleep(COALESCE_MS).await;
            match self.run_once().await {
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
        let wake = Box::pin(self.wake.wait());
        let timer = Box::pin(self.engine.platform().sleep(PERIODIC_MS));
        let _ = select(wake, timer).await;
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
        let (report, end) = self.run_once().await?;
        if let RunEnd::Retry { .. } | RunEnd::Paused = end {
            self.wake();
            return Err(self.state.borrow().last_error.clone().unwrap_or(SyncError::Unavailable("push failed".into())));
        }
        Ok(SyncReport { duration_ms: self.engine.platform().now_ms().saturating_sub(started), ..report })
    }

    /// Pushes batches until the outbox is drained or a batch must wait.
    async fn run_once(&self) -> Result<(SyncReport, RunEnd)> {
        let _guard = self.running.lock().await;
        self.set_phase("pushing");
        let started = self.engine.platform().now_ms();
        let mut run =
            SyncRun { started_at: started, finished_at: 0, pushed: 0, failed: 0, retried: 0, batches: 0, error: None };
        let end = loop {
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
                    let retry_after = match &error {
                        SyncError::RateLimit { retry_after_ms, .. } => *retry_after_ms,
                        _ => None,
                    };
                    let mut r = [0u8; 4];
                    self.engine.platform().fill_random(&mut r);
                    let jitter = u32::from_le_bytes(r) as f64 / (u32::MAX as f64 + 1.0);
                    let delay_ms = retry_delay(attempt, &self.engine.config().backoff_ms, retry_after, jitter);
                    if retry_after.is_some() {
                        self.state.borrow_mut().not_before = Some(self.engine.platform().now_ms() + delay_ms);
                    }
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
            let _ = self.engine.record_run(&run).await;
            if run.error.is_none() {
                self.state.borrow_mut().last_sync_at = Some(run.finished_at);
            }
            let counts = self.engine.outbox_counts().await.unwrap_or_default();
            self.engine.emit_all(vec![Event::Stats(StatsEvent {
                pending: counts.pending + counts.in_flight,
                failed: counts.failed,
                pushed: run.pushed,
                run_ms: run.finished_at.saturating_sub(run.started_at),
                cursor: 0,
            })]);
        }
        if self.state.borrow().phase == "pushing" {
            self.set_phase("idle");
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

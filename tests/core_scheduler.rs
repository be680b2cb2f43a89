//! The scheduler's timing decisions on a test clock: every test feeds
//! inputs at plain `u64` times and asserts the exact actions (and their
//! times) that come back.

use std::collections::VecDeque;

use tidesync::core::scheduler::{
    Action, Batch, Input, Link, LinkStatus, Phase, Pulled, RunEnd, Scheduler, SchedulerConfig, COALESCE_MS,
    CURSOR_REPORT_MS, PERIODIC_MS,
};
use tidesync::core::SyncError;

const GC_MS: u64 = 3_600_000;
/// The cursor the test server is at.
const CURSOR: u64 = 10;

fn scheduler() -> Scheduler {
    Scheduler::new(SchedulerConfig { backoff_ms: vec![250, 1000, 3000, 5000], gc_interval_ms: GC_MS, started: true })
}

fn unavailable() -> SyncError {
    SyncError::Unavailable("down".into())
}

/// Answers every step of a run at `now` the way a healthy provider with an
/// empty outbox would, and returns the actions asked for, up to `Finish`.
fn clean_run(s: &mut Scheduler, now: u64, force_pull: bool) -> Vec<Action> {
    let mut seen = Vec::new();
    let mut queue: VecDeque<Action> = s.on(Input::RunStarted { force_pull }, now).into();
    while let Some(action) = queue.pop_front() {
        seen.push(action.clone());
        let answer = match action {
            Action::Push => s.on(Input::Pushed(Batch::Idle), now),
            Action::HandleInbox => s.on(Input::InboxHandled { cursor: CURSOR, bootstrapped: true }, now),
            Action::Pull { .. } => s.on(Input::Pulled(Pulled::CaughtUp), now),
            Action::Subscribe => s.on(Input::Subscribed, now),
            Action::ReportCursor { .. } => s.on(Input::CursorReported { cursor: CURSOR }, now),
            Action::Finish(_) => break,
            _ => Vec::new(),
        };
        for a in answer.into_iter().rev() {
            queue.push_front(a);
        }
    }
    seen
}

/// A leader that has bootstrapped, subscribed and pulled, now waiting for a
/// trigger at time 2 (until 2 + PERIODIC_MS).
fn steady() -> Scheduler {
    let mut s = scheduler();
    s.on(Input::Leader(true), 0);
    assert_eq!(s.on(Input::LoopStarted, 0), [Action::Sleep { until: COALESCE_MS }]);
    assert_eq!(s.on(Input::TimerFired, 1), [Action::Run]);
    let first = clean_run(&mut s, 1, false);
    assert_eq!(
        first,
        [
            Action::Push,
            Action::HandleInbox,
            Action::Pull { from: CURSOR },
            Action::Subscribe,
            Action::ReportCursor { above: 0 },
            Action::CollectGarbage,
            Action::Finish(RunEnd::Drained),
        ]
    );
    // The new subscription makes one more run, which pulls what was
    // committed before it started.
    assert_eq!(s.on(Input::RunFinished(RunEnd::Drained), 1), [Action::Sleep { until: 1 + COALESCE_MS }]);
    assert_eq!(s.on(Input::TimerFired, 2), [Action::Run]);
    assert_eq!(
        clean_run(&mut s, 2, false),
        [Action::Push, Action::HandleInbox, Action::Pull { from: CURSOR }, Action::Finish(RunEnd::Drained)]
    );
    assert_eq!(s.on(Input::RunFinished(RunEnd::Drained), 2), [Action::Wait { until: 2 + PERIODIC_MS }]);
    assert_eq!(s.link(), Link::Up);
    s
}

/// A run (`syncNow`'s or the loop's) begins at `now`.
fn begin_run(s: &mut Scheduler, now: u64) {
    assert_eq!(s.on(Input::RunStarted { force_pull: false }, now), [Action::Push]);
}

/// The waiting loop is woken at `now` and runs, up to its first batch.
fn start_run(s: &mut Scheduler, now: u64) {
    assert_eq!(s.on(Input::Wake, now), []);
    assert_eq!(s.on(Input::Woken, now), [Action::Sleep { until: now + COALESCE_MS }]);
    assert_eq!(s.on(Input::TimerFired, now + COALESCE_MS), [Action::Run]);
    assert_eq!(s.on(Input::RunStarted { force_pull: false }, now + COALESCE_MS), [Action::Push]);
    assert_eq!(s.phase(), Phase::Pushing);
}

#[test]
fn writes_inside_the_coalesce_window_join_one_run() {
    let mut s = steady();
    assert_eq!(s.on(Input::Wake, 100), []);
    assert_eq!(s.on(Input::Woken, 100), [Action::Sleep { until: 100 + COALESCE_MS }]);
    // More writes while the window is open: nothing new is scheduled.
    assert_eq!(s.on(Input::Wake, 100), []);
    assert_eq!(s.on(Input::Wake, 101), []);
    assert_eq!(s.on(Input::TimerFired, 101), [Action::Run]);
    let run = clean_run(&mut s, 101, false);
    // A write-triggered run with a live subscription does not pull.
    assert_eq!(run, [Action::Push, Action::HandleInbox, Action::Finish(RunEnd::Drained)]);
    // The one run covered them all: the loop goes back to waiting.
    assert_eq!(s.on(Input::RunFinished(RunEnd::Drained), 101), [Action::Wait { until: 101 + PERIODIC_MS }]);
}

#[test]
fn a_write_during_a_run_makes_another_run() {
    let mut s = steady();
    start_run(&mut s, 100);
    assert_eq!(s.on(Input::Wake, 101), []);
    assert_eq!(s.on(Input::Pushed(Batch::Sent { failed: 0 }), 102), [Action::Push]);
    assert_eq!(s.on(Input::Pushed(Batch::Idle), 103), [Action::RecordPushRun, Action::HandleInbox]);
    assert_eq!(
        s.on(Input::InboxHandled { cursor: CURSOR, bootstrapped: true }, 103),
        [Action::Finish(RunEnd::Drained)]
    );
    assert_eq!(s.last_sync_at(), Some(103));
    assert_eq!(s.on(Input::RunFinished(RunEnd::Drained), 104), [Action::Sleep { until: 104 + COALESCE_MS }]);
}

#[test]
fn a_failed_batch_backs_off_along_the_schedule_in_full() {
    let mut s = steady();
    start_run(&mut s, 1000);
    let mut now = 1001;
    for (attempt, delay_ms) in [(1, 250), (2, 1000), (3, 3000), (4, 5000), (5, 5000)] {
        let failed = Batch::Retry { attempt, error: unavailable(), jitter: 0.0 };
        assert_eq!(
            s.on(Input::Pushed(failed), now),
            [
                Action::Retrying { attempt, delay_ms, code: "UNAVAILABLE" },
                Action::RecordPushRun,
                Action::Finish(RunEnd::Retry { delay_ms }),
            ]
        );
        assert_eq!(
            s.on(Input::RunFinished(RunEnd::Retry { delay_ms }), now),
            [Action::Sleep { until: now + delay_ms }]
        );
        assert_eq!(s.phase(), Phase::Backoff);
        // Triggers do not cut the backoff short.
        assert_eq!(s.on(Input::Wake, now + 1), []);
        assert_eq!(s.on(Input::Woken, now + 1), []);
        now += delay_ms;
        assert_eq!(s.on(Input::TimerFired, now), [Action::Sleep { until: now + COALESCE_MS }]);
        now += COALESCE_MS;
        assert_eq!(s.on(Input::TimerFired, now), [Action::Run]);
        assert_eq!(s.on(Input::RunStarted { force_pull: false }, now), [Action::Push]);
    }
    // Jitter adds up to a fifth of the step.
    let failed = Batch::Retry { attempt: 2, error: unavailable(), jitter: 0.5 };
    assert_eq!(
        s.on(Input::Pushed(failed), now)[0],
        Action::Retrying { attempt: 2, delay_ms: 1100, code: "UNAVAILABLE" }
    );
    assert_eq!(s.last_error(), Some(&unavailable()));
    assert_eq!(s.not_before(), None, "only a retryAfterMs holds back syncNow");
}

#[test]
fn retry_after_is_waited_in_full_and_holds_back_sync_now() {
    let mut s = steady();
    start_run(&mut s, 1000);
    let limited = SyncError::RateLimit { message: "slow down".into(), retry_after_ms: Some(4000) };
    let answer = s.on(Input::Pushed(Batch::Retry { attempt: 1, error: limited, jitter: 0.9 }), 1001);
    assert_eq!(answer[0], Action::Retrying { attempt: 1, delay_ms: 4000, code: "RATE_LIMIT" });
    assert_eq!(s.not_before(), Some(5001));
    assert_eq!(s.on(Input::RunFinished(RunEnd::Retry { delay_ms: 4000 }), 1001), [Action::Sleep { until: 5001 }]);
    assert_eq!(s.on(Input::SyncNow, 2000), [Action::Hold { until: 5001 }]);
    assert_eq!(s.on(Input::SyncNow, 5001), []);
}

#[test]
fn a_periodic_pull_fires_after_quiet() {
    let mut s = steady();
    let due = 2 + PERIODIC_MS;
    assert_eq!(s.on(Input::TimerFired, due), [Action::Sleep { until: due + COALESCE_MS }]);
    assert_eq!(s.on(Input::TimerFired, due + 1), [Action::Run]);
    // The timer made a pull due, although the subscription is live.
    assert_eq!(
        clean_run(&mut s, due + 1, false),
        [
            Action::Push,
            Action::HandleInbox,
            Action::Pull { from: CURSOR },
            Action::ReportCursor { above: CURSOR },
            Action::Finish(RunEnd::Drained),
        ]
    );
    assert_eq!(s.on(Input::RunFinished(RunEnd::Drained), due + 1), [Action::Wait { until: due + 1 + PERIODIC_MS }]);
}

#[test]
fn a_dropped_subscription_is_retried_at_its_retry_time() {
    let mut s = steady();
    start_run(&mut s, 100);
    assert_eq!(s.on(Input::Pushed(Batch::Idle), 101), [Action::HandleInbox]);
    assert_eq!(s.on(Input::LinkStatus(LinkStatus::Error { jitter: 0.0 }), 101), [Action::Unsubscribe]);
    assert_eq!(s.link(), Link::Down { attempt: 1, retry_at: 351 });
    // It may have missed batches: pull now, subscribe at 351.
    assert_eq!(s.on(Input::InboxHandled { cursor: CURSOR, bootstrapped: true }, 101), [Action::Pull { from: CURSOR }]);
    assert_eq!(s.on(Input::Pulled(Pulled::CaughtUp), 101), [Action::Finish(RunEnd::Drained)]);
    assert_eq!(s.on(Input::RunFinished(RunEnd::Drained), 101), [Action::Wait { until: 351 }]);
    assert_eq!(s.on(Input::TimerFired, 351), [Action::Sleep { until: 351 + COALESCE_MS }]);
    assert_eq!(s.on(Input::TimerFired, 352), [Action::Run]);
    assert_eq!(s.on(Input::RunStarted { force_pull: false }, 352), [Action::Push]);
    assert_eq!(s.on(Input::Pushed(Batch::Idle), 352), [Action::HandleInbox]);
    // No live subscription: it pulls, then subscribes.
    assert_eq!(s.on(Input::InboxHandled { cursor: CURSOR, bootstrapped: true }, 352), [Action::Pull { from: CURSOR }]);
    assert_eq!(s.on(Input::Pulled(Pulled::CaughtUp), 352), [Action::Subscribe, Action::Finish(RunEnd::Drained)]);
    // It fails again: the next try is one step further along the schedule.
    let failed = Input::SubscribeFailed { error: unavailable(), jitter: 0.0 };
    assert_eq!(s.on(failed, 352), []);
    assert_eq!(s.link(), Link::Down { attempt: 2, retry_at: 1352 });
    assert_eq!(s.on(Input::RunFinished(RunEnd::Drained), 352), [Action::Wait { until: 1352 }]);
}

#[test]
fn auth_pauses_until_start() {
    let mut s = steady();
    start_run(&mut s, 100);
    let auth = SyncError::Auth("expired".into());
    assert_eq!(
        s.on(Input::Pushed(Batch::Paused(auth.clone())), 101),
        [Action::RecordPushRun, Action::Finish(RunEnd::Paused)]
    );
    assert_eq!(s.phase(), Phase::Paused);
    assert_eq!(s.on(Input::RunFinished(RunEnd::Paused), 101), [Action::Wait { until: 101 + PERIODIC_MS }]);
    // Writes, timers and syncNow do not push while paused.
    assert_eq!(s.on(Input::Wake, 200), []);
    assert_eq!(s.on(Input::Woken, 200), [Action::Wait { until: 200 + PERIODIC_MS }]);
    assert_eq!(s.on(Input::TimerFired, 200 + PERIODIC_MS), [Action::Wait { until: 200 + 2 * PERIODIC_MS }]);
    assert_eq!(s.phase(), Phase::Paused);
    assert_eq!(s.on(Input::SyncNow, 300), [Action::Reject(auth)]);
    assert_eq!(s.on(Input::Started, 400), []);
    assert_eq!(s.paused(), None);
    assert_eq!(s.on(Input::Woken, 400), [Action::Sleep { until: 400 + COALESCE_MS }]);
    assert_eq!(s.on(Input::SyncNow, 400), []);
}

#[test]
fn a_forbidden_pull_pauses_without_backoff() {
    let mut s = steady();
    start_run(&mut s, 100);
    s.on(Input::PullDue, 101);
    assert_eq!(s.on(Input::Pushed(Batch::Idle), 101), [Action::HandleInbox]);
    assert_eq!(s.on(Input::InboxHandled { cursor: CURSOR, bootstrapped: true }, 101), [Action::Pull { from: CURSOR }]);
    let forbidden = SyncError::Forbidden("no".into());
    assert_eq!(
        s.on(Input::Pulled(Pulled::Failed { error: forbidden, jitter: 0.0 }), 102),
        [Action::Finish(RunEnd::Paused)]
    );
    assert_eq!(s.phase(), Phase::Paused);
}

#[test]
fn a_failed_pull_backs_off_and_a_good_one_resets_the_attempts() {
    let mut s = steady();
    let fail = |s: &mut Scheduler, now: u64| {
        begin_run(s, now);
        s.on(Input::PullDue, now);
        assert_eq!(s.on(Input::Pushed(Batch::Idle), now + 1), [Action::HandleInbox]);
        let answer = s.on(Input::InboxHandled { cursor: CURSOR, bootstrapped: true }, now + 1);
        assert_eq!(answer, [Action::Pull { from: CURSOR }]);
        s.on(Input::Pulled(Pulled::Failed { error: unavailable(), jitter: 0.0 }), now + 1)
    };
    let retry = |attempt, delay_ms| {
        [Action::Retrying { attempt, delay_ms, code: "UNAVAILABLE" }, Action::Finish(RunEnd::Retry { delay_ms })]
    };
    assert_eq!(fail(&mut s, 100), retry(1, 250));
    assert_eq!(s.phase(), Phase::Backoff);
    assert_eq!(fail(&mut s, 1000), retry(2, 1000));
    assert_eq!(clean_run(&mut s, 5001, true)[2], Action::Pull { from: CURSOR });
    assert_eq!(s.last_error(), None, "a clean run clears the last error");
    assert_eq!(fail(&mut s, 9000), retry(1, 250));
}

#[test]
fn stop_holds_pushes_and_shutdown_ends_the_loop() {
    let mut s = steady();
    assert_eq!(s.on(Input::Stopped, 100), []);
    assert_eq!(s.on(Input::Wake, 100), []);
    assert_eq!(s.on(Input::Woken, 100), [Action::Wait { until: 100 + PERIODIC_MS }]);
    assert_eq!(s.phase(), Phase::Idle);
    // A run already under way (syncNow) is not resubscribed after shutdown.
    assert_eq!(s.on(Input::RunStarted { force_pull: true }, 200), [Action::Push]);
    assert_eq!(s.on(Input::LinkStatus(LinkStatus::Error { jitter: 0.0 }), 200), [Action::Unsubscribe]);
    assert_eq!(s.on(Input::Shutdown, 200), [Action::Unsubscribe]);
    assert_eq!(s.on(Input::Pushed(Batch::Idle), 500), [Action::HandleInbox]);
    assert_eq!(s.on(Input::InboxHandled { cursor: CURSOR, bootstrapped: true }, 500), [Action::Pull { from: CURSOR }]);
    assert_eq!(s.on(Input::Pulled(Pulled::Interrupted), 500), [Action::Finish(RunEnd::Drained)]);
    assert_eq!(s.on(Input::Woken, 500), [Action::Exit]);
    assert_eq!(s.phase(), Phase::Closed);
}

#[test]
fn losing_the_lead_stops_pushing() {
    let mut s = steady();
    start_run(&mut s, 100);
    assert_eq!(s.on(Input::Pushed(Batch::Sent { failed: 0 }), 101), [Action::Push]);
    // The push guard says another engine leads: no more batches, but this
    // run still brings the local state up to date.
    assert_eq!(s.on(Input::Pushed(Batch::LeadLost), 102), [Action::RecordPushRun, Action::HandleInbox]);
    assert!(!s.leader());
    assert_eq!(
        s.on(Input::InboxHandled { cursor: CURSOR, bootstrapped: true }, 102),
        [Action::Finish(RunEnd::Drained)]
    );
    assert_eq!(s.on(Input::RunFinished(RunEnd::Drained), 102), [Action::Wait { until: 102 + PERIODIC_MS }]);
    assert_eq!(s.on(Input::Wake, 200), []);
    assert_eq!(s.on(Input::Woken, 200), [Action::Wait { until: 200 + PERIODIC_MS }]);
    // Leading again starts a run.
    assert_eq!(s.on(Input::Leader(true), 300), []);
    assert_eq!(s.on(Input::Woken, 300), [Action::Sleep { until: 300 + COALESCE_MS }]);
}

#[test]
fn a_follower_never_runs() {
    let mut s = scheduler();
    // Its subscription is down and due at once, but only a run subscribes.
    assert_eq!(s.link(), Link::Down { attempt: 0, retry_at: 0 });
    assert_eq!(s.on(Input::LoopStarted, 0), [Action::Wait { until: PERIODIC_MS }]);
    assert_eq!(s.on(Input::TimerFired, PERIODIC_MS), [Action::Wait { until: 2 * PERIODIC_MS }]);
    assert_eq!(s.on(Input::Wake, 40_000), []);
    assert_eq!(s.on(Input::Woken, 40_000), [Action::Wait { until: 40_000 + PERIODIC_MS }]);
    assert_eq!(s.phase(), Phase::Idle);
}

#[test]
fn gc_and_cursor_reports_fire_on_their_cadence() {
    let mut s = steady();
    let tail = |s: &mut Scheduler, now: u64| {
        begin_run(s, now);
        let mut out = s.on(Input::Pushed(Batch::Idle), now);
        out.extend(s.on(Input::InboxHandled { cursor: CURSOR + now, bootstrapped: true }, now));
        out
    };
    // Reported (cursor 10) and collected at 1 by the first run.
    assert_eq!(tail(&mut s, CURSOR_REPORT_MS), [Action::HandleInbox, Action::Finish(RunEnd::Drained)]);
    assert_eq!(
        tail(&mut s, CURSOR_REPORT_MS + 1),
        [Action::HandleInbox, Action::ReportCursor { above: CURSOR }, Action::Finish(RunEnd::Drained)]
    );
    // Not accepted: asked again at the next run.
    assert_eq!(
        tail(&mut s, CURSOR_REPORT_MS + 2),
        [Action::HandleInbox, Action::ReportCursor { above: CURSOR }, Action::Finish(RunEnd::Drained)]
    );
    assert_eq!(s.on(Input::CursorReported { cursor: 20 }, CURSOR_REPORT_MS + 2), []);
    assert_eq!(tail(&mut s, 2 * CURSOR_REPORT_MS), [Action::HandleInbox, Action::Finish(RunEnd::Drained)]);
    assert_eq!(
        tail(&mut s, 2 * CURSOR_REPORT_MS + 2),
        [Action::HandleInbox, Action::ReportCursor { above: 20 }, Action::Finish(RunEnd::Drained)]
    );
    assert_eq!(
        tail(&mut s, GC_MS),
        [Action::HandleInbox, Action::ReportCursor { above: 20 }, Action::Finish(RunEnd::Drained)]
    );
    assert_eq!(
        tail(&mut s, GC_MS + 1),
        [
            Action::HandleInbox,
            Action::ReportCursor { above: 20 },
            Action::CollectGarbage,
            Action::Finish(RunEnd::Drained),
        ]
    );
}

#[test]
fn offline_stops_between_batches_waits_and_refuses_sync_now() {
    let mut s = steady();
    start_run(&mut s, 100);
    s.on(Input::Online(false), 101);
    // No further batch, no pull; the run ends drained.
    assert_eq!(
        s.on(Input::Pushed(Batch::Sent { failed: 0 }), 101),
        [Action::RecordPushRun, Action::Finish(RunEnd::Drained)]
    );
    assert_eq!(s.on(Input::RunFinished(RunEnd::Drained), 101), [Action::Wait { until: 101 + PERIODIC_MS }]);
    assert_eq!(s.on(Input::Woken, 102), [Action::Wait { until: 102 + PERIODIC_MS }]);
    assert_eq!(s.phase(), Phase::Offline);
    let offline = SyncError::Unavailable("the device is offline".into());
    assert_eq!(s.on(Input::SyncNow, 103), [Action::Reject(offline)]);
    s.on(Input::Online(true), 200);
    s.on(Input::PullDue, 200);
    s.on(Input::Wake, 200);
    assert_eq!(s.on(Input::Woken, 200), [Action::Sleep { until: 200 + COALESCE_MS }]);
}

#[test]
fn dead_lettered_ops_keep_the_last_error() {
    let mut s = steady();
    s.on(Input::ErrorSeen(unavailable()), 50);
    start_run(&mut s, 100);
    assert_eq!(s.on(Input::Pushed(Batch::Sent { failed: 1 }), 101), [Action::Push]);
    assert_eq!(s.on(Input::Pushed(Batch::Idle), 101), [Action::RecordPushRun, Action::HandleInbox]);
    s.on(Input::InboxHandled { cursor: CURSOR, bootstrapped: true }, 101);
    assert_eq!(s.last_error(), Some(&unavailable()));
}

#[test]
fn phases_keep_the_names_js_sees() {
    let names: Vec<&str> = [
        Phase::Idle,
        Phase::Offline,
        Phase::Paused,
        Phase::Pushing,
        Phase::Pulling,
        Phase::Bootstrapping,
        Phase::Rescanning,
        Phase::Backoff,
        Phase::Closed,
    ]
    .into_iter()
    .map(Phase::as_str)
    .collect();
    assert_eq!(
        names,
        ["idle", "offline", "paused", "pushing", "pulling", "bootstrapping", "rescanning", "backoff", "closed"]
    );
}

#[test]
fn a_run_that_starts_with_a_delivery_handles_the_inbox_before_it_pushes() {
    let mut s = steady();
    s.on(Input::Delivered, 100);
    assert_eq!(s.on(Input::Woken, 100), [Action::Sleep { until: 100 + COALESCE_MS }]);
    assert_eq!(s.on(Input::TimerFired, 100), [Action::Run]);
    assert_eq!(clean_run(&mut s, 100, false), [Action::HandleInbox, Action::Push, Action::Finish(RunEnd::Drained)]);
    // The next run, without a delivery, pushes first again.
    s.on(Input::RunFinished(RunEnd::Drained), 100);
    assert_eq!(s.on(Input::Woken, 200), [Action::Sleep { until: 200 + COALESCE_MS }]);
    assert_eq!(s.on(Input::TimerFired, 200), [Action::Run]);
    assert_eq!(clean_run(&mut s, 200, false), [Action::Push, Action::HandleInbox, Action::Finish(RunEnd::Drained)]);
}

#[test]
fn a_delivery_first_run_still_pulls_when_one_is_due_and_pushes_every_batch() {
    let mut s = steady();
    s.on(Input::Delivered, 100);
    let mut seen = Vec::new();
    let mut queue: VecDeque<Action> = s.on(Input::RunStarted { force_pull: true }, 100).into();
    let mut batches = 0;
    while let Some(action) = queue.pop_front() {
        seen.push(action.clone());
        let answer = match action {
            Action::HandleInbox => s.on(Input::InboxHandled { cursor: CURSOR, bootstrapped: true }, 100),
            Action::Push if batches < 2 => {
                batches += 1;
                s.on(Input::Pushed(Batch::Sent { failed: 0 }), 100)
            }
            Action::Push => s.on(Input::Pushed(Batch::Idle), 100),
            Action::Pull { .. } => s.on(Input::Pulled(Pulled::CaughtUp), 100),
            Action::Finish(_) => break,
            _ => Vec::new(),
        };
        for a in answer.into_iter().rev() {
            queue.push_front(a);
        }
    }
    let inbox = seen.iter().filter(|a| **a == Action::HandleInbox).count();
    assert_eq!(inbox, 1, "{seen:?}");
    assert_eq!(seen[0], Action::HandleInbox, "{seen:?}");
    assert_eq!(seen.iter().filter(|a| **a == Action::Push).count(), 3, "{seen:?}");
    let pull = seen.iter().position(|a| *a == Action::Pull { from: CURSOR }).expect("syncNow pulls");
    assert!(pull > 3, "the pull comes after the push part: {seen:?}");
}

#[test]
fn a_delivery_while_offline_does_not_reorder_the_run() {
    let mut s = steady();
    s.on(Input::Delivered, 100);
    s.on(Input::Online(false), 100);
    let first = s.on(Input::RunStarted { force_pull: false }, 100);
    assert!(!first.contains(&Action::HandleInbox), "{first:?}");
}

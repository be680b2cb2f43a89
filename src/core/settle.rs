//! Settling a push, as pure decisions: what happens to each sent op given
//! the provider's answer (docs/PROTOCOL.md section 2, "Push results").
//!
//! - **Applied** (`success: true` with a `serverVersion`, or the server's
//!   `current` is this very op): the op leaves the outbox.
//! - **Superseded** (`success: true`, not applied, with `current`): another
//!   version won on the server. The device adopts it (as a remote change,
//!   judged by LWW against whatever it holds now) and journals the conflict.
//! - **Restamp** (not applied, and `current` is a version this device had
//!   already seen when it wrote the op: its `serverVersion` is at or below
//!   the op's base cursor): the write was made on top of that version, so it
//!   is its successor and must win. This is the key recreated after the
//!   server's GC purged its tombstone: a device that bootstrapped later never
//!   saw the tombstone, wrote `clock: 1`, and lost to it. The engine restamps
//!   the record's newest op above `current` and sends it again.
//! - **Lost** (`success: true`, not applied, no `current`: a provider that
//!   does not say what won): remembered until a pull brings the winner.
//! - **Rejected** (`success: false, retryable: false`): dead letter.
//! - **Again** (`success: false` otherwise, or no answer for the op): one
//!   more attempt; past `maxAttempts`, dead letter.
//!
//! For a batch that fails as a whole, [`batch_failure`] tells whether to
//! pause (credentials), split it to find the op at fault (the server refused
//! the batch as invalid or too large, or it cannot be encoded), or wait and
//! send it again (anything transient: those never count toward
//! `maxAttempts`, so an outage of any length dead-letters nothing).

use super::error::SyncError;
use super::stamp::ChangeStamp;
use super::wire::{OpResult, SyncChange};

/// What one sent op becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<P> {
    Applied,
    Superseded(SyncChange<P>),
    Restamp(SyncChange<P>),
    Lost,
    Rejected(String),
    Again(String),
}

/// The verdict for an op sent with `stamp`, captured when the device's
/// cursor for its table was `base`, answered by `result` (`None`: the
/// answer does not mention it).
pub fn verdict<P: Clone>(stamp: &ChangeStamp, base: u64, result: Option<&OpResult<P>>) -> Verdict<P> {
    let Some(r) = result else {
        return Verdict::Again("not acknowledged".into());
    };
    if !r.success {
        let why = r.error.clone().or_else(|| r.code.clone()).unwrap_or_else(|| "rejected".into());
        return match r.retryable {
            Some(false) => Verdict::Rejected(why),
            _ => Verdict::Again(why),
        };
    }
    if r.server_version.is_some() {
        return Verdict::Applied;
    }
    match &r.current {
        None => Verdict::Lost,
        Some(c) if c.stamp == *stamp => Verdict::Applied,
        Some(c) if c.server_version <= base => Verdict::Restamp(c.clone()),
        Some(c) => Verdict::Superseded(c.clone()),
    }
}

/// What to do when a whole push call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchFailure {
    /// `AUTH` / `FORBIDDEN`: stop pushing until the app calls `start()`.
    Pause,
    /// The batch itself was refused (invalid, too large, not encodable):
    /// split it; a single op is the one at fault and is dead-lettered.
    Split,
    /// Transient (unavailable, network, rate limit, a malformed answer):
    /// send the same ops again after a backoff, counting no attempt.
    Wait,
}

/// Classifies a failed push call.
pub fn batch_failure(e: &SyncError) -> BatchFailure {
    match e {
        SyncError::Auth(_) | SyncError::Forbidden(_) => BatchFailure::Pause,
        SyncError::Invalid(_) => BatchFailure::Split,
        // A malformed answer is the provider's fault, not the batch's: the
        // ops may well have been applied; send them again.
        _ => BatchFailure::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wire::OpKind;

    fn stamp(clock: u64, op: &str) -> ChangeStamp {
        ChangeStamp { clock, hlc: format!("001700000000000:00000:{op}"), device_id: op.into(), op_id: op.into() }
    }

    fn current(clock: u64, version: u64) -> SyncChange<()> {
        SyncChange {
            table_name: "t".into(),
            pk: "k".into(),
            op: OpKind::Delete,
            payload: None,
            server_version: version,
            stamp: stamp(clock, "other"),
        }
    }

    fn lost_to(c: SyncChange<()>) -> OpResult<()> {
        OpResult::acknowledged("a", None, Some(c))
    }

    #[test]
    fn an_op_that_lost_to_a_version_the_device_had_not_seen_adopts_it() {
        let v = verdict(&stamp(1, "a"), 4, Some(&lost_to(current(3, 7))));
        assert_eq!(v, Verdict::Superseded(current(3, 7)));
    }

    #[test]
    fn an_op_written_on_top_of_a_purged_tombstone_is_restamped() {
        let v = verdict(&stamp(1, "a"), 9, Some(&lost_to(current(3, 7))));
        assert_eq!(v, Verdict::Restamp(current(3, 7)));
    }

    #[test]
    fn applied_rejected_and_unanswered() {
        let ok = OpResult::<()>::acknowledged("a", Some(5), None);
        assert_eq!(verdict(&stamp(1, "a"), 0, Some(&ok)), Verdict::Applied);
        let no = OpResult::<()>::rejected("a", "bad".into(), None, false);
        assert_eq!(verdict(&stamp(1, "a"), 0, Some(&no)), Verdict::Rejected("bad".into()));
        let later = OpResult::<()>::rejected("a", "busy".into(), None, true);
        assert_eq!(verdict(&stamp(1, "a"), 0, Some(&later)), Verdict::Again("busy".into()));
        assert!(matches!(verdict::<()>(&stamp(1, "a"), 0, None), Verdict::Again(_)));
        let silent = OpResult::<()>::acknowledged("a", None, None);
        assert_eq!(verdict(&stamp(1, "a"), 0, Some(&silent)), Verdict::Lost);
    }

    #[test]
    fn transport_failures_wait_and_refused_batches_split() {
        assert_eq!(batch_failure(&SyncError::Unavailable("down".into())), BatchFailure::Wait);
        assert_eq!(
            batch_failure(&SyncError::RateLimit { message: "slow".into(), retry_after_ms: None }),
            BatchFailure::Wait
        );
        assert_eq!(batch_failure(&SyncError::invalid("batch", "too large")), BatchFailure::Split);
        assert_eq!(
            batch_failure(&SyncError::BadAnswer(crate::core::Invalid::rule("pushResult.results", "bad"))),
            BatchFailure::Wait
        );
        assert_eq!(batch_failure(&SyncError::Auth("no".into())), BatchFailure::Pause);
    }
}

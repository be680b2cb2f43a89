//! Hybrid Logical Clock (docs/PROTOCOL.md section 1).
//!
//! An HLC value is `(ms, counter, device_id)`. Its string form is
//! `"{ms:015}:{counter:05}:{device_id}"`: the numeric parts are fixed-width and
//! zero-padded, so comparing two strings byte by byte gives the same order as
//! comparing the tuples. The clock never goes backwards: when the wall clock
//! steps back, the counter advances instead, and the state (the last value
//! issued) is persisted by the engine so a reload continues above it.
//!
//! Remote values whose physical part is more than `max_drift_ms` ahead of the
//! local wall clock are reported ([`Receive::Drift`]) and do not advance the
//! local clock, so one device with a wrong clock cannot drag every other
//! device's clock into the future.

use std::cmp::Ordering;
use std::fmt;

use super::error::{Invalid, InvalidKind};

/// Width of the millisecond part: covers every date up to the year 33658.
pub const MS_WIDTH: usize = 15;
/// Width of the counter part.
pub const COUNTER_WIDTH: usize = 5;
/// Largest millisecond value the fixed-width form can hold.
pub const MAX_MS: u64 = 999_999_999_999_999;
/// Largest counter; past it the clock borrows the next millisecond.
pub const MAX_COUNTER: u32 = 99_999;
/// Default drift bound of docs/PROTOCOL.md (`maxClockDriftMs`).
pub const DEFAULT_MAX_DRIFT_MS: u64 = 60_000;

/// One HLC value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hlc {
    pub ms: u64,
    pub counter: u32,
    pub device_id: String,
}

impl Hlc {
    /// Parses the fixed-width string form. Rejects anything that does not
    /// round-trip exactly, so string order and tuple order can never disagree.
    pub fn parse(s: &str) -> Result<Hlc, Invalid> {
        let bad = || Invalid::rule("hlc", format!("not an HLC string: {s:?}"));
        let bytes = s.as_bytes();
        let sep1 = MS_WIDTH;
        let sep2 = MS_WIDTH + 1 + COUNTER_WIDTH;
        if bytes.len() <= sep2 + 1 || bytes[sep1] != b':' || bytes[sep2] != b':' {
            return Err(bad());
        }
        let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
        let (ms_part, counter_part) = (&bytes[..sep1], &bytes[sep1 + 1..sep2]);
        if !digits(ms_part) || !digits(counter_part) {
            return Err(bad());
        }
        // Both parts are ASCII digits of bounded width, so these parses cannot fail.
        let ms = s[..sep1].parse::<u64>().map_err(|_| bad())?;
        let counter = s[sep1 + 1..sep2].parse::<u32>().map_err(|_| bad())?;
        let device_id = s[sep2 + 1..].to_string();
        Ok(Hlc { ms, counter, device_id })
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0mw$}:{:0cw$}:{}", self.ms, self.counter, self.device_id, mw = MS_WIDTH, cw = COUNTER_WIDTH)
    }
}

impl Ord for Hlc {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.ms, self.counter, &self.device_id).cmp(&(other.ms, other.counter, &other.device_id))
    }
}

impl PartialOrd for Hlc {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What [`HlcClock::receive`] did with a remote value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receive {
    /// The local clock now stands above the remote value.
    Merged,
    /// The remote value is further ahead of the wall clock than the drift
    /// bound; the local clock was left alone. `ahead_ms` is by how much.
    Drift { ahead_ms: u64 },
}

/// The persisted part of a device's clock: the last value it issued or merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HlcState {
    pub ms: u64,
    pub counter: u32,
}

impl HlcState {
    /// Serialises as `"{ms}:{counter}"` for the `sync_state` store.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.ms, self.counter)
    }

    /// Reads back [`HlcState::encode`]'s form.
    pub fn decode(s: &str) -> Result<HlcState, Invalid> {
        let bad = || Invalid::new("hlcState", InvalidKind::WrongType { expected: "\"ms:counter\"" });
        let (ms, counter) = s.split_once(':').ok_or_else(bad)?;
        let ms = ms.parse::<u64>().map_err(|_| bad())?;
        let counter = counter.parse::<u32>().map_err(|_| bad())?;
        if ms > MAX_MS || counter > MAX_COUNTER {
            return Err(Invalid::new("hlcState", InvalidKind::OutOfRange));
        }
        Ok(HlcState { ms, counter })
    }
}

/// A device's hybrid logical clock. Pure: the caller passes the wall-clock
/// time in, so tests and the simulator control it.
#[derive(Debug, Clone)]
pub struct HlcClock {
    device_id: String,
    state: HlcState,
    max_drift_ms: u64,
}

impl HlcClock {
    pub fn new(device_id: impl Into<String>, state: HlcState, max_drift_ms: u64) -> Self {
        HlcClock { device_id: device_id.into(), state, max_drift_ms }
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    pub fn state(&self) -> HlcState {
        self.state
    }

    /// Raises the state to at least `other` (used when another tab persisted a
    /// later value of the same device's clock).
    pub fn observe_state(&mut self, other: HlcState) {
        if (other.ms, other.counter) > (self.state.ms, self.state.counter) {
            self.state = other;
        }
    }

    /// Issues the next value for a local event. Strictly greater than every
    /// value issued or merged before, whatever `now_ms` does.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        let now = now_ms.min(MAX_MS);
        if now > self.state.ms {
            self.state = HlcState { ms: now, counter: 0 };
        } else {
            self.bump();
        }
        self.current()
    }

    /// Merges a remote value seen in a pulled change.
    pub fn receive(&mut self, remote: &Hlc, now_ms: u64) -> Receive {
        let now = now_ms.min(MAX_MS);
        if remote.ms > now.saturating_add(self.max_drift_ms) {
            return Receive::Drift { ahead_ms: remote.ms - now };
        }
        let local = self.state;
        let ms = local.ms.max(remote.ms).max(now);
        let counter = if ms == local.ms && ms == remote.ms {
            local.counter.max(remote.counter).checked_add(1)
        } else if ms == local.ms {
            local.counter.checked_add(1)
        } else if ms == remote.ms {
            remote.counter.checked_add(1)
        } else {
            Some(0)
        };
        let next = match counter {
            Some(c) if c <= MAX_COUNTER => HlcState { ms, counter: c },
            // Counter exhausted within one millisecond: borrow the next one.
            _ => HlcState { ms: ms.saturating_add(1), counter: 0 },
        };
        let bound = now.saturating_add(self.max_drift_ms).max(local.ms);
        if next.ms > bound {
            return Receive::Drift { ahead_ms: next.ms - now };
        }
        self.state = next;
        Receive::Merged
    }

    /// The last value issued or merged, with this device's id.
    pub fn current(&self) -> Hlc {
        Hlc { ms: self.state.ms, counter: self.state.counter, device_id: self.device_id.clone() }
    }

    fn bump(&mut self) {
        if self.state.counter < MAX_COUNTER {
            self.state.counter += 1;
        } else {
            // Counter exhausted within one millisecond: borrow the next one.
            self.state = HlcState { ms: (self.state.ms + 1).min(MAX_MS), counter: 0 };
        }
    }
}

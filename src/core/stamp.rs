//! ChangeStamp and the total order of two versions of one record
//! (docs/PROTOCOL.md section 1): `clock` numerically, then `hlc`, then `deviceId`,
//! then `opId`, the last three as plain strings.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// The version of one write (a put or a delete).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeStamp {
    /// The record's version counter: `max(live clock, tombstone clock, 0) + 1`.
    pub clock: u64,
    /// The writer's HLC string (see [`super::hlc`]).
    pub hlc: String,
    pub device_id: String,
    /// UUID v4, the idempotency key of the write.
    pub op_id: String,
}

impl ChangeStamp {
    /// The clock a new local write gets, given the clocks of the record's live
    /// row and tombstone (either may be absent).
    pub fn next_clock(live: Option<u64>, tombstone: Option<u64>) -> u64 {
        live.unwrap_or(0).max(tombstone.unwrap_or(0)) + 1
    }
}

impl Ord for ChangeStamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.clock
            .cmp(&other.clock)
            .then_with(|| self.hlc.as_str().cmp(other.hlc.as_str()))
            .then_with(|| self.device_id.as_str().cmp(other.device_id.as_str()))
            .then_with(|| self.op_id.as_str().cmp(other.op_id.as_str()))
    }
}

impl PartialOrd for ChangeStamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

//! Last-Write-Wins between what a replica holds for a record and an incoming
//! version (docs/PROTOCOL.md section 1). Deletes are writes: a tombstone competes
//! with its stamp exactly like a live row, so a put older than a delete can
//! never bring the record back.

use super::stamp::ChangeStamp;

/// What a replica currently holds for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held<'a> {
    /// Never seen.
    Nothing,
    /// A live row with this stamp.
    Live(&'a ChangeStamp),
    /// A tombstone with this stamp.
    Tombstone(&'a ChangeStamp),
}

impl<'a> Held<'a> {
    /// The stamp that incoming versions must beat, if any. A replica can hold
    /// both a live row and an old tombstone (a put that beat a delete leaves
    /// the tombstone until GC); the greater of the two is what counts.
    pub fn from_parts(live: Option<&'a ChangeStamp>, tombstone: Option<&'a ChangeStamp>) -> Self {
        match (live, tombstone) {
            (Some(l), Some(t)) if t > l => Held::Tombstone(t),
            (Some(l), _) => Held::Live(l),
            (None, Some(t)) => Held::Tombstone(t),
            (None, None) => Held::Nothing,
        }
    }

    pub fn stamp(&self) -> Option<&'a ChangeStamp> {
        match self {
            Held::Nothing => None,
            Held::Live(s) | Held::Tombstone(s) => Some(s),
        }
    }
}

/// The outcome for an incoming version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The incoming version is greater: write it (a put writes the row, a
    /// delete removes it and writes a tombstone).
    Apply,
    /// The held version is greater: the incoming one is never applied.
    Reject,
    /// The very same version is already held (a re-delivery): nothing to do.
    AlreadyHeld,
}

/// Decides put/put, put/tombstone, tombstone/put and tombstone/tombstone by the
/// one total order of stamps.
pub fn decide(held: Held<'_>, incoming: &ChangeStamp) -> Decision {
    match held.stamp() {
        None => Decision::Apply,
        Some(current) if incoming > current => Decision::Apply,
        Some(current) if incoming == current => Decision::AlreadyHeld,
        Some(_) => Decision::Reject,
    }
}

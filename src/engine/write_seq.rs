//! The write sequence: a counter that every transaction changing app rows
//! advances, in that transaction, by one.
//!
//! Each `change` event carries the sequence numbers of the transactions it
//! reports (`seqs`), also when it comes from another tab. A reader that
//! reads the counter in its own transaction learns which transactions it
//! sees: if it has heard the notice of every number up to the counter, it
//! knows every change below its snapshot. That is what lets a live query
//! patch its last result with only the changed rows and still never show a
//! state that mixes before and after one transaction (`src/js/live_query.js`):
//! when a number is missing (a tab's notice still on its way), it reads in
//! full instead.
//!
//! The counter rides on `sync_state` rows those transactions write anyway,
//! as their `seq` field: `hlc` (local writes), `hlcRemote` (applied pulls)
//! and, for the rarer writers that touch neither, `dataSeq`. Its value is
//! the greatest of the three, and a writer reads them before it writes one,
//! so a local write pays no request for it. Every write of those rows goes
//! through here, so none drops the field. Two engines on one database
//! advance it inside their readwrite transactions, which IndexedDB runs one
//! after the other over `sync_state`, so no number is given twice.

use serde_json::Value;

use super::{STATE_HLC, STATE_HLC_REMOTE};
use crate::core::Result;
use crate::store::journal;
use crate::store::StoreTx;

/// The `sync_state` row that carries the counter for writers that write
/// neither HLC row. It sorts between `cursors` and `inFlight`, inside the
/// one range a local write reads (`super::load_write_state`).
pub const STATE_WRITE_SEQ: &str = "dataSeq";

/// The rows whose `seq` fields hold the counter.
pub const CARRIERS: [&str; 3] = [STATE_WRITE_SEQ, STATE_HLC, STATE_HLC_REMOTE];

/// The counter as of `tx` (what a reader compares with the notices it heard).
pub async fn current<T: StoreTx + ?Sized>(tx: &T) -> Result<u64> {
    Ok(journal::states_and_seq(tx, &CARRIERS).await?.1)
}

/// Writes carrier row `key` with `value` and the counter at `seq`.
pub async fn put<T: StoreTx + ?Sized>(tx: &T, key: &str, value: Value, seq: u64) -> Result<()> {
    debug_assert!(CARRIERS.contains(&key));
    journal::put_state_with_seq(tx, key, value, seq).await
}

/// Reads the counter, then writes carrier row `key` with `value` and the
/// counter advanced by one (`advance`) or kept; returns the new value.
pub async fn put_read<T: StoreTx + ?Sized>(tx: &T, key: &str, value: Value, advance: bool) -> Result<u64> {
    let seq = current(tx).await? + u64::from(advance);
    put(tx, key, value, seq).await?;
    Ok(seq)
}

/// Advances the counter for a transaction that writes neither HLC row.
pub async fn next<T: StoreTx + ?Sized>(tx: &T) -> Result<u64> {
    put_read(tx, STATE_WRITE_SEQ, Value::Null, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_carriers_sort_inside_the_range_a_local_write_reads() {
        use crate::engine::{cursors::STATE_CURSORS, STATE_IN_FLIGHT};
        for key in CARRIERS {
            assert!(STATE_CURSORS < key && key < STATE_IN_FLIGHT, "{key}");
        }
    }
}

//! Per-record sync state ("are my changes saved?"): read from the outbox
//! in the same transaction as the records, so a badge never disagrees with
//! the row it sits on.

use serde::Serialize;

use crate::core::record::{sync_state, SyncState};
use crate::core::{Pk, Result};
use crate::store::StoreTx;

/// One record's sync state and the ops behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordStatus {
    pub pk: Pk,
    pub state: SyncState,
    /// This device's unacknowledged ops on the record, oldest first.
    pub op_ids: Vec<String>,
    /// The error of a failed op.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The sync state of each of `pks`, in their order.
pub async fn record_status<T: StoreTx + ?Sized>(tx: &T, table: &str, pks: &[Pk]) -> Result<Vec<RecordStatus>> {
    let ops = tx.ops_for(table, pks).await?;
    Ok(pks
        .iter()
        .zip(ops)
        .map(|(pk, ops)| RecordStatus {
            pk: pk.clone(),
            state: sync_state(&ops),
            op_ids: ops.iter().map(|o| o.stamp.op_id.clone()).collect(),
            last_error: ops.iter().rev().find_map(|o| o.last_error.clone()),
        })
        .collect())
}

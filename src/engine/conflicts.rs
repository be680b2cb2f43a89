//! The conflict journal (`conflicts`): one row per remote change that met a
//! local write not yet acknowledged by the server, with both versions and
//! which one won. It is bounded: the oldest rows are trimmed past
//! [`CONFLICTS_KEPT`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Engine, Platform};
use crate::core::wire::OpKind;
use crate::core::{ChangeStamp, Pk, Result, SyncError};
use crate::store::{Access, Log, Store, StoreTx};

/// How many journal rows are kept.
pub const CONFLICTS_KEPT: u64 = 1_000;

/// One side of a conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub op: OpKind,
    /// The record, for a put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    pub stamp: ChangeStamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Winner {
    Local,
    Remote,
}

/// A journal row, and the payload of `sync.conflict:action:detected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// Assigned by the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub table: String,
    pub pk: Pk,
    pub local: Version,
    pub remote: Version,
    pub winner: Winner,
    /// When it was detected (ms since the epoch).
    pub at: u64,
}

/// Appends conflicts to the journal and trims it, inside the caller's transaction.
pub async fn record<T: StoreTx>(tx: &T, conflicts: &[Conflict]) -> Result<()> {
    if conflicts.is_empty() {
        return Ok(());
    }
    let rows = conflicts.iter().map(|c| serde_json::to_value(c).unwrap_or(Value::Null)).collect();
    tx.log_append(Log::Conflicts, rows).await?;
    tx.log_trim(Log::Conflicts, CONFLICTS_KEPT).await
}

impl<S: Store, P: Platform> Engine<S, P> {
    /// The most recent conflicts, newest first.
    pub async fn conflicts(&self, limit: u32) -> Result<Vec<Conflict>> {
        self.check_open()?;
        let tx = self.store.begin(Access::System, None).await?;
        let rows = tx.log_recent(Log::Conflicts, limit).await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|r| serde_json::from_value(r).map_err(|e| SyncError::Storage(format!("conflicts row: {e}"))))
            .collect()
    }
}

//! Ops the server acknowledged without applying them (`success: true` and
//! no `serverVersion`: a newer version of the record won there). The newer
//! version has not reached this device yet; when a pull brings it, the pair
//! is a conflict like any other and is journalled. Until then the lost op is
//! remembered in `sync_state` (`lostOps`, bounded), since the op itself has
//! left the outbox.

use serde_json::Value;

use super::conflicts::Version;
pub use crate::core::conflict::LostOp;
use crate::core::decode::{self, Path};
use crate::core::Result;
use crate::store::StoreTx;

/// The `sync_state` key.
pub const STATE_LOST: &str = "lostOps";
/// At most this many are remembered (the oldest are forgotten).
pub const LOST_KEPT: usize = 1_000;

pub async fn load<T: StoreTx>(tx: &T) -> Result<Vec<LostOp>> {
    let v = tx.get_state(STATE_LOST).await?;
    // `[{ table, pk, version }]` as `Serialize` wrote it; a damaged entry is dropped.
    let items = v.as_ref().and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    Ok(items
        .iter()
        .filter_map(|l| {
            Some(LostOp {
                table: l.get("table")?.as_str()?.to_string(),
                pk: decode::pk(l.get("pk")?, &Path::Root("pk")).ok()?,
                version: Version::read(l.get("version")?, &Path::Root("version")).ok()?,
            })
        })
        .collect())
}

pub async fn save<T: StoreTx>(tx: &T, mut lost: Vec<LostOp>) -> Result<()> {
    if lost.len() > LOST_KEPT {
        lost.drain(..lost.len() - LOST_KEPT);
    }
    tx.put_state(STATE_LOST, serde_json::to_value(&lost).unwrap_or(Value::Null)).await
}

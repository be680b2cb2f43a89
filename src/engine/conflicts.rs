//! The conflict journal (`conflicts`): one row per remote change that met a
//! local write not yet acknowledged by the server, with both versions and
//! which one won. It is bounded: the oldest rows are trimmed past
//! [`CONFLICTS_KEPT`].

use serde_json::Value;

use super::{Engine, Platform};
pub use crate::core::conflict::{Conflict, Version, Winner};
use crate::core::decode::{self, optional, required, Path};
use crate::core::wire::decode_op_kind;
use crate::core::{Invalid, Result};
use crate::store::rows::read_stamp;
use crate::store::{Access, Log, Store, StoreTx};

/// How many journal rows are kept.
pub const CONFLICTS_KEPT: u64 = 1_000;

impl Version {
    /// One side as `Serialize` wrote it.
    pub fn read(v: &Value, path: &Path<'_>) -> Result<Version, Invalid> {
        let op = decode_op_kind(&required(v, "op", path)?, &Path::Field(path, "op"))?;
        let stamp = read_stamp(&required(v, "stamp", path)?, &Path::Field(path, "stamp"))?;
        Ok(Version { op, payload: optional(v, "payload").filter(|p| !p.is_null()), stamp })
    }
}

impl Conflict {
    /// A journal row as `Serialize` wrote it.
    pub fn read(v: &Value) -> Result<Conflict, Invalid> {
        let root = Path::Root("conflict");
        let at = |n: &'static str| Path::Field(&root, n);
        decode::expect_object(v, &root)?;
        let winner = match decode::string(&required(v, "winner", &root)?, &at("winner"))?.as_str() {
            "local" => Winner::Local,
            "remote" => Winner::Remote,
            other => return Err(at("winner").rule(format!("unknown winner {other:?}"))),
        };
        Ok(Conflict {
            id: match optional(v, "id") {
                Some(id) => Some(decode::integer(&id, &at("id"), 0)?),
                None => None,
            },
            table: decode::string(&required(v, "table", &root)?, &at("table"))?,
            pk: decode::pk(&required(v, "pk", &root)?, &at("pk"))?,
            local: Version::read(&required(v, "local", &root)?, &at("local"))?,
            remote: Version::read(&required(v, "remote", &root)?, &at("remote"))?,
            winner,
            at: decode::integer(&required(v, "at", &root)?, &at("at"), 0)?,
        })
    }
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
        rows.iter().map(|r| Conflict::read(r).map_err(|e| crate::store::rows::damaged("conflicts", e))).collect()
    }
}

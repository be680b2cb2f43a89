//! The lease row in `sync_state` (`{ holder, expiresAt }` under
//! [`LEASE_KEY`]): which engine on a database may push. This module decides
//! whether a claim takes the row and writes it; when engines claim (the
//! Web Lock's heartbeat, the lease loop without Web Locks) is the browser
//! layer's business.
//!
//! A claim reads and writes the row in one readwrite transaction, so it is
//! atomic across connections and tabs. A push batch claims in its own
//! transaction (see [`super::push`]): the batch is marked in flight only
//! if its engine still holds the lease at that moment.

use serde::Serialize;

use super::{Engine, Platform};
use crate::core::Result;
use crate::store::{Access, Store, StoreTx};

/// The `sync_state` key of the lease.
pub const LEASE_KEY: &str = "leaderLease";
/// How long a claim holds without renewal.
pub const TTL_MS: u64 = 5_000;

/// How a claim may take the lease.
#[derive(Debug, Clone, Copy)]
pub enum Claim<'a> {
    /// Only if it is free: absent, this holder's own, expired, or held by
    /// the given holder, which said it left.
    IfFree(Option<&'a str>),
    /// Whoever holds it (the Web Lock says this engine leads now).
    TakeOver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    holder: String,
    expires_at: u64,
}

impl Row {
    /// The row as `Serialize` wrote it; `None` (a free lease) if damaged.
    fn read(v: &serde_json::Value) -> Option<Row> {
        Some(Row { holder: v.get("holder")?.as_str()?.to_string(), expires_at: v.get("expiresAt")?.as_u64()? })
    }
}

/// Whether `holder` may take the lease whose row is `row` at `now`.
fn may_take(row: Option<&serde_json::Value>, holder: &str, how: Claim<'_>, now: u64) -> bool {
    match (row.and_then(Row::read), how) {
        (_, Claim::TakeOver) | (None, _) => true,
        (Some(r), Claim::IfFree(released)) => {
            r.holder == holder || r.expires_at <= now || released == Some(r.holder.as_str())
        }
    }
}

/// Claims the lease for `holder` inside `tx`, whose lease row reads `row`:
/// writes it with a fresh expiry and answers `true`, or leaves it and
/// answers `false` when another engine holds it.
pub async fn claim_in<T: StoreTx>(
    tx: &T,
    row: Option<&serde_json::Value>,
    holder: &str,
    how: Claim<'_>,
    now: u64,
) -> Result<bool> {
    if !may_take(row, holder, how, now) {
        return Ok(false);
    }
    let row = Row { holder: holder.to_string(), expires_at: now + TTL_MS };
    tx.put_state(LEASE_KEY, serde_json::to_value(&row).unwrap_or_default()).await?;
    Ok(true)
}

/// Takes or renews the lease for `holder` in a transaction of its own;
/// `true` if `holder` holds it now.
pub async fn claim<S: Store, P: Platform>(engine: &Engine<S, P>, holder: &str, how: Claim<'_>) -> Result<bool> {
    if engine.is_closed() {
        return Ok(false);
    }
    let now = engine.platform().now_ms();
    let tx = engine.store().begin(Access::System, None).await?;
    let row = tx.get_state(LEASE_KEY).await?;
    let held = claim_in(&tx, row.as_ref(), holder, how, now).await?;
    tx.commit().await?;
    Ok(held)
}

/// When the lease runs out (`None`: no engine has taken it yet).
pub async fn expiry<S: Store, P: Platform>(engine: &Engine<S, P>) -> Result<Option<u64>> {
    let tx = engine.store().begin(Access::State, None).await?;
    let row = tx.get_state(LEASE_KEY).await?.and_then(|v| Row::read(&v));
    tx.commit().await?;
    Ok(row.map(|r| r.expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(holder: &str, expires_at: u64) -> serde_json::Value {
        serde_json::json!({ "holder": holder, "expiresAt": expires_at })
    }

    #[test]
    fn a_live_lease_of_another_holder_is_not_free() {
        let theirs = row("b", 2_000);
        assert!(!may_take(Some(&theirs), "a", Claim::IfFree(None), 1_000));
        assert!(may_take(Some(&theirs), "a", Claim::IfFree(None), 2_000), "expired");
        assert!(may_take(Some(&theirs), "a", Claim::IfFree(Some("b")), 1_000), "b said it left");
        assert!(!may_take(Some(&theirs), "a", Claim::IfFree(Some("c")), 1_000));
        assert!(may_take(Some(&theirs), "a", Claim::TakeOver, 1_000));
    }

    #[test]
    fn an_absent_own_or_damaged_row_is_free() {
        assert!(may_take(None, "a", Claim::IfFree(None), 1_000));
        assert!(may_take(Some(&row("a", 2_000)), "a", Claim::IfFree(None), 1_000));
        assert!(may_take(Some(&serde_json::json!({ "holder": 3 })), "a", Claim::IfFree(None), 1_000));
    }
}

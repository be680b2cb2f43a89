//! The engine's journals (`sync_runs`, `conflicts`: rows keyed by an
//! auto-increment `id`) and its `sync_state` rows (`{ key, value }`), above
//! the storage trait.

use serde_json::{json, Value};

use super::{Key, KeyRange, Log, Row, Scan, StoreTx, SYNC_STATE};
use crate::core::decode::WireValue;
use crate::core::Result;

pub async fn append<T: StoreTx + ?Sized>(tx: &T, log: Log, rows: Vec<Value>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    tx.put(log.store_name(), T::Rec::encode(&rows)?).await
}

/// The first (`newest`: the last) `limit` rows of a journal.
pub async fn read<T: StoreTx + ?Sized>(tx: &T, log: Log, newest: bool, limit: u32) -> Result<Vec<Value>> {
    let mut scan = Scan::default().limit(limit);
    scan.reverse = newest;
    tx.scan(log.store_name(), &scan).await?.iter().map(Row::json).collect()
}

/// Removes the oldest rows so that at most `keep` remain.
pub async fn trim<T: StoreTx + ?Sized>(tx: &T, log: Log, keep: u64) -> Result<()> {
    let store = log.store_name();
    let n = tx.count_in(store, None, &KeyRange::all()).await?;
    if n <= keep {
        return Ok(());
    }
    let excess = (n - keep).min(u32::MAX as u64) as u32;
    let keys = tx.scan_keys(store, &Scan::default().limit(excess)).await?;
    match keys.last() {
        Some(last) => tx.delete(store, vec![KeyRange::below(last.clone(), false)]).await,
        None => Ok(()),
    }
}

/// Several state rows, in the order of `keys`: one scan over the keys'
/// range (the state rows are few and small).
pub async fn states<T: StoreTx + ?Sized>(tx: &T, keys: &[&str]) -> Result<Vec<Option<Value>>> {
    Ok(states_and_seq(tx, keys).await?.0)
}

/// [`states`], and the greatest `seq` field among the rows read (0 when
/// none has one): the write sequence rides on the rows that carry it
/// (`engine::write_seq`).
pub async fn states_and_seq<T: StoreTx + ?Sized>(tx: &T, keys: &[&str]) -> Result<(Vec<Option<Value>>, u64)> {
    let (Some(lo), Some(hi)) = (keys.iter().min(), keys.iter().max()) else {
        return Ok((Vec::new(), 0));
    };
    let range = KeyRange::between(Key::from(*lo), Key::from(*hi));
    let mut found: Vec<Option<Value>> = vec![None; keys.len()];
    let mut seq = 0u64;
    for row in tx.scan(SYNC_STATE, &Scan::range(range)).await? {
        let Some(key) = row.field("key").and_then(|k| k.as_string()) else { continue };
        if keys.contains(&key.as_str()) {
            let value = row.field("value").map(|v| v.json()).transpose()?.unwrap_or(Value::Null);
            for (slot, _) in found.iter_mut().zip(keys).filter(|(_, k)| **k == key) {
                *slot = Some(value.clone());
            }
            if let Some(n) = row.field("seq").and_then(|v| v.as_f64()) {
                seq = seq.max(n as u64);
            }
        }
    }
    Ok((found, seq))
}

/// Writes a state row that carries the write sequence `seq` beside its value.
pub async fn put_state_with_seq<T: StoreTx + ?Sized>(tx: &T, key: &str, value: Value, seq: u64) -> Result<()> {
    tx.put(SYNC_STATE, T::Rec::encode(&[json!({ "key": key, "value": value, "seq": seq })])?).await
}

pub async fn put_state<T: StoreTx + ?Sized>(tx: &T, key: &str, value: Value) -> Result<()> {
    tx.put(SYNC_STATE, T::Rec::encode(&[json!({ "key": key, "value": value })])?).await
}

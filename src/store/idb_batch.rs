//! Reading many keys of one store or index in few requests.
//!
//! A batch write must know, for every key it touches, the live row, the
//! tombstone and the queued ops. One `get` per key per store costs three
//! requests per record. Instead, for a batch of more than a few keys, the
//! reader lists the keys in the range the batch spans, at most one more than
//! it wants; when the range is empty (the common case for new records) that
//! one request answers every key, and when it holds no more rows than wanted
//! keys one `getAll` fetches them all. Only a range crowded with unrelated
//! rows falls back to one request per key. (A bounded listing, unlike
//! `count`, stays cheap however many rows the range holds.)

use std::collections::HashMap;

use rexie::KeyRange;
use wasm_bindgen::JsValue;

use super::idb::storage;
use crate::core::{Pk, Result};

/// Batches up to this size read key by key.
const SMALL_BATCH: usize = 8;
/// A range with more rows than this many per key is read key by key (the
/// probe lists at most this many keys per wanted key, plus one).
const CROWDED_FACTOR: u32 = 1;

/// A store or an index to read from.
pub enum Source {
    Store(rexie::Store),
    Index(rexie::StoreIndex),
}

impl Source {
    /// How many rows `range` holds, counting no further than `limit`.
    async fn count_upto(&self, range: KeyRange, limit: u32) -> Result<u32> {
        match self {
            Source::Store(s) => s.get_all_keys(Some(range), Some(limit)).await,
            Source::Index(i) => i.get_all_keys(Some(range), Some(limit)).await,
        }
        .map(|keys| keys.len() as u32)
        .map_err(|e| storage("getAllKeys", e))
    }

    async fn get_all(&self, range: KeyRange) -> Result<Vec<JsValue>> {
        match self {
            Source::Store(s) => s.get_all(Some(range), None).await,
            Source::Index(i) => i.get_all(Some(range), None).await,
        }
        .map_err(|e| storage("getAll", e))
    }
}

/// How keys of this source are built from a primary key, and read back.
pub struct Keys<'a> {
    /// The IndexedDB key for a record's pk (the pk, or `[table, pk]`).
    pub key: &'a dyn Fn(&Pk) -> JsValue,
    /// The pk a stored value belongs to.
    pub pk_of: &'a dyn Fn(&JsValue) -> Option<Pk>,
}

fn range(lo: JsValue, hi: JsValue) -> Result<KeyRange> {
    KeyRange::bound(&lo, &hi, None, None).map_err(|e| storage("key range", e))
}

/// Every stored value for each of `pks` (several for an index), by pk.
pub async fn read_many(source: &Source, pks: &[Pk], keys: Keys<'_>) -> Result<HashMap<Pk, Vec<JsValue>>> {
    let mut out: HashMap<Pk, Vec<JsValue>> = HashMap::with_capacity(pks.len());
    let (Some(lo), Some(hi)) = (pks.iter().min(), pks.iter().max()) else {
        return Ok(out);
    };
    if pks.len() > SMALL_BATCH {
        let few = CROWDED_FACTOR.saturating_mul(pks.len() as u32);
        let n = source.count_upto(range((keys.key)(lo), (keys.key)(hi))?, few.saturating_add(1)).await?;
        if n == 0 {
            return Ok(out);
        }
        if n <= few {
            let wanted: std::collections::HashSet<&Pk> = pks.iter().collect();
            for v in source.get_all(range((keys.key)(lo), (keys.key)(hi))?).await? {
                if let Some(pk) = (keys.pk_of)(&v).filter(|pk| wanted.contains(pk)) {
                    out.entry(pk).or_default().push(v);
                }
            }
            return Ok(out);
        }
    }
    match source {
        // A store holds one value per key: a plain get.
        Source::Store(store) => {
            let reads = pks.iter().map(|pk| store.get((keys.key)(pk)));
            for (pk, row) in pks.iter().zip(crate::engine::join::join_all(reads).await) {
                if let Some(v) = row.map_err(|e| storage("get", e))? {
                    out.insert(pk.clone(), vec![v]);
                }
            }
        }
        Source::Index(_) => {
            let reads = pks.iter().map(|pk| {
                let r = KeyRange::only(&(keys.key)(pk));
                async move { source.get_all(r.map_err(|e| storage("key range", e))?).await }
            });
            for (pk, rows) in pks.iter().zip(crate::engine::join::try_join_all(reads).await?) {
                if !rows.is_empty() {
                    out.insert(pk.clone(), rows);
                }
            }
        }
    }
    Ok(out)
}

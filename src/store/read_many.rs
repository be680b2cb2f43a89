//! Reading many keys of one store or index in few requests.
//!
//! A batch write must know, for every key it touches, the live row, the
//! tombstone and the queued ops. One `get` per key per store costs three
//! requests per record. Instead, for a batch of more than a few keys, the
//! reader lists the keys in the range the batch spans, at most one more than
//! it wants; when the range is empty (the common case for new records) that
//! one request answers every key, and when it holds no more rows than wanted
//! keys one scan fetches them all. Only a range crowded with unrelated rows
//! falls back to one request per key. (A bounded listing, unlike `count`,
//! stays cheap however many rows the range holds.)

use std::collections::{HashMap, HashSet};

use super::{Key, KeyRange, Scan, StoreTx};
use crate::core::{Pk, Result};

/// Batches up to this size read key by key.
const SMALL_BATCH: usize = 8;
/// A range with more rows than this many per key is read key by key (the
/// probe lists at most this many keys per wanted key, plus one).
const CROWDED_FACTOR: u32 = 1;

/// Where to read and how a record's pk maps to keys there.
pub struct Source<'a, R> {
    pub store: &'a str,
    /// An index of the store to read instead of its own keys.
    pub index: Option<&'a str>,
    /// The key for a record's pk (the pk, or `[table, pk]`).
    pub key: &'a dyn Fn(&Pk) -> Key,
    /// The pk a stored row belongs to.
    pub pk_of: &'a dyn Fn(&R) -> Option<Pk>,
}

/// Every stored row for each of `pks` (several through an index), by pk.
pub async fn read_many<T: StoreTx + ?Sized>(
    tx: &T,
    pks: &[Pk],
    src: Source<'_, T::Rec>,
) -> Result<HashMap<Pk, Vec<T::Rec>>> {
    let mut out: HashMap<Pk, Vec<T::Rec>> = HashMap::with_capacity(pks.len());
    let (Some(lo), Some(hi)) = (pks.iter().min(), pks.iter().max()) else {
        return Ok(out);
    };
    let span = || KeyRange::between((src.key)(lo), (src.key)(hi));
    if pks.len() > SMALL_BATCH {
        let few = CROWDED_FACTOR.saturating_mul(pks.len() as u32);
        let probe = Scan { index: src.index, range: span(), limit: Some(few.saturating_add(1)), ..Scan::default() };
        let n = tx.scan_keys(src.store, &probe).await?.len() as u32;
        if n == 0 {
            return Ok(out);
        }
        if n <= few {
            let wanted: HashSet<&Pk> = pks.iter().collect();
            let all = Scan { index: src.index, range: span(), ..Scan::default() };
            for row in tx.scan(src.store, &all).await? {
                if let Some(pk) = (src.pk_of)(&row).filter(|pk| wanted.contains(pk)) {
                    out.entry(pk).or_default().push(row);
                }
            }
            return Ok(out);
        }
    }
    match src.index {
        // A store holds one row per key: a plain get.
        None => {
            let keys: Vec<Key> = pks.iter().map(|pk| (src.key)(pk)).collect();
            for (pk, row) in pks.iter().zip(tx.get(src.store, &keys).await?) {
                if let Some(row) = row {
                    out.insert(pk.clone(), vec![row]);
                }
            }
        }
        Some(index) => {
            let reads = pks.iter().map(|pk| {
                let scan = Scan::index(index, KeyRange::only((src.key)(pk)));
                async move { tx.scan(src.store, &scan).await }
            });
            for (pk, rows) in pks.iter().zip(crate::core::join::try_join_all(reads).await?) {
                if !rows.is_empty() {
                    out.insert(pk.clone(), rows);
                }
            }
        }
    }
    Ok(out)
}

//! Tombstones above the storage trait: one row per deleted record, keyed by
//! `[tableName, pk]`.

use super::read_many::{read_many, Source};
use super::{Key, KeyRange, Row, Scan, StoreTx, Tombstone, TOMBSTONES};
use crate::core::decode::{self, Path, WireValue};
use crate::core::{Pk, Result};

/// The key of a record's tombstone (and of its ops in `by_record`).
pub fn record_key(table: &str, pk: &Pk) -> Key {
    Key::pair(table, pk)
}

/// The `pk` field of a tombstone or op row.
pub fn pk_field<R: WireValue>(row: &R) -> Option<Pk> {
    decode::pk(&row.field("pk")?, &Path::Root("pk")).ok()
}

/// The tombstone of each pk of `table`, in the order of `pks`.
pub async fn get<T: StoreTx + ?Sized>(tx: &T, table: &str, pks: &[Pk]) -> Result<Vec<Option<Tombstone>>> {
    let key = |pk: &Pk| record_key(table, pk);
    let src = Source { store: TOMBSTONES, index: None, key: &key, pk_of: &pk_field::<T::Rec> };
    let mut found = read_many(tx, pks, src).await?;
    let mut out = Vec::with_capacity(pks.len());
    for pk in pks {
        out.push(match found.remove(pk).and_then(|mut v| v.pop()) {
            Some(row) => Some(row.decode_tombstone()?),
            None => None,
        });
    }
    Ok(out)
}

pub async fn put<T: StoreTx + ?Sized>(tx: &T, tombstones: Vec<Tombstone>) -> Result<()> {
    if tombstones.is_empty() {
        return Ok(());
    }
    tx.put(TOMBSTONES, T::Rec::encode(&tombstones)?).await
}

pub async fn delete<T: StoreTx + ?Sized>(tx: &T, table: &str, pks: &[Pk]) -> Result<()> {
    tx.delete(TOMBSTONES, pks.iter().map(|pk| KeyRange::only(record_key(table, pk))).collect()).await
}

/// Up to `limit` tombstones deleted before `before_ms` (local GC; the scan
/// reads the store, which GC keeps small).
pub async fn older_than<T: StoreTx + ?Sized>(tx: &T, before_ms: u64, limit: u32) -> Result<Vec<Tombstone>> {
    let mut out = Vec::new();
    for row in tx.scan(TOMBSTONES, &Scan::default()).await? {
        let t = row.decode_tombstone()?;
        if t.deleted_at < before_ms {
            out.push(t);
            if out.len() >= limit as usize {
                break;
            }
        }
    }
    Ok(out)
}

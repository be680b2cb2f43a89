//! The app tables above the storage trait: records by primary key (read in
//! few requests, see [`super::read_many`]) and key lists. Queries are in
//! [`super::query`].

use super::read_many::{read_many, Source};
use super::{Key, Record, Scan, StoreTx};
use crate::core::{Pk, Result, SyncError};

/// The record stored under each pk, in the order of `pks`.
pub async fn get<T: StoreTx + ?Sized>(tx: &T, table: &str, pks: &[Pk]) -> Result<Vec<Option<T::Rec>>> {
    let key_path = tx.schema().key_path(table)?;
    let pk_of = |r: &T::Rec| Record::pk(r, &key_path).ok();
    let src = Source { store: table, index: None, key: &|pk: &Pk| Key::from(pk), pk_of: &pk_of };
    let found = read_many(tx, pks, src).await?;
    // By position, so a key asked for twice gets its record twice.
    Ok(pks.iter().map(|pk| found.get(pk).and_then(|v| v.last().cloned())).collect())
}

/// Every primary key of a table, in key order.
pub async fn keys<T: StoreTx + ?Sized>(tx: &T, table: &str) -> Result<Vec<Pk>> {
    let keys = tx.scan_keys(table, &Scan::default()).await?;
    keys.iter()
        .map(|k| {
            k.pk().ok_or_else(|| SyncError::Storage(format!("table {table:?} holds a key that is not a primary key")))
        })
        .collect()
}

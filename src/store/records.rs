//! The app tables above the storage trait: records by primary key (read in
//! few requests, see [`super::read_many`]), index queries and key lists.

use super::read_many::{read_many, Source};
use super::{Key, KeyRange, Query, Record, Scan, StoreTx};
use crate::core::{Pk, Result, SyncError};

/// The record stored under each pk, in the order of `pks`.
pub async fn get<T: StoreTx + ?Sized>(tx: &T, table: &str, pks: &[Pk]) -> Result<Vec<Option<T::Rec>>> {
    let key_path = tx.schema().key_path(table)?;
    let pk_of = |r: &T::Rec| Record::pk(r, &key_path).ok();
    let src = Source { store: table, index: None, key: &|pk: &Pk| Key::from(pk), pk_of: &pk_of };
    let mut found = read_many(tx, pks, src).await?;
    Ok(pks.iter().map(|pk| found.remove(pk).and_then(|mut v| v.pop())).collect())
}

/// The rows of a table, or of the rows whose index field equals a value, in
/// index order, at most `limit`.
pub async fn query<T: StoreTx + ?Sized>(tx: &T, table: &str, query: &Query) -> Result<Vec<T::Rec>> {
    let range = query.equals.as_ref().map_or_else(KeyRange::all, |eq| KeyRange::only(eq.into()));
    let scan = Scan { index: query.index.as_deref(), range, limit: query.limit, ..Scan::default() };
    tx.scan(table, &scan).await
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

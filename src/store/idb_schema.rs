//! Bringing the IndexedDB database to the declared schema, with rexie.
//!
//! Opening compares the database with the schema on the store's own
//! connection (`idb_connection.rs`), so a start without a schema change
//! opens the database once. Only when a store or an index is missing or
//! surplus does the store close that connection and upgrade the database
//! to the next version through rexie, then open it again. Stores that the
//! config no longer declares are kept, with their rows: another tab may
//! still run an app version that uses them.

use idb::{Database, KeyPath as IdbKeyPath, TransactionMode};
use rexie::{Index, ObjectStore, Rexie};

use super::idb_error::storage;
use super::schema::{KeyPath, Schema, StoreSpec};
use crate::core::{Result, SyncError};

/// Whether `db` lacks a store or an index `schema` declares, or holds an
/// index it does not (an index's name is its key path, so a new key path
/// is a new name); a table whose primary key changed is refused.
pub async fn needs_upgrade(db: &Database, schema: &Schema) -> Result<bool> {
    let wanted = schema.stores();
    let existing = db.store_names();
    let mut upgrade = wanted.iter().any(|s| !existing.contains(&s.name));
    let present: Vec<&StoreSpec> = wanted.iter().filter(|s| existing.contains(&s.name)).collect();
    if present.is_empty() {
        return Ok(upgrade);
    }
    let names: Vec<&str> = present.iter().map(|s| s.name.as_str()).collect();
    let tx = db.transaction(&names, TransactionMode::ReadOnly).map_err(|e| storage("inspect", e))?;
    for spec in &present {
        let store = tx.object_store(&spec.name).map_err(|e| storage("inspect", e))?;
        if let (KeyPath::Field(want), Ok(Some(IdbKeyPath::Single(have)))) = (&spec.key_path, store.key_path()) {
            if want != &have {
                return Err(SyncError::invalid(
                    format!("tables.{}.primaryKey", spec.name),
                    format!("the database keys this table by {have:?}; it cannot change to {want:?}"),
                ));
            }
        }
        let mut have = Vec::new();
        for name in store.index_names() {
            let index = store.index(&name).map_err(|e| storage("inspect", e))?;
            have.push((name, index.unique(), index.multi_entry()));
        }
        have.sort_unstable();
        let mut want: Vec<(String, bool, bool)> =
            spec.indexes.iter().map(|i| (i.name.clone(), i.unique, i.multi_entry)).collect();
        want.sort_unstable();
        upgrade |= have != want;
    }
    let _ = tx.await;
    Ok(upgrade)
}

/// Upgrades the database `name`, which holds the stores `existing` at
/// `version` and has no other open connection of this store, to
/// `version + 1` with `schema`'s stores and indexes.
pub async fn upgrade(name: &str, schema: &Schema, version: u32, existing: &[String]) -> Result<()> {
    let wanted = schema.stores();
    let mut builder = Rexie::builder(name).version(version + 1);
    for spec in &wanted {
        builder = builder.add_object_store(object_store(spec));
    }
    for other in existing.iter().filter(|n| !wanted.iter().any(|s| &s.name == *n)) {
        // Kept with its rows; its indexes belong to whichever version declares it.
        builder = builder.add_object_store(ObjectStore::new(other));
    }
    builder.build().await.map_err(|e| storage("upgrade", e))?.close();
    Ok(())
}

fn object_store(spec: &StoreSpec) -> ObjectStore {
    let mut s = ObjectStore::new(&spec.name).auto_increment(spec.auto_increment);
    s = match &spec.key_path {
        KeyPath::Field(f) => s.key_path(f),
        KeyPath::Compound(fs) => s.key_path_array(fs.iter().map(String::as_str)),
    };
    for spec in &spec.indexes {
        let index = match &spec.key_path {
            KeyPath::Field(f) => Index::new(&spec.name, f),
            KeyPath::Compound(fs) => Index::new_array(&spec.name, fs.iter().map(String::as_str)),
        };
        s = s.add_index(index.unique(spec.unique).multi_entry(spec.multi_entry));
    }
    s
}

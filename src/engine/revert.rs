//! `discardFailed` gives a record back the server's version.
//!
//! A dead-lettered op was never applied on the server, yet the device's row
//! still holds its version. Discarding the op must not leave that version
//! here forever (no replica silently disagrees): the discarded records are
//! noted in `sync_state.revert`, and before its next push the leader pulls
//! their tables from 0 (a rescan request, so the purge watermark does not
//! stop it) and, in one transaction, sets each noted record that has no
//! other op queued to what the server holds: its row, its tombstone, or
//! nothing when the server never had it. A record with an op still queued
//! (written again meanwhile, or an older failed op of it retried) waits
//! until that op has settled: the row may still hold the discarded version
//! (an older op does not move it), and once nothing is queued the server's
//! version is the truth whether the op won or not. Until the revert has
//! run (offline, or no provider), the row stays as it is and the note is
//! kept.
//!
//! This costs one full pull of each affected table; discards are rare.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::apply::remote_row;
use super::events::ChangeSource;
use super::provider::Provider;
use super::pull::check_page;
use super::{Engine, Platform};
use crate::core::decode::{self, Path};
use crate::core::wire::{OpKind, PullRequest, SyncChange};
use crate::core::{Pk, Result, SyncError};
use crate::store::{Access, Store, StoreTx, Tombstone};

/// The `sync_state` key.
pub const STATE_REVERT: &str = "revert";

/// A record to give back the server's version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RevertKey {
    pub table: String,
    pub pk: Pk,
}

async fn load<T: StoreTx>(tx: &T) -> Result<Vec<RevertKey>> {
    let row = tx.get_state(STATE_REVERT).await?;
    // `[{ table, pk }]` as `Serialize` wrote it; a damaged entry is dropped.
    let items = row.as_ref().and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    Ok(items
        .iter()
        .filter_map(|k| {
            let table = k.get("table")?.as_str()?.to_string();
            Some(RevertKey { table, pk: decode::pk(k.get("pk")?, &Path::Root("pk")).ok()? })
        })
        .collect())
}

async fn save<T: StoreTx>(tx: &T, keys: &[RevertKey]) -> Result<()> {
    tx.put_state(STATE_REVERT, serde_json::to_value(keys).unwrap_or(Value::Null)).await
}

/// Notes records to revert, in the caller's transaction.
pub(crate) async fn note<T: StoreTx>(tx: &T, keys: Vec<RevertKey>) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut all = load(tx).await?;
    for k in keys {
        if !all.contains(&k) {
            all.push(k);
        }
    }
    save(tx, &all).await
}

impl<S: Store, P: Platform> Engine<S, P> {
    /// Gives the noted records the server's version (see the module docs).
    /// Returns how many records were reverted.
    pub async fn revert_discarded<V: Provider<Rec = S::Rec>>(&self, provider: &V) -> Result<u64> {
        let known = self.table_names();
        let tx = self.store.begin(Access::System, None).await?;
        let mut ready = Vec::new();
        for k in load(&tx).await?.into_iter().filter(|k| known.contains(&k.table)) {
            // An op still queued for the record: reverted once it has settled.
            let ops = tx.ops_for(&k.table, std::slice::from_ref(&k.pk)).await?;
            if ops.iter().all(Vec::is_empty) {
                ready.push(k);
            }
        }
        tx.commit().await?;
        let tables: Vec<String> = {
            let set: HashSet<&str> = ready.iter().map(|k| k.table.as_str()).collect();
            set.into_iter().map(str::to_string).collect()
        };
        if tables.is_empty() {
            return Ok(0);
        }
        let wanted: HashSet<(&str, &Pk)> = ready.iter().map(|k| (k.table.as_str(), &k.pk)).collect();
        let mut server: HashMap<(String, Pk), SyncChange<S::Rec>> = HashMap::new();
        for table in &tables {
            let only = vec![table.clone()];
            let mut cursor = 0;
            loop {
                let req = PullRequest {
                    scope: self.scope(),
                    cursor,
                    limit: self.config.pull_limit as u64,
                    tables: Some(only.clone()),
                    rescan: true,
                };
                let page = provider.pull(req).await?;
                check_page(&page, cursor, &only).map_err(SyncError::BadAnswer)?;
                cursor = page.next_cursor;
                for c in page.changes {
                    if wanted.contains(&(c.table_name.as_str(), &c.pk)) {
                        server.insert((c.table_name.clone(), c.pk.clone()), c);
                    }
                }
                if !page.has_more {
                    break;
                }
            }
        }

        let tx = self.store.begin(Access::All, None).await?;
        let result = async {
            let changed = self.write_reverts(&tx, &tables, &mut server).await?;
            let seqs = match changed.is_empty() {
                true => Vec::new(),
                false => vec![super::write_seq::next(&tx).await?],
            };
            Ok::<_, SyncError>((changed, seqs))
        }
        .await;
        let (changed, seqs) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.abort().await;
                return Err(e);
            }
        };
        tx.commit().await?;
        let n = changed.iter().map(|(_, pks)| pks.len() as u64).sum();
        let events = self.announce(changed, ChangeSource::Remote, &seqs);
        self.emit_all(events);
        Ok(n)
    }

    async fn write_reverts(
        &self,
        tx: &S::Tx,
        tables: &[String],
        server: &mut HashMap<(String, Pk), SyncChange<S::Rec>>,
    ) -> Result<Vec<(String, Vec<Pk>)>> {
        // Read again in this transaction: a discard may have added keys.
        let noted = load(tx).await?;
        let (due, mut later): (Vec<RevertKey>, Vec<RevertKey>) =
            noted.into_iter().partition(|k| tables.contains(&k.table));
        let now = self.platform.now_ms();
        let mut changed: Vec<(String, Vec<Pk>)> = Vec::new();
        for table in tables {
            let pks: Vec<Pk> = due.iter().filter(|k| &k.table == table).map(|k| k.pk.clone()).collect();
            let order_key = self.table(table)?.order_key;
            let (ops, rows) = crate::try_join!(tx.ops_for(table, &pks), tx.get_records(table, &pks))?;
            let mut puts = Vec::new();
            let mut removes = Vec::new();
            let mut tombs = Vec::new();
            let mut untombs = Vec::new();
            let mut done = Vec::new();
            for ((pk, ops), row) in pks.into_iter().zip(ops).zip(rows) {
                if !ops.is_empty() {
                    // An op is queued for it (written again, or an older
                    // failed op retried): once that op has settled the
                    // server's version is the truth; revert then.
                    later.push(RevertKey { table: table.clone(), pk });
                    continue;
                }
                match server.remove(&(table.clone(), pk.clone())) {
                    Some(c) if c.op == OpKind::Put => {
                        if let Some(payload) = &c.payload {
                            puts.push(remote_row(payload, &c.stamp, row.as_ref(), order_key));
                            untombs.push(pk.clone());
                        }
                    }
                    Some(c) => {
                        removes.push(pk.clone());
                        tombs.push(Tombstone {
                            table_name: table.clone(),
                            pk: pk.clone(),
                            stamp: c.stamp,
                            deleted_at: now,
                        });
                    }
                    None => removes.push(pk.clone()),
                }
                done.push(pk);
            }
            crate::try_join!(
                tx.put_records(table, puts),
                tx.delete_records(table, &removes),
                tx.put_tombstones(tombs),
                tx.delete_tombstones(table, &untombs),
            )?;
            if !done.is_empty() {
                changed.push((table.clone(), done));
            }
        }
        save(tx, &later).await?;
        Ok(changed)
    }
}

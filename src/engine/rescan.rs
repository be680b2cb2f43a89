//! Rescan, after `CURSOR_EXPIRED`: the server has purged history past the
//! cursor, so the device rebuilds its state from the server's whole state.
//!
//! Every page from cursor 0 is staged in memory first (each checked like any
//! page; progress is reported), then swapped in with ONE transaction:
//! - each staged change is applied by the usual LWW rules, so local
//!   tombstones still beat older puts and unsynced local writes (the outbox)
//!   stay on top: read-your-writes;
//! - a local row the server no longer has (its delete was purged there) is
//!   removed, unless an unsynced local op is about it;
//! - the cursor becomes the server's.
//!
//! The app sees the old state until the swap commits, then one `change`
//! event per table; never an empty or half-filled table. Pending ops are
//! untouched and pushed afterwards. A failure before the swap changes nothing.
//!
//! A rescan covers the tables of the pull that needed it (those at the
//! lowest cursor, see [`super::cursors`]): all of them usually, only the
//! new one when a table added later is backfilled.

use std::collections::{HashMap, HashSet};

use super::apply::Advance;
use super::events::{Event, ProgressEvent};
use super::provider::Provider;
use super::pull::PullStep;
use super::{Engine, Platform};
use crate::core::{Pk, Result, SyncError};
use crate::store::{Access, Store, StoreTx};

impl<S: Store, P: Platform> Engine<S, P> {
    /// Rebuilds the local state from the server's (see the module docs).
    pub async fn rescan<V: Provider<Rec = S::Rec>>(&self, provider: &V) -> Result<PullStep> {
        self.check_open()?;
        // The tables being pulled (those at the lowest cursor; usually all):
        // the others' cursors are not in question.
        let tables = self.rescan_tables();
        let mut staged = Vec::new();
        let mut cursor = 0;
        loop {
            let page = self.fetch(provider, cursor, true).await?;
            self.emit_all(vec![Event::Progress(ProgressEvent {
                applied: page.changes.len() as u64,
                remaining: page.remaining,
                cursor: page.next_cursor,
            })]);
            cursor = page.next_cursor;
            staged.extend(page.changes);
            if !page.has_more {
                break;
            }
        }
        let received = staged.len() as u64;

        let tx = self.store.begin(Access::All, None).await?;
        let swapped = async {
            // What the server no longer has: rows absent from its state and
            // without an unsynced local op.
            let reads = tables.iter().map(|t| tx.keys(t));
            let (keys, ops) = crate::try_join!(crate::core::join::try_join_all(reads), tx.list_ops(None, u32::MAX))?;
            let on_server: HashSet<(&str, &Pk)> = staged.iter().map(|c| (c.table_name.as_str(), &c.pk)).collect();
            let with_ops: HashSet<(&str, &Pk)> = ops.iter().map(|o| (o.table_name.as_str(), &o.pk)).collect();
            let mut gone: HashMap<&str, Vec<Pk>> = HashMap::new();
            for (table, pks) in tables.iter().zip(&keys) {
                for pk in pks {
                    let k = (table.as_str(), pk);
                    if !on_server.contains(&k) && !with_ops.contains(&k) {
                        gone.entry(table.as_str()).or_default().push(pk.clone());
                    }
                }
            }
            let applied = self.apply_in(&tx, &staged, Advance::Set { tables: &tables, to: cursor }, Vec::new()).await?;
            let removals = gone.iter().map(|(t, pks)| tx.delete_records(t, pks));
            crate::core::join::try_join_all(removals).await?;
            let applied = match applied {
                // Rows removed here are a change of this transaction too.
                Some((mut applied, clock, cursors)) if applied.seqs.is_empty() && !gone.is_empty() => {
                    applied.seqs.push(super::write_seq::next(&tx).await?);
                    Some((applied, clock, cursors))
                }
                other => other,
            };
            Ok::<_, SyncError>((applied, gone.into_iter().map(|(t, p)| (t.to_string(), p)).collect::<Vec<_>>()))
        }
        .await;
        let (Some((mut applied, clock, cursors)), gone) = (match swapped {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.abort().await;
                return Err(e);
            }
        }) else {
            return Err(SyncError::Storage("rescan swap was not applied".into()));
        };
        tx.commit().await?;
        *self.hlc.borrow_mut() = clock;
        self.set_cursor_hint(cursors, None);
        for (table, pks) in gone {
            applied.applied += pks.len() as u64;
            match applied.changed.iter_mut().find(|(t, _)| *t == table) {
                Some((_, list)) => list.extend(pks),
                None => applied.changed.push((table, pks)),
            }
        }
        // Other tables may still be behind (a backfill): pull on from the
        // lowest cursor then.
        let (low, level) = self.pull_progress();
        if level {
            self.mark_bootstrapped().await?;
        }
        let step = PullStep {
            received,
            applied: applied.applied,
            conflicts: applied.conflicts.len() as u64,
            has_more: !level,
            cursor: low,
            stale: false,
        };
        self.after_apply(applied, received, cursor, "rescan").await;
        Ok(step)
    }
}

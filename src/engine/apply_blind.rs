//! The bootstrap fast path: a page applied without reading the records first.
//!
//! While a database has never captured a local write, everything in it came
//! from server changes applied in version order (pages, batches, rescans),
//! and each newer server version of a record beats the one before it (the
//! server assigns versions only to LWW winners). A page then needs no
//! comparison: each change is written as it comes. That saves the round trip
//! of reading a page's rows before writing them, which is most of what a
//! bootstrap costs beyond the writes themselves.
//!
//! The condition is checked inside the page's own transaction: the reads of
//! the `hlc` row (set by every local write, never by applies) and of the
//! cursor are issued before the writes, so they see the state before them.
//! If a write was captured meanwhile (another tab) or the cursor moved, the
//! transaction is aborted and the page goes through the careful path.
//! A page that names a record twice also goes the careful way. A put over an
//! older tombstone leaves the tombstone (its stamp is lower, so the live row
//! is what counts) for local GC, rather than spending a request per record.

use std::collections::HashSet;

use serde_json::Value;

use super::apply::{remote_row, Applied};
use super::cursors::{Cursors, STATE_CURSORS};
use super::{Engine, Platform, STATE_HLC, STATE_HLC_REMOTE};
use crate::core::hlc::{Hlc, Receive};
use crate::core::wire::{OpKind, SyncChange};
use crate::core::{HlcClock, Pk, Result};
use crate::store::{Store, StoreTx, Tombstone};

/// How a blind attempt ended.
pub enum Blind<R> {
    /// Applied; the cursors as they are after the page.
    Applied(Applied<R>, HlcClock, Cursors),
    /// The database has captured a write: use the careful path.
    Captured,
    /// The stored cursors are not the ones this page was fetched from.
    CursorMoved,
}

impl<S: Store, P: Platform> Engine<S, P> {
    /// Whether a page may try the fast path.
    pub(crate) fn may_apply_blind(&self, changes: &[SyncChange<S::Rec>]) -> bool {
        if !self.never_captured.get() {
            return false;
        }
        let mut seen = HashSet::with_capacity(changes.len());
        changes.iter().all(|c| seen.insert((c.table_name.as_str(), &c.pk)))
    }

    /// Issues the checks, then every write, in `tx`; the caller commits only
    /// on [`Blind::Applied`].
    pub(crate) async fn apply_blind(
        &self,
        tx: &S::Tx,
        changes: &[SyncChange<S::Rec>],
        group: &[String],
        from: u64,
        to: u64,
    ) -> Result<Blind<S::Rec>> {
        // The cursors row is written before its read returns: the page
        // goes ahead only if the stored row is exactly the one this engine
        // expects, so the row written is that one with the group moved.
        let Some(expected) = self.cursor_hint_cursors() else {
            return Ok(Blind::CursorMoved);
        };
        if !expected.all_at(group, from) {
            return Ok(Blind::CursorMoved);
        }
        let mut after = expected.clone();
        after.set(group, to);
        let now = self.platform.now_ms();
        let mut clock = self.hlc.borrow().clone();
        let mut out = Applied::default();
        let mut tables: Vec<(String, Vec<S::Rec>, Vec<Pk>)> = Vec::new();
        let mut tombs = Vec::new();
        for c in changes {
            let order_key = self.table(&c.table_name)?.order_key;
            if let Ok(remote) = Hlc::parse(&c.stamp.hlc) {
                if let Receive::Drift { ahead_ms } = clock.receive(&remote, now) {
                    out.drift_ms = Some(out.drift_ms.unwrap_or(0).max(ahead_ms));
                }
            }
            let i = match tables.iter().position(|(t, _, _)| *t == c.table_name) {
                Some(i) => i,
                None => {
                    tables.push((c.table_name.clone(), Vec::new(), Vec::new()));
                    out.changed.push((c.table_name.clone(), Vec::new()));
                    tables.len() - 1
                }
            };
            match (&c.op, &c.payload) {
                (OpKind::Put, Some(payload)) => tables[i].1.push(remote_row(payload, &c.stamp, None, order_key)),
                _ => {
                    tables[i].2.push(c.pk.clone());
                    tombs.push(Tombstone {
                        table_name: c.table_name.clone(),
                        pk: c.pk.clone(),
                        stamp: c.stamp.clone(),
                        deleted_at: now,
                    });
                }
            }
            out.changed[i].1.push(c.pk.clone());
            out.applied += 1;
        }
        let checks = async { crate::try_join!(tx.get_state(STATE_HLC), tx.get_state(STATE_CURSORS)) };
        let writes = async {
            let rows = tables.into_iter().map(|(table, puts, deletes)| async move {
                crate::try_join!(tx.put_records(&table, puts), tx.delete_records(&table, &deletes))
            });
            crate::try_join!(
                crate::core::join::try_join_all(rows),
                tx.put_tombstones(tombs),
                tx.put_state(STATE_CURSORS, after.encode()),
                super::write_seq::put_read(tx, STATE_HLC_REMOTE, Value::String(clock.state().encode()), true),
            )
        };
        // Polled in this order, so the checks are issued before the writes.
        let ((local_hlc, cursor), (_, _, _, seq)) = crate::try_join!(checks, writes)?;
        out.seqs.push(seq);
        if local_hlc.is_some() {
            self.never_captured.set(false);
            return Ok(Blind::Captured);
        }
        if Cursors::decode(cursor.as_ref()).unwrap_or_default() != expected {
            return Ok(Blind::CursorMoved);
        }
        Ok(Blind::Applied(out, clock, after))
    }
}

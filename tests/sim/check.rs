//! The simulator's invariants.
//!
//! After every step, for every database (all its tables, all its tabs): no
//! tab's HLC went backwards, a database holds at least its own unsynced
//! writes, and no table's cursor passed a change the database does not hold
//! (nor one it holds deleted that came back; a deleted record may keep an
//! older tombstone than the server's), except for a record deleted
//! on the server that it writes itself below that tombstone, never having
//! seen it or having purged it (the server's or its own GC): its unsynced
//! op is restamped above the tombstone when the server answers with it,
//! and for a record whose discarded op is still to be reverted.
//!
//! After quiescence (faults off, dead letters retried, a leader on the
//! newest tables everywhere, everyone synced): only records too big for the
//! server are dead-lettered; those are discarded, which must give each
//! record back the server's version; then every database equals the server
//! in every table it has, every acknowledged write is the final value or
//! beaten by a greater stamp, no put lost to the very version it was made
//! on top of (its device's cursor had passed it: a key recreated after its
//! delete, also after the server purged the tombstone, must exist), every outbox is empty, and the server applied
//! every opId at most once (its seen and applied counts match what it
//! answered).

use std::collections::HashMap;

use futures::executor::block_on;
use serde_json::Value;
use tidesync::core::{ChangeStamp, Pk};
use tidesync::store::{Access, PendingOp, Query, Store, StoreTx};

use super::net::{is_big, Faults};
use super::tabs::{Db, WS};
use super::Sim;

/// A version held by a device: `(clock, hlc)`, and whether it is a live row.
type Held = ((u64, String), bool);

fn version(stamp: &ChangeStamp) -> (u64, String) {
    (stamp.clock, stamp.hlc.clone())
}

/// What a database holds, read from the store itself (not through a tab,
/// whose config may lack a table).
struct Holding {
    /// Per (table, pk): the greater of its row's and its tombstone's
    /// `(clock, hlc)`, and whether that is a live row.
    held: HashMap<(String, Pk), Held>,
    rows: HashMap<String, Vec<Value>>,
    cursors: HashMap<String, u64>,
    ops: Vec<PendingOp<Value>>,
    failed: Vec<PendingOp<Value>>,
    /// Records whose discarded op is still to be reverted.
    reverts: Vec<(String, Pk)>,
}

fn read_cursors(tx: &impl StoreTx) -> Result<HashMap<String, u64>, tidesync::core::SyncError> {
    let row = block_on(tx.get_state("cursors"))?;
    Ok(row
        .as_ref()
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(t, c)| (t.clone(), c.as_u64().unwrap_or(0))).collect())
        .unwrap_or_default())
}

fn holding(db: &Db) -> Result<Holding, String> {
    let e = |e: tidesync::core::SyncError| format!("{}: {e}", db.name);
    let tx = block_on(db.store.begin(Access::All, None)).map_err(e)?;
    let mut held: HashMap<(String, Pk), Held> = HashMap::new();
    for t in block_on(tx.old_tombstones(u64::MAX, u32::MAX)).map_err(e)? {
        held.insert((t.table_name, t.pk), (version(&t.stamp), false));
    }
    let mut rows = HashMap::new();
    for table in db.schema {
        let list = block_on(tx.query(table, &Query::default())).map_err(e)?.rows;
        for row in &list {
            let pk = Pk::Str(row["id"].as_str().unwrap_or_default().to_string());
            let v = (row["clock"].as_u64().unwrap_or(0), row["hlc"].as_str().unwrap_or_default().to_string());
            let key = (table.to_string(), pk);
            if held.get(&key).is_none_or(|(t, _)| v >= *t) {
                held.insert(key, (v, true));
            }
        }
        rows.insert(table.to_string(), list);
    }
    let cursors = read_cursors(&tx).map_err(e)?;
    let ops = block_on(tx.list_ops(None, u32::MAX)).map_err(e)?;
    let failed = block_on(tx.list_failed(u32::MAX)).map_err(e)?;
    let reverts = block_on(tx.get_state("revert")).map_err(e)?.and_then(|v| v.as_array().cloned()).unwrap_or_default();
    let reverts = reverts
        .iter()
        .map(|k| {
            (k["table"].as_str().unwrap_or_default().to_string(), Pk::Str(k["pk"].as_str().unwrap_or_default().into()))
        })
        .collect();
    block_on(tx.commit()).map_err(e)?;
    Ok(Holding { held, rows, cursors, ops, failed, reverts })
}

impl Sim {
    /// Before a put: notes the server's version of the record if the
    /// device's cursor has passed it (the put is made on top of it).
    pub(super) fn note_on_top(&mut self, d: usize, table: &str, id: &str) {
        let Ok(tx) = block_on(self.dbs[d].store.begin(Access::System, None)) else { return };
        let cursor = read_cursors(&tx).ok().and_then(|c| c.get(table).copied()).unwrap_or(0);
        let _ = block_on(tx.commit());
        let pk = Pk::Str(id.to_string());
        let snapshot = self.world.server.borrow().snapshot(WS);
        if let Some(r) = snapshot.into_iter().find(|r| r.table_name == table && r.pk == pk && r.version <= cursor) {
            self.on_top.push((d, table.to_string(), pk, r.stamp));
        }
    }

    pub(super) fn check_running(&mut self) -> Result<(), String> {
        let snapshot = self.world.server.borrow().snapshot(WS);
        for db in &mut self.dbs {
            for tab in &mut db.tabs {
                let hlc = tab.engine.hlc_state();
                if hlc < tab.max_hlc {
                    return Err(format!("{}/{}: HLC went back from {:?} to {hlc:?}", db.name, tab.id, tab.max_hlc));
                }
                tab.max_hlc = hlc;
            }
            let h = holding(db)?;
            // Read-your-writes: never below its own newest unsynced write.
            for op in &h.ops {
                let mine = version(&op.stamp);
                let key = (op.table_name.clone(), op.pk.clone());
                if h.held.get(&key).is_none_or(|v| v.0 < mine) {
                    return Err(format!(
                        "{}: holds {:?} below its own unsynced write {mine:?} to {key:?}",
                        db.name,
                        h.held.get(&key)
                    ));
                }
            }
            // No cursor past a change the database does not hold.
            for r in &snapshot {
                let Some(&cursor) = h.cursors.get(&r.table_name) else { continue };
                if r.version > cursor || !db.schema.contains(&r.table_name.as_str()) {
                    continue;
                }
                let server = version(&r.stamp);
                let key = (r.table_name.clone(), r.pk.clone());
                let own = |v: &(u64, String)| {
                    h.ops.iter().any(|o| o.table_name == key.0 && o.pk == key.1 && version(&o.stamp) == *v)
                };
                if h.reverts.contains(&key) {
                    continue; // discarded: the server's version comes back before the next push
                }
                match (h.held.get(&key), r.payload.is_some()) {
                    (Some(v), _) if v.0 >= server => {}
                    // Deleted both here and there, under an older
                    // tombstone: a rescan after the server purged the newer
                    // one cannot bring its stamp (a write over it that loses
                    // to it is restamped).
                    (None | Some((_, false)), false) => {}
                    // Its own unsynced write over a tombstone it no longer
                    // holds (purged here or on the server): restamped at push.
                    (Some((v, _)), false) if own(v) => {}
                    (Some((_, true)), false) => {
                        return Err(format!("{}: {key:?} came back after its delete (version {})", db.name, r.version))
                    }
                    (v, _) => {
                        return Err(format!(
                            "{}: cursor {cursor} passed version {} of {key:?} ({server:?}); it holds {v:?}",
                            db.name, r.version
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// Every database syncs through its leader until nothing moves.
    fn settle_all(&mut self) -> Result<(), String> {
        for _ in 0..4 {
            while !self.world.queue.borrow().is_empty() {
                self.world.deliver(0);
            }
            for db in &self.dbs {
                // Backoff and retryAfterMs are waited out on the test clock.
                let mut last = Err(String::new());
                for _ in 0..5 {
                    last = block_on(db.lead_tab().driver.sync_now()).map(|_| ()).map_err(|e| e.to_string());
                    if last.is_ok() {
                        break;
                    }
                }
                last.map_err(|e| format!("{}: sync failed after the faults stopped: {e}", db.name))?;
            }
        }
        Ok(())
    }

    /// Faults off, everyone online behind a leader on its newest tables,
    /// dead letters retried (the big ones discarded), synced.
    pub(super) fn quiesce(&mut self) -> Result<(), String> {
        self.world.faults.set(Faults::default());
        let world = self.world.clone();
        for db in &mut self.dbs {
            db.platform.offline.set(false);
            if db.lead_tab().tables != db.schema {
                let newest = match db.tabs.iter().position(|t| t.tables == db.schema) {
                    Some(i) => i,
                    None => {
                        let tab = db.open_tab(&world, db.schema);
                        db.tabs.push(tab);
                        db.tabs.len() - 1
                    }
                };
                db.step_down();
                db.lead(newest);
            }
            let engine = &db.lead_tab().engine;
            let failed = block_on(engine.failed_ops()).map_err(|e| e.to_string())?;
            let ids: Vec<String> =
                failed.iter().filter(|o| !is_big(o.payload.as_ref())).map(|o| o.stamp.op_id.clone()).collect();
            block_on(engine.retry_failed(Some(&ids))).map_err(|e| e.to_string())?;
        }
        self.settle_all()?;
        for (d, db) in self.dbs.iter().enumerate() {
            let engine = &db.lead_tab().engine;
            let failed = block_on(engine.failed_ops()).map_err(|e| e.to_string())?;
            if let Some(o) = failed.iter().find(|o| !is_big(o.payload.as_ref())) {
                return Err(format!("{}: {:?} dead-lettered though not too big: {:?}", db.name, o.pk, o.last_error));
            }
            let ids: Vec<String> = failed.iter().map(|o| o.stamp.op_id.clone()).collect();
            block_on(engine.discard_failed(&ids)).map_err(|e| e.to_string())?;
            self.discarded.extend(failed.into_iter().map(|o| (d, o.table_name, o.pk)));
        }
        self.settle_all()
    }

    pub(super) fn check_final(&self) -> Result<(), String> {
        let snapshot = self.world.server.borrow().snapshot(WS);
        let live = |table: &str| -> Vec<Value> {
            snapshot.iter().filter(|r| r.table_name == table).filter_map(|r| r.payload.clone()).collect()
        };
        let mut holdings = Vec::new();
        for db in &self.dbs {
            let h = holding(db)?;
            for table in db.schema {
                let rows = &h.rows[*table];
                if *rows != live(table) {
                    return Err(format!(
                        "{} differs from the server in {table}:\n  device {rows:?}\n  server {:?}",
                        db.name,
                        live(table)
                    ));
                }
            }
            if !h.ops.is_empty() || !h.failed.is_empty() {
                return Err(format!("{}: {} ops left in the outbox ({} failed)", db.name, h.ops.len(), h.failed.len()));
            }
            holdings.push(h);
        }
        for (d, table, pk) in &self.discarded {
            let server = snapshot.iter().find(|r| &r.table_name == table && &r.pk == pk);
            let held = holdings[*d].held.get(&(table.clone(), pk.clone()));
            let agree = match (server, held) {
                (Some(r), Some((v, live))) => *v == version(&r.stamp) && *live == r.payload.is_some(),
                (Some(r), None) => r.payload.is_none(),
                (None, h) => h.is_none_or(|(_, live)| !live),
            };
            if !agree {
                return Err(format!("dev-{d}: discarded {table}/{pk:?} holds {held:?}, not the server's version"));
            }
        }
        for (table, pk, stamp) in self.world.acked.borrow().iter() {
            let Some(r) = snapshot.iter().find(|r| &r.table_name == table && &r.pk == pk) else {
                return Err(format!("acknowledged write to {table}/{pk:?} is gone from the server"));
            };
            if r.stamp < *stamp {
                return Err(format!("acknowledged write {} to {pk:?} lost to an older {}", stamp.hlc, r.stamp.hlc));
            }
        }
        // A put made on top of a version never loses to it (a key recreated
        // after its delete, also once the tombstone was purged, exists).
        for (d, table, pk, seen) in &self.on_top {
            if self.discarded.iter().any(|(dd, t, p)| dd == d && t == table && p == pk) {
                continue;
            }
            let r = snapshot.iter().find(|r| &r.table_name == table && &r.pk == pk);
            if r.is_some_and(|r| r.stamp == *seen) {
                return Err(format!("dev-{d}: a put to {table}/{pk:?} made on top of {} lost to it", seen.hlc));
            }
        }
        // Exactly once: each opId got one serverVersion at most, and the
        // server's counts are what it answered.
        let ledger = self.world.ledger.borrow();
        if let Some(op) = ledger.twice.first() {
            return Err(format!("the server answered op {op} differently twice (applied twice?)"));
        }
        let server = self.world.server.borrow();
        let applied = ledger.versions.values().filter(|v| v.is_some()).count() as u64;
        let seen = ledger.versions.len() as u64;
        if (server.seen_ops(WS), server.applied_ops(WS)) != (seen, applied) {
            return Err(format!(
                "the server saw {} ops and applied {}; it answered {seen} opIds, {applied} applied",
                server.seen_ops(WS),
                server.applied_ops(WS)
            ));
        }
        Ok(())
    }
}

//! The simulator's lifecycle steps: a leader that crashes or loses the lead
//! mid-push and the takeover by another tab, tabs opening and closing, an
//! app upgrade that adds a table, the server's GC after time passes,
//! devices that join mid-run, and dead letters discarded or retried.

use futures::executor::block_on;
use serde_json::json;

use super::net::is_big;
use super::tabs::{LosesLeadMidPush, V1, V2, WS};
use super::Sim;

impl Sim {
    /// The leader dies (mid-push half of the time); the other tabs write a
    /// little before one takes over (or a new tab opens).
    pub(super) fn crash(&mut self, d: usize) -> Result<String, String> {
        let mid_push = self.rand(2) == 0;
        self.dbs[d].crash_leader(mid_push);
        let mut writes = 0;
        if !self.dbs[d].tabs.is_empty() {
            for _ in 0..self.rand(3) {
                self.put(d, self.rand(3) == 0)?;
                writes += 1;
            }
        }
        let pick = self.rand(3) as usize;
        let world = self.world.clone();
        self.dbs[d].take_over(&world, pick);
        let heir = self.dbs[d].lead_tab().id;
        Ok(format!("crash{}, {writes} writes, tab {heir} takes over", if mid_push { " mid-push" } else { "" }))
    }

    /// While the leader's push is out another tab takes the lead, recovers
    /// the batch and edits its first record; then the answer arrives. The
    /// old leader stays as a follower.
    pub(super) fn lose_lead(&mut self, d: usize) -> Result<String, String> {
        let db = &self.dbs[d];
        if db.tabs.len() < 2 {
            return Ok(self.tabs(d));
        }
        let heir = (db.leader + 1 + self.rand(db.tabs.len() as u64 - 1) as usize) % db.tabs.len();
        self.writes += 1;
        let edit = json!({ "by": db.name, "n": self.writes, "heir": true });
        let old = db.lead_tab();
        let provider = LosesLeadMidPush { net: old.net.clone(), heir: &db.tabs[heir].engine, edit };
        let step = block_on(old.engine.push_step(&provider));
        let what =
            format!("tab {} loses the lead mid-push to tab {}: {:?}", old.id, db.tabs[heir].id, step.map(|_| ()));
        let db = &mut self.dbs[d];
        db.step_down();
        db.leader = heir;
        db.tabs[heir].driver.set_leader(true);
        Ok(what)
    }

    /// Opens a tab (on the database's newest tables, or now and then on the
    /// first version's) or closes one; a closed leader hands over.
    pub(super) fn tabs(&mut self, d: usize) -> String {
        let world = self.world.clone();
        let n = self.dbs[d].tabs.len();
        if n < 3 && (n == 1 || self.rand(2) == 0) {
            let names = if self.rand(4) == 0 { V1 } else { self.dbs[d].schema };
            let tab = self.dbs[d].open_tab(&world, names);
            let what = format!("tab {} opens on {names:?}", tab.id);
            self.dbs[d].tabs.push(tab);
            return what;
        }
        let i = self.rand(n as u64) as usize;
        let was_leader = i == self.dbs[d].leader;
        let id = self.dbs[d].tabs[i].id;
        self.dbs[d].drop_tab(i);
        if was_leader {
            let pick = self.rand(3) as usize;
            self.dbs[d].take_over(&world, pick);
        }
        format!("tab {id} closes{}", if was_leader { ", another takes over" } else { "" })
    }

    /// The app update adds a table: a tab on it opens; the older tabs stay
    /// (each one half of the time) and may keep the lead.
    pub(super) fn upgrade(&mut self, d: usize) -> String {
        if self.dbs[d].schema == V2 {
            return self.tabs(d);
        }
        let world = self.world.clone();
        let new = self.dbs[d].upgrade(&world);
        let mut closed = 0;
        for i in (0..new).rev() {
            if self.rand(2) == 0 {
                let was_leader = i == self.dbs[d].leader;
                self.dbs[d].drop_tab(i);
                closed += 1;
                if was_leader {
                    let last = self.dbs[d].tabs.len() - 1;
                    self.dbs[d].lead(last);
                }
            }
        }
        let db = &mut self.dbs[d];
        let newest = db.tabs.len() - 1;
        if db.leader != newest && self.world.rng.borrow_mut().below(2) == 0 {
            db.step_down();
            db.lead(newest);
        }
        format!("upgrade to {V2:?}, {closed} old tabs closed, tab {} leads", db.lead_tab().id)
    }

    /// Time passes (an hour or more, on every clock): the server's GC purges
    /// the tombstones every reported cursor has passed.
    pub(super) fn server_gc(&mut self) -> String {
        let dt = 3_600_000 + self.rand(3_600_000);
        self.world.now.set(self.world.now.get() + dt);
        for db in &self.dbs {
            db.platform.now.set(db.platform.now.get() + dt);
        }
        let retention = 60_000 + self.rand(dt);
        let purged = self.world.server.borrow_mut().gc(WS, self.world.now.get(), retention);
        format!("{dt} ms pass; server GC (retention {retention}) purged {purged}")
    }

    /// A device joins (it bootstraps after whatever was purged).
    pub(super) fn join(&mut self) -> String {
        if self.dbs.len() >= self.shape.devices + 2 {
            return "join (full)".into();
        }
        let schema = if self.rand(2) == 0 { V1 } else { V2 };
        let i = self.add_device(schema);
        let _ = block_on(self.dbs[i].lead_tab().driver.sync_now());
        format!("dev-{i} joins on {schema:?}")
    }

    /// From a random tab: discard the dead letters that are too big (the
    /// record goes back to the server's version), or retry the others.
    pub(super) fn dead_letters(&mut self, d: usize) -> Result<String, String> {
        let db = &self.dbs[d];
        let tab = &db.tabs[self.rand(db.tabs.len() as u64) as usize];
        let failed = block_on(tab.engine.failed_ops()).map_err(|e| e.to_string())?;
        let (big, other): (Vec<_>, Vec<_>) = failed.into_iter().partition(|o| is_big(o.payload.as_ref()));
        if self.rand(2) == 0 {
            let ids: Vec<String> = other.iter().map(|o| o.stamp.op_id.clone()).collect();
            let n = block_on(tab.engine.retry_failed(Some(&ids))).map_err(|e| e.to_string())?;
            return Ok(format!("retry {n} dead letters"));
        }
        let ids: Vec<String> = big.iter().map(|o| o.stamp.op_id.clone()).collect();
        let n = block_on(tab.engine.discard_failed(&ids)).map_err(|e| e.to_string())?;
        for o in big {
            self.discarded.push((d, o.table_name, o.pk));
        }
        Ok(format!("discard {n} big dead letters"))
    }
}

//! A deterministic convergence simulator. N devices (databases) run the real
//! engine over the memory store, each on its own clock (skewed, with jumps),
//! against the core's server algorithm through a faulty network ([`net`]).
//! A seed drives everything:
//! - the writes: puts, deletes, bulk writes, contention on a few keys, ids
//!   re-put soon after their delete, and records too big for the server;
//! - the network's faults: lost pushes and answers, rate limits, permanent
//!   rejections, failed pulls, dropped, duplicated, late and reordered
//!   subscription batches, batches refused whole (a 413);
//! - the lifecycle ([`tabs`], [`lifecycle`]): 1–3 engines per database with
//!   one leader, leader crashes mid-push and takeovers that recover the
//!   batch in flight, a leader that loses the lead while its push is out,
//!   app upgrades that add a table (an older tab may keep running beside),
//!   the server's GC purging tombstones after time passes, purged history,
//!   devices that join mid-run (after a purge), discarded dead letters,
//!   clock jumps and going offline.
//!
//! The invariants are in [`check`]: after every step, after quiescence, and
//! for the server's exactly-once.
#![allow(dead_code)]

pub mod check;
pub mod lifecycle;
pub mod net;
pub mod tabs;

use std::rc::Rc;

use futures::executor::block_on;
use serde_json::json;
use tidesync::core::{ChangeStamp, Pk};
use tidesync::engine::TestPlatform;

use net::{Faults, World};
use tabs::{Db, V1, V2};

/// How big a run is.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub devices: usize,
    pub steps: usize,
    /// Distinct record ids per table (few: heavy contention).
    pub keys: u64,
}

/// One simulated run.
pub struct Sim {
    seed: u64,
    shape: Shape,
    world: Rc<World>,
    dbs: Vec<Db>,
    /// What happened, for the failure report.
    pub trace: Vec<String>,
    writes: u64,
    /// Recently deleted (table, id): re-put soon after, on purpose.
    deleted: Vec<(String, String)>,
    /// Dead letters discarded: (device, table, pk).
    discarded: Vec<(usize, String, Pk)>,
    /// Puts made on top of a server version their device had seen (its
    /// cursor had passed it): (device, table, pk, that version's stamp).
    on_top: Vec<(usize, String, Pk, ChangeStamp)>,
}

impl Sim {
    pub fn new(seed: u64, shape: Shape) -> Sim {
        let world = World::new(seed);
        let mut sim = Sim {
            seed,
            shape,
            world,
            dbs: Vec::new(),
            trace: Vec::new(),
            writes: 0,
            deleted: Vec::new(),
            discarded: Vec::new(),
            on_top: Vec::new(),
        };
        for _ in 0..shape.devices {
            let schema = if sim.rand(3) == 0 { V2 } else { V1 };
            sim.add_device(schema);
        }
        sim.world.faults.set(Faults {
            push_lost: 10,
            answer_lost: 10,
            rate_limit: 5,
            reject: 3,
            pull_fail: 10,
            batch_drop: 15,
            batch_dup: 15,
        });
        sim
    }

    /// A new device on `schema`, its clock up to 5 s off the server's.
    fn add_device(&mut self, schema: &'static [&'static str]) -> usize {
        let i = self.dbs.len();
        let skew = self.rand(5_000);
        let platform =
            TestPlatform::new(self.world.now.get() + skew, self.seed.wrapping_mul(31).wrapping_add(i as u64));
        let db = Db::new(&self.world, i, schema, platform);
        self.dbs.push(db);
        i
    }

    fn rand(&self, n: u64) -> u64 {
        self.world.rng.borrow_mut().below(n.max(1))
    }

    fn key(&self) -> String {
        format!("k{}", self.rand(self.shape.keys))
    }

    /// Runs the steps, then quiesces and checks. `Err` names the broken invariant.
    pub fn run(&mut self) -> Result<(), String> {
        for step in 0..self.shape.steps {
            self.step(step)?;
            self.check_running()?;
        }
        self.quiesce()?;
        self.check_final()
    }

    fn step(&mut self, step: usize) -> Result<(), String> {
        let d = self.rand(self.dbs.len() as u64) as usize;
        self.world.now.set(self.world.now.get() + 1 + self.rand(50));
        let roll = self.rand(100);
        let platform = self.dbs[d].platform.clone();
        platform.now.set(platform.now.get() + 1 + self.rand(50));
        let what = match roll {
            0..=24 | 90..=99 => self.put(d, roll >= 90)?,
            25..=32 => self.delete(d)?,
            33..=36 => self.bulk_put(d)?,
            37..=52 => self.sync(d),
            53..=64 => self.deliver(),
            65..=68 => self.crash(d)?,
            69..=70 => self.lose_lead(d)?,
            71..=73 => self.tabs(d),
            74 => self.upgrade(d),
            75..=76 => self.server_gc(),
            77 => {
                let top = self.world.server.borrow().server_version(tabs::WS);
                self.world.server.borrow_mut().purge_history(tabs::WS, top);
                format!("purge below {top}")
            }
            78 => self.join(),
            79 => self.dead_letters(d)?,
            80..=86 => {
                // Clock jumps, backwards too.
                let back = self.rand(2) == 0;
                let by = self.rand(120_000);
                let now = platform.now.get();
                platform.now.set(if back { now.saturating_sub(by) } else { now + by });
                format!("clock {}{by}", if back { "-" } else { "+" })
            }
            _ => {
                let off = !platform.offline.get();
                platform.offline.set(off);
                format!("offline {off}")
            }
        };
        let db = &self.dbs[d.min(self.dbs.len() - 1)];
        self.trace.push(format!("{step:4} {}/{}: {what}", db.name, db.lead_tab().id));
        Ok(())
    }

    /// A random tab of database `d`, and a table it declares.
    fn writer(&self, d: usize) -> (usize, &'static str) {
        let db = &self.dbs[d];
        let t = self.rand(db.tabs.len() as u64) as usize;
        let names = db.tabs[t].tables;
        (t, names[self.rand(names.len() as u64) as usize])
    }

    /// A put; `again` prefers an id deleted recently (recreation).
    fn put(&mut self, d: usize, again: bool) -> Result<String, String> {
        let (t, table) = self.writer(d);
        let recent: Vec<&(String, String)> = self.deleted.iter().filter(|(tb, _)| tb == table).collect();
        let id = if again && !recent.is_empty() {
            recent[self.rand(recent.len() as u64) as usize].1.clone()
        } else {
            self.key()
        };
        let rec = self.record(d, &id);
        self.note_on_top(d, table, &id);
        let tab = &self.dbs[d].tabs[t];
        let big = rec["big"] == true;
        block_on(tab.engine.put(table, rec)).map_err(|e| format!("put: {e}"))?;
        Ok(format!("tab {} put {table}/{id}{}", tab.id, if big { " (big)" } else { "" }))
    }

    /// A record; one in 30 is too big for the server.
    fn record(&mut self, d: usize, id: &str) -> serde_json::Value {
        self.writes += 1;
        let mut rec = json!({ "id": id, "by": self.dbs[d].name, "n": self.writes });
        if self.rand(30) == 0 {
            rec["big"] = json!(true);
        }
        rec
    }

    fn delete(&mut self, d: usize) -> Result<String, String> {
        let (t, table) = self.writer(d);
        let id = self.key();
        let tab = &self.dbs[d].tabs[t];
        block_on(tab.engine.delete(table, Pk::Str(id.clone()))).map_err(|e| format!("delete: {e}"))?;
        let what = format!("tab {} delete {table}/{id}", tab.id);
        self.deleted.push((table.to_string(), id));
        if self.deleted.len() > 4 {
            self.deleted.remove(0);
        }
        Ok(what)
    }

    fn bulk_put(&mut self, d: usize) -> Result<String, String> {
        let (t, table) = self.writer(d);
        let mut recs = Vec::new();
        for _ in 0..1 + self.rand(4) {
            let id = self.key();
            recs.push(self.record(d, &id));
            self.note_on_top(d, table, &id);
        }
        let tab = &self.dbs[d].tabs[t];
        block_on(tab.engine.bulk_put(table, recs)).map_err(|e| format!("bulkPut: {e}"))?;
        Ok(format!("tab {} bulkPut {table}", tab.id))
    }

    fn sync(&self, d: usize) -> String {
        let r = block_on(self.dbs[d].lead_tab().driver.sync_now());
        format!(
            "sync -> {}",
            r.map(|r| format!("pushed {} pulled {}", r.pushed, r.pulled)).unwrap_or_else(|e| e.code().into())
        )
    }

    fn deliver(&self) -> String {
        let n = self.world.queue.borrow().len();
        if n == 0 {
            return "deliver (none)".into();
        }
        let i = self.rand(n as u64) as usize;
        self.world.deliver(i);
        let target = self.rand(self.dbs.len() as u64) as usize;
        format!("deliver, {} {}", self.dbs[target].name, self.sync(target))
    }
}

/// Runs `seeds` seeds; returns the failures as `(seed, reason, trace tail)`.
pub fn run_seeds(seeds: impl Iterator<Item = u64>, shape: Shape) -> Vec<(u64, String, Vec<String>)> {
    let mut failed = Vec::new();
    for seed in seeds {
        let mut sim = Sim::new(seed, shape);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.run()));
        let reason = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(p) => {
                let msg =
                    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                format!("panic: {}", msg.unwrap_or_default())
            }
        };
        let keep = if std::env::var_os("TIDESYNC_SIM_TRACE").is_some() { usize::MAX } else { 40 };
        let tail = sim.trace.iter().rev().take(keep).rev().cloned().collect();
        failed.push((seed, reason, tail));
    }
    failed
}

//! A deterministic convergence simulator. N devices run the real engine over
//! the memory store, each on its own clock (skewed, with jumps), against the
//! core's server algorithm through a faulty network ([`net`]). A seed drives
//! everything: the writes (puts, deletes, bulk writes, contention on a few
//! keys), and the faults (lost pushes and answers, rate limits, permanent
//! rejections, failed pulls, dropped, duplicated, late and reordered
//! subscription batches, crashes mid-push, purged server history, clock jumps,
//! going offline).
//!
//! Checked after every step: no device's HLC went backwards, and no cursor
//! passed a change the device does not hold. Checked after quiescence (faults
//! off, dead letters retried, everyone synced): every device equals the
//! server, every acknowledged write is the final value or beaten by a greater
//! stamp, nothing deleted came back, and every outbox is empty.
#![allow(dead_code)]

pub mod net;

use std::collections::HashMap;
use std::rc::Rc;

use futures::executor::block_on;
use futures::FutureExt;
use serde_json::{json, Value};
use tidesync::core::{HlcState, Pk};
use tidesync::engine::driver::Driver;
use tidesync::engine::provider::Provider;
use tidesync::engine::{Engine, EngineConfig, TestPlatform};
use tidesync::store::memory::MemoryStore;
use tidesync::store::{Access, Query, Schema, Store, StoreTx, TableSchema};

use net::{Faults, Net, World};

const TABLE: &str = "notes";
const WS: &str = "w1";

/// How big a run is.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub devices: usize,
    pub steps: usize,
    /// Distinct record ids (few: heavy contention).
    pub keys: u64,
}

type SimEngine = Engine<MemoryStore, TestPlatform>;
type SimDriver = Driver<MemoryStore, TestPlatform, Net>;

struct Device {
    name: String,
    store: MemoryStore,
    platform: TestPlatform,
    engine: Rc<SimEngine>,
    driver: SimDriver,
    net: Net,
    max_hlc: HlcState,
}

fn schema() -> Schema {
    Schema::new(vec![TableSchema::simple(TABLE)])
}

fn open(name: &str, store: &MemoryStore, platform: &TestPlatform, net: &Net) -> (Rc<SimEngine>, SimDriver) {
    let mut config = EngineConfig::new(WS, vec![TableSchema::simple(TABLE)]);
    config.device_id = Some(name.to_string());
    config.batch_size = 4;
    config.pull_limit = 5;
    config.backoff_ms = vec![10, 20];
    config.max_attempts = 50;
    let engine = Rc::new(block_on(Engine::open(config, store.reopen(schema()), platform.clone())).expect("open"));
    block_on(engine.recover_in_flight()).expect("recover");
    let driver = Driver::new(engine.clone(), net.clone(), true);
    driver.set_leader(true);
    (engine, driver)
}

/// A push that reaches the server and never answers: the page dies mid-push.
struct DiesMidPush(Net);

impl Provider for DiesMidPush {
    type Rec = Value;
    async fn push(
        &self,
        batch: tidesync::core::wire::PushBatch<Value>,
    ) -> tidesync::core::Result<tidesync::core::wire::PushResult<serde_json::Value>> {
        let _ = self.0.push(batch).await;
        futures::future::pending().await
    }
    async fn pull(
        &self,
        req: tidesync::core::wire::PullRequest,
    ) -> tidesync::core::Result<tidesync::core::wire::PullResponse<Value>> {
        self.0.pull(req).await
    }
    async fn subscribe(
        &self,
        scope: tidesync::core::wire::SyncScope,
        tables: Vec<String>,
        sink: tidesync::engine::provider::Sink<Value>,
    ) -> tidesync::core::Result<tidesync::engine::provider::Unsubscribe> {
        self.0.subscribe(scope, tables, sink).await
    }
    async fn update_cursor(
        &self,
        scope: tidesync::core::wire::SyncScope,
        device_id: String,
        version: u64,
    ) -> tidesync::core::Result<()> {
        self.0.update_cursor(scope, device_id, version).await
    }
}

/// A version held by a device: `(clock, hlc)`, and whether it is a live row.
type Held = ((u64, String), bool);

/// What a device holds per record: the greater of its row's and its
/// tombstone's `(clock, hlc)`, and whether that is a live row.
fn held_versions(dev: &Device) -> Result<HashMap<Pk, Held>, String> {
    let mut out: HashMap<Pk, Held> = HashMap::new();
    let tx = block_on(dev.store.begin(Access::Read, Some(TABLE))).map_err(|e| e.to_string())?;
    let tombs = block_on(tx.old_tombstones(u64::MAX, u32::MAX)).map_err(|e| e.to_string())?;
    drop(tx);
    for t in tombs {
        out.insert(t.pk, ((t.stamp.clock, t.stamp.hlc), false));
    }
    for row in block_on(dev.engine.get_all(TABLE, &Query::default())).map_err(|e| e.to_string())? {
        let pk = Pk::Str(row["id"].as_str().unwrap_or_default().to_string());
        let v = (row["clock"].as_u64().unwrap_or(0), row["hlc"].as_str().unwrap_or_default().to_string());
        if out.get(&pk).is_none_or(|(t, _)| v >= *t) {
            out.insert(pk, (v, true));
        }
    }
    Ok(out)
}

/// One simulated run.
pub struct Sim {
    seed: u64,
    shape: Shape,
    world: Rc<World>,
    devices: Vec<Device>,
    /// What happened, for the failure report.
    pub trace: Vec<String>,
    writes: u64,
}

impl Sim {
    pub fn new(seed: u64, shape: Shape) -> Sim {
        let world = World::new(seed, shape.devices);
        let mut devices = Vec::new();
        for i in 0..shape.devices {
            let name = format!("dev-{i}");
            let store = MemoryStore::new(schema());
            // Skewed clocks: up to 5 s apart.
            let skew = world.rng.borrow_mut().below(5_000);
            let platform = TestPlatform::new(world.now.get() + skew, seed.wrapping_mul(31).wrapping_add(i as u64));
            let net = Net { world: world.clone(), device: i };
            let (engine, driver) = open(&name, &store, &platform, &net);
            devices.push(Device { name, store, platform, engine, driver, net, max_hlc: HlcState::default() });
        }
        world.faults.set(Faults {
            push_lost: 10,
            answer_lost: 10,
            rate_limit: 5,
            reject: 3,
            pull_fail: 10,
            batch_drop: 15,
            batch_dup: 15,
        });
        Sim { seed, shape, world, devices, trace: Vec::new(), writes: 0 }
    }

    fn rand(&self, n: u64) -> u64 {
        self.world.rng.borrow_mut().below(n)
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
        let d = self.rand(self.devices.len() as u64) as usize;
        self.world.now.set(self.world.now.get() + 1 + self.rand(50));
        let roll = self.rand(100);
        let dev = &self.devices[d];
        dev.platform.now.set(dev.platform.now.get() + 1 + self.rand(50));
        let what = match roll {
            0..=29 => {
                let id = self.key();
                self.writes += 1;
                let rec = json!({ "id": id, "by": dev.name, "n": self.writes });
                block_on(dev.engine.put(TABLE, rec)).map_err(|e| format!("put: {e}"))?;
                format!("put {id}")
            }
            30..=39 => {
                let id = self.key();
                block_on(dev.engine.delete(TABLE, Pk::Str(id.clone()))).map_err(|e| format!("delete: {e}"))?;
                format!("delete {id}")
            }
            40..=44 => {
                let mut recs = Vec::new();
                for _ in 0..1 + self.rand(4) {
                    self.writes += 1;
                    recs.push(json!({ "id": self.key(), "by": dev.name, "n": self.writes }));
                }
                block_on(dev.engine.bulk_put(TABLE, recs)).map_err(|e| format!("bulkPut: {e}"))?;
                "bulkPut".into()
            }
            45..=64 => {
                let r = block_on(dev.driver.sync_now());
                format!(
                    "sync -> {}",
                    r.map(|r| format!("pushed {} pulled {}", r.pushed, r.pulled)).unwrap_or_else(|e| e.code().into())
                )
            }
            65..=79 => {
                let n = self.world.queue.borrow().len();
                if n == 0 {
                    "deliver (none)".into()
                } else {
                    let i = self.rand(n as u64) as usize;
                    self.world.deliver(i);
                    let target = &self.devices[self.world_last_device()];
                    let _ = block_on(target.driver.sync_now());
                    "deliver".into()
                }
            }
            80..=84 => {
                self.crash(d);
                "crash".into()
            }
            85..=87 => {
                let top = self.world.server.borrow().server_version(WS);
                self.world.server.borrow_mut().purge_history(WS, top);
                format!("purge below {top}")
            }
            88..=92 => {
                // Clock jumps, backwards too.
                let back = self.rand(2) == 0;
                let by = self.rand(120_000);
                let now = dev.platform.now.get();
                dev.platform.now.set(if back { now.saturating_sub(by) } else { now + by });
                format!("clock {}{by}", if back { "-" } else { "+" })
            }
            _ => {
                let off = !dev.platform.offline.get();
                dev.platform.offline.set(off);
                format!("offline {off}")
            }
        };
        self.trace.push(format!("{step:4} {}: {what}", self.devices[d].name));
        Ok(())
    }

    fn world_last_device(&self) -> usize {
        self.rand(self.devices.len() as u64) as usize
    }

    /// Kills a device: mid-push half of the time, keeping only what its
    /// store committed, then reopens it.
    fn crash(&mut self, d: usize) {
        let dev = &mut self.devices[d];
        if self.world.rng.borrow_mut().below(2) == 0 {
            let dying = DiesMidPush(dev.net.clone());
            let _ = dev.engine.push_step(&dying).now_or_never();
        }
        dev.driver.shutdown();
        let (engine, driver) = open(&dev.name, &dev.store, &dev.platform, &dev.net);
        dev.engine = engine;
        dev.driver = driver;
    }

    fn check_running(&mut self) -> Result<(), String> {
        let snapshot = self.world.server.borrow().snapshot(WS);
        for dev in &mut self.devices {
            let hlc = dev.engine.hlc_state();
            if hlc < dev.max_hlc {
                return Err(format!("{}: HLC went back from {:?} to {hlc:?}", dev.name, dev.max_hlc));
            }
            dev.max_hlc = hlc;
            let held = held_versions(dev)?;
            let (cursor, _) = block_on(dev.engine.cursor_state()).map_err(|e| e.to_string())?;
            // Read-your-writes: never below its own newest unsynced write.
            let ops = block_on(dev.engine.pending_ops(100_000)).map_err(|e| e.to_string())?;
            for op in &ops {
                let mine = (op.stamp.clock, op.stamp.hlc.clone());
                if held.get(&op.pk).is_none_or(|h| h.0 < mine) {
                    return Err(format!(
                        "{}: holds {:?} below its own unsynced write {mine:?} to {:?}",
                        dev.name,
                        held.get(&op.pk),
                        op.pk
                    ));
                }
            }
            // No cursor past a change the device does not hold.
            for r in snapshot.iter().filter(|r| r.version <= cursor) {
                let server = (r.stamp.clock, r.stamp.hlc.clone());
                match (held.get(&r.pk), r.payload.is_some()) {
                    (Some(h), _) if h.0 >= server => {}
                    (None, false) => {}
                    (Some((_, true)), false) => {
                        return Err(format!(
                            "{}: {:?} came back after its delete (version {})",
                            dev.name, r.pk, r.version
                        ))
                    }
                    (h, _) => {
                        return Err(format!(
                            "{}: cursor {cursor} passed version {} of {:?} ({server:?}); it holds {h:?}",
                            dev.name, r.version, r.pk
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// Faults off, dead letters retried, everyone online and synced until nothing moves.
    fn quiesce(&mut self) -> Result<(), String> {
        self.world.faults.set(Faults::default());
        for dev in &self.devices {
            dev.platform.offline.set(false);
            block_on(dev.engine.retry_failed(None)).map_err(|e| e.to_string())?;
        }
        for _ in 0..4 {
            while !self.world.queue.borrow().is_empty() {
                self.world.deliver(0);
            }
            for dev in &self.devices {
                // Backoff and retryAfterMs are waited out on the test clock.
                let mut last = Err(String::new());
                for _ in 0..5 {
                    last = block_on(dev.driver.sync_now()).map(|_| ()).map_err(|e| e.to_string());
                    if last.is_ok() {
                        break;
                    }
                }
                last.map_err(|e| format!("{}: sync failed after the faults stopped: {e}", dev.name))?;
            }
        }
        Ok(())
    }

    fn rows(dev: &Device) -> Result<Vec<Value>, String> {
        block_on(dev.engine.get_all(TABLE, &Query::default())).map_err(|e| e.to_string())
    }

    fn check_final(&self) -> Result<(), String> {
        let snapshot = self.world.server.borrow().snapshot(WS);
        let mut server: Vec<Value> = snapshot.iter().filter_map(|r| r.payload.clone()).collect();
        server.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        for dev in &self.devices {
            let rows = Self::rows(dev)?;
            if rows != server {
                return Err(format!("{} differs from the server:\n  device {rows:?}\n  server {server:?}", dev.name));
            }
            let left = block_on(dev.engine.pending_ops(10)).map_err(|e| e.to_string())?;
            if !left.is_empty() {
                return Err(format!("{}: {} ops left in the outbox", dev.name, left.len()));
            }
        }
        for (table, pk, stamp) in self.world.acked.borrow().iter() {
            let Some(r) = snapshot.iter().find(|r| &r.table_name == table && &r.pk == pk) else {
                return Err(format!("acknowledged write to {pk:?} is gone from the server"));
            };
            if r.stamp < *stamp {
                return Err(format!("acknowledged write {} to {pk:?} lost to an older {}", stamp.hlc, r.stamp.hlc));
            }
        }
        Ok(())
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
        let tail = sim.trace.iter().rev().take(25).rev().cloned().collect();
        failed.push((seed, reason, tail));
    }
    failed
}

//! Databases and the engines (tabs) on them. A database is one device's
//! memory store; up to three engines share it through
//! [`MemoryStore::reopen`], as tabs of one origin share IndexedDB. Exactly
//! one tab leads (pushes, pulls, subscribes) at a time; the others only
//! write. The leader can crash mid-push (the batch reached the server, the
//! answer never arrives, the in-flight mark stays), be closed, or lose the
//! lead while its push is out; another tab of the same database then takes
//! over and recovers the batch in flight, and the other tabs' writes
//! coalesce into it meanwhile. A tab runs the table list of the app version
//! that opened it: after an upgrade adds a table, an older tab may keep
//! running beside a newer one (the store holds both tables, its config only
//! the old one).

use std::rc::Rc;

use futures::executor::block_on;
use futures::FutureExt;
use serde_json::Value;
use tidesync::core::wire::{PullRequest, PullResponse, PushBatch, PushResult, SyncScope};
use tidesync::core::{HlcState, Result};
use tidesync::engine::driver::Driver;
use tidesync::engine::provider::{Provider, Sink, Unsubscribe};
use tidesync::engine::{Engine, EngineConfig, TestPlatform};
use tidesync::store::memory::MemoryStore;
use tidesync::store::{Schema, TableSchema};

use super::net::{Net, World};

pub const WS: &str = "w1";
/// The first app version's tables, and the one after its upgrade.
pub const V1: &[&str] = &["notes"];
pub const V2: &[&str] = &["notes", "tags"];

pub type SimEngine = Engine<MemoryStore, TestPlatform>;
pub type SimDriver = Driver<MemoryStore, TestPlatform, Net>;

/// One engine on a database.
pub struct Tab {
    pub id: u64,
    pub tables: &'static [&'static str],
    pub engine: Rc<SimEngine>,
    pub driver: SimDriver,
    pub net: Net,
    pub max_hlc: HlcState,
}

/// One device: a database and its tabs.
pub struct Db {
    pub name: String,
    pub index: usize,
    pub store: MemoryStore,
    pub platform: TestPlatform,
    /// The tables of the store (the newest app version that opened it).
    pub schema: &'static [&'static str],
    pub tabs: Vec<Tab>,
    pub leader: usize,
}

fn tables(names: &[&str]) -> Vec<TableSchema> {
    names.iter().map(|n| TableSchema::simple(n)).collect()
}

impl Db {
    /// A new database with one leading tab.
    pub fn new(world: &Rc<World>, index: usize, schema: &'static [&'static str], platform: TestPlatform) -> Db {
        let store = MemoryStore::new(Schema::new(tables(schema)));
        let mut db = Db { name: format!("dev-{index}"), index, store, platform, schema, tabs: Vec::new(), leader: 0 };
        let tab = db.open_tab(world, schema);
        db.tabs.push(tab);
        db.lead(0);
        db
    }

    /// Opens an engine whose config declares `names` (the store keeps the
    /// database's whole schema). It does not lead.
    pub fn open_tab(&self, world: &Rc<World>, names: &'static [&'static str]) -> Tab {
        let mut config = EngineConfig::new(WS, tables(names));
        config.device_id = Some(self.name.clone());
        config.batch_size = 4;
        config.pull_limit = 5;
        config.backoff_ms = vec![10, 20];
        config.max_attempts = 50;
        // Local GC purges tombstones once the clocks pass an hour's jump.
        config.retention_ms = 120_000;
        let store = self.store.reopen(Schema::new(tables(self.schema)));
        let engine = Rc::new(block_on(Engine::open(config, store, self.platform.clone())).expect("open"));
        let id = world.next_tab();
        let net = Net { world: world.clone(), device: self.index, tab: id };
        let driver = Driver::new(engine.clone(), net.clone(), true);
        Tab { id, tables: names, engine, driver, net, max_hlc: HlcState::default() }
    }

    pub fn lead_tab(&self) -> &Tab {
        &self.tabs[self.leader]
    }

    /// Tab `i` takes the lock: it recovers the batch left in flight.
    pub fn lead(&mut self, i: usize) {
        self.leader = i;
        let tab = &self.tabs[i];
        tab.driver.set_leader(true);
        block_on(tab.engine.recover_in_flight()).expect("recover");
    }

    /// The leader gives up the lead and stays open as a follower (a fresh
    /// driver: a follower runs no loop and holds no subscription).
    pub fn step_down(&mut self) {
        let tab = &mut self.tabs[self.leader];
        tab.driver.shutdown();
        tab.driver = Driver::new(tab.engine.clone(), tab.net.clone(), true);
    }

    /// Removes tab `i` without closing the database (a tab closed or
    /// killed: the store stays open for the others).
    pub fn drop_tab(&mut self, i: usize) {
        let tab = self.tabs.remove(i);
        tab.driver.shutdown();
        if self.leader > i {
            self.leader -= 1;
        }
    }

    /// After the leader went away: another tab takes over, or a new one
    /// opens on the newest table list.
    pub fn take_over(&mut self, world: &Rc<World>, pick: usize) {
        if self.tabs.is_empty() {
            let tab = self.open_tab(world, self.schema);
            self.tabs.push(tab);
        }
        self.lead(pick % self.tabs.len());
    }

    /// The leader dies, mid-push when `mid_push`: only what its store
    /// committed stays.
    pub fn crash_leader(&mut self, mid_push: bool) {
        let tab = &self.tabs[self.leader];
        if mid_push {
            let dying = DiesMidPush(tab.net.clone());
            let _ = tab.engine.push_step(&dying).now_or_never();
        }
        self.drop_tab(self.leader);
    }

    /// The database gets the next app version's tables (an upgrade): a new
    /// tab opens on them. Returns its index.
    pub fn upgrade(&mut self, world: &Rc<World>) -> usize {
        self.schema = V2;
        let tab = self.open_tab(world, V2);
        self.tabs.push(tab);
        self.tabs.len() - 1
    }
}

/// A push that reaches the server and never answers: the page dies mid-push.
struct DiesMidPush(Net);

impl Provider for DiesMidPush {
    type Rec = Value;
    async fn push(&self, batch: PushBatch<Value>) -> Result<PushResult<Value>> {
        let _ = self.0.push(batch).await;
        futures::future::pending().await
    }
    async fn pull(&self, req: PullRequest) -> Result<PullResponse<Value>> {
        self.0.pull(req).await
    }
    async fn subscribe(&self, scope: SyncScope, tables: Vec<String>, sink: Sink<Value>) -> Result<Unsubscribe> {
        self.0.subscribe(scope, tables, sink).await
    }
    async fn update_cursor(&self, scope: SyncScope, device_id: String, version: u64) -> Result<()> {
        self.0.update_cursor(scope, device_id, version).await
    }
}

/// A push during which another tab takes the lead: it recovers the batch
/// in flight and the user edits the batch's first record there (the edit
/// coalesces into the recovered op), then the answer reaches the old leader.
pub struct LosesLeadMidPush<'a> {
    pub net: Net,
    pub heir: &'a SimEngine,
    pub edit: Value,
}

impl Provider for LosesLeadMidPush<'_> {
    type Rec = Value;
    async fn push(&self, batch: PushBatch<Value>) -> Result<PushResult<Value>> {
        self.heir.recover_in_flight().await?;
        if let Some(op) = batch.ops.first() {
            if self.heir.table_names().contains(&op.table_name) {
                let mut rec = self.edit.clone();
                rec["id"] = serde_json::to_value(&op.pk).unwrap_or(Value::Null);
                let _ = self.heir.put(&op.table_name, rec).await;
            }
        }
        self.net.push(batch).await
    }
    async fn pull(&self, req: PullRequest) -> Result<PullResponse<Value>> {
        self.net.pull(req).await
    }
    async fn subscribe(&self, scope: SyncScope, tables: Vec<String>, sink: Sink<Value>) -> Result<Unsubscribe> {
        self.net.subscribe(scope, tables, sink).await
    }
    async fn update_cursor(&self, scope: SyncScope, device_id: String, version: u64) -> Result<()> {
        self.net.update_cursor(scope, device_id, version).await
    }
}

//! Pull, subscription, conflicts and rescan natively: engines over the memory
//! store sync through the core's server algorithm on a test clock. The same
//! engine code runs in the browser (tests/browser/pull.rs).
#![cfg(not(target_arch = "wasm32"))]

mod sync_support;

use std::rc::Rc;

use futures::executor::block_on;
use serde_json::{json, Value};
use tidesync::core::rng::SplitMix64;
use tidesync::core::wire::{OpKind, PullRequest, PullResponse, SyncChange};
use tidesync::core::Pk;
use tidesync::engine::driver::Driver;
use tidesync::engine::{Engine, EngineConfig, Event, TestPlatform};
use tidesync::store::memory::MemoryStore;
use tidesync::store::{Query, Schema, TableSchema};

use sync_support::Server;

type TestEngine = Engine<MemoryStore, TestPlatform>;
type TestDriver = Driver<MemoryStore, TestPlatform, Server>;

struct Device {
    store: MemoryStore,
    platform: TestPlatform,
    engine: Rc<TestEngine>,
    driver: TestDriver,
}

fn schema() -> Schema {
    Schema::new(vec![TableSchema::simple("notes")])
}

fn device(server: &Server, name: &str, now: u64, seed: u64) -> Device {
    let store = MemoryStore::new(schema());
    let platform = TestPlatform::new(now, seed);
    reopen(server, store, platform, name)
}

fn reopen(server: &Server, store: MemoryStore, platform: TestPlatform, name: &str) -> Device {
    let mut config = EngineConfig::new("w1", vec![TableSchema::simple("notes")]);
    config.device_id = Some(name.into());
    config.pull_limit = 7;
    let engine = Rc::new(block_on(Engine::open(config, store.reopen(schema()), platform.clone())).unwrap());
    let driver = Driver::new(engine.clone(), server.clone(), true);
    driver.set_leader(true);
    Device { store, platform, engine, driver }
}

fn rows(d: &Device) -> Vec<Value> {
    block_on(d.engine.get_all("notes", &Query::default())).unwrap()
}

fn server_rows(server: &Server) -> Vec<Value> {
    let snap = server.state.borrow().snapshot("w1");
    snap.into_iter().filter_map(|r| r.payload).collect()
}

fn conflicts_of(d: &Device) -> usize {
    block_on(d.engine.conflicts(100)).unwrap().len()
}

#[test]
fn two_devices_converge_under_random_writes_and_subscription_faults() {
    for seed in 0..20u64 {
        let server = Server::default();
        let a = device(&server, "dev-a", 1_700_000_000_000, seed);
        let b = device(&server, "dev-b", 1_700_000_000_500, seed + 1000);
        let mut rng = SplitMix64(seed);
        for step in 0..120 {
            let d = if rng.below(2) == 0 { &a } else { &b };
            let id = format!("r{}", rng.below(12));
            if rng.below(4) == 0 {
                block_on(d.engine.delete("notes", Pk::Str(id))).unwrap();
            } else {
                block_on(d.engine.put("notes", json!({ "id": id, "step": step }))).unwrap();
            }
            match rng.below(10) {
                0 => server.drop.set(1),
                1 => server.duplicate.set(1),
                2 => server.reorder.set(1),
                _ => {}
            }
            if rng.below(5) == 0 {
                let _ = block_on(d.driver.sync_now());
            }
        }
        for _ in 0..2 {
            block_on(a.driver.sync_now()).unwrap();
            block_on(b.driver.sync_now()).unwrap();
        }
        assert_eq!(rows(&a), rows(&b), "seed {seed}: devices differ");
        assert_eq!(rows(&a), server_rows(&server), "seed {seed}: device differs from the server");
        assert!(block_on(a.engine.pending_ops(10)).unwrap().is_empty());
    }
}

#[test]
fn equal_clocks_the_higher_hlc_wins_and_the_loser_journals_the_conflict() {
    let server = Server::default();
    // b's wall clock is later, so its HLC is higher.
    let a = device(&server, "dev-a", 1_700_000_000_000, 1);
    let b = device(&server, "dev-b", 1_700_000_009_000, 2);
    block_on(a.engine.put("notes", json!({ "id": "x", "by": "a" }))).unwrap();
    block_on(b.engine.put("notes", json!({ "id": "x", "by": "b" }))).unwrap();
    block_on(b.driver.sync_now()).unwrap();
    block_on(a.driver.sync_now()).unwrap();
    block_on(b.driver.sync_now()).unwrap();
    for d in [&a, &b] {
        let row = block_on(d.engine.get("notes", &Pk::Str("x".into()))).unwrap().unwrap();
        assert_eq!(row["by"], "b", "the higher HLC wins everywhere");
    }
    let journal = block_on(a.engine.conflicts(10)).unwrap();
    assert_eq!(journal.len(), 1, "a held the losing pending op");
    assert_eq!(journal[0].winner, tidesync::engine::conflicts::Winner::Remote);
    assert_eq!(journal[0].local.payload.as_ref().unwrap()["by"], "a");
    assert_eq!(conflicts_of(&b), 0, "b's own op was acknowledged first: no conflict there");
    assert!(a.platform.event_names().contains(&"sync.conflict:action:detected"));
}

#[test]
fn a_delete_beats_an_older_edit_and_stays_deleted_after_a_rescan() {
    let server = Server::default();
    let a = device(&server, "dev-a", 1_700_000_000_000, 1);
    let b = device(&server, "dev-b", 1_700_000_000_000, 2);
    block_on(a.engine.put("notes", json!({ "id": "x", "v": 1 }))).unwrap();
    block_on(a.driver.sync_now()).unwrap();
    block_on(b.driver.sync_now()).unwrap();
    // b edits (clock 2) while a deletes later (clock 2, higher HLC).
    b.platform.now.set(1_700_000_001_000);
    block_on(b.engine.put("notes", json!({ "id": "x", "v": 2 }))).unwrap();
    a.platform.now.set(1_700_000_005_000);
    block_on(a.engine.delete("notes", Pk::Str("x".into()))).unwrap();
    block_on(a.driver.sync_now()).unwrap();
    block_on(b.driver.sync_now()).unwrap();
    block_on(a.driver.sync_now()).unwrap();
    assert!(rows(&a).is_empty() && rows(&b).is_empty(), "deleted on both");
    // Purge all history: both must rescan, and nothing comes back.
    let top = server.state.borrow().server_version("w1");
    server.state.borrow_mut().purge_history("w1", top + 1);
    server_put(&server, "y");
    for d in [&a, &b] {
        block_on(d.driver.sync_now()).unwrap();
        assert_eq!(rows(d).len(), 1, "only y");
        assert!(d.platform.event_names().contains(&"sync.pull:action:received"));
    }
}

fn server_put(server: &Server, id: &str) {
    let c = device(server, "dev-c", 1_700_000_100_000, 9);
    block_on(c.engine.put("notes", json!({ "id": id }))).unwrap();
    block_on(c.driver.sync_now()).unwrap();
}

#[test]
fn after_a_purge_the_client_rescans_keeps_its_pending_op_and_pushes_it() {
    let server = Server::default();
    let a = device(&server, "dev-a", 1_700_000_000_000, 1);
    let b = device(&server, "dev-b", 1_700_000_000_000, 2);
    for i in 0..20 {
        block_on(a.engine.put("notes", json!({ "id": format!("r{i}") }))).unwrap();
    }
    block_on(a.driver.sync_now()).unwrap();
    block_on(b.driver.sync_now()).unwrap();
    // b goes quiet; a deletes some; the server forgets history.
    block_on(a.engine.bulk_delete("notes", (0..5).map(|i| Pk::Str(format!("r{i}"))).collect())).unwrap();
    block_on(a.driver.sync_now()).unwrap();
    let top = server.state.borrow().server_version("w1");
    server.state.borrow_mut().purge_history("w1", top + 1);
    b.driver.shutdown();
    let b = reopen(&server, b.store.clone(), b.platform.clone(), "dev-b");
    block_on(b.engine.put("notes", json!({ "id": "mine" }))).unwrap();
    // The rescan must not run the stale deletes' absence past the pending op.
    b.driver.wake_pull();
    block_on(b.driver.sync_now()).unwrap();
    let ids: Vec<String> = rows(&b).iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 16, "15 survivors + mine: {ids:?}");
    assert!(ids.contains(&"mine".to_string()));
    assert!(server_rows(&server).iter().any(|r| r["id"] == "mine"), "pushed after the rescan");
    assert!(b.platform.events.borrow().iter().any(|e| matches!(e, Event::Pull(p) if p.source == "rescan")));
}

#[test]
fn a_malformed_page_is_rejected_whole_and_the_cursor_stays() {
    let server = Server::default();
    let a = device(&server, "dev-a", 1_700_000_000_000, 1);
    for i in 0..3 {
        block_on(a.engine.put("notes", json!({ "id": format!("r{i}") }))).unwrap();
    }
    block_on(a.driver.sync_now()).unwrap();
    let b = device(&server, "dev-b", 1_700_000_000_000, 2);
    let page = server.state.borrow().pull(&PullRequest {
        scope: b.engine.scope(),
        cursor: 0,
        limit: 10,
        tables: None,
        rescan: false,
    });
    let mut page: PullResponse<Value> = page.unwrap();
    page.changes.push(SyncChange {
        table_name: "nope".into(),
        pk: Pk::Str("z".into()),
        op: OpKind::Delete,
        payload: None,
        server_version: 99,
        stamp: page.changes[0].stamp.clone(),
    });
    page.next_cursor = 99;
    let err = tidesync::engine::pull::check_page(&page, 0, &b.engine.table_names()).unwrap_err();
    assert!(err.path.contains("tableName"), "{err}");
    // Applied through the engine's own path, nothing moves.
    assert!(block_on(b.engine.apply_batch(&page.changes, &b.engine.table_names(), 0, 99)).is_err());
    assert_eq!(block_on(b.engine.cursor_state()).unwrap().0, 0);
    assert!(rows(&b).is_empty());
}

#[test]
fn bootstrap_reports_progress_that_adds_up_and_resumes_after_a_crash() {
    let server = Server::default();
    let a = device(&server, "dev-a", 1_700_000_000_000, 1);
    let all: Vec<Value> = (0..100).map(|i| json!({ "id": format!("r{i:03}") })).collect();
    block_on(a.engine.bulk_put("notes", all)).unwrap();
    block_on(a.driver.sync_now()).unwrap();
    let b = device(&server, "dev-b", 1_700_000_000_000, 2);
    // Two pages, then the tab dies.
    block_on(b.engine.pull_step(&server)).unwrap();
    block_on(b.engine.pull_step(&server)).unwrap();
    let progress = |d: &Device| -> u64 {
        d.platform.events.borrow().iter().map(|e| if let Event::Progress(p) = e { p.applied } else { 0 }).sum()
    };
    let before = progress(&b);
    assert_eq!(before, 14);
    let b2 = reopen(&server, b.store.clone(), TestPlatform::new(1_700_000_000_000, 3), "dev-b");
    block_on(b2.driver.sync_now()).unwrap();
    assert_eq!(before + progress(&b2), 100, "every change counted once across the crash");
    assert_eq!(rows(&b2).len(), 100);
}

#[test]
fn local_gc_purges_only_acknowledged_tombstones_and_old_journal_rows_past_retention() {
    let server = Server::default();
    let a = device(&server, "dev-a", 1_700_000_000_000, 1);
    block_on(a.engine.bulk_put("notes", vec![json!({ "id": "x" }), json!({ "id": "y" })])).unwrap();
    block_on(a.driver.sync_now()).unwrap();
    block_on(a.engine.delete("notes", Pk::Str("x".into()))).unwrap();
    block_on(a.driver.sync_now()).unwrap();
    block_on(a.engine.delete("notes", Pk::Str("y".into()))).unwrap(); // not pushed yet
    let tombstones = |d: &Device| {
        let tx = block_on(tidesync::store::Store::begin(&d.store, tidesync::store::Access::All, None)).unwrap();
        let n = block_on(tidesync::store::StoreTx::old_tombstones(&tx, u64::MAX, 100)).unwrap().len();
        drop(tx);
        n
    };
    assert_eq!(tombstones(&a), 2);
    assert_eq!(block_on(a.engine.collect_garbage()).unwrap().tombstones, 0, "within retention");
    a.platform.now.set(a.platform.now.get() + a.engine.config().retention_ms + 1);
    let report = block_on(a.engine.collect_garbage()).unwrap();
    assert_eq!(report.tombstones, 1, "only the acknowledged delete's tombstone");
    assert!(report.runs >= 2, "old sync_runs rows dropped: {report:?}");
    assert_eq!(tombstones(&a), 1);
    assert!(block_on(a.engine.get("notes", &Pk::Str("y".into()))).unwrap().is_none());
}

#[test]
fn the_bootstrap_fast_path_steps_aside_once_another_tab_has_written() {
    let server = Server::default();
    let a = device(&server, "dev-a", 1_700_000_000_000, 1);
    for i in 0..20 {
        block_on(a.engine.put("notes", json!({ "id": format!("r{i:02}"), "v": 1 }))).unwrap();
    }
    block_on(a.driver.sync_now()).unwrap();
    // b bootstraps; meanwhile another tab on b's database edits r05 later.
    let b = device(&server, "dev-b", 1_700_000_000_000, 2);
    block_on(b.engine.pull_step(&server)).unwrap(); // blind: nothing captured yet
    let tab = reopen(&server, b.store.clone(), TestPlatform::new(1_700_000_050_000, 3), "dev-b");
    block_on(tab.engine.put("notes", json!({ "id": "r12", "v": "tab" }))).unwrap();
    block_on(b.driver.sync_now()).unwrap();
    let r12 = block_on(b.engine.get("notes", &Pk::Str("r12".into()))).unwrap().unwrap();
    assert_eq!(r12["v"], "tab", "the newer local write was not overwritten by the older remote one");
    assert_eq!(rows(&b).len(), 20);
}

/// The write sequence numbers of the `change` events `d` emitted, in order.
fn change_seqs(d: &Device) -> Vec<u64> {
    let events = d.platform.events.borrow();
    events.iter().filter_map(|e| if let Event::Change(c) = e { Some(c.seqs.clone()) } else { None }).flatten().collect()
}

#[test]
fn every_transaction_that_changes_rows_advances_the_write_sequence_once() {
    let server = Server::default();
    let (a, b) = (device(&server, "a", 1_000, 1), device(&server, "b", 1_000, 2));
    block_on(a.engine.put("notes", json!({ "id": "x" }))).unwrap();
    block_on(a.engine.bulk_put("notes", vec![json!({ "id": "y" }), json!({ "id": "z" })])).unwrap();
    block_on(a.engine.delete("notes", Pk::from("x"))).unwrap();
    block_on(a.driver.sync_now()).unwrap();
    block_on(b.engine.put("notes", json!({ "id": "local" }))).unwrap();
    block_on(b.driver.sync_now()).unwrap();
    // a: three local writes (the push's settle changes no row); b: one
    // local write, then pulled pages (limit 7: one page of three changes).
    assert_eq!(change_seqs(&a), [1, 2, 3]);
    let seqs = change_seqs(&b);
    assert_eq!(seqs.first(), Some(&1));
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    for d in [&a, &b] {
        let tx = block_on(d.engine.snapshot()).unwrap();
        let seen = block_on(tidesync::engine::write_seq::current(&tx)).unwrap();
        assert_eq!(Some(&seen), change_seqs(d).last(), "the counter is the last number reported");
    }
}

//! The lifecycle paths where a replica used to diverge silently, natively:
//! a push that loses on the server, a key recreated after the server's GC
//! purged its tombstone, a discarded op, a table added by an app update, an
//! older engine on the previous table list, another project on the same
//! database, a batch recovered by another engine and coalesced into, a
//! batch with one op the server refuses, and a device at cursor 0 that
//! pushed before the delete of its record was purged, and a discarded op
//! whose older op on the same record is retried. Each test runs engines over the
//! memory store against the core's server algorithm on a test clock.
#![cfg(not(target_arch = "wasm32"))]

mod sync_support;

use std::rc::Rc;

use futures::executor::block_on;
use serde_json::{json, Value};
use tidesync::core::wire::{PushBatch, PushResult};
use tidesync::core::{Pk, Result, SyncError};
use tidesync::engine::driver::Driver;
use tidesync::engine::provider::Provider;
use tidesync::engine::push::Step;
use tidesync::engine::{ChangeSource, Engine, EngineConfig, Event, TestPlatform};
use tidesync::store::memory::MemoryStore;
use tidesync::store::{Query, Schema, TableSchema};

use sync_support::Server;

type TestEngine = Engine<MemoryStore, TestPlatform>;
type TestDriver = Driver<MemoryStore, TestPlatform, Server>;

const T0: u64 = 1_700_000_000_000;
const DAY: u64 = 86_400_000;

struct Device {
    store: MemoryStore,
    platform: TestPlatform,
    engine: Rc<TestEngine>,
    driver: TestDriver,
}

fn tables(names: &[&str]) -> Vec<TableSchema> {
    names.iter().map(|n| TableSchema::simple(n)).collect()
}

fn open_on(server: &Server, store: &MemoryStore, platform: &TestPlatform, name: &str, names: &[&str]) -> Device {
    open_with_stores(server, store, platform, name, names, names)
}

/// An engine whose config declares `names` on a database holding the
/// stores `stores` (an older app keeps running beside a newer one's stores).
fn open_with_stores(
    server: &Server,
    store: &MemoryStore,
    platform: &TestPlatform,
    name: &str,
    names: &[&str],
    stores: &[&str],
) -> Device {
    let mut config = EngineConfig::new("w1", tables(names));
    config.device_id = Some(name.into());
    config.pull_limit = 3;
    let store = store.reopen(Schema::new(tables(stores)));
    let engine = Rc::new(block_on(Engine::open(config, store.clone(), platform.clone())).unwrap());
    let driver = Driver::new(engine.clone(), server.clone(), true);
    driver.set_leader(true);
    Device { store, platform: platform.clone(), engine, driver }
}

fn device(server: &Server, name: &str, now: u64) -> Device {
    let store = MemoryStore::new(Schema::new(tables(&["notes"])));
    open_on(server, &store, &TestPlatform::new(now, now % 97), name, &["notes"])
}

fn sync(d: &Device) {
    block_on(d.driver.sync_now()).unwrap();
}

fn row(d: &Device, table: &str, id: &str) -> Option<Value> {
    block_on(d.engine.get(table, &Pk::Str(id.into()))).unwrap()
}

fn ids(d: &Device, table: &str) -> Vec<String> {
    let rows = block_on(d.engine.get_all(table, &Query::default())).unwrap();
    rows.iter().map(|r| r["id"].as_str().unwrap_or_default().to_string()).collect()
}

fn server_live(server: &Server, id: &str) -> Option<Value> {
    let snap = server.state.borrow().snapshot("w1");
    snap.into_iter().find(|r| r.pk == Pk::Str(id.into())).and_then(|r| r.payload)
}

#[test]
fn a_push_that_loses_on_the_server_takes_the_servers_version_and_journals_it() {
    let server = Server::default();
    let a = device(&server, "dev-a", T0);
    let b = device(&server, "dev-b", T0 + 5_000);
    block_on(a.engine.put("notes", json!({ "id": "n", "v": "a1" }))).unwrap();
    sync(&a);
    sync(&b);
    // Both edit offline; b's edit is later, so it wins; a pushes after b.
    block_on(a.engine.put("notes", json!({ "id": "n", "v": "a2" }))).unwrap();
    b.platform.now.set(T0 + 60_000);
    block_on(b.engine.put("notes", json!({ "id": "n", "v": "b2" }))).unwrap();
    sync(&b);
    // a pushes only (no pull): the answer alone must bring b's version.
    assert!(matches!(block_on(a.engine.push_step(&server)).unwrap(), Step::Sent(_)));
    assert_eq!(row(&a, "notes", "n").unwrap()["v"], "b2", "a adopts the server's version from the push answer");
    let conflicts = block_on(a.engine.conflicts(10)).unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].local.payload.as_ref().unwrap()["v"], "a2");
    assert_eq!(conflicts[0].remote.payload.as_ref().unwrap()["v"], "b2");
    assert!(a.platform.event_names().contains(&"sync.conflict:action:detected"));
}

#[test]
fn a_key_recreated_after_the_servers_gc_purged_its_tombstone_exists_on_every_device() {
    let server = Server::default();
    let a = device(&server, "dev-a", T0);
    block_on(a.engine.put("notes", json!({ "id": "fav", "v": 1 }))).unwrap();
    sync(&a);
    block_on(a.engine.put("notes", json!({ "id": "fav", "v": 2 }))).unwrap();
    block_on(a.engine.delete("notes", Pk::Str("fav".into()))).unwrap();
    sync(&a);
    // A week later the server's GC purges the tombstone (a has pulled it).
    let scope = tidesync::core::wire::SyncScope { workspace_id: "w1".into(), project_id: None };
    let version = server.state.borrow().server_version("w1");
    server.state.borrow_mut().update_cursor(&scope, "dev-a", version).unwrap();
    let purged = server.state.borrow_mut().gc("w1", T0 + 7 * DAY, DAY);
    assert_eq!(purged, 1);
    // A new device bootstraps after the purge: it never sees the tombstone
    // and recreates the key with clock 1, below the purged delete.
    let c = device(&server, "dev-c", T0 + 7 * DAY);
    sync(&c);
    assert!(row(&c, "notes", "fav").is_none());
    let stamp = block_on(c.engine.put("notes", json!({ "id": "fav", "v": "again" }))).unwrap();
    assert_eq!(stamp.clock, 1);
    c.platform.events.borrow_mut().clear();
    sync(&c);
    // The first push restamps the row above the server's version: readers hear it.
    let restamp = c.platform.events.borrow().iter().find_map(|e| match e {
        Event::Change(ch) if ch.source == ChangeSource::Local => Some(ch.clone()),
        _ => None,
    });
    let restamp = restamp.expect("a change event for the restamped row");
    assert_eq!((restamp.table.as_str(), restamp.pks.clone()), ("notes", vec![Pk::Str("fav".into())]));
    assert_eq!(restamp.seqs.len(), 1);
    let clock = row(&c, "notes", "fav").unwrap()["clock"].as_u64().unwrap();
    assert!(clock > 1, "the row carries the new stamp (clock {clock})");
    sync(&c);
    assert_eq!(server_live(&server, "fav").expect("the recreated key is on the server")["v"], "again");
    assert_eq!(row(&c, "notes", "fav").unwrap()["v"], "again");
    assert!(block_on(c.engine.pending_ops(10)).unwrap().is_empty(), "nothing left unsent");
    sync(&a);
    assert_eq!(row(&a, "notes", "fav").expect("and on the device that deleted it")["v"], "again");
    let b = device(&server, "dev-b", T0 + 8 * DAY);
    sync(&b);
    assert_eq!(row(&b, "notes", "fav").unwrap()["v"], "again");
}

#[test]
fn a_write_that_had_not_seen_the_delete_still_loses_to_it() {
    let server = Server::default();
    let a = device(&server, "dev-a", T0);
    let b = device(&server, "dev-b", T0);
    block_on(a.engine.put("notes", json!({ "id": "k", "v": 1 }))).unwrap();
    sync(&a);
    sync(&b);
    // b edits offline (clock 2) while a deletes later (clock 2, later HLC).
    block_on(b.engine.put("notes", json!({ "id": "k", "v": "b" }))).unwrap();
    a.platform.now.set(T0 + 10_000);
    block_on(a.engine.delete("notes", Pk::Str("k".into()))).unwrap();
    sync(&a);
    sync(&b);
    assert!(server_live(&server, "k").is_none(), "LWW: the later delete wins");
    assert!(row(&b, "notes", "k").is_none(), "b takes the delete instead of keeping its row");
    assert_eq!(block_on(b.engine.conflicts(10)).unwrap().len(), 1);
}

#[test]
fn discarding_a_rejected_op_gives_the_record_back_the_servers_version() {
    let server = Server::default();
    let a = device(&server, "dev-a", T0);
    block_on(a.engine.put("notes", json!({ "id": "n", "v": "good" }))).unwrap();
    block_on(a.engine.put("notes", json!({ "id": "new", "v": "never" }))).unwrap();
    sync(&a);
    block_on(a.engine.put("notes", json!({ "id": "n", "v": "bad" }))).unwrap();
    let ops = block_on(a.engine.pending_ops(10)).unwrap();
    server.reject.borrow_mut().push(ops[0].stamp.op_id.clone());
    block_on(a.engine.push_step(&server)).unwrap();
    let failed = block_on(a.engine.failed_ops()).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(row(&a, "notes", "n").unwrap()["v"], "bad");
    let ids: Vec<String> = failed.iter().map(|o| o.stamp.op_id.clone()).collect();
    assert_eq!(block_on(a.engine.discard_failed(&ids)).unwrap(), 1);
    sync(&a);
    assert_eq!(row(&a, "notes", "n").unwrap()["v"], "good", "the rejected version does not stay");
    assert!(a.platform.event_names().contains(&"change"));
}

#[test]
fn a_table_added_by_an_app_update_is_backfilled_from_the_server() {
    let server = Server::default();
    // Device a already has both tables and writes to both.
    let a_store = MemoryStore::new(Schema::new(tables(&["notes", "tags"])));
    let a = open_on(&server, &a_store, &TestPlatform::new(T0, 1), "dev-a", &["notes", "tags"]);
    for i in 0..5 {
        block_on(a.engine.put("tags", json!({ "id": format!("t{i}") }))).unwrap();
        block_on(a.engine.put("notes", json!({ "id": format!("n{i}") }))).unwrap();
    }
    sync(&a);
    // Device b runs the old app (notes only) and syncs past all of it.
    let b_store = MemoryStore::new(Schema::new(tables(&["notes"])));
    let b_platform = TestPlatform::new(T0, 2);
    let b = open_on(&server, &b_store, &b_platform, "dev-b", &["notes"]);
    sync(&b);
    assert_eq!(ids(&b, "notes").len(), 5);
    block_on(a.engine.put("notes", json!({ "id": "n9" }))).unwrap();
    sync(&a);
    // b has written too, so the new table's pull from 0 is a rescan: of that
    // table alone, which must leave b's other rows be.
    block_on(b.engine.put("notes", json!({ "id": "mine" }))).unwrap();
    sync(&b);
    drop(b);
    // The app update adds `tags`: its earlier changes are pulled too.
    let b = open_on(&server, &b_store, &b_platform, "dev-b", &["notes", "tags"]);
    let pulls_before = server.pulls.get();
    sync(&b);
    assert_eq!(ids(&b, "tags").len(), 5, "every earlier change of the new table arrives");
    assert_eq!(ids(&b, "notes").len(), 7);
    assert!(server.pulls.get() - pulls_before <= 4, "the backfill pulls the new table, not everything again");
    // An older engine still on the previous list, on the same database,
    // must not move the new table's cursor past changes it did not apply.
    let old = open_with_stores(&server, &b.store, &b_platform, "dev-b", &["notes"], &["notes", "tags"]);
    block_on(a.engine.put("tags", json!({ "id": "t9" }))).unwrap();
    block_on(a.engine.put("notes", json!({ "id": "n10" }))).unwrap();
    sync(&a);
    sync(&old);
    assert_eq!(ids(&old, "notes").len(), 8);
    sync(&b);
    assert_eq!(ids(&b, "tags").len(), 6, "the newer engine still gets the change the older one skipped");
}

#[test]
fn a_database_opened_for_another_project_is_refused_and_unchanged() {
    let store = MemoryStore::new(Schema::new(tables(&["notes"])));
    let platform = TestPlatform::new(T0, 3);
    let mut config = EngineConfig::new("w1", tables(&["notes"]));
    config.project_id = Some("p1".into());
    let e = block_on(Engine::open(config.clone(), store.clone(), platform.clone())).unwrap();
    block_on(e.put("notes", json!({ "id": "x" }))).unwrap();
    drop(e);
    let before = store.dump();
    config.project_id = Some("p2".into());
    let err = block_on(Engine::open(config.clone(), store.reopen(Schema::new(tables(&["notes"]))), platform.clone()))
        .err()
        .expect("another project on the same database is refused");
    assert_eq!(err.code(), "INVALID");
    assert!(err.to_string().contains("projectId"), "{err}");
    assert_eq!(store.dump(), before);
    config.project_id = Some("p1".into());
    assert!(block_on(Engine::open(config, store.reopen(Schema::new(tables(&["notes"]))), platform)).is_ok());
}

#[test]
fn an_op_is_settled_only_if_it_is_the_op_that_was_sent() {
    let server = Server::default();
    let a = device(&server, "dev-a", T0);
    block_on(a.engine.put("notes", json!({ "id": "n", "v": 1 }))).unwrap();
    // The batch is out; another engine takes over (recovers it) and the
    // user edits again, which coalesces into the recovered op.
    struct EditWhileOut<'a>(&'a TestEngine, Server);
    impl Provider for EditWhileOut<'_> {
        type Rec = Value;
        async fn push(&self, batch: PushBatch<Value>) -> Result<PushResult<Value>> {
            self.0.recover_in_flight().await.unwrap();
            self.0.put("notes", json!({ "id": "n", "v": 2 })).await.unwrap();
            self.1.push(batch).await
        }
        push_only_provider!();
    }
    block_on(a.engine.push_step(&EditWhileOut(&a.engine, server.clone()))).unwrap();
    let ops = block_on(a.engine.pending_ops(10)).unwrap();
    assert_eq!(ops.len(), 1, "the edit coalesced into the recovered op is not deleted unsent");
    sync(&a);
    assert_eq!(server_live(&server, "n").unwrap()["v"], 2);
}

#[test]
fn one_op_the_server_refuses_does_not_poison_its_batch() {
    let server = Server::default();
    let a = device(&server, "dev-a", T0);
    for i in 0..10 {
        block_on(a.engine.put("notes", json!({ "id": format!("n{i}"), "big": i == 6 }))).unwrap();
    }
    // A provider that refuses any batch holding the "big" record as a whole
    // (as a 413 does).
    struct TooLarge(Server);
    impl Provider for TooLarge {
        type Rec = Value;
        async fn push(&self, batch: PushBatch<Value>) -> Result<PushResult<Value>> {
            if batch.ops.iter().any(|o| o.payload.as_ref().is_some_and(|p| p["big"] == true)) {
                return Err(SyncError::invalid("batch", "413: the request body is too large"));
            }
            self.0.push(batch).await
        }
        push_only_provider!();
    }
    let step = block_on(a.engine.push_step(&TooLarge(server.clone()))).unwrap();
    match step {
        Step::Sent(r) => assert_eq!((r.sent, r.pushed, r.failed), (10, 9, 1)),
        other => panic!("{other:?}"),
    }
    let failed = block_on(a.engine.failed_ops()).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].pk, Pk::Str("n6".into()));
    assert!(failed[0].last_error.as_deref().unwrap().contains("too large"));
    assert_eq!(server.state.borrow().applied_ops("w1"), 9);
    let errors: Vec<Event> =
        a.platform.events.borrow().iter().filter(|e| matches!(e, Event::Error(_))).cloned().collect();
    assert_eq!(errors.len(), 1, "one error event, naming the op");
}

#[test]
fn a_settle_that_fails_does_not_strand_its_batch() {
    let server = Server::default();
    let a = device(&server, "dev-a", T0);
    block_on(a.engine.put("notes", json!({ "id": "n", "v": 1 }))).unwrap();
    a.engine.inject_fault(tidesync::engine::Fault::FailSettle);
    let err = block_on(a.engine.push_step(&server)).unwrap_err();
    assert_eq!(err.code(), "QUOTA");
    // The batch reached the server but its settle did not commit: the op is
    // still marked in flight. The next step sends it again (the server's
    // opId check makes that harmless) instead of leaving it there.
    assert!(matches!(block_on(a.engine.push_step(&server)).unwrap(), Step::Sent(_)));
    assert!(block_on(a.engine.pending_ops(10)).unwrap().is_empty());
    let s = server.state.borrow();
    assert_eq!((s.seen_ops("w1"), s.applied_ops("w1")), (1, 1));
}

#[test]
fn the_default_database_name_is_per_project() {
    let cfg = |project: Option<&str>| {
        let mut v = json!({ "workspaceId": "w1", "tables": [{ "name": "notes" }] });
        if let Some(p) = project {
            v["projectId"] = json!(p);
        }
        tidesync::engine::decode_config(&v).unwrap().db_name
    };
    assert_eq!(cfg(None), "tidesync-w1");
    assert_eq!(cfg(Some("p1")), "tidesync-w1/p1");
    assert_ne!(cfg(Some("p1")), cfg(Some("p2")));
}

#[test]
fn a_device_that_pushed_before_its_first_pull_drops_a_record_whose_delete_was_purged() {
    let server = Server::default();
    let a = device(&server, "dev-a", T0);
    block_on(a.engine.put("notes", json!({ "id": "n", "v": 1 }))).unwrap();
    // a pushes and never completes a pull: its cursor stays at 0, and it
    // never reports one, so the server's GC does not know it.
    assert!(matches!(block_on(a.engine.push_step(&server)).unwrap(), Step::Sent(_)));
    let b = device(&server, "dev-b", T0 + 1_000);
    sync(&b);
    block_on(b.engine.delete("notes", Pk::Str("n".into()))).unwrap();
    sync(&b);
    let scope = tidesync::core::wire::SyncScope { workspace_id: "w1".into(), project_id: None };
    let version = server.state.borrow().server_version("w1");
    server.state.borrow_mut().update_cursor(&scope, "dev-b", version).unwrap();
    assert_eq!(server.state.borrow_mut().gc("w1", T0 + 7 * DAY, DAY), 1);
    // Cursor 0 is never expired; a's pull must still not keep the row.
    sync(&a);
    assert!(row(&a, "notes", "n").is_none(), "the purged delete is not undone on a");
    assert!(server_live(&server, "n").is_none());
}

#[test]
fn discarding_the_newer_of_two_failed_ops_reverts_once_the_older_one_is_retried() {
    let server = Server::default();
    let a = device(&server, "dev-a", T0);
    block_on(a.engine.put("notes", json!({ "id": "n", "v": "good" }))).unwrap();
    sync(&a);
    // Two dead letters on one record: the older op keeps a copy of its row.
    block_on(a.engine.put("notes", json!({ "id": "n", "v": "old" }))).unwrap();
    let first = block_on(a.engine.pending_ops(10)).unwrap()[0].stamp.op_id.clone();
    server.reject.borrow_mut().push(first.clone());
    block_on(a.engine.push_step(&server)).unwrap();
    block_on(a.engine.put("notes", json!({ "id": "n", "v": "bad" }))).unwrap();
    let ops = block_on(a.engine.pending_ops(10)).unwrap();
    let second = ops.iter().find(|o| o.stamp.op_id != first).unwrap().stamp.op_id.clone();
    server.reject.borrow_mut().push(second.clone());
    block_on(a.engine.push_step(&server)).unwrap();
    assert_eq!(block_on(a.engine.failed_ops()).unwrap().len(), 2);
    // The newer one is discarded, the older one retried (and accepted).
    server.reject.borrow_mut().clear();
    assert_eq!(block_on(a.engine.discard_failed(&[second])).unwrap(), 1);
    assert_eq!(block_on(a.engine.retry_failed(Some(&[first]))).unwrap(), 1);
    sync(&a);
    sync(&a);
    assert_eq!(server_live(&server, "n").unwrap()["v"], "old");
    assert_eq!(row(&a, "notes", "n").unwrap()["v"], "old", "the discarded version does not stay");
}

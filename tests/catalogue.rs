//! The bad-input catalogue: config, records, pull pages, subscription
//! batches, push results and server requests that must each be refused with
//! a typed error, while a dump of the database (or the server's state) taken
//! before and after shows that nothing changed.
#![cfg(not(target_arch = "wasm32"))]

mod sync_support;

use std::rc::Rc;

use futures::executor::block_on;
use serde_json::{json, Value};
use tidesync::core::server::ServerState;
use tidesync::core::wire::{decode_push_batch, decode_push_result, OpKind, PullRequest, SyncChange, SyncScope};
use tidesync::core::{ChangeStamp, Pk, SyncError};
use tidesync::engine::driver::Driver;
use tidesync::engine::pull::check_page;
use tidesync::engine::{decode_config, Engine, EngineConfig, TestPlatform};
use tidesync::store::memory::MemoryStore;
use tidesync::store::schema::IndexSpec;
use tidesync::store::{After, Query, Schema, TableSchema};

use sync_support::Server;

type TestEngine = Engine<MemoryStore, TestPlatform>;

/// A device with a few records, a tombstone, a queued op and a cursor.
fn populated() -> (MemoryStore, Rc<TestEngine>, Server) {
    let server = Server::default();
    let notes = TableSchema {
        indexes: vec![IndexSpec { multi_entry: true, ..IndexSpec::field("tags") }],
        ..TableSchema::simple("notes")
    };
    let store = MemoryStore::new(Schema::new(vec![notes]));
    let config = EngineConfig::new("w1", vec![TableSchema::simple("notes")]);
    let engine =
        Rc::new(block_on(Engine::open(config, store.clone(), TestPlatform::new(1_700_000_000_000, 7))).unwrap());
    block_on(engine.bulk_put("notes", vec![json!({ "id": "a" }), json!({ "id": "b" }), json!({ "id": 3 })])).unwrap();
    let driver = Driver::new(engine.clone(), server.clone(), true);
    driver.set_leader(true);
    block_on(driver.sync_now()).unwrap();
    block_on(engine.delete("notes", Pk::Str("b".into()))).unwrap();
    block_on(engine.put("notes", json!({ "id": "c" }))).unwrap();
    (store, engine, server)
}

fn stamp(op: &str) -> ChangeStamp {
    ChangeStamp { clock: 9, hlc: "001700000100000:00000:dev-x".into(), device_id: "dev-x".into(), op_id: op.into() }
}

fn change(table: &str, pk: &str, version: u64, payload: Option<Value>) -> SyncChange<Value> {
    let op = if payload.is_some() { OpKind::Put } else { OpKind::Delete };
    SyncChange {
        table_name: table.into(),
        pk: Pk::Str(pk.into()),
        op,
        payload,
        server_version: version,
        stamp: stamp(pk),
    }
}

/// Runs one case against the database and checks: INVALID (or the given
/// code), and the dump is unchanged.
fn refused(store: &MemoryStore, code: &str, what: &str, f: impl FnOnce() -> Result<(), SyncError>) -> usize {
    let before = store.dump();
    let err = f().expect_err(what);
    assert_eq!(err.code(), code, "{what}: {err}");
    assert_eq!(store.dump(), before, "{what}: the database changed");
    1
}

#[test]
fn config_cases_are_invalid() {
    let base = json!({ "workspaceId": "w1", "tables": [{ "name": "notes" }] });
    let cases: Vec<(&str, Value)> = vec![
        ("not an object", json!(5)),
        ("no workspaceId", json!({ "tables": [{ "name": "notes" }] })),
        ("workspaceId with a slash", json!({ "workspaceId": "a/b", "tables": [{ "name": "notes" }] })),
        ("no tables", json!({ "workspaceId": "w1" })),
        ("empty tables", json!({ "workspaceId": "w1", "tables": [] })),
        ("a table twice", json!({ "workspaceId": "w1", "tables": [{ "name": "t" }, { "name": "t" }] })),
        ("a reserved table name", json!({ "workspaceId": "w1", "tables": [{ "name": "pending_ops" }] })),
        (
            "primaryKey the engine writes",
            json!({ "workspaceId": "w1", "tables": [{ "name": "t", "primaryKey": "hlc" }] }),
        ),
        ("an index twice", json!({ "workspaceId": "w1", "tables": [{ "name": "t", "indexes": ["x", "x"] }] })),
        ("batchSize 0", json!({ "workspaceId": "w1", "tables": [{ "name": "t" }], "batchSize": 0 })),
        ("pullLimit too big", json!({ "workspaceId": "w1", "tables": [{ "name": "t" }], "pullLimit": 1_000_000 })),
        ("backoffMs empty", json!({ "workspaceId": "w1", "tables": [{ "name": "t" }], "backoffMs": [] })),
        ("retentionMs too short", json!({ "workspaceId": "w1", "tables": [{ "name": "t" }], "retentionMs": 5 })),
        ("autoSync not a boolean", json!({ "workspaceId": "w1", "tables": [{ "name": "t" }], "autoSync": "yes" })),
        ("durability unknown", json!({ "workspaceId": "w1", "tables": [{ "name": "t" }], "durability": "fast" })),
        ("durability not a string", json!({ "workspaceId": "w1", "tables": [{ "name": "t" }], "durability": 1 })),
        (
            "an unknown key (a typo of autoSync)",
            json!({ "workspaceId": "w1", "tables": [{ "name": "t" }], "autosync": false }),
        ),
        ("an unknown table key", json!({ "workspaceId": "w1", "tables": [{ "name": "t", "index": ["x"] }] })),
    ];
    assert!(decode_config(&base).is_ok());
    for (what, v) in &cases {
        assert!(decode_config(v).is_err(), "{what}: accepted");
    }
    assert!(cases.len() >= 16);
}

#[test]
fn unknown_config_keys_are_named_with_the_accepted_ones() {
    let typo = json!({ "workspaceId": "w1", "tables": [{ "name": "t" }], "autosync": false });
    let err = decode_config(&typo).unwrap_err();
    assert_eq!(err.path, "config.autosync");
    let message = err.to_string();
    assert!(message.contains("did you mean \"autoSync\""), "{message}");
    for key in ["workspaceId", "tables", "provider", "batchSize", "retentionMs"] {
        assert!(message.contains(key), "{message} lists {key}");
    }
    let table = json!({ "workspaceId": "w1", "tables": [{ "name": "t" }, { "name": "u", "primarykey": "k" }] });
    let err = decode_config(&table).unwrap_err();
    assert_eq!(err.path, "config.tables[1].primarykey");
    assert!(err.to_string().contains("did you mean \"primaryKey\""), "{err}");
    // Every documented option, and a table `resolve` hook, is still accepted.
    let full = json!({
        "workspaceId": "w1", "projectId": "p", "deviceId": "d", "dbName": "db",
        "tables": [{ "name": "t", "primaryKey": "k", "indexes": ["x"], "orderKey": true, "resolve": null }],
        "provider": null, "autoSync": false, "batchSize": 5, "pullLimit": 5, "backoffMs": [1], "maxAttempts": 2,
        "maxPendingOps": 9, "maxClockDriftMs": 5000, "retentionMs": 60000, "durability": "strict",
    });
    assert!(decode_config(&full).is_ok(), "{:?}", decode_config(&full));
}

#[test]
fn durability_is_one_of_three_hints() {
    use tidesync::store::Durability;
    let with = |d: Value| json!({ "workspaceId": "w1", "tables": [{ "name": "t" }], "durability": d });
    let base = json!({ "workspaceId": "w1", "tables": [{ "name": "t" }] });
    assert_eq!(decode_config(&base).unwrap().durability, Durability::Default);
    for (name, d) in
        [("default", Durability::Default), ("strict", Durability::Strict), ("relaxed", Durability::Relaxed)]
    {
        assert_eq!(decode_config(&with(json!(name))).unwrap().durability, d);
    }
    let err = decode_config(&with(json!("Strict"))).unwrap_err();
    assert_eq!(err.path, "config.durability");
    assert!(err.to_string().contains("\"strict\""), "{err}");
}

#[test]
fn record_cases_are_refused_and_write_nothing() {
    let (store, e, _) = populated();
    let mut n = 0;
    let bad_records: Vec<(&str, Vec<Value>)> = vec![
        ("not an object", vec![json!(5)]),
        ("an array", vec![json!([1, 2])]),
        ("no primary key", vec![json!({ "title": "x" })]),
        ("a boolean key", vec![json!({ "id": true })]),
        ("an object key", vec![json!({ "id": { "a": 1 } })]),
        ("a null key", vec![json!({ "id": null })]),
        ("one bad record among good ones", vec![json!({ "id": "ok1" }), json!({ "id": [1] }), json!({ "id": "ok2" })]),
        ("null instead of a record", vec![json!(null)]),
        ("an empty-string key", vec![json!({ "id": "" })]),
        ("an empty-string key among good ones", vec![json!({ "id": "ok1" }), json!({ "id": "" })]),
    ];
    for (what, records) in bad_records {
        n += refused(&store, "INVALID", what, || block_on(e.bulk_put("notes", records)).map(|_| ()));
    }
    n += refused(&store, "INVALID", "put to an unknown table", || {
        block_on(e.put("nope", json!({ "id": "x" }))).map(|_| ())
    });
    n += refused(&store, "INVALID", "delete in an unknown table", || {
        block_on(e.delete("nope", Pk::Str("a".into()))).map(|_| ())
    });
    n += refused(&store, "INVALID", "getAll on an undeclared index", || {
        let q = Query { index: Some("nope".into()), ..Default::default() };
        block_on(e.get_all("notes", &q)).map(|_| ())
    });
    n += refused(&store, "INVALID", "a keyset page along a multi-entry index", || {
        let after = After { key: "x".into(), pk: "a".into() };
        let q = Query { index: Some("tags".into()), after: Some(after), limit: Some(5), ..Default::default() };
        block_on(e.get_all("notes", &q)).map(|_| ())
    });
    assert_eq!(n, 14);
    let err = block_on(e.bulk_put("notes", vec![json!({ "id": "ok" }), json!({ "id": "" })])).unwrap_err();
    assert_eq!(err.to_string(), "invalid input: records[1].id: must not be empty");
}

#[test]
fn pull_page_and_subscription_cases_are_refused_whole() {
    let (store, e, server) = populated();
    let tables = e.table_names();
    let (cursor, _) = block_on(e.cursor_state()).unwrap();
    let good = |v: u64| change("notes", &format!("g{v}"), v, Some(json!({ "id": format!("g{v}") })));
    let page = |changes: Vec<SyncChange<Value>>, next: u64, more: bool| tidesync::core::wire::PullResponse {
        changes,
        next_cursor: next,
        has_more: more,
        remaining: None,
    };
    let c = cursor;
    let pages = vec![
        ("an unknown table", page(vec![good(c + 1), change("nope", "x", c + 2, None)], c + 2, false)),
        ("versions not ascending", page(vec![good(c + 2), good(c + 1)], c + 2, false)),
        ("a version at the cursor", page(vec![good(c)], c + 1, false)),
        ("a duplicate version", page(vec![good(c + 1), good(c + 1)], c + 1, false)),
        ("nextCursor going back", page(vec![], c.saturating_sub(1), false)),
        ("nextCursor below the last change", page(vec![good(c + 1), good(c + 3)], c + 2, false)),
        ("hasMore without progress", page(vec![], c, true)),
        (
            "a put without a payload",
            page(vec![change("notes", "p", c + 1, None), good(c + 2)], c + 2, false).map_put_without_payload(),
        ),
    ];
    let mut n = 0;
    for (what, p) in pages {
        n += refused(&store, "INVALID", what, || {
            tidesync::engine::pull::check_page(&p, cursor, &tables).map_err(SyncError::Invalid)?;
            block_on(e.apply_page(p, cursor)).map(|_| ())
        });
    }
    let batches = vec![
        ("a batch with an unknown table", vec![change("nope", "x", c + 1, None)]),
        ("a batch not ascending", vec![good(c + 2), good(c + 1)]),
        ("a batch repeating the cursor", vec![good(c)]),
        ("a batch with a put without payload", vec![change("notes", "p", c + 1, None)].map_put_without_payload()),
    ];
    for (what, b) in batches {
        n += refused(&store, "INVALID", what, || block_on(e.apply_subscription(&b, cursor)).map(|_| ()));
    }
    let _ = server;
    assert_eq!(n, 12);
}

/// Turns the first delete of a test value into a put that lacks its payload.
trait PutWithoutPayload {
    fn map_put_without_payload(self) -> Self;
}

impl PutWithoutPayload for tidesync::core::wire::PullResponse<Value> {
    fn map_put_without_payload(mut self) -> Self {
        self.changes = self.changes.map_put_without_payload();
        self
    }
}

impl PutWithoutPayload for Vec<SyncChange<Value>> {
    fn map_put_without_payload(mut self) -> Self {
        if let Some(c) = self.iter_mut().find(|c| c.op == OpKind::Delete) {
            c.op = OpKind::Put;
        }
        self
    }
}

#[test]
fn push_result_and_server_request_cases_are_refused() {
    let sent = ["op-1", "op-2"];
    let results: Vec<(&str, Value)> = vec![
        ("not an object", json!([])),
        ("no results", json!({})),
        ("a result for an op not sent", json!({ "results": [{ "opId": "op-9", "success": true }] })),
        ("success not a boolean", json!({ "results": [{ "opId": "op-1", "success": "yes" }] })),
        ("a negative serverVersion", json!({ "results": [{ "opId": "op-1", "success": true, "serverVersion": -1 }] })),
        (
            "an op answered twice",
            json!({ "results": [{ "opId": "op-1", "success": true }, { "opId": "op-1", "success": true }] }),
        ),
    ];
    for (what, v) in &results {
        assert!(decode_push_result(v, &sent).is_err(), "{what}: accepted");
    }
    let op = |id: &str| {
        json!({ "opId": id, "tableName": "notes", "op": "put", "pk": "a", "payload": { "id": "a" },
                "stamp": { "clock": 1, "hlc": "001700000000000:00000:d", "deviceId": "d", "opId": id } })
    };
    let batches: Vec<(&str, Value)> = vec![
        ("a batch without scope", json!({ "deviceId": "d", "ops": [op("x")] })),
        (
            "a batch repeating an opId",
            json!({ "scope": { "workspaceId": "w1" }, "deviceId": "d", "ops": [op("x"), op("x")] }),
        ),
        (
            "a batch over the op limit",
            json!({ "scope": { "workspaceId": "w1" }, "deviceId": "d", "ops": [op("x"), op("y"), op("z")] }),
        ),
        (
            "a stamp whose HLC names another device",
            json!({ "scope": { "workspaceId": "w1" }, "deviceId": "d",
            "ops": [{ "opId": "x", "tableName": "notes", "op": "put", "pk": "a", "payload": { "id": "a" },
                      "stamp": { "clock": 1, "hlc": "001700000000000:00000:e", "deviceId": "d", "opId": "x" } }] }),
        ),
    ];
    for (what, v) in &batches {
        assert!(decode_push_batch(v, 2).is_err(), "{what}: accepted");
    }
    // Requests the server algorithm refuses, its state unchanged.
    let mut server = ServerState::<Value>::new();
    server.grant("t1", "w1");
    let scope = SyncScope { workspace_id: "w1".into(), project_id: None };
    let other = SyncScope { workspace_id: "w2".into(), project_id: None };
    let before = format!("{:?}", server.snapshot("w1"));
    let pull = |scope: &SyncScope, cursor: u64, limit: u64| PullRequest {
        scope: scope.clone(),
        cursor,
        limit,
        tables: None,
        rescan: false,
    };
    assert_eq!(server.authorize(Some("nope"), &scope).unwrap_err().code(), "AUTH");
    assert_eq!(server.authorize(Some("t1"), &other).unwrap_err().code(), "FORBIDDEN");
    assert_eq!(server.authorize(None, &scope).unwrap_err().code(), "AUTH");
    assert_eq!(server.pull(&pull(&scope, 99, 10)).unwrap_err().code(), "CURSOR_EXPIRED", "a cursor above the version");
    assert_eq!(server.pull(&pull(&scope, 0, 0)).unwrap_err().code(), "INVALID", "limit 0");
    assert_eq!(format!("{:?}", server.snapshot("w1")), before);
    assert_eq!(results.len() + batches.len() + 5, 15);
    let _ = check_page::<Value>;
}

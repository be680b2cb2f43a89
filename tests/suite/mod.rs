//! One suite, two stores: every function here runs natively against the
//! memory store (tests/native_store.rs) and in Chromium, Firefox and WebKit
//! against IndexedDB (tests/browser.rs). The first group checks the `Store`
//! contract; the second checks write capture through the engine.
#![allow(dead_code)]

use serde_json::{json, Value};
use tidesync::core::wire::OpKind;
use tidesync::core::{ChangeStamp, Hlc, Pk, SyncError};
use tidesync::engine::{Engine, EngineConfig, Event, Fault, TestPlatform};
use tidesync::store::{
    Access, OpState, PendingOp, Query, Schema, Store, StoreTx, TableSchema, Tombstone,
};

/// What a store-specific harness provides.
#[allow(async_fn_in_trait)]
pub trait Harness {
    type S: Store;
    /// Opens the harness's database (the same one on every call) with `schema`.
    async fn open(&self, schema: Schema) -> Self::S;
    fn rec(&self, v: Value) -> <Self::S as Store>::Rec;
    fn json(&self, r: &<Self::S as Store>::Rec) -> Value;
}

type Rec<H> = <<H as Harness>::S as Store>::Rec;

pub fn notes() -> TableSchema {
    TableSchema {
        name: "notes".into(),
        primary_key: "id".into(),
        indexes: vec!["thread_id".into()],
        order_key: false,
    }
}

pub fn messages() -> TableSchema {
    TableSchema {
        name: "messages".into(),
        primary_key: "id".into(),
        indexes: vec![],
        order_key: true,
    }
}

pub fn schema() -> Schema {
    Schema::new(vec![notes(), messages()])
}

fn stamp(clock: u64, ms: u64, op: &str) -> ChangeStamp {
    let hlc = Hlc {
        ms,
        counter: 0,
        device_id: "dev".into(),
    }
    .to_string();
    ChangeStamp {
        clock,
        hlc,
        device_id: "dev".into(),
        op_id: op.into(),
    }
}

fn op<R>(table: &str, pk: Pk, clock: u64, id: &str) -> PendingOp<R> {
    PendingOp {
        seq: None,
        table_name: table.into(),
        pk,
        op: OpKind::Put,
        stamp: stamp(clock, 1_700_000_000_000 + clock, id),
        state: OpState::Pending,
        attempts: 0,
        created_at: 1,
        last_error: None,
        payload: None,
    }
}

fn s(x: &str) -> Pk {
    Pk::Str(x.into())
}

// ------------------------------------------------------------ Store contract

pub async fn store_records_roundtrip<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    tx.put_records(
        "notes",
        vec![
            h.rec(json!({"id": "a", "v": 1})),
            h.rec(json!({"id": "b", "v": 2})),
        ],
    )
    .await
    .unwrap();
    let seen = tx.get_records("notes", &[s("a")]).await.unwrap();
    assert_eq!(
        h.json(seen[0].as_ref().unwrap())["v"],
        1,
        "a transaction reads its own writes"
    );
    tx.commit().await.unwrap();

    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    let rows = tx
        .get_records("notes", &[s("a"), s("b"), s("zz")])
        .await
        .unwrap();
    assert_eq!(h.json(rows[0].as_ref().unwrap())["v"], 1);
    assert_eq!(h.json(rows[1].as_ref().unwrap())["v"], 2);
    assert!(rows[2].is_none());
    assert_eq!(tx.count("notes").await.unwrap(), 2);
    tx.commit().await.unwrap();

    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    tx.delete_records("notes", &[s("a")]).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    assert!(tx.get_records("notes", &[s("a")]).await.unwrap()[0].is_none());
    assert_eq!(tx.count("notes").await.unwrap(), 1);
    tx.commit().await.unwrap();
}

pub async fn store_abort_discards_everything<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    tx.put_records("notes", vec![h.rec(json!({"id": "x"}))])
        .await
        .unwrap();
    tx.put_ops(vec![op("notes", s("x"), 1, "op-x")])
        .await
        .unwrap();
    tx.put_state("k", json!(1)).await.unwrap();
    tx.abort().await.unwrap();
    let tx = store.begin(Access::All, None).await.unwrap();
    assert!(tx.get_records("notes", &[s("x")]).await.unwrap()[0].is_none());
    assert_eq!(tx.count_ops().await.unwrap(), 0);
    assert_eq!(tx.get_state("k").await.unwrap(), None);
    tx.commit().await.unwrap();
}

pub async fn store_dropped_tx_is_aborted<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    {
        let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
        tx.put_records("notes", vec![h.rec(json!({"id": "dropped"}))])
            .await
            .unwrap();
    }
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    assert!(tx.get_records("notes", &[s("dropped")]).await.unwrap()[0].is_none());
    tx.commit().await.unwrap();
}

pub async fn store_primary_keys_keep_their_type<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    tx.put_records(
        "notes",
        vec![
            h.rec(json!({"id": "5", "t": "string"})),
            h.rec(json!({"id": 5, "t": "number"})),
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    let rows = tx
        .get_records("notes", &[s("5"), Pk::Num(5.0)])
        .await
        .unwrap();
    assert_eq!(h.json(rows[0].as_ref().unwrap())["t"], "string");
    assert_eq!(h.json(rows[1].as_ref().unwrap())["t"], "number");
    assert_eq!(tx.count("notes").await.unwrap(), 2);
    tx.commit().await.unwrap();
}

pub async fn store_index_query<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    let rows = (0..6).map(|i| {
        h.rec(json!({"id": format!("n{i}"), "thread_id": if i % 2 == 0 { "t1" } else { "t2" }}))
    });
    tx.put_records("notes", rows.collect()).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    let q = Query {
        index: Some("thread_id".into()),
        equals: Some(s("t1")),
        limit: None,
    };
    let ids: Vec<Value> = tx
        .query("notes", &q)
        .await
        .unwrap()
        .iter()
        .map(|r| h.json(r)["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("n0"), json!("n2"), json!("n4")]);
    let q = Query {
        index: Some("thread_id".into()),
        equals: Some(s("t2")),
        limit: Some(2),
    };
    assert_eq!(tx.query("notes", &q).await.unwrap().len(), 2);
    let all = tx
        .query(
            "notes",
            &Query {
                limit: Some(4),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ids: Vec<Value> = all.iter().map(|r| h.json(r)["id"].clone()).collect();
    assert_eq!(
        ids,
        vec![json!("n0"), json!("n1"), json!("n2"), json!("n3")],
        "primary-key order"
    );
    tx.commit().await.unwrap();
}

pub async fn store_tombstones_roundtrip<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    let t = Tombstone {
        table_name: "notes".into(),
        pk: Pk::Num(7.0),
        stamp: stamp(3, 10, "del"),
        deleted_at: 99,
    };
    tx.put_tombstones(vec![t.clone()]).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    let got = tx
        .get_tombstones("notes", &[Pk::Num(7.0), s("7")])
        .await
        .unwrap();
    assert_eq!(got[0].as_ref(), Some(&t));
    assert!(got[1].is_none(), "7 and \"7\" are different keys");
    tx.delete_tombstones("notes", &[Pk::Num(7.0)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    assert!(tx.get_tombstones("notes", &[Pk::Num(7.0)]).await.unwrap()[0].is_none());
    tx.commit().await.unwrap();
}

pub async fn store_ops_fifo<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    tx.put_ops(vec![
        op("notes", s("a"), 1, "o1"),
        op("notes", s("b"), 1, "o2"),
        op("notes", s("a"), 2, "o3"),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    let all = tx.list_ops(None, 100).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|o| o.stamp.op_id.as_str()).collect();
    assert_eq!(ids, ["o1", "o2", "o3"]);
    let by_a = tx
        .ops_for("notes", &[s("a"), s("b"), s("c")])
        .await
        .unwrap();
    assert_eq!(
        by_a[0]
            .iter()
            .map(|o| o.stamp.op_id.as_str())
            .collect::<Vec<_>>(),
        ["o1", "o3"]
    );
    assert_eq!(by_a[1].len(), 1);
    assert!(by_a[2].is_empty());
    // Replacing an op by seq keeps its queue position.
    let mut first = all[0].clone();
    first.state = OpState::InFlight;
    first.attempts = 2;
    tx.put_ops(vec![first.clone()]).await.unwrap();
    let page = tx.list_ops(all[0].seq, 1).await.unwrap();
    assert_eq!(page[0].stamp.op_id, "o2", "list_ops pages after a seq");
    tx.delete_ops(&[all[1].seq.unwrap()]).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::System, None).await.unwrap();
    let all = tx.list_ops(None, 100).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], first);
    assert_eq!(tx.count_ops().await.unwrap(), 2);
    tx.commit().await.unwrap();
}

pub async fn store_op_payload_snapshot_roundtrip<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    let mut o = op("notes", s("p"), 1, "op-p");
    o.payload = Some(h.rec(json!({"id": "p", "body": "old"})));
    o.state = OpState::Failed;
    o.last_error = Some("rejected".into());
    tx.put_ops(vec![o]).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::System, None).await.unwrap();
    let back = tx.list_ops(None, 10).await.unwrap().remove(0);
    assert_eq!(h.json(back.payload.as_ref().unwrap())["body"], "old");
    assert_eq!(back.state, OpState::Failed);
    assert_eq!(back.last_error.as_deref(), Some("rejected"));
    tx.commit().await.unwrap();
}

pub async fn store_state_roundtrip<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::System, None).await.unwrap();
    tx.put_state("cursor", json!(42)).await.unwrap();
    tx.put_state("deviceId", json!("d-1")).await.unwrap();
    tx.put_state("nested", json!({"a": [1, "x", null]}))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::System, None).await.unwrap();
    assert_eq!(tx.get_state("cursor").await.unwrap(), Some(json!(42)));
    assert_eq!(tx.get_state("deviceId").await.unwrap(), Some(json!("d-1")));
    assert_eq!(
        tx.get_state("nested").await.unwrap(),
        Some(json!({"a": [1, "x", null]}))
    );
    assert_eq!(tx.get_state("missing").await.unwrap(), None);
    tx.commit().await.unwrap();
}

pub async fn store_upgrade_keeps_rows<H: Harness>(h: H) {
    let store = h
        .open(Schema::new(vec![TableSchema::simple("notes")]))
        .await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    tx.put_records(
        "notes",
        vec![h.rec(json!({"id": "keep", "thread_id": "t9"}))],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    store.close();
    // A new table and a new index: an upgrade that must not lose rows.
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    assert_eq!(
        h.json(
            tx.get_records("notes", &[s("keep")]).await.unwrap()[0]
                .as_ref()
                .unwrap()
        )["thread_id"],
        "t9"
    );
    let q = Query {
        index: Some("thread_id".into()),
        equals: Some(s("t9")),
        limit: None,
    };
    assert_eq!(
        tx.query("notes", &q).await.unwrap().len(),
        1,
        "the new index covers old rows"
    );
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Write, Some("messages")).await.unwrap();
    tx.put_records("messages", vec![h.rec(json!({"id": 1}))])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    store.close();
    // Dropping a table from the config keeps its rows for whoever still uses it.
    let store = h.open(Schema::new(vec![messages()])).await;
    store.close();
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    assert_eq!(tx.count("notes").await.unwrap(), 1);
    tx.commit().await.unwrap();
}

// ------------------------------------------------------------ write capture

pub async fn engine<H: Harness>(
    h: &H,
    platform: &TestPlatform,
    max_pending: u64,
) -> Engine<H::S, TestPlatform> {
    let mut config = EngineConfig::new("w1", schema().tables);
    config.max_pending_ops = max_pending;
    let store = h.open(config.schema()).await;
    Engine::open(config, store, platform.clone()).await.unwrap()
}

pub async fn capture_is_atomic<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 1);
    let e = engine(&h, &p, 1000).await;
    e.inject_fault(Fault::FailBeforeCommit);
    let err = e
        .put("notes", h.rec(json!({"id": "a", "v": 1})))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "STORAGE");
    assert!(
        e.get("notes", &s("a")).await.unwrap().is_none(),
        "no record"
    );
    assert!(e.pending_ops(10).await.unwrap().is_empty(), "no op");
    let err = e.bulk_delete("notes", vec![s("a")]).await;
    assert!(err.is_ok(), "the engine keeps working after a failed write");
}

pub async fn capture_clock_advances_on_every_path<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 2);
    let e = engine(&h, &p, 1000).await;
    let mut stamps = vec![e.put("notes", h.rec(json!({"id": "a"}))).await.unwrap()];
    stamps.push(
        e.put("notes", h.rec(json!({"id": "a", "v": 2})))
            .await
            .unwrap(),
    );
    stamps.push(e.delete("notes", s("a")).await.unwrap());
    stamps.extend(
        e.bulk_put(
            "notes",
            vec![h.rec(json!({"id": "a"})), h.rec(json!({"id": "b"}))],
        )
        .await
        .unwrap(),
    );
    stamps.extend(e.bulk_delete("notes", vec![s("a"), s("b")]).await.unwrap());
    let clocks: Vec<u64> = stamps.iter().map(|s| s.clock).collect();
    assert_eq!(
        clocks,
        [1, 2, 3, 4, 1, 5, 2],
        "clock = max(live, tombstone) + 1 per record"
    );
    for w in stamps.windows(2) {
        assert!(
            w[1].hlc > w[0].hlc,
            "HLCs strictly increase: {} then {}",
            w[0].hlc,
            w[1].hlc
        );
    }
    assert!(stamps.iter().all(|s| s.device_id == e.device_id()));
    let ids: std::collections::HashSet<&str> = stamps.iter().map(|s| s.op_id.as_str()).collect();
    assert_eq!(ids.len(), stamps.len(), "every write has its own opId");
    assert!(uuid_v4(&stamps[0].op_id));
    let row = e
        .put(
            "notes",
            h.rec(json!({"id": "c", "clock": 99, "hlc": "forged"})),
        )
        .await
        .unwrap();
    let stored = h.json(&e.get("notes", &s("c")).await.unwrap().unwrap());
    assert_eq!(stored["clock"], json!(row.clock), "the engine owns clock");
    assert_eq!(stored["hlc"], json!(row.hlc), "the engine owns hlc");
}

fn uuid_v4(s: &str) -> bool {
    s.len() == 36
        && s.as_bytes()[14] == b'4'
        && matches!(s.as_bytes()[19], b'8' | b'9' | b'a' | b'b')
}

pub async fn capture_delete_leaves_tombstone<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 3);
    let e = engine(&h, &p, 1000).await;
    e.put("notes", h.rec(json!({"id": "a"}))).await.unwrap();
    let del = e.delete("notes", s("a")).await.unwrap();
    assert!(e.get("notes", &s("a")).await.unwrap().is_none());
    let tx = e.store().begin(Access::Write, Some("notes")).await.unwrap();
    let tomb = tx
        .get_tombstones("notes", &[s("a")])
        .await
        .unwrap()
        .remove(0)
        .expect("tombstone");
    tx.commit().await.unwrap();
    assert_eq!(tomb.stamp, del);
    let again = e.put("notes", h.rec(json!({"id": "a"}))).await.unwrap();
    assert_eq!(
        again.clock,
        del.clock + 1,
        "a put after a delete continues from the tombstone's clock"
    );
    let tx = e.store().begin(Access::Write, Some("notes")).await.unwrap();
    assert!(
        tx.get_tombstones("notes", &[s("a")]).await.unwrap()[0].is_none(),
        "the newer put replaces it"
    );
    tx.commit().await.unwrap();
}

pub async fn capture_persists_across_reopen_with_clock_backwards<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 4);
    let e = engine(&h, &p, 1000).await;
    let device = e.device_id().to_string();
    let last = e.put("notes", h.rec(json!({"id": "a"}))).await.unwrap();
    e.close();
    let p2 = TestPlatform::new(1_700_000_000_000 - 3_600_000, 5); // the wall clock stepped back an hour
    let e2 = engine(&h, &p2, 1000).await;
    assert_eq!(e2.device_id(), device, "deviceId persists");
    assert!(
        e2.get("notes", &s("a")).await.unwrap().is_some(),
        "records persist"
    );
    assert_eq!(e2.pending_ops(10).await.unwrap().len(), 1, "ops persist");
    let next = e2.put("notes", h.rec(json!({"id": "b"}))).await.unwrap();
    assert!(
        next.hlc > last.hlc,
        "next HLC {} must exceed {}",
        next.hlc,
        last.hlc
    );
}

pub async fn capture_coalesces_pending_writes<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 6);
    let e = engine(&h, &p, 1000).await;
    for i in 0..100 {
        e.put("notes", h.rec(json!({"id": "one", "n": i})))
            .await
            .unwrap();
    }
    let ops = e.pending_ops(1000).await.unwrap();
    assert_eq!(ops.len(), 1, "100 puts of one record leave one op");
    assert_eq!(
        h.json(ops[0].payload.as_ref().unwrap())["n"],
        99,
        "holding the last payload"
    );
    assert_eq!(ops[0].stamp.clock, 100);
    // A delete coalesces too, and turns the op into a delete.
    e.delete("notes", s("one")).await.unwrap();
    let ops = e.pending_ops(1000).await.unwrap();
    assert_eq!((ops.len(), ops[0].op), (1, OpKind::Delete));
    let captured = p
        .events
        .borrow()
        .iter()
        .filter(|e| matches!(e, Event::OpCaptured(_)))
        .count();
    assert_eq!(captured, 101, "every write reports its capture");
}

pub async fn capture_never_touches_in_flight_ops<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 7);
    let e = engine(&h, &p, 1000).await;
    e.put("notes", h.rec(json!({"id": "a", "v": "sent"})))
        .await
        .unwrap();
    let tx = e.store().begin(Access::System, None).await.unwrap();
    let mut sent = tx.list_ops(None, 10).await.unwrap().remove(0);
    sent.state = OpState::InFlight;
    tx.put_ops(vec![sent.clone()]).await.unwrap();
    tx.commit().await.unwrap();
    e.put("notes", h.rec(json!({"id": "a", "v": "newer"})))
        .await
        .unwrap();
    e.put("notes", h.rec(json!({"id": "a", "v": "newest"})))
        .await
        .unwrap();
    let ops = e.pending_ops(10).await.unwrap();
    assert_eq!(
        ops.len(),
        2,
        "the in-flight op stays; newer writes coalesce into one new op"
    );
    assert_eq!(ops[0].stamp, sent.stamp, "the in-flight op is unchanged");
    assert_eq!(
        h.json(ops[0].payload.as_ref().unwrap())["v"],
        "sent",
        "and keeps the payload it was sent with"
    );
    assert_eq!(h.json(ops[1].payload.as_ref().unwrap())["v"], "newest");
}

pub async fn capture_rejects_bad_input_and_writes_nothing<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 8);
    let e = engine(&h, &p, 1000).await;
    let cases: Vec<(Vec<Value>, &str)> = vec![
        (
            vec![json!({"id": "ok"}), json!({"nope": 1})],
            "records[1].id",
        ),
        (vec![json!({"id": "ok"}), json!("a string")], "records[1]"),
        (vec![json!({"id": "ok"}), json!([1, 2])], "records[1]"),
        (vec![json!({"id": true})], "records[0].id"),
        (vec![json!({"id": {"x": 1}})], "records[0].id"),
        (vec![json!({"id": null})], "records[0].id"),
    ];
    for (records, path) in cases {
        let err = e
            .bulk_put("notes", records.into_iter().map(|r| h.rec(r)).collect())
            .await
            .unwrap_err();
        match &err {
            SyncError::Invalid(inv) => assert_eq!(inv.path, path),
            other => panic!("expected INVALID, got {other:?}"),
        }
    }
    let err = e.put("nope", h.rec(json!({"id": "x"}))).await.unwrap_err();
    assert_eq!(err.code(), "INVALID");
    assert_eq!(
        e.count("notes").await.unwrap(),
        0,
        "not even the good records"
    );
    assert!(e.pending_ops(10).await.unwrap().is_empty());
    assert_eq!(
        e.get_all(
            "notes",
            &Query {
                index: Some("nope".into()),
                ..Default::default()
            }
        )
        .await
        .unwrap_err()
        .code(),
        "INVALID"
    );
}

pub async fn capture_waits_when_outbox_is_full<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 9);
    let e = engine(&h, &p, 3).await;
    e.bulk_put("notes", (0..3).map(|i| h.rec(json!({"id": i}))).collect())
        .await
        .unwrap();
    // Coalescing adds no op, so it passes while full.
    e.put("notes", h.rec(json!({"id": 0, "again": true})))
        .await
        .unwrap();
    let writer = e.put("notes", h.rec(json!({"id": "late"})));
    let drainer = async {
        loop {
            if p.event_names().contains(&"sync.queue:action:full") {
                assert!(
                    e.get("notes", &s("late")).await.unwrap().is_none(),
                    "the waiting write wrote nothing yet"
                );
                let tx = e.store().begin(Access::System, None).await.unwrap();
                let first = tx.list_ops(None, 1).await.unwrap().remove(0);
                tx.delete_ops(&[first.seq.unwrap()]).await.unwrap();
                tx.commit().await.unwrap();
                return;
            }
            // Yield to the other task: natively through the test clock, in the
            // browser through a real IndexedDB request (a timer-free macrotask).
            tidesync::engine::Platform::sleep(&p, 10).await;
            let _ = e.count("notes").await;
        }
    };
    let (written, ()) = futures::join!(writer, drainer);
    written.unwrap();
    assert!(
        e.get("notes", &s("late")).await.unwrap().is_some(),
        "nothing dropped: the write lands once there is room"
    );
    assert_eq!(e.pending_ops(10).await.unwrap().len(), 3);
    let too_big = e
        .bulk_put("notes", (10..14).map(|i| h.rec(json!({"id": i}))).collect())
        .await
        .unwrap_err();
    assert_eq!(
        too_big.code(),
        "INVALID",
        "a batch larger than the outbox can never fit"
    );
}

pub async fn capture_order_key_set_once<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 10);
    let e = engine(&h, &p, 1000).await;
    let first = e
        .put("messages", h.rec(json!({"id": "m1", "text": "hi"})))
        .await
        .unwrap();
    p.now.set(p.now.get() + 5000);
    e.put("messages", h.rec(json!({"id": "m1", "text": "edited"})))
        .await
        .unwrap();
    e.put("messages", h.rec(json!({"id": "m2", "text": "later"})))
        .await
        .unwrap();
    let rows = e
        .get_all(
            "messages",
            &Query {
                index: Some("order_key".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let rows: Vec<Value> = rows.iter().map(|r| h.json(r)).collect();
    assert_eq!(
        rows[0]["order_key"],
        json!(first.hlc),
        "order_key comes from the creating write's HLC"
    );
    assert_eq!(rows[0]["text"], "edited");
    assert_eq!(rows[1]["id"], "m2");
    assert!(e.get("notes", &s("m1")).await.unwrap().is_none());
    let plain = e.put("notes", h.rec(json!({"id": "n"}))).await.unwrap();
    assert!(
        h.json(&e.get("notes", &s("n")).await.unwrap().unwrap())
            .get("order_key")
            .is_none(),
        "{plain:?}"
    );
}

/// The names of every suite function, for the harness macros.
#[macro_export]
macro_rules! suite_names {
    ($m:ident) => {
        $m!(
            store_records_roundtrip,
            store_abort_discards_everything,
            store_dropped_tx_is_aborted,
            store_primary_keys_keep_their_type,
            store_index_query,
            store_tombstones_roundtrip,
            store_ops_fifo,
            store_op_payload_snapshot_roundtrip,
            store_state_roundtrip,
            store_upgrade_keeps_rows,
            capture_is_atomic,
            capture_clock_advances_on_every_path,
            capture_delete_leaves_tombstone,
            capture_persists_across_reopen_with_clock_backwards,
            capture_coalesces_pending_writes,
            capture_never_touches_in_flight_ops,
            capture_rejects_bad_input_and_writes_nothing,
            capture_waits_when_outbox_is_full,
            capture_order_key_set_once
        );
    };
}

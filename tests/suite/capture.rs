//! The write-capture half of the suite: the engine over each store.

use serde_json::{json, Value};
use tidesync::core::wire::OpKind;
use tidesync::core::SyncError;
use tidesync::engine::outbox::set_in_flight;
use tidesync::engine::{Engine, EngineConfig, Event, Fault, TestPlatform};
use tidesync::store::{Access, OpState, Query, Store, StoreTx};

use super::{s, schema, Harness};
use tidesync::core::Pk;

pub async fn engine<H: Harness>(h: &H, platform: &TestPlatform, max_pending: u64) -> Engine<H::S, TestPlatform> {
    let mut config = EngineConfig::new("w1", schema().tables);
    config.max_pending_ops = max_pending;
    let store = h.open(config.schema()).await;
    Engine::open(config, store, platform.clone()).await.unwrap()
}

pub async fn capture_is_atomic<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 1);
    let e = engine(&h, &p, 1000).await;
    e.inject_fault(Fault::FailBeforeCommit);
    let err = e.put("notes", h.rec(json!({"id": "a", "v": 1}))).await.unwrap_err();
    assert_eq!(err.code(), "STORAGE");
    assert!(e.get("notes", &s("a")).await.unwrap().is_none(), "no record");
    assert!(e.pending_ops(10).await.unwrap().is_empty(), "no op");
    let err = e.bulk_delete("notes", vec![s("a")]).await;
    assert!(err.is_ok(), "the engine keeps working after a failed write");
}

pub async fn capture_clock_advances_on_every_path<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 2);
    let e = engine(&h, &p, 1000).await;
    let mut stamps = vec![e.put("notes", h.rec(json!({"id": "a"}))).await.unwrap()];
    stamps.push(e.put("notes", h.rec(json!({"id": "a", "v": 2}))).await.unwrap());
    stamps.push(e.delete("notes", s("a")).await.unwrap());
    stamps.extend(e.bulk_put("notes", vec![h.rec(json!({"id": "a"})), h.rec(json!({"id": "b"}))]).await.unwrap());
    stamps.extend(e.bulk_delete("notes", vec![s("a"), s("b")]).await.unwrap());
    let clocks: Vec<u64> = stamps.iter().map(|s| s.clock).collect();
    assert_eq!(clocks, [1, 2, 3, 4, 1, 5, 2], "clock = max(live, tombstone) + 1 per record");
    for w in stamps.windows(2) {
        assert!(w[1].hlc > w[0].hlc, "HLCs strictly increase: {} then {}", w[0].hlc, w[1].hlc);
    }
    assert!(stamps.iter().all(|s| s.device_id == e.device_id()));
    let ids: std::collections::HashSet<&str> = stamps.iter().map(|s| s.op_id.as_str()).collect();
    assert_eq!(ids.len(), stamps.len(), "every write has its own opId");
    assert!(uuid_v4(&stamps[0].op_id));
    // The engine owns clock and hlc: a record that sets them is refused
    // (with a path) and writes nothing; one read back, changed and put
    // again keeps them and passes.
    for (forged, field) in [(json!({"id": "c", "clock": 99}), "clock"), (json!({"id": "c", "hlc": "forged"}), "hlc")] {
        let err = e.put("notes", h.rec(forged)).await.unwrap_err();
        assert_eq!((err.code(), field), ("INVALID", field));
        assert!(err.to_string().contains(&format!("records[0].{field}")), "{err}");
    }
    assert!(e.get("notes", &s("c")).await.unwrap().is_none(), "nothing was written");
    let row = e.put("notes", h.rec(json!({"id": "c"}))).await.unwrap();
    let mut read = h.json(&e.get("notes", &s("c")).await.unwrap().unwrap());
    read["title"] = json!("changed");
    let again = e.put("notes", h.rec(read)).await.unwrap();
    assert_eq!(again.clock, row.clock + 1);
    let stored = h.json(&e.get("notes", &s("c")).await.unwrap().unwrap());
    assert_eq!((stored["clock"].clone(), stored["hlc"].clone()), (json!(again.clock), json!(again.hlc)));
}

fn uuid_v4(s: &str) -> bool {
    s.len() == 36 && s.as_bytes()[14] == b'4' && matches!(s.as_bytes()[19], b'8' | b'9' | b'a' | b'b')
}

pub async fn capture_delete_leaves_tombstone<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 3);
    let e = engine(&h, &p, 1000).await;
    e.put("notes", h.rec(json!({"id": "a"}))).await.unwrap();
    let del = e.delete("notes", s("a")).await.unwrap();
    assert!(e.get("notes", &s("a")).await.unwrap().is_none());
    let tx = e.store().begin(Access::Write, Some("notes")).await.unwrap();
    let tomb = tx.get_tombstones("notes", &[s("a")]).await.unwrap().remove(0).expect("tombstone");
    tx.commit().await.unwrap();
    assert_eq!(tomb.stamp, del);
    let again = e.put("notes", h.rec(json!({"id": "a"}))).await.unwrap();
    assert_eq!(again.clock, del.clock + 1, "a put after a delete continues from the tombstone's clock");
    let tx = e.store().begin(Access::Write, Some("notes")).await.unwrap();
    assert!(tx.get_tombstones("notes", &[s("a")]).await.unwrap()[0].is_none(), "the newer put replaces it");
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
    assert!(e2.get("notes", &s("a")).await.unwrap().is_some(), "records persist");
    assert_eq!(e2.pending_ops(10).await.unwrap().len(), 1, "ops persist");
    let next = e2.put("notes", h.rec(json!({"id": "b"}))).await.unwrap();
    assert!(next.hlc > last.hlc, "next HLC {} must exceed {}", next.hlc, last.hlc);
}

pub async fn capture_coalesces_pending_writes<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 6);
    let e = engine(&h, &p, 1000).await;
    for i in 0..100 {
        e.put("notes", h.rec(json!({"id": "one", "n": i}))).await.unwrap();
    }
    let ops = e.pending_ops(1000).await.unwrap();
    assert_eq!(ops.len(), 1, "100 puts of one record leave one op");
    assert_eq!(h.json(ops[0].payload.as_ref().unwrap())["n"], 99, "holding the last payload");
    assert_eq!(ops[0].stamp.clock, 100);
    // A delete coalesces too, and turns the op into a delete.
    e.delete("notes", s("one")).await.unwrap();
    let ops = e.pending_ops(1000).await.unwrap();
    assert_eq!((ops.len(), ops[0].op), (1, OpKind::Delete));
    let captured = p.events.borrow().iter().filter(|e| matches!(e, Event::OpCaptured(_))).count();
    assert_eq!(captured, 101, "every write reports its capture");
}

pub async fn capture_never_touches_in_flight_ops<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 7);
    let e = engine(&h, &p, 1000).await;
    e.put("notes", h.rec(json!({"id": "a", "v": "sent"}))).await.unwrap();
    // Mark the op in flight the way the push loop does.
    let tx = e.store().begin(Access::System, None).await.unwrap();
    let sent = tx.list_ops(None, 10).await.unwrap().remove(0);
    set_in_flight(&tx, &[sent.seq.unwrap()].into_iter().collect()).await.unwrap();
    tx.commit().await.unwrap();
    e.put("notes", h.rec(json!({"id": "a", "v": "newer"}))).await.unwrap();
    e.put("notes", h.rec(json!({"id": "a", "v": "newest"}))).await.unwrap();
    let ops = e.pending_ops(10).await.unwrap();
    assert_eq!(ops.len(), 2, "the in-flight op stays; newer writes coalesce into one new op");
    assert_eq!(ops[0].stamp, sent.stamp, "the in-flight op is unchanged");
    assert_eq!(h.json(ops[0].payload.as_ref().unwrap())["v"], "sent", "and keeps the payload it was sent with");
    assert_eq!(h.json(ops[1].payload.as_ref().unwrap())["v"], "newest");
}

pub async fn capture_rejects_bad_input_and_writes_nothing<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 8);
    let e = engine(&h, &p, 1000).await;
    let cases: Vec<(Vec<Value>, &str)> = vec![
        (vec![json!({"id": "ok"}), json!({"nope": 1})], "records[1].id"),
        (vec![json!({"id": "ok"}), json!("a string")], "records[1]"),
        (vec![json!({"id": "ok"}), json!([1, 2])], "records[1]"),
        (vec![json!({"id": true})], "records[0].id"),
        (vec![json!({"id": {"x": 1}})], "records[0].id"),
        (vec![json!({"id": null})], "records[0].id"),
        (vec![json!({"id": "ok"}), json!({"id": ""})], "records[1].id"),
    ];
    for (records, path) in cases {
        let err = e.bulk_put("notes", records.into_iter().map(|r| h.rec(r)).collect()).await.unwrap_err();
        match &err {
            SyncError::Invalid(inv) => assert_eq!(inv.path, path),
            other => panic!("expected INVALID, got {other:?}"),
        }
    }
    let err = e.put("nope", h.rec(json!({"id": "x"}))).await.unwrap_err();
    assert_eq!(err.code(), "INVALID");
    assert_eq!(e.count("notes").await.unwrap(), 0, "not even the good records");
    assert!(e.pending_ops(10).await.unwrap().is_empty());
    assert_eq!(
        e.get_all("notes", &Query { index: Some("nope".into()), ..Default::default() }).await.unwrap_err().code(),
        "INVALID"
    );
}

pub async fn capture_waits_when_outbox_is_full<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 9);
    let e = engine(&h, &p, 3).await;
    e.bulk_put("notes", (0..3).map(|i| h.rec(json!({"id": i}))).collect()).await.unwrap();
    // Coalescing adds no op, so it passes while full.
    e.put("notes", h.rec(json!({"id": 0, "again": true}))).await.unwrap();
    let writer = e.put("notes", h.rec(json!({"id": "late"})));
    let drainer = async {
        loop {
            if p.event_names().contains(&"sync.queue:action:full") {
                assert!(e.get("notes", &s("late")).await.unwrap().is_none(), "the waiting write wrote nothing yet");
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
    assert!(e.get("notes", &s("late")).await.unwrap().is_some(), "nothing dropped: the write lands once there is room");
    assert_eq!(e.pending_ops(10).await.unwrap().len(), 3);
    let too_big = e.bulk_put("notes", (10..14).map(|i| h.rec(json!({"id": i}))).collect()).await.unwrap_err();
    assert_eq!(too_big.code(), "INVALID", "a batch larger than the outbox can never fit");
}

pub async fn capture_order_key_set_once<H: Harness>(h: H) {
    let p = TestPlatform::new(1_700_000_000_000, 10);
    let e = engine(&h, &p, 1000).await;
    let first = e.put("messages", h.rec(json!({"id": "m1", "text": "hi"}))).await.unwrap();
    p.now.set(p.now.get() + 5000);
    e.put("messages", h.rec(json!({"id": "m1", "text": "edited"}))).await.unwrap();
    e.put("messages", h.rec(json!({"id": "m2", "text": "later"}))).await.unwrap();
    let rows = e.get_all("messages", &Query { index: Some("order_key".into()), ..Default::default() }).await.unwrap();
    let rows: Vec<Value> = rows.iter().map(|r| h.json(r)).collect();
    assert_eq!(rows[0]["order_key"], json!(first.hlc), "order_key comes from the creating write's HLC");
    assert_eq!(rows[0]["text"], "edited");
    assert_eq!(rows[1]["id"], "m2");
    assert!(e.get("notes", &s("m1")).await.unwrap().is_none());
    let plain = e.put("notes", h.rec(json!({"id": "n"}))).await.unwrap();
    assert!(h.json(&e.get("notes", &s("n")).await.unwrap().unwrap()).get("order_key").is_none(), "{plain:?}");
}

pub async fn capture_bulk_reads_what_each_record_holds<H: Harness>(h: H) {
    // Large batches read existing rows, tombstones and ops by key range; the
    // clocks and coalescing must come out exactly as key-by-key reads give.
    let p = TestPlatform::new(1_700_000_000_000, 11);
    let e = engine(&h, &p, 1000).await;
    e.bulk_put("notes", (0..20).map(|i| h.rec(json!({"id": i}))).collect()).await.unwrap();
    e.bulk_put("notes", (0..3).map(|i| h.rec(json!({"id": format!("s{i}")}))).collect()).await.unwrap();
    e.bulk_delete("notes", (0..5).map(|i| Pk::Num(i as f64)).collect()).await.unwrap();
    let tx = e.store().begin(Access::System, None).await.unwrap();
    let ops = tx.list_ops(None, 100).await.unwrap();
    let sent = ops.iter().filter(|o| matches!(o.pk, Pk::Num(n) if (5.0..8.0).contains(&n))).filter_map(|o| o.seq);
    set_in_flight(&tx, &sent.collect()).await.unwrap();
    tx.commit().await.unwrap();
    let stamps = e.bulk_put("notes", (0..30).map(|i| h.rec(json!({"id": i, "round": 2}))).collect()).await.unwrap();
    let clocks: Vec<u64> = stamps.iter().map(|s| s.clock).collect();
    let mut want = vec![3; 5];
    want.extend(vec![2; 15]);
    want.extend(vec![1; 10]);
    assert_eq!(clocks, want, "deleted: 3, live: 2, new: 1");
    let ops = e.pending_ops(1000).await.unwrap();
    assert_eq!(ops.len(), 3 + 30 + 3, "string keys, one op per number key, plus three in flight");
    let in_flight = ops.iter().filter(|o| o.state == OpState::InFlight).count();
    assert_eq!(in_flight, 3);
    assert_eq!(e.count("notes").await.unwrap(), 33);
}

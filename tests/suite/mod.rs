//! One suite, two stores: every function here runs natively against the
//! memory store (tests/native_store.rs) and in Chromium, Firefox and WebKit
//! against IndexedDB (tests/browser.rs). The first group checks the `Store`
//! contract; the second checks write capture through the engine.
#![allow(dead_code)]

use serde_json::{json, Value};
use tidesync::core::join::join;
use tidesync::core::wire::OpKind;
use tidesync::core::{ChangeStamp, Hlc, Pk};
use tidesync::store::schema::IndexSpec;
use tidesync::store::{Access, Key, OpState, PendingOp, Query, Schema, Store, StoreTx, TableSchema, Tombstone, Where};

mod capture;
mod query;
mod query_patch;
pub use capture::*;
pub use query::*;
pub use query_patch::*;

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
        indexes: vec![IndexSpec::field("thread_id")],
        order_key: false,
    }
}

pub fn messages() -> TableSchema {
    TableSchema { name: "messages".into(), primary_key: "id".into(), indexes: vec![], order_key: true }
}

pub fn schema() -> Schema {
    Schema::new(vec![notes(), messages()])
}

fn stamp(clock: u64, ms: u64, op: &str) -> ChangeStamp {
    let hlc = Hlc { ms, counter: 0, device_id: "dev".into() }.to_string();
    ChangeStamp { clock, hlc, device_id: "dev".into(), op_id: op.into() }
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
        base: 0,
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
    tx.put_records("notes", vec![h.rec(json!({"id": "a", "v": 1})), h.rec(json!({"id": "b", "v": 2}))]).await.unwrap();
    let seen = tx.get_records("notes", &[s("a")]).await.unwrap();
    assert_eq!(h.json(seen[0].as_ref().unwrap())["v"], 1, "a transaction reads its own writes");
    tx.commit().await.unwrap();

    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    let rows = tx.get_records("notes", &[s("a"), s("b"), s("zz")]).await.unwrap();
    assert_eq!(h.json(rows[0].as_ref().unwrap())["v"], 1);
    assert_eq!(h.json(rows[1].as_ref().unwrap())["v"], 2);
    assert!(rows[2].is_none());
    assert_eq!(tx.count("notes").await.unwrap(), 2);
    // A key asked for twice gets its record at both places, in a small batch
    // (one get per key) and in a large one (one range read).
    let rows = tx.get_records("notes", &[s("b"), s("a"), s("b")]).await.unwrap();
    let vs: Vec<_> = rows.iter().map(|r| h.json(r.as_ref().expect("each place has its record"))["v"].clone()).collect();
    assert_eq!(vs, [json!(2), json!(1), json!(2)]);
    let many: Vec<Pk> = (0..200).map(|i| if i % 2 == 0 { s("a") } else { s("b") }).collect();
    let rows = tx.get_records("notes", &many).await.unwrap();
    assert!(rows.iter().enumerate().all(|(i, r)| h.json(r.as_ref().unwrap())["v"] == json!(1 + i % 2)));
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
    tx.put_records("notes", vec![h.rec(json!({"id": "x"}))]).await.unwrap();
    tx.put_ops(vec![op("notes", s("x"), 1, "op-x")]).await.unwrap();
    tx.put_state("k", json!(1)).await.unwrap();
    tx.abort().await.unwrap();
    let tx = store.begin(Access::All, None).await.unwrap();
    assert!(tx.get_records("notes", &[s("x")]).await.unwrap()[0].is_none());
    assert_eq!(tx.count_ops().await.unwrap(), 0);
    assert_eq!(tx.get_state("k").await.unwrap(), None);
    tx.commit().await.unwrap();
}

/// Requests issued together, one of which fails: the ones before it still
/// answer, the failed one fails its own call with its own error (not the
/// abort that follows it), and once the transaction is let go nothing of
/// it is kept and the next transaction works.
pub async fn store_a_failed_request_fails_its_own_call_among_others<H: Harness>(h: H) {
    let books = TableSchema {
        name: "books".into(),
        primary_key: "id".into(),
        indexes: vec![IndexSpec { unique: true, ..IndexSpec::field("isbn") }],
        order_key: false,
    };
    let store = h.open(Schema::new(vec![books])).await;
    let tx = store.begin(Access::Write, Some("books")).await.unwrap();
    tx.put_records("books", vec![h.rec(json!({"id": "a", "isbn": 1}))]).await.unwrap();
    tx.commit().await.unwrap();

    let tx = store.begin(Access::Write, Some("books")).await.unwrap();
    let a = [s("a")];
    let read = tx.get_records("books", &a);
    let clash = tx.put_records("books", vec![h.rec(json!({"id": "b", "isbn": 1}))]);
    let after = tx.put_state("k", json!(1));
    let (read, (clash, _after)) = join(read, join(clash, after)).await;
    let row = read.expect("the read issued before the failure answers").pop().flatten();
    assert_eq!(h.json(&row.expect("row a")), json!({"id": "a", "isbn": 1}));
    let err = clash.expect_err("a second row with isbn 1");
    assert!(err.to_string().contains("ConstraintError"), "{err}");
    drop(tx);

    let tx = store.begin(Access::Write, Some("books")).await.unwrap();
    assert!(tx.get_records("books", &[s("b")]).await.unwrap()[0].is_none());
    assert_eq!(tx.get_state("k").await.unwrap(), None);
    tx.put_records("books", vec![h.rec(json!({"id": "b", "isbn": 2}))]).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Read, Some("books")).await.unwrap();
    assert_eq!(tx.count("books").await.unwrap(), 2);
    tx.commit().await.unwrap();
}

pub async fn store_dropped_tx_is_aborted<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    {
        let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
        tx.put_records("notes", vec![h.rec(json!({"id": "dropped"}))]).await.unwrap();
    }
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    assert!(tx.get_records("notes", &[s("dropped")]).await.unwrap()[0].is_none());
    tx.commit().await.unwrap();
}

pub async fn store_primary_keys_keep_their_type<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    tx.put_records("notes", vec![h.rec(json!({"id": "5", "t": "string"})), h.rec(json!({"id": 5, "t": "number"}))])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    let rows = tx.get_records("notes", &[s("5"), Pk::Num(5.0)]).await.unwrap();
    assert_eq!(h.json(rows[0].as_ref().unwrap())["t"], "string");
    assert_eq!(h.json(rows[1].as_ref().unwrap())["t"], "number");
    assert_eq!(tx.count("notes").await.unwrap(), 2);
    tx.commit().await.unwrap();
}

pub async fn store_index_query<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    let rows = (0..6).map(|i| h.rec(json!({"id": format!("n{i}"), "thread_id": if i % 2 == 0 { "t1" } else { "t2" }})));
    tx.put_records("notes", rows.collect()).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    let q = Query { index: Some("thread_id".into()), filter: Where::Equals(Key::from("t1")), ..Query::default() };
    let ids: Vec<Value> = tx.query("notes", &q).await.unwrap().rows.iter().map(|r| h.json(r)["id"].clone()).collect();
    assert_eq!(ids, vec![json!("n0"), json!("n2"), json!("n4")]);
    let q = Query {
        index: Some("thread_id".into()),
        filter: Where::Equals(Key::from("t2")),
        limit: Some(2),
        ..Query::default()
    };
    assert_eq!(tx.query("notes", &q).await.unwrap().rows.len(), 2);
    let all = tx.query("notes", &Query { limit: Some(4), ..Default::default() }).await.unwrap().rows;
    let ids: Vec<Value> = all.iter().map(|r| h.json(r)["id"].clone()).collect();
    assert_eq!(ids, vec![json!("n0"), json!("n1"), json!("n2"), json!("n3")], "primary-key order");
    tx.commit().await.unwrap();
}

pub async fn store_tombstones_roundtrip<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    let t = Tombstone { table_name: "notes".into(), pk: Pk::Num(7.0), stamp: stamp(3, 10, "del"), deleted_at: 99 };
    tx.put_tombstones(vec![t.clone()]).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    let got = tx.get_tombstones("notes", &[Pk::Num(7.0), s("7")]).await.unwrap();
    assert_eq!(got[0].as_ref(), Some(&t));
    assert!(got[1].is_none(), "7 and \"7\" are different keys");
    tx.delete_tombstones("notes", &[Pk::Num(7.0)]).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    assert!(tx.get_tombstones("notes", &[Pk::Num(7.0)]).await.unwrap()[0].is_none());
    tx.commit().await.unwrap();
}

pub async fn store_ops_fifo<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    tx.put_ops(vec![op("notes", s("a"), 1, "o1"), op("notes", s("b"), 1, "o2"), op("notes", s("a"), 2, "o3")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    let all = tx.list_ops(None, 100).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|o| o.stamp.op_id.as_str()).collect();
    assert_eq!(ids, ["o1", "o2", "o3"]);
    let by_a = tx.ops_for("notes", &[s("a"), s("b"), s("c")]).await.unwrap();
    assert_eq!(by_a[0].iter().map(|o| o.stamp.op_id.as_str()).collect::<Vec<_>>(), ["o1", "o3"]);
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
    tx.put_state("nested", json!({"a": [1, "x", null]})).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Access::System, None).await.unwrap();
    assert_eq!(tx.get_state("cursor").await.unwrap(), Some(json!(42)));
    assert_eq!(tx.get_state("deviceId").await.unwrap(), Some(json!("d-1")));
    assert_eq!(tx.get_state("nested").await.unwrap(), Some(json!({"a": [1, "x", null]})));
    assert_eq!(tx.get_state("missing").await.unwrap(), None);
    tx.commit().await.unwrap();
    // State reads are read-only: two run at once, each seeing what committed.
    let first = store.begin(Access::State, None).await.unwrap();
    let second = store.begin(Access::State, None).await.unwrap();
    let (x, y) = futures::future::join(first.get_state("cursor"), second.get_state("deviceId")).await;
    assert_eq!((x.unwrap(), y.unwrap()), (Some(json!(42)), Some(json!("d-1"))));
    drop((first, second));
}

pub async fn store_upgrade_keeps_rows<H: Harness>(h: H) {
    let store = h.open(Schema::new(vec![TableSchema::simple("notes")])).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    tx.put_records("notes", vec![h.rec(json!({"id": "keep", "thread_id": "t9"}))]).await.unwrap();
    tx.commit().await.unwrap();
    store.close();
    // A new table and a new index: an upgrade that must not lose rows.
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    assert_eq!(h.json(tx.get_records("notes", &[s("keep")]).await.unwrap()[0].as_ref().unwrap())["thread_id"], "t9");
    let q = Query { index: Some("thread_id".into()), filter: Where::Equals(Key::from("t9")), ..Query::default() };
    assert_eq!(tx.query("notes", &q).await.unwrap().rows.len(), 1, "the new index covers old rows");
    tx.commit().await.unwrap();
    let tx = store.begin(Access::Write, Some("messages")).await.unwrap();
    tx.put_records("messages", vec![h.rec(json!({"id": 1}))]).await.unwrap();
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

/// Gives the other futures of a `join` a turn: pending once, waking itself.
/// No timer, so an IndexedDB transaction stays active across it.
async fn yield_now() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

/// One read-modify-write of the counter row, yielding between read and
/// write so that another writer could slip in. Returns the value it read.
async fn increment<H: Harness>(h: &H, store: &H::S) -> i64 {
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    let row = tx.get_records("notes", &[s("counter")]).await.unwrap().remove(0);
    let n = h.json(row.as_ref().unwrap())["n"].as_i64().unwrap();
    yield_now().await;
    tx.put_records("notes", vec![h.rec(json!({"id": "counter", "n": n + 1}))]).await.unwrap();
    tx.commit().await.unwrap();
    n
}

pub async fn store_overlapping_writers_run_one_after_the_other<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    tx.put_records("notes", vec![h.rec(json!({"id": "counter", "n": 0}))]).await.unwrap();
    tx.commit().await.unwrap();
    // Two writers on one key at once, as two tabs or a push and a put.
    let (a, b) = futures::future::join(increment(&h, &store), increment(&h, &store)).await;
    assert_eq!((a, b), (0, 1), "the second writer reads what the first committed");
    // A writer that covers every store (a pull page) against a table writer.
    let all = async {
        let tx = store.begin(Access::All, None).await.unwrap();
        let row = tx.get_records("notes", &[s("counter")]).await.unwrap().remove(0);
        let n = h.json(row.as_ref().unwrap())["n"].as_i64().unwrap();
        yield_now().await;
        tx.put_records("notes", vec![h.rec(json!({"id": "counter", "n": n + 10}))]).await.unwrap();
        tx.commit().await.unwrap();
    };
    futures::future::join(all, increment(&h, &store)).await;
    let tx = store.begin(Access::Read, Some("notes")).await.unwrap();
    let row = tx.get_records("notes", &[s("counter")]).await.unwrap().remove(0);
    assert_eq!(h.json(row.as_ref().unwrap())["n"], 13, "every increment is there");
    tx.commit().await.unwrap();
}

pub async fn store_readers_run_together_and_a_dropped_writer_frees_its_scope<H: Harness>(h: H) {
    let store = h.open(schema()).await;
    let first = store.begin(Access::Read, Some("notes")).await.unwrap();
    let second = store.begin(Access::Read, Some("notes")).await.unwrap();
    let (x, y) = futures::future::join(first.count("notes"), second.count("notes")).await;
    assert_eq!((x.unwrap(), y.unwrap()), (0, 0), "two readonly transactions are open at once");
    // Nothing to commit; IndexedDB may already have finished the one whose
    // request completed first while the join waited for the other.
    drop((first, second));
    {
        let dropped = store.begin(Access::Write, Some("notes")).await.unwrap();
        dropped.put_records("notes", vec![h.rec(json!({"id": "gone"}))]).await.unwrap();
    }
    let tx = store.begin(Access::Write, Some("notes")).await.unwrap();
    assert!(tx.get_records("notes", &[s("gone")]).await.unwrap()[0].is_none());
    tx.abort().await.unwrap();
    let tx = store.begin(Access::All, None).await.unwrap();
    assert_eq!(tx.count("notes").await.unwrap(), 0, "an aborted writer frees its scope too");
    tx.commit().await.unwrap();
}

/// The names of every suite function, for the harness macros.
#[macro_export]
macro_rules! suite_names {
    ($m:ident) => {
        $m!(
            store_records_roundtrip,
            store_abort_discards_everything,
            store_dropped_tx_is_aborted,
            store_a_failed_request_fails_its_own_call_among_others,
            store_primary_keys_keep_their_type,
            store_index_query,
            store_tombstones_roundtrip,
            store_ops_fifo,
            store_op_payload_snapshot_roundtrip,
            store_state_roundtrip,
            store_upgrade_keeps_rows,
            store_overlapping_writers_run_one_after_the_other,
            store_readers_run_together_and_a_dropped_writer_frees_its_scope,
            capture_is_atomic,
            capture_clock_advances_on_every_path,
            capture_delete_leaves_tombstone,
            capture_persists_across_reopen_with_clock_backwards,
            capture_coalesces_pending_writes,
            capture_never_touches_in_flight_ops,
            capture_rejects_bad_input_and_writes_nothing,
            capture_waits_when_outbox_is_full,
            capture_order_key_set_once,
            capture_bulk_reads_what_each_record_holds,
            query_conditions_on_the_primary_key_and_an_index,
            query_compound_prefixes_and_multi_entry,
            query_keyset_pages_return_every_row_once,
            query_unique_index_refuses_a_duplicate_and_changes_nothing,
            query_indexes_follow_the_config_on_reopen,
            query_patch_agrees_with_running_the_query_again
        );
    };
}

//! Pull, subscription, conflicts and rescan against `MemoryServer`, in the
//! browser (issue 5's acceptance): two devices converge under subscription
//! faults, the higher HLC wins with the conflict journalled, a delete stays
//! deleted through a rescan, a bootstrap cut off by close resumes from its
//! committed cursor, and a purge makes a device rescan and keep its writes.

use js_sys::{Array, Reflect};
use serde_json::{json, Value};
use tidesync::core::rng::SplitMix64;
use tidesync::wasm::{MemoryServer, SyncEngine};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::util::*;

/// Rows of `notes` as JSON, sorted by id.
async fn rows(e: &SyncEngine) -> Vec<Value> {
    let all = await_js(e.get_all("notes".into(), None)).await.unwrap();
    let mut out: Vec<Value> = serde_wasm_bindgen::from_value(all).unwrap();
    out.sort_by(|a, b| a["id"].to_string().cmp(&b["id"].to_string()));
    out
}

fn server_rows(server: &MemoryServer) -> Vec<Value> {
    let mut out: Vec<Value> = server
        .snapshot("w1")
        .unwrap()
        .iter()
        .filter(|r| !get(r, "deleted").as_bool().unwrap())
        .map(|r| serde_wasm_bindgen::from_value(get(&r, "payload")).unwrap())
        .collect();
    out.sort_by(|a, b| a["id"].to_string().cmp(&b["id"].to_string()));
    out
}

async fn sync(e: &SyncEngine) -> JsValue {
    await_js(e.sync_now()).await.unwrap()
}

async fn conflicts(e: &SyncEngine) -> Array {
    await_js(e.conflicts(None)).await.unwrap().into()
}

#[wasm_bindgen_test]
async fn two_devices_converge_under_dropped_duplicated_and_reordered_batches() {
    let server = MemoryServer::new();
    let a = open_synced(&unique("conv-a"), &server, json!({ "pullLimit": 50 })).await;
    let b = open_synced(&unique("conv-b"), &server, json!({ "pullLimit": 50 })).await;
    let mut rng = SplitMix64(0x5eed);
    for step in 0..1000 {
        let e = if step % 2 == 0 { &a } else { &b };
        let id = format!("r{}", rng.below(60));
        if rng.below(4) == 0 {
            await_js(e.delete("notes".into(), JsValue::from_str(&id))).await.unwrap();
        } else {
            await_js(e.put("notes".into(), js(&json!({ "id": id, "step": step })))).await.unwrap();
        }
        if step % 50 == 0 {
            server.subscription_faults(1, 1, 1);
        }
        if step % 97 == 0 {
            sleep(5).await;
        }
    }
    for _ in 0..2 {
        sync(&a).await;
        sync(&b).await;
    }
    let (ra, rb, rs) = (rows(&a).await, rows(&b).await, server_rows(&server));
    assert!(!rs.is_empty());
    assert_eq!(ra, rb, "the two devices differ");
    assert_eq!(ra, rs, "the devices differ from the server");
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn equal_clocks_the_higher_hlc_wins_and_the_losing_device_journals_it() {
    let server = MemoryServer::new();
    let a = open_synced(&unique("hlc-a"), &server, json!({ "autoSync": false })).await;
    let b = open_synced(&unique("hlc-b"), &server, json!({ "autoSync": false })).await;
    await_js(a.put("notes".into(), js(&json!({ "id": "x", "by": "a" })))).await.unwrap();
    sleep(5).await;
    // b writes later: same clock (1), higher HLC.
    await_js(b.put("notes".into(), js(&json!({ "id": "x", "by": "b" })))).await.unwrap();
    let (seen, handler) = recorder();
    a.on("sync.conflict:action:detected".into(), handler).unwrap();
    sync(&b).await;
    sync(&a).await;
    sync(&b).await;
    for e in [&a, &b] {
        let row = await_js(e.get("notes".into(), "x".into())).await.unwrap();
        assert_eq!(get(&row, "by"), "b", "the higher HLC wins on both devices");
        assert_eq!(get(&row, "clock"), 1);
    }
    let journal = conflicts(&a).await;
    assert_eq!(journal.length(), 1, "a held the losing op");
    let c = journal.get(0);
    assert_eq!(get(&c, "winner"), "remote");
    assert_eq!(get(&get(&get(&c, "local"), "payload"), "by"), "a");
    assert_eq!(get(&get(&get(&c, "remote"), "payload"), "by"), "b");
    assert_eq!(seen.borrow().len(), 1, "and emitted it");
    assert_eq!(conflicts(&b).await.length(), 0);
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn a_delete_beats_an_older_edit_on_both_devices_and_through_a_rescan() {
    let server = MemoryServer::new();
    let a = open_synced(&unique("del-a"), &server, json!({ "autoSync": false })).await;
    let b = open_synced(&unique("del-b"), &server, json!({ "autoSync": false })).await;
    await_js(a.put("notes".into(), js(&json!({ "id": "x", "v": 1 })))).await.unwrap();
    sync(&a).await;
    sync(&b).await;
    await_js(b.put("notes".into(), js(&json!({ "id": "x", "v": 2 })))).await.unwrap();
    sleep(5).await;
    await_js(a.delete("notes".into(), "x".into())).await.unwrap();
    sync(&a).await;
    sync(&b).await;
    sync(&a).await;
    assert!(rows(&a).await.is_empty() && rows(&b).await.is_empty(), "deleted on both");
    // b misses a batch, then the server forgets the history b needs.
    server.subscription_faults(2, 0, 0);
    await_js(a.put("notes".into(), js(&json!({ "id": "y" })))).await.unwrap();
    sync(&a).await;
    server.purge_history("w1", server.server_version("w1"));
    let (rescans, handler) = recorder();
    b.on("sync.pull:action:received".into(), handler).unwrap();
    sync(&b).await;
    assert!(rescans.borrow().iter().any(|e| get(e, "source") == "rescan"), "b rescanned");
    for e in [&a, &b] {
        let ids: Vec<Value> = rows(e).await.iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, vec![json!("y")], "x stays deleted");
    }
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn a_bootstrap_cut_off_by_close_resumes_and_counts_every_record_once() {
    const N: usize = 20_000;
    let server = MemoryServer::new();
    let writer = open_synced(&unique("boot-w"), &server, json!({ "autoSync": false })).await;
    for chunk in 0..4 {
        let batch: Vec<Value> = (0..N / 4)
            .map(|i| json!({ "id": format!("r{:05}", chunk * N / 4 + i), "text": "x".repeat(200) }))
            .collect();
        await_js(writer.bulk_put("notes".into(), js(&json!(batch)))).await.unwrap();
    }
    sync(&writer).await;
    writer.close();
    assert_eq!(server.snapshot("w1").unwrap().length() as usize, N);

    let db = unique("boot-r");
    server.set_latency(5);
    let first = open_synced(&db, &server, json!({ "autoSync": false })).await;
    let (progress1, handler) = recorder();
    first.on("sync.bootstrap:action:progress".into(), handler).unwrap();
    let running = first.sync_now();
    wait_for(60_000.0, "a few pages", || {
        let n = progress1.borrow().len();
        async move { n >= 5 }
    })
    .await;
    first.close(); // a reload: the page in flight is never applied
    let _ = await_js(running).await;
    let sum = |v: &[JsValue]| v.iter().map(|p| get(p, "applied").as_f64().unwrap() as usize).sum::<usize>();
    let before = sum(&progress1.borrow());
    assert!(before > 0 && before < N, "cut off mid-bootstrap: {before}");

    server.set_latency(0);
    let second = open_synced(&db, &server, json!({ "autoSync": false })).await;
    assert_eq!(status(&second, "cursor").await.as_f64().unwrap() as usize, before, "resumes from the committed cursor");
    let (progress2, handler) = recorder();
    second.on("sync.bootstrap:action:progress".into(), handler).unwrap();
    sync(&second).await;
    assert_eq!(before + sum(&progress2.borrow()), N, "progress adds up to exactly {N}");
    assert_eq!(await_js(second.count("notes".into())).await.unwrap(), N as f64);
    second.close();
}

#[wasm_bindgen_test]
async fn after_a_purge_the_device_rescans_keeps_its_pending_write_and_pushes_it() {
    let server = MemoryServer::new();
    let a = open_synced(&unique("purge-a"), &server, json!({ "autoSync": false })).await;
    let b = open_synced(&unique("purge-b"), &server, json!({ "autoSync": false })).await;
    let batch: Vec<Value> = (0..30).map(|i| json!({ "id": format!("r{i:02}") })).collect();
    await_js(a.bulk_put("notes".into(), js(&json!(batch)))).await.unwrap();
    sync(&a).await;
    sync(&b).await;
    // a deletes five; the server then forgets its history.
    let gone = js(&json!(["r00", "r01", "r02", "r03", "r04"]));
    await_js(a.bulk_delete("notes".into(), gone)).await.unwrap();
    sync(&a).await;
    server.purge_history("w1", server.server_version("w1") + 1.0);
    await_js(b.put("notes".into(), js(&json!({ "id": "mine" })))).await.unwrap();
    let (changes, handler) = recorder();
    b.on("change".into(), handler).unwrap();
    let report = sync(&b).await;
    assert_eq!(get(&report, "pushed"), 1);
    let ids: Vec<Value> = rows(&b).await.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids.len(), 26, "25 survivors and the pending write: {ids:?}");
    assert!(ids.contains(&json!("mine")));
    assert!(server_rows(&server).iter().any(|r| r["id"] == "mine"), "pushed after the rescan");
    let remote: Vec<JsValue> = changes.borrow().iter().filter(|c| get(c, "source") == "remote").cloned().collect();
    assert_eq!(remote.len(), 1, "one change event for the swap");
    let _ = Reflect::get(&remote[0], &"pks".into());
    a.close();
    b.close();
}

//! The outbox push loop against `MemoryServer`, in the browser (issue 4's
//! acceptance): offline writes arrive exactly once, retries follow the backoff
//! schedule, partial rejections dead-letter and can be retried, RATE_LIMIT is
//! waited out, a push cut off by close is re-sent once, and one engine per
//! database pushes, with hand-over on close; the others hear of its
//! writes and pulls. Closing an engine disposes of its provider.

use js_sys::Array;
use serde_json::{json, Value};
use tidesync::wasm::{MemoryServer, SyncEngine};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::util::*;

async fn drained(e: &SyncEngine) -> bool {
    status(e, "pendingOps").await == 0
}

fn server_record(server: &MemoryServer, pk: &str) -> Option<JsValue> {
    server.snapshot("w1").unwrap().iter().find(|r| get(r, "pk") == pk)
}

#[wasm_bindgen_test]
async fn thousand_writes_while_unreachable_arrive_exactly_once() {
    let server = MemoryServer::new();
    server.set_unreachable(true);
    let e = open_synced(&unique("offline1000"), &server, json!({})).await;
    for round in 0..10 {
        let batch: Vec<Value> =
            (0..100).map(|i| json!({ "id": format!("r{}", (round * 100 + i) % 400), "v": round * 100 + i })).collect();
        await_js(e.bulk_put("notes".into(), js(&json!(batch)))).await.unwrap();
    }
    assert_eq!(server.seen_ops("w1"), 0.0, "nothing reached the server while unreachable");
    server.set_unreachable(false);
    wait_for(20_000.0, "the outbox to drain", || drained(&e)).await;
    let records = server.snapshot("w1").unwrap();
    assert_eq!(records.length(), 400);
    for i in 600..1000 {
        let r = server_record(&server, &format!("r{}", i % 400)).unwrap();
        assert_eq!(get(&get(&r, "payload"), "v"), i, "the server holds each record's last write");
    }
    assert_eq!(server.applied_ops("w1"), server.seen_ops("w1"), "every op the server saw was applied once");
    e.close();
}

#[wasm_bindgen_test]
async fn three_failed_pushes_then_success_follow_the_backoff_schedule() {
    let server = MemoryServer::new();
    let e = open_synced(&unique("backoff"), &server, json!({ "backoffMs": [100, 200, 400] })).await;
    let (retries, rec) = recorder();
    let _off = e.on("sync.retry:action".into(), rec).unwrap();
    wait_for(5000.0, "leadership", || async { status(&e, "leader").await == true }).await;
    server.fail_next_pushes(3, Some("UNAVAILABLE".into()), None);
    await_js(e.put("notes".into(), js(&json!({ "id": "a" })))).await.unwrap();
    wait_for(10_000.0, "the push to succeed", || drained(&e)).await;
    let retries = retries.borrow();
    assert_eq!(retries.len(), 3);
    for (i, (attempt, base)) in [(1.0, 100.0), (2.0, 200.0), (3.0, 400.0)].into_iter().enumerate() {
        assert_eq!(get(&retries[i], "attempt"), attempt);
        let delay = get(&retries[i], "delayMs").as_f64().unwrap();
        assert!((base..=base * 1.2).contains(&delay), "retry {i}: {delay} ms for base {base}");
    }
    let calls = server.push_calls();
    assert_eq!(calls.len(), 4);
    for (i, base) in [100.0, 200.0, 400.0].into_iter().enumerate() {
        assert!(
            calls[i + 1] - calls[i] >= base - 5.0,
            "attempt {} came {} ms after the previous",
            i + 2,
            calls[i + 1] - calls[i]
        );
    }
    assert_eq!((server.seen_ops("w1"), server.applied_ops("w1")), (1.0, 1.0), "no duplicates");
    e.close();
}

#[wasm_bindgen_test]
async fn two_permanent_rejections_in_a_batch_of_ten_are_dead_lettered_and_retryable() {
    let server = MemoryServer::new();
    let e = open_synced(&unique("partial"), &server, json!({ "autoSync": false })).await;
    let records: Vec<Value> = (0..10).map(|i| json!({ "id": format!("n{i}") })).collect();
    let stamps = Array::from(&await_js(e.bulk_put("notes".into(), js(&json!(records)))).await.unwrap());
    let bad: Array = [2, 5].iter().map(|&i| get(&stamps.get(i), "opId")).collect();
    server.reject_ops(bad.clone().into(), false);
    let (errors, rec) = recorder();
    let _off = e.on("sync.error:action".into(), rec).unwrap();
    // autoSync is off: nothing is pushed until syncNow().
    wait_for(5000.0, "leadership", || async { status(&e, "leader").await == true }).await;
    assert!(server.push_calls().is_empty());
    let report = await_js(e.sync_now()).await.unwrap();
    assert_eq!((get(&report, "pushed"), get(&report, "failed")), (JsValue::from(8), JsValue::from(2)));
    let failed = Array::from(&await_js(e.failed_ops()).await.unwrap());
    assert_eq!(failed.length(), 2);
    assert_eq!(get(&failed.get(0), "opId"), bad.get(0));
    assert_eq!(get(&failed.get(0), "state"), "failed");
    assert!(get(&failed.get(0), "lastError").as_string().unwrap().contains("rejected"));
    assert!(
        errors.borrow().iter().any(|e| Array::from(&get(e, "opIds")).length() == 2),
        "sync.error:action names them"
    );
    assert_eq!(status(&e, "pendingOps").await, 0);
    assert_eq!(status(&e, "failedOps").await, 2);
    assert_eq!(server.snapshot("w1").unwrap().length(), 8);
    server.clear_rejections();
    assert_eq!(await_js(e.retry_failed(None)).await.unwrap(), 2);
    await_js(e.sync_now()).await.unwrap();
    assert_eq!(server.snapshot("w1").unwrap().length(), 10, "the retried ops arrive");
    assert_eq!(Array::from(&await_js(e.failed_ops()).await.unwrap()).length(), 0);
    let runs = Array::from(&await_js(e.sync_runs(None)).await.unwrap());
    assert!(runs.length() >= 2, "one sync_runs row per run");
    e.close();
}

#[wasm_bindgen_test]
async fn rate_limit_waits_at_least_retry_after() {
    let server = MemoryServer::new();
    let e = open_synced(&unique("ratelimit"), &server, json!({})).await;
    wait_for(5000.0, "leadership", || async { status(&e, "leader").await == true }).await;
    server.fail_next_pushes(1, Some("RATE_LIMIT".into()), Some(2000));
    await_js(e.put("notes".into(), js(&json!({ "id": "a" })))).await.unwrap();
    wait_for(8000.0, "the push to succeed", || drained(&e)).await;
    let calls = server.push_calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[1] - calls[0] >= 2000.0, "the next attempt came after {} ms", calls[1] - calls[0]);
    e.close();
}

#[wasm_bindgen_test]
async fn a_push_cut_off_by_close_is_sent_again_and_kept_once() {
    let server = MemoryServer::new();
    server.set_latency(300);
    let db = unique("crash");
    let e = open_synced(&db, &server, json!({})).await;
    wait_for(5000.0, "leadership", || async { status(&e, "leader").await == true }).await;
    await_js(e.put("notes".into(), js(&json!({ "id": "a", "v": 1 })))).await.unwrap();
    wait_for(3000.0, "the push to start", || async { !server.push_calls().is_empty() }).await;
    e.close(); // the page "dies" with the op in flight
    sleep(400).await; // the server applied it meanwhile
    assert_eq!(server.applied_ops("w1"), 1.0);
    let again = open_synced(&db, &server, json!({})).await;
    wait_for(5000.0, "the re-send", || drained(&again)).await;
    assert!(server.push_calls().len() >= 2, "the op was sent again after reopen");
    assert_eq!((server.seen_ops("w1"), server.applied_ops("w1")), (1.0, 1.0), "and the server holds it once");
    again.close();
}

#[wasm_bindgen_test]
async fn one_engine_per_database_pushes_and_hands_over_on_close() {
    let server = MemoryServer::new();
    let db = unique("leader");
    let a = open_synced(&db, &server, json!({})).await;
    let b = open_synced(&db, &server, json!({})).await;
    wait_for(5000.0, "a leader", || async { status(&a, "leader").await == true || status(&b, "leader").await == true })
        .await;
    let (leader, follower) = if status(&a, "leader").await == true { (a, b) } else { (b, a) };
    assert_eq!(status(&follower, "leader").await, false, "exactly one pushes");
    await_js(leader.put("notes".into(), js(&json!({ "id": "from-leader" })))).await.unwrap();
    await_js(follower.put("notes".into(), js(&json!({ "id": "from-follower" })))).await.unwrap();
    await_js(follower.sync_now()).await.unwrap();
    wait_for(5000.0, "both writes on the server", || async { server.snapshot("w1").unwrap().length() == 2 }).await;
    leader.close();
    wait_for(5000.0, "the hand-over", || async { status(&follower, "leader").await == true }).await;
    await_js(follower.put("notes".into(), js(&json!({ "id": "after-handover" })))).await.unwrap();
    wait_for(5000.0, "the new leader's push", || async { server.snapshot("w1").unwrap().length() == 3 }).await;
    assert_eq!(server.applied_ops("w1"), 3.0);
    follower.close();
}

#[wasm_bindgen_test]
async fn other_engines_on_the_database_hear_of_local_writes_and_pulled_pages() {
    let server = MemoryServer::new();
    let db = unique("notices");
    let a = open_synced(&db, &server, json!({ "autoSync": false })).await;
    let b = open_synced(&db, &server, json!({ "autoSync": false })).await;
    wait_for(5000.0, "a leader", || async { status(&a, "leader").await == true || status(&b, "leader").await == true })
        .await;
    let (leader, follower) = if status(&a, "leader").await == true { (&a, &b) } else { (&b, &a) };
    let (heard, handler) = recorder();
    follower.on("change".into(), handler).unwrap();
    let from_tab = || -> Vec<Value> {
        heard
            .borrow()
            .iter()
            .filter(|c| get(c, "source") == "tab")
            .map(|c| serde_wasm_bindgen::from_value(get(c, "pks")).unwrap())
            .collect()
    };
    await_js(leader.bulk_put("notes".into(), js(&json!([{ "id": "n1" }, { "id": 7 }])))).await.unwrap();
    wait_for(3000.0, "the local write's notice", || {
        let n = from_tab().len();
        async move { n == 1 }
    })
    .await;
    assert_eq!(from_tab(), vec![json!(["n1", 7])], "keys keep their types");
    // A page the leader pulls (written by another device) is announced too.
    let other = open_synced(&unique("notices-other"), &server, json!({ "autoSync": false })).await;
    await_js(other.put("notes".into(), js(&json!({ "id": "remote" })))).await.unwrap();
    await_js(other.sync_now()).await.unwrap();
    await_js(leader.sync_now()).await.unwrap();
    wait_for(3000.0, "the pulled page's notice", || {
        let n = from_tab().len();
        async move { n >= 2 }
    })
    .await;
    assert!(from_tab()[1..].iter().any(|pks| pks.as_array().unwrap().contains(&json!("remote"))), "{:?}", from_tab());
    a.close();
    b.close();
    other.close();
}

#[wasm_bindgen_test]
async fn auth_pauses_pushing_until_start() {
    let server = MemoryServer::new();
    let e = open_synced(&unique("auth"), &server, json!({})).await;
    wait_for(5000.0, "leadership", || async { status(&e, "leader").await == true }).await;
    server.fail_next_pushes(1, Some("AUTH".into()), None);
    await_js(e.put("notes".into(), js(&json!({ "id": "a" })))).await.unwrap();
    wait_for(3000.0, "the pause", || async { status(&e, "phase").await == "paused" }).await;
    assert_eq!(get(&status(&e, "lastError").await, "code"), "AUTH");
    await_js(e.put("notes".into(), js(&json!({ "id": "b" })))).await.unwrap();
    sleep(200).await;
    assert_eq!(server.push_calls().len(), 1, "no attempts while paused");
    assert_eq!(status(&e, "pendingOps").await, 2);
    e.start().unwrap();
    wait_for(5000.0, "the push after start()", || drained(&e)).await;
    assert_eq!(server.applied_ops("w1"), 2.0);
    e.close();
}

#[wasm_bindgen_test]
async fn no_attempts_while_offline_and_a_push_when_back_online() {
    let server = MemoryServer::new();
    let e = open_synced(&unique("online"), &server, json!({})).await;
    wait_for(5000.0, "leadership", || async { status(&e, "leader").await == true }).await;
    let set_online = |v: bool| {
        js_sys::eval(&format!(
            "Object.defineProperty(navigator, 'onLine', {{ configurable: true, get: () => {v} }}); \
             window.dispatchEvent(new Event('{}'));",
            if v { "online" } else { "offline" }
        ))
        .unwrap();
    };
    /// Puts the real `navigator.onLine` back however the test ends, so a
    /// failure here cannot leave the next tests offline.
    struct RestoreOnline;
    impl Drop for RestoreOnline {
        fn drop(&mut self) {
            let _ = js_sys::eval("delete navigator.onLine");
        }
    }
    let _restore = RestoreOnline;
    set_online(false);
    // Once the engine reports offline, nothing it does may reach the server.
    wait_for(3000.0, "the offline phase", || async { status(&e, "phase").await == "offline" }).await;
    let before = server.push_calls().len();
    await_js(e.put("notes".into(), js(&json!({ "id": "a" })))).await.unwrap();
    sleep(300).await;
    assert_eq!(server.push_calls().len(), before, "no push while navigator.onLine is false");
    assert_eq!(status(&e, "phase").await, "offline");
    assert_eq!(status(&e, "pendingOps").await, 1);
    set_online(true);
    wait_for(5000.0, "the push after the online event", || drained(&e)).await;
    assert_eq!(server.applied_ops("w1"), 1.0);
    e.close();
}

#[wasm_bindgen_test]
async fn close_disposes_of_the_provider_once() {
    let server = MemoryServer::new();
    let provider: JsValue = server.provider(None).into();
    let dispose = js_sys::Function::new_no_args("this.disposed = (this.disposed || 0) + 1;");
    js_sys::Reflect::set(&provider, &"dispose".into(), &dispose).unwrap();
    let cfg = js(&json!({ "workspaceId": "w1", "dbName": unique("dispose"), "tables": [{ "name": "notes" }] }));
    js_sys::Reflect::set(&cfg, &"provider".into(), &provider).unwrap();
    let engine = SyncEngine::open_with(cfg).await.unwrap();
    assert!(get(&provider, "disposed").is_undefined(), "disposed before close");
    engine.close();
    assert_eq!(get(&provider, "disposed").as_f64(), Some(1.0));
    engine.close();
    assert_eq!(get(&provider, "disposed").as_f64(), Some(1.0), "a second close disposes again");
}

//! SQLite only: pulls, version reads and token checks run on reader
//! connections, so they answer while a push waits for the write lock; a
//! pull refuses rows that something other than the server wrote; pushes
//! at once each apply exactly once.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;
use tidesync::core::wire::{PullRequest, PushBatch, SyncScope};
use tidesync_server::config::Database;

#[test]
fn a_pull_answers_while_a_push_waits_for_the_write_lock() {
    let Database::Sqlite(path) = Backend::Sqlite.database() else { unreachable!() };
    let db = tidesync_server::open_db(&Database::Sqlite(path.clone()), 1).unwrap();
    let ws = unique("readers");
    let one: PushBatch<Value> =
        serde_json::from_value(batch(&ws, "d", vec![put("t", json!("a"), 1, 1, "d", "o1", json!({}))])).unwrap();
    db.push(&one, now_ms()).unwrap();
    let token = tidesync_server::create_token(&*db, std::slice::from_ref(&ws), None, None).unwrap();

    // Another connection holds the file's write lock: the next push takes
    // the server's writer and waits on it (busy timeout).
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let two: PushBatch<Value> =
        serde_json::from_value(batch(&ws, "d", vec![put("t", json!("b"), 1, 2, "d", "o2", json!({}))])).unwrap();
    let pusher = {
        let db = db.clone();
        std::thread::spawn(move || db.push(&two, now_ms()))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(!pusher.is_finished(), "the push waits for the write lock");

    let started = Instant::now();
    let scope = SyncScope { workspace_id: ws.clone(), project_id: None };
    let page = db.pull(&PullRequest { scope, cursor: 0, limit: 10, tables: None, rescan: false }).unwrap();
    assert_eq!((page.len, page.next_cursor), (1, 1), "the snapshot before the waiting push");
    assert_eq!(db.version(&ws).unwrap(), 1);
    assert!(db.grant(&tidesync_server::auth::hash(&token)).unwrap().is_some());
    assert!(started.elapsed() < Duration::from_secs(2), "reads did not wait: {:?}", started.elapsed());
    assert!(!pusher.is_finished());

    blocker.execute_batch("COMMIT").unwrap();
    let out = pusher.join().unwrap().unwrap();
    assert_eq!(out.result.server_version, Some(2));
    assert_eq!(db.version(&ws).unwrap(), 2);
}

/// Pages splice the stored key and payload into their text: a row whose
/// payload is not a JSON object (written around the server) is a storage
/// error, never a broken page.
#[test]
fn a_pull_refuses_a_payload_the_server_did_not_write() {
    let Database::Sqlite(path) = Backend::Sqlite.database() else { unreachable!() };
    let db = tidesync_server::open_db(&Database::Sqlite(path.clone()), 1).unwrap();
    let ws = unique("foreign");
    let one: PushBatch<Value> =
        serde_json::from_value(batch(&ws, "d", vec![put("t", json!("a"), 1, 1, "d", "o1", json!({ "x": 1 }))]))
            .unwrap();
    db.push(&one, now_ms()).unwrap();
    let scope = SyncScope { workspace_id: ws.clone(), project_id: None };
    let req = PullRequest { scope, cursor: 0, limit: 10, tables: None, rescan: false };
    let page: Value = serde_json::from_str(&db.pull(&req).unwrap().into_response_json()).unwrap();
    assert_eq!(page["changes"][0]["payload"], json!({ "x": 1 }));

    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute("UPDATE records SET payload = 'not json' WHERE workspace = ?1", [&ws]).unwrap();
    let err = db.pull(&req).unwrap_err();
    assert!(matches!(err, tidesync::core::SyncError::Storage(ref m) if m.contains("not a JSON object")), "{err:?}");
}

/// Eight threads push at once to one workspace, so pushes queue for the
/// writer: every op applies once, the versions are 1 to n with none twice,
/// and each push's answer holds its own versions.
#[test]
fn pushes_at_once_apply_once_with_versions_in_order() {
    let db = tidesync_server::open_db(&Backend::Sqlite.database(), 1).unwrap();
    let ws = unique("group");
    let (threads, batches, ops) = (8, 25, 4);
    let versions: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (db, ws) = (db.clone(), ws.clone());
                s.spawn(move || {
                    let mut got = Vec::new();
                    for b in 0..batches {
                        let dev = format!("d{t}");
                        let puts = (0..ops)
                            .map(|i| {
                                let op_id = format!("o-{t}-{b}-{i}");
                                put("t", json!(op_id.clone()), 1, 1, &dev, &op_id, json!({ "t": t }))
                            })
                            .collect();
                        let one: PushBatch<Value> = serde_json::from_value(batch(&ws, &dev, puts)).unwrap();
                        let out = db.push(&one, now_ms()).unwrap();
                        got.extend(out.result.results.iter().map(|r| r.server_version.unwrap()));
                    }
                    got
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let n = (threads * batches * ops) as u64;
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=n).collect::<Vec<_>>(), "every version once");
    assert_eq!(db.version(&ws).unwrap(), n);
    let scope = SyncScope { workspace_id: ws.clone(), project_id: None };
    let page = db.pull(&PullRequest { scope, cursor: 0, limit: 10_000, tables: None, rescan: false }).unwrap();
    assert_eq!(page.len as u64, n);
}

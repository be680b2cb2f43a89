//! A push's set-based statements (`src/db/batch.rs`) give exactly what the
//! core's op-at-a-time algorithm gives: the same batches pushed to the
//! in-memory `ServerState` and to each database get the same results
//! (versions, `current` of rejected ops, the workspace's serverVersion)
//! and leave the same log. The batches repeat opIds within a batch and
//! across batches, write one record several times in a batch (puts,
//! deletes, older and newer stamps) and mix string and number keys.

mod support;

use serde_json::{json, Value};
use support::*;
use tidesync::core::server::ServerState;
use tidesync::core::wire::{PullRequest, PushBatch, SyncScope};

on_both_backends!(batched_pushes_match_the_op_at_a_time_algorithm);

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn batches(ws: &str) -> Vec<Value> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut sent: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    for b in 0..40 {
        let mut ops = Vec::new();
        for i in 0..rng.next(12) + 1 {
            // Now and then an op sent before (another batch's, or this one's).
            if !sent.is_empty() && rng.next(6) == 0 {
                ops.push(sent[rng.next(sent.len() as u64) as usize].clone());
                continue;
            }
            let table = ["notes", "tags"][rng.next(2) as usize];
            let pk = match rng.next(3) {
                0 => json!(rng.next(4)),
                _ => json!(format!("k{}", rng.next(5))),
            };
            let (clock, ms, device) = (rng.next(3) + 1, 1000 + rng.next(50), ["d1", "d2", "d3"][rng.next(3) as usize]);
            let op_id = format!("op-{b}-{i}");
            let op = if rng.next(4) == 0 {
                delete(table, pk, clock, ms, device, &op_id)
            } else {
                put(table, pk, clock, ms, device, &op_id, json!({ "b": b, "i": i, "s": "tëxt \"q\"" }))
            };
            sent.push(op.clone());
            ops.push(op);
        }
        out.push(batch(ws, "d1", ops));
    }
    out
}

fn batched_pushes_match_the_op_at_a_time_algorithm(b: &Backend) {
    let db = tidesync_server::open_db(&b.database(), 2).unwrap();
    let ws = unique("batch");
    let scope = SyncScope { workspace_id: ws.clone(), project_id: None };
    let mut memory = ServerState::<Value>::new();
    memory.authorize(None, &scope).unwrap();
    let (mut applied, mut rejected) = (0, 0);
    for body in batches(&ws) {
        let batch: PushBatch<Value> = serde_json::from_value(body).unwrap();
        let want = memory.push(&batch, now_ms());
        let got = db.push(&batch, now_ms()).unwrap();
        assert_eq!(serde_json::to_value(&got.result).unwrap(), serde_json::to_value(&want.result).unwrap());
        assert_eq!(serde_json::to_value(&got.applied).unwrap(), serde_json::to_value(&want.applied).unwrap());
        assert_eq!(got.from_cursor, want.from_cursor);
        applied += want.applied.len();
        rejected += want.result.results.iter().filter(|r| r.current.is_some()).count();
    }
    assert!(applied > 50 && rejected > 10, "the batches exercise both paths: {applied} applied, {rejected} rejected");
    let req = PullRequest { scope, cursor: 0, limit: 10_000, tables: None, rescan: false };
    let want = memory.pull(&req).unwrap();
    let got = db.pull(&req).unwrap();
    let got: Value = serde_json::from_str(&got.into_response_json()).unwrap();
    assert_eq!(got, serde_json::to_value(&want).unwrap());
    assert_eq!(db.version(&ws).unwrap(), want.next_cursor);
    pages_match_the_memory_servers(&*db, &memory, &req);
}

/// Page by page, with and without a table filter, the encoded pages hold
/// the memory server's changes and cursors. `remaining` is the SQL stores'
/// cheap bound: at least the true count, 0 exactly on the last page.
fn pages_match_the_memory_servers(db: &dyn tidesync_server::db::Db, memory: &ServerState<Value>, all: &PullRequest) {
    for tables in [None, Some(vec!["tags".to_string()])] {
        for limit in [1, 3, 7] {
            let mut req = PullRequest { limit, tables: tables.clone(), ..all.clone() };
            loop {
                let want = memory.pull(&req).unwrap();
                let got: Value = serde_json::from_str(&db.pull(&req).unwrap().into_response_json()).unwrap();
                assert_eq!(got["changes"], serde_json::to_value(&want.changes).unwrap(), "from {}", req.cursor);
                assert_eq!(
                    (got["nextCursor"].as_u64(), got["hasMore"].as_bool()),
                    (Some(want.next_cursor), Some(want.has_more))
                );
                let remaining = got["remaining"].as_u64().unwrap();
                assert!(remaining >= want.remaining.unwrap() && (remaining > 0) == want.has_more, "{got}");
                if !want.has_more {
                    break;
                }
                req.cursor = want.next_cursor;
            }
        }
    }
}

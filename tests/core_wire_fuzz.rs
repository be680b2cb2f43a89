//! docs/PROTOCOL.md section 2, robustness: no decoder panics, whatever JSON it is
//! given. Two property tests feed every decoder arbitrary JSON (biased towards
//! the protocol's field names and values) and valid wire values with a few
//! nodes replaced or removed.

#![cfg(not(target_arch = "wasm32"))]

mod wire_support;

use proptest::prelude::*;
use serde_json::{json, Value};
use tidesync::core::wire::{
    decode_change, decode_changes, decode_pull_request, decode_pull_response, decode_push_batch, decode_push_op,
    decode_push_result, decode_scope, decode_stamp, PushBatch,
};
use wire_support::*;

const FIELDS: &[&str] = &[
    "scope",
    "workspaceId",
    "projectId",
    "cursor",
    "limit",
    "tables",
    "changes",
    "nextCursor",
    "hasMore",
    "remaining",
    "tableName",
    "pk",
    "op",
    "payload",
    "serverVersion",
    "stamp",
    "clock",
    "hlc",
    "deviceId",
    "opId",
    "ops",
    "results",
    "success",
    "error",
    "code",
    "retryable",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u64..12).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(MAX_SAFE)),
        Just(json!(MAX_SAFE + 1)),
        Just(json!(-0.0)),
        prop::sample::select(vec!["put", "delete", "upsert", "", "notes", "op-1", "op-2", "dev-a", "w1"])
            .prop_map(Value::from),
        prop::sample::select(FIELDS).prop_map(Value::from),
        (0u64..3, 0u32..3, prop::sample::select(vec!["dev-a", "dev-b", "a:b"]))
            .prop_map(|(ms, c, d)| Value::from(hlc(ms, c, d))),
        ".{0,24}".prop_map(Value::from),
    ]
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (prop_oneof![4 => prop::sample::select(FIELDS).prop_map(str::to_string), 1 => "[a-z]{0,6}"], inner),
                0..8,
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// All JSON pointers inside `v` (including the root, `""`).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// A valid wire value with a few nodes replaced by arbitrary ones or removed,
/// so decoding gets deep before it meets the damage.
fn mutated_valid() -> impl Strategy<Value = Value> {
    let bases =
        vec![pull_request(), pull_response(), push_batch(2), push_result(), push_op_json("op-1", json!(1), "put")];
    (
        prop::sample::select(bases),
        prop::collection::vec((any::<prop::sample::Index>(), prop::option::weighted(0.8, arbitrary_json())), 1..4),
    )
        .prop_map(|(mut v, edits)| {
            for (idx, new) in edits {
                let mut ptrs = Vec::new();
                pointers(&v, String::new(), &mut ptrs);
                let ptr = idx.get(&ptrs).clone();
                if ptr.is_empty() {
                    if let Some(n) = new {
                        v = n;
                    }
                } else {
                    v = with(v, &ptr, new);
                }
            }
            v
        })
}

fn decode_everything(v: &Value, cursor: u64, max_ops: usize) {
    let known = |t: &str| t == "notes";
    let _ = decode_pull_request(v);
    let _ = decode_pull_response(v, cursor, None);
    let _ = decode_pull_response(v, cursor, Some(&known));
    let _ = decode_changes(v, &ROOT, cursor, None);
    let _ = decode_changes(v, &ROOT, cursor, Some(&known));
    let _ = decode_change(v, &ROOT);
    // The borrowed decode (the server's) agrees with the owned one, errors included.
    let owned = decode_push_batch(v, max_ops);
    let borrowed = decode_push_batch(&v, max_ops).map(|b| PushBatch {
        scope: b.scope,
        device_id: b.device_id,
        ops: b.ops.into_iter().map(|op| op.map_payload(Value::clone)).collect(),
    });
    assert_eq!(owned, borrowed);
    assert_eq!(decode_pull_request(v), decode_pull_request(&v));
    let _ = decode_push_op(v, &ROOT);
    let _ = decode_push_result(v, &["op-1", "op-2"]);
    let _ = decode_push_result(v, &[]);
    let _ = decode_stamp(v, &ROOT);
    let _ = decode_scope(v, &ROOT);
    // Reach the nested decoders at their usual places too.
    for name in ["scope", "stamp", "changes", "ops", "results"] {
        if let Some(x) = v.get(name) {
            let _ = decode_scope(x, &ROOT);
            let _ = decode_stamp(x, &ROOT);
            let _ = decode_changes(x, &ROOT, cursor, None);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_500))]

    #[test]
    fn no_panic_on_arbitrary_json(
        v in arbitrary_json(),
        cursor in prop_oneof![Just(0u64), 0u64..10, Just(u64::MAX)],
        max_ops in 0usize..4,
    ) {
        decode_everything(&v, cursor, max_ops);
    }

    #[test]
    fn no_panic_on_mutated_valid_json(v in mutated_valid(), cursor in 0u64..4, max_ops in 0usize..4) {
        decode_everything(&v, cursor, max_ops);
    }
}

//! Shared fixtures and the catalogue checker for the `core_wire_*` tests:
//! valid base wire values, JSON-pointer edits, thin wrappers around the
//! decoders, and the `Case`/`check` machinery each catalogue file uses.
//! Not every test file uses every helper.
#![allow(dead_code)]

use std::fmt::Debug;

use serde_json::{json, Value};
use tidesync::core::decode::Path;
use tidesync::core::wire::{
    decode_change, decode_pull_request, decode_pull_response, decode_push_batch, decode_push_op, decode_push_result,
    decode_stamp,
};
use tidesync::core::{Hlc, Invalid, InvalidKind};

/// A plausible wall-clock time (2023-11-14), in milliseconds.
pub const T0: u64 = 1_700_000_000_000;
pub const MAX_SAFE: u64 = 9_007_199_254_740_991;

// ------------------------------------------------------------------ fixtures

pub fn hlc(ms: u64, counter: u32, device: &str) -> String {
    Hlc { ms, counter, device_id: device.to_string() }.to_string()
}

pub fn stamp_json(clock: u64, device: &str, op_id: &str) -> Value {
    json!({ "clock": clock, "hlc": hlc(T0, 0, device), "deviceId": device, "opId": op_id })
}

pub fn change_json(version: u64, table: &str, pk: Value, op: &str) -> Value {
    let mut c = json!({
        "tableName": table,
        "pk": pk,
        "op": op,
        "serverVersion": version,
        "stamp": stamp_json(version, "dev-a", &format!("op-{version}")),
    });
    if op == "put" {
        c["payload"] = json!({ "id": format!("n{version}"), "title": "hello" });
    }
    c
}

pub fn pull_request() -> Value {
    json!({ "scope": { "workspaceId": "w1" }, "cursor": 0, "limit": 100 })
}

pub fn pull_response() -> Value {
    json!({
        "changes": [change_json(1, "notes", json!("n1"), "put"), change_json(2, "notes", json!(2), "delete")],
        "nextCursor": 2,
        "hasMore": false,
    })
}

pub fn push_op_json(op_id: &str, pk: Value, op: &str) -> Value {
    let mut o = json!({
        "opId": op_id,
        "tableName": "notes",
        "op": op,
        "pk": pk,
        "stamp": stamp_json(1, "dev-a", op_id),
    });
    if op == "put" {
        o["payload"] = json!({ "id": 1, "body": "x" });
    }
    o
}

pub fn push_batch(n: usize) -> Value {
    let ops: Vec<Value> = (1..=n).map(|i| push_op_json(&format!("op-{i}"), json!(i), "put")).collect();
    json!({ "scope": { "workspaceId": "w1", "projectId": "p1" }, "deviceId": "dev-a", "ops": ops })
}

pub fn push_result() -> Value {
    json!({
        "results": [
            { "opId": "op-1", "success": true, "serverVersion": 7 },
            { "opId": "op-2", "success": false, "error": "too big", "code": "INVALID", "retryable": false },
        ],
        "serverVersion": 7,
    })
}

/// `base` with the value at JSON pointer `ptr` replaced (`Some`) or removed (`None`).
pub fn with(mut base: Value, ptr: &str, new: Option<Value>) -> Value {
    let (parent, last) = ptr.rsplit_once('/').expect("a JSON pointer");
    let slot = base.pointer_mut(parent).unwrap_or_else(|| panic!("no parent for {ptr}"));
    match (slot, new) {
        (Value::Object(m), Some(v)) => {
            m.insert(last.to_string(), v);
        }
        (Value::Object(m), None) => {
            m.remove(last).unwrap_or_else(|| panic!("nothing to remove at {ptr}"));
        }
        (Value::Array(a), Some(v)) => a[last.parse::<usize>().unwrap()] = v,
        (Value::Array(a), None) => {
            a.remove(last.parse::<usize>().unwrap());
        }
        (other, _) => panic!("cannot edit {ptr} in {other}"),
    }
    base
}

pub fn set(base: Value, ptr: &str, v: Value) -> Value {
    with(base, ptr, Some(v))
}

pub fn del(base: Value, ptr: &str) -> Value {
    with(base, ptr, None)
}

// ------------------------------------------------------------------ decoders under test

pub const ROOT: Path<'static> = Path::Root("");

pub fn dbg<T: Debug>(r: Result<T, Invalid>) -> Result<String, Invalid> {
    r.map(|x| format!("{x:?}"))
}

pub fn pull_req(v: Value) -> Result<String, Invalid> {
    dbg(decode_pull_request(&v))
}

pub fn pull_resp(v: Value, cursor: u64) -> Result<String, Invalid> {
    dbg(decode_pull_response(&v, cursor, None))
}

pub fn change(v: Value) -> Result<String, Invalid> {
    dbg(decode_change(&v, &ROOT))
}

pub fn stamp(v: Value) -> Result<String, Invalid> {
    dbg(decode_stamp(&v, &ROOT))
}

pub fn push_op(v: Value) -> Result<String, Invalid> {
    dbg(decode_push_op(&v, &ROOT))
}

pub fn batch(v: Value) -> Result<String, Invalid> {
    dbg(decode_push_batch(&v, 3))
}

pub fn result(v: Value) -> Result<String, Invalid> {
    dbg(decode_push_result(&v, &["op-1", "op-2"]))
}

// ------------------------------------------------------------------ the catalogue

pub enum Want {
    Missing,
    Wrong(&'static str),
    Range,
    /// A rule, with a fragment its message must contain.
    Rule(&'static str),
}

pub struct Case {
    pub id: &'static str,
    pub got: Result<String, Invalid>,
    pub path: &'static str,
    pub want: Want,
}

pub fn case(id: &'static str, got: Result<String, Invalid>, path: &'static str, want: Want) -> Case {
    Case { id, got, path, want }
}

pub fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in &cases {
        let ok = match &c.got {
            Ok(v) => Err(format!("decoded Ok: {v}")),
            Err(e) if e.path != c.path => Err(format!("path {:?}, expected {:?} ({e})", e.path, c.path)),
            Err(e) => match (&c.want, &e.kind) {
                (Want::Missing, InvalidKind::Missing) | (Want::Range, InvalidKind::OutOfRange) => Ok(()),
                (Want::Wrong(x), InvalidKind::WrongType { expected }) if x == expected => Ok(()),
                (Want::Rule(frag), InvalidKind::Rule(msg)) if msg.contains(frag) => Ok(()),
                (_, kind) => Err(format!("kind {kind:?} at {:?}", e.path)),
            },
        };
        if let Err(why) = ok {
            failures.push(format!("{}: {why}", c.id));
        }
    }
    assert!(failures.is_empty(), "catalogue failures:\n  {}", failures.join("\n  "));
}

/// Checks that the `//!` doc comment at the top of `source` (a catalogue
/// file's own text) names every case id exactly once, names nothing that is
/// not a case, and that there are at least `min` cases with distinct ids.
pub fn check_doc_lists(source: &str, cases: &[Case], min: usize) {
    let listed: Vec<&str> = source
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .filter_map(|l| l.strip_prefix("//! - `"))
        .filter_map(|l| l.split_once('`').map(|(id, _)| id))
        .collect();
    let ids: Vec<&str> = cases.iter().map(|c| c.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "duplicate case ids");
    for id in &ids {
        assert_eq!(listed.iter().filter(|l| *l == id).count(), 1, "{id} is not listed exactly once");
    }
    for l in &listed {
        assert!(ids.contains(l), "{l} is listed but is not a case");
    }
    assert!(ids.len() >= min, "only {} cases, expected {min}", ids.len());
}

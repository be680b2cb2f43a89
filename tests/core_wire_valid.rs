//! docs/PROTOCOL.md section 2, the accepting side: well-formed wire values decode
//! to exactly the expected Rust values, optional fields may be absent or
//! null, boundary values are accepted, and every base fixture the rejection
//! catalogue (`core_wire_pull.rs`, `core_wire_stamp.rs`, `core_wire_push.rs`)
//! mutates is itself valid.

#![cfg(not(target_arch = "wasm32"))]

mod wire_support;

use serde_json::{json, Value};
use tidesync::core::decode::Path;
use tidesync::core::wire::{
    decode_change, decode_changes, decode_pull_request, decode_pull_response, decode_push_batch, decode_push_op,
    decode_push_result, decode_scope, decode_stamp, OpKind, OpResult, PullRequest, PullResponse, PushBatch, PushOp,
    PushResult, SyncChange, SyncScope,
};
use tidesync::core::{ChangeStamp, Invalid, InvalidKind, Pk};
use wire_support::*;

/// Every base fixture the catalogue mutates is itself valid, so each case
/// fails for the one reason it names.
#[test]
fn catalogue_bases_are_valid() {
    assert!(decode_pull_request(&pull_request()).is_ok());
    assert!(decode_pull_response(&pull_response(), 0, None).is_ok());
    assert!(decode_change(&change_json(1, "notes", json!("n1"), "put"), &ROOT).is_ok());
    assert!(decode_stamp(&stamp_json(1, "dev-a", "op-1"), &ROOT).is_ok());
    assert!(decode_push_op(&push_op_json("op-1", json!(1), "put"), &ROOT).is_ok());
    assert!(decode_push_batch(&push_batch(2), 3).is_ok());
    assert!(decode_push_batch(&push_batch(3), 3).is_ok());
    assert!(decode_push_result(&push_result(), &["op-1", "op-2"]).is_ok());
    assert!(decode_changes(&json!([change_json(4, "notes", json!("n"), "put")]), &ROOT, 3, None).is_ok());
}

fn expected_stamp(clock: u64, device: &str, op_id: &str) -> ChangeStamp {
    ChangeStamp { clock, hlc: hlc(T0, 0, device), device_id: device.into(), op_id: op_id.into() }
}

#[test]
fn valid_pull_request_decodes() {
    let v = json!({
        "scope": { "workspaceId": "w1", "projectId": "p1" },
        "cursor": 42,
        "limit": 10_000,
        "tables": ["notes", "tags"],
    });
    assert_eq!(
        decode_pull_request(&v),
        Ok(PullRequest {
            scope: SyncScope { workspace_id: "w1".into(), project_id: Some("p1".into()) },
            cursor: 42,
            limit: 10_000,
            tables: Some(vec!["notes".into(), "tags".into()]),
            rescan: false,
        })
    );
    let min = json!({ "scope": { "workspaceId": "w" }, "cursor": 0, "limit": 1, "tables": null });
    assert_eq!(
        decode_pull_request(&min),
        Ok(PullRequest {
            scope: SyncScope { workspace_id: "w".into(), project_id: None },
            cursor: 0,
            limit: 1,
            tables: None,
            rescan: false,
        })
    );
    let max = set(pull_request(), "/cursor", json!(MAX_SAFE));
    assert_eq!(decode_pull_request(&max).map(|r| r.cursor), Ok(MAX_SAFE));
}

#[test]
fn valid_pull_response_decodes() {
    let v = set(pull_response(), "/remaining", json!(12));
    let v = set(v, "/hasMore", json!(true));
    let known = |t: &str| t == "notes";
    let got = decode_pull_response(&v, 0, Some(&known)).expect("valid");
    let expected = PullResponse {
        changes: vec![
            SyncChange {
                table_name: "notes".into(),
                pk: Pk::Str("n1".into()),
                op: OpKind::Put,
                payload: Some(json!({ "id": "n1", "title": "hello" })),
                server_version: 1,
                stamp: expected_stamp(1, "dev-a", "op-1"),
            },
            SyncChange {
                table_name: "notes".into(),
                pk: Pk::Num(2.0),
                op: OpKind::Delete,
                payload: None,
                server_version: 2,
                stamp: expected_stamp(2, "dev-a", "op-2"),
            },
        ],
        next_cursor: 2,
        has_more: true,
        remaining: Some(12),
    };
    assert_eq!(got, expected);

    // An empty page that does not move the cursor is fine when hasMore is false,
    // and nextCursor may skip past versions this client cannot see.
    let empty = json!({ "changes": [], "nextCursor": 7, "hasMore": false });
    assert_eq!(decode_pull_response(&empty, 7, None).map(|r| r.changes.len()), Ok(0));
    let skip = json!({ "changes": [change_json(9, "notes", json!(1), "delete")], "nextCursor": 15, "hasMore": true });
    assert_eq!(decode_pull_response(&skip, 7, None).map(|r| r.next_cursor), Ok(15));
}

#[test]
fn valid_push_batch_decodes() {
    let mut v = push_batch(1);
    v["ops"].as_array_mut().unwrap().push(push_op_json("op-2", json!("k2"), "delete"));
    let got = decode_push_batch(&v, 2).expect("valid");
    let expected = PushBatch {
        scope: SyncScope { workspace_id: "w1".into(), project_id: Some("p1".into()) },
        device_id: "dev-a".into(),
        ops: vec![
            PushOp {
                op_id: "op-1".into(),
                table_name: "notes".into(),
                op: OpKind::Put,
                pk: Pk::Num(1.0),
                payload: Some(json!({ "id": 1, "body": "x" })),
                stamp: expected_stamp(1, "dev-a", "op-1"),
            },
            PushOp {
                op_id: "op-2".into(),
                table_name: "notes".into(),
                op: OpKind::Delete,
                pk: Pk::Str("k2".into()),
                payload: None,
                stamp: expected_stamp(1, "dev-a", "op-2"),
            },
        ],
    };
    assert_eq!(got, expected);
    let empty = json!({ "scope": { "workspaceId": "w1" }, "deviceId": "d", "ops": [] });
    assert_eq!(decode_push_batch(&empty, 0).map(|b| b.ops.len()), Ok(0));
}

#[test]
fn valid_push_result_decodes() {
    let got = decode_push_result(&push_result(), &["op-1", "op-2", "op-3"]).expect("valid");
    let expected = PushResult {
        results: vec![
            OpResult {
                op_id: "op-1".into(),
                success: true,
                server_version: Some(7),
                error: None,
                code: None,
                retryable: None,
                current: None,
            },
            OpResult {
                op_id: "op-2".into(),
                success: false,
                server_version: None,
                error: Some("too big".into()),
                code: Some("INVALID".into()),
                retryable: Some(false),
                current: None,
            },
        ],
        server_version: Some(7),
    };
    assert_eq!(got, expected);

    // Ops a result does not mention stay pending: a partial answer is valid.
    let partial = json!({ "results": [{ "opId": "op-2", "success": true, "error": null }] });
    let got = decode_push_result(&partial, &["op-1", "op-2"]).expect("valid");
    assert_eq!(got.results.len(), 1);
    assert_eq!(got.server_version, None);
    assert_eq!(got.results[0].error, None);
}

#[test]
fn delete_with_payload_decodes_with_payload_none() {
    for payload in [json!({ "id": 1 }), json!("junk"), json!([1, 2]), Value::Null] {
        let v = set(change_json(3, "notes", json!(1), "delete"), "/payload", payload.clone());
        let c = decode_change(&v, &ROOT).expect("a delete ignores its payload");
        assert_eq!(c.op, OpKind::Delete);
        assert_eq!(c.payload, None, "payload {payload}");

        let o = set(push_op_json("op-1", json!(1), "delete"), "/payload", payload);
        assert_eq!(decode_push_op(&o, &ROOT).expect("valid").payload, None);
    }
}

#[test]
fn pk_string_5_and_number_5_are_different_keys() {
    let as_str = decode_change(&change_json(1, "notes", json!("5"), "delete"), &ROOT).unwrap().pk;
    let as_num = decode_change(&change_json(1, "notes", json!(5), "delete"), &ROOT).unwrap().pk;
    let as_float = decode_change(&change_json(1, "notes", json!(5.0), "delete"), &ROOT).unwrap().pk;
    assert_eq!(as_str, Pk::Str("5".into()));
    assert_eq!(as_num, Pk::Num(5.0));
    assert_ne!(as_str, as_num);
    assert_eq!(as_num, as_float, "5 and 5.0 are the same JS number");
    // Numbers keep their sign and fraction; strings are kept verbatim.
    let pk = |v: Value| decode_change(&change_json(1, "notes", v, "delete"), &ROOT).unwrap().pk;
    assert_eq!(pk(json!(-1.5)), Pk::Num(-1.5));
    assert_eq!(pk(json!(-0.0)), Pk::Num(0.0));
    assert_eq!(pk(json!("")), Pk::Str(String::new()));
    assert_eq!(pk(json!(" 5")), Pk::Str(" 5".into()));
    assert_eq!(serde_json::to_value(&as_num).unwrap(), json!(5));
    assert_eq!(serde_json::to_value(&as_str).unwrap(), json!("5"));
}

#[test]
fn project_id_is_optional() {
    let scope = |v: Value| decode_scope(&v, &ROOT);
    assert_eq!(scope(json!({ "workspaceId": "w" })), Ok(SyncScope { workspace_id: "w".into(), project_id: None }));
    assert_eq!(
        scope(json!({ "workspaceId": "w", "projectId": null })),
        Ok(SyncScope { workspace_id: "w".into(), project_id: None })
    );
    assert_eq!(
        scope(json!({ "workspaceId": "w", "projectId": "p" })),
        Ok(SyncScope { workspace_id: "w".into(), project_id: Some("p".into()) })
    );
    // Unknown extra fields are tolerated.
    assert!(scope(json!({ "workspaceId": "w", "region": "eu" })).is_ok());
}

#[test]
fn boundary_values_are_accepted() {
    let s = |clock: u64| decode_stamp(&stamp_json(clock, "d", "o"), &ROOT).map(|s| s.clock);
    assert_eq!(s(1), Ok(1));
    assert_eq!(s(MAX_SAFE), Ok(MAX_SAFE));
    assert_eq!(decode_pull_request(&set(pull_request(), "/limit", json!(10_000))).map(|r| r.limit), Ok(10_000));
    assert_eq!(decode_pull_request(&set(pull_request(), "/limit", json!(1.0))).map(|r| r.limit), Ok(1));
    let name256 = "t".repeat(256);
    let v = set(change_json(1, "notes", json!(1), "delete"), "/tableName", json!(name256));
    assert_eq!(decode_change(&v, &ROOT).map(|c| c.table_name.len()), Ok(256));
    // A device id containing the separator still matches its HLC.
    let st = json!({ "clock": 1, "hlc": hlc(0, 0, "a:b"), "deviceId": "a:b", "opId": "o" });
    assert_eq!(decode_stamp(&st, &ROOT).map(|s| s.device_id), Ok("a:b".into()));
}

#[test]
fn errors_name_the_path_under_a_non_root_path() {
    let root = Path::Root("page");
    let changes = Path::Field(&root, "changes");
    let err = decode_changes(&json!([{}]), &changes, 0, None).unwrap_err();
    assert_eq!(err, Invalid::new("page.changes[0].tableName", InvalidKind::Missing));
    assert_eq!(err.to_string(), "page.changes[0].tableName is missing");
}

#[test]
fn a_batch_naming_one_op_id_twice_is_invalid() {
    let op = json!({
        "opId": "op-1", "tableName": "notes", "op": "delete", "pk": "a",
        "stamp": { "clock": 1, "hlc": "001700000000000:00000:dev", "deviceId": "dev", "opId": "op-1" },
    });
    let batch = json!({ "scope": { "workspaceId": "w1" }, "deviceId": "dev", "ops": [op.clone(), op] });
    let err = tidesync::core::wire::decode_push_batch(&batch, 100).unwrap_err();
    assert_eq!(err.path, "ops[1].opId");
    assert!(matches!(err.kind, tidesync::core::InvalidKind::Rule(ref m) if m.contains("twice")));
}

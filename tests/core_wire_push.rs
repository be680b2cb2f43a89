//! The validation catalogue of docs/PROTOCOL.md section 2, part 3: push ops,
//! push batches and push results.
//! Every malformed wire value below is decoded and must be rejected with
//! exactly this path and this `InvalidKind`. `Rule(..)` entries also check a
//! fragment of the message. The test `doc_comment_lists_every_case` keeps
//! this list and this file's cases in step: each case id appears here exactly
//! once, and nothing else does. The other parts of the catalogue are
//! `core_wire_pull.rs` (pull request, response, changes) and
//! `core_wire_stamp.rs` (one change, stamp, scope).
//!
//! Push op (`decode_push_op`); valid base: a put of `notes` pk 1 with opId "op-1":
//! - `push_op.root_array`: `[]` -> `""` WrongType(an object)
//! - `push_op.op_id_missing`: no opId -> `opId` Missing
//! - `push_op.op_id_empty`: opId "" -> `opId` Rule(must not be empty)
//! - `push_op.table_name_missing`: no tableName -> `tableName` Missing
//! - `push_op.op_missing`: no op -> `op` Missing
//! - `push_op.op_upsert`: op "upsert" -> `op` Rule(must be "put" or "delete")
//! - `push_op.pk_missing`: no pk -> `pk` Missing
//! - `push_op.pk_object`: pk {} -> `pk` WrongType(a string or a finite number)
//! - `push_op.put_payload_missing`: no payload -> `payload` Missing
//! - `push_op.put_payload_string`: payload "x" -> `payload` WrongType(an object)
//! - `push_op.stamp_missing`: no stamp -> `stamp` Missing
//! - `push_op.stamp_op_id_differs`: stamp.opId "op-2" -> `stamp.opId` Rule(differs from the op's opId)
//!
//! Push batch (`decode_push_batch`, max_ops = 3); valid base: scope, deviceId "dev-a", 2 ops:
//! - `push_batch.root_string`: "batch" -> `""` WrongType(an object)
//! - `push_batch.scope_missing`: no scope -> `scope` Missing
//! - `push_batch.workspace_id_missing`: scope {} -> `scope.workspaceId` Missing
//! - `push_batch.device_id_missing`: no deviceId -> `deviceId` Missing
//! - `push_batch.device_id_number`: deviceId 1 -> `deviceId` WrongType(a string)
//! - `push_batch.device_id_empty`: deviceId "" -> `deviceId` Rule(must not be empty)
//! - `push_batch.ops_missing`: no ops -> `ops` Missing
//! - `push_batch.ops_null`: ops null -> `ops` Missing
//! - `push_batch.ops_object`: ops {} -> `ops` WrongType(an array)
//! - `push_batch.too_many_ops`: 4 ops -> `ops` Rule(more than 3 ops)
//! - `push_batch.op_not_object`: ops ["x"] -> `ops[0]` WrongType(an object)
//! - `push_batch.deep_op_upsert`: ops[1].op "upsert" -> `ops[1].op` Rule(must be "put" or "delete")
//! - `push_batch.deep_hlc_malformed`: ops[1].stamp.hlc "bad" -> `ops[1].stamp.hlc` Rule(not an HLC string)
//! - `push_batch.deep_stamp_op_id_differs`: ops[0].stamp.opId "op-9" -> `ops[0].stamp.opId` Rule(differs)
//!
//! Push result (`decode_push_result`, sent = ["op-1", "op-2"]):
//! - `push_result.root_array`: `[]` -> `""` WrongType(an object)
//! - `push_result.results_missing`: no results -> `results` Missing
//! - `push_result.results_null`: results null -> `results` Missing
//! - `push_result.results_object`: results {} -> `results` WrongType(an array)
//! - `push_result.result_not_object`: results [true] -> `results[0]` WrongType(an object)
//! - `push_result.result_null`: results [null] -> `results[0]` Missing
//! - `push_result.op_id_missing`: results [{success:true}] -> `results[0].opId` Missing
//! - `push_result.op_id_number`: opId 1 -> `results[0].opId` WrongType(a string)
//! - `push_result.success_missing`: no success -> `results[0].success` Missing
//! - `push_result.success_null`: success null -> `results[0].success` Missing
//! - `push_result.success_string`: success "true" -> `results[0].success` WrongType(a boolean)
//! - `push_result.op_not_sent`: opId "op-3" -> `results[1].opId` Rule(was not in the batch)
//! - `push_result.op_answered_twice`: "op-1" twice -> `results[1].opId` Rule(answered twice)
//! - `push_result.server_version_zero`: results[0].serverVersion 0 -> `results[0].serverVersion` OutOfRange
//! - `push_result.server_version_string`: results[0].serverVersion "3" -> `results[0].serverVersion` WrongType(a number)
//! - `push_result.error_number`: error 500 -> `results[0].error` WrongType(a string)
//! - `push_result.code_bool`: code true -> `results[0].code` WrongType(a string)
//! - `push_result.retryable_string`: retryable "no" -> `results[0].retryable` WrongType(a boolean)
//! - `push_result.top_server_version_negative`: serverVersion -1 -> `serverVersion` OutOfRange
//!
//! Not checked, because JSON cannot carry them: NaN and infinities, and
//! numbers such as `1e400` that do not fit a double.

#![cfg(not(target_arch = "wasm32"))]

mod wire_support;

use serde_json::{json, Value};
use wire_support::*;

fn push_cases() -> Vec<Case> {
    use Want::*;
    let o = || push_op_json("op-1", json!(1), "put");
    let b = || push_batch(2);
    let r = push_result;
    let pk_type = "a string or a finite number";
    vec![
        case("push_op.root_array", push_op(json!([])), "", Wrong("an object")),
        case("push_op.op_id_missing", push_op(del(o(), "/opId")), "opId", Missing),
        case("push_op.op_id_empty", push_op(set(o(), "/opId", json!(""))), "opId", Rule("must not be empty")),
        case("push_op.table_name_missing", push_op(del(o(), "/tableName")), "tableName", Missing),
        case("push_op.op_missing", push_op(del(o(), "/op")), "op", Missing),
        case(
            "push_op.op_upsert",
            push_op(set(o(), "/op", json!("upsert"))),
            "op",
            Rule("must be \"put\" or \"delete\""),
        ),
        case("push_op.pk_missing", push_op(del(o(), "/pk")), "pk", Missing),
        case("push_op.pk_object", push_op(set(o(), "/pk", json!({}))), "pk", Wrong(pk_type)),
        case("push_op.put_payload_missing", push_op(del(o(), "/payload")), "payload", Missing),
        case("push_op.put_payload_string", push_op(set(o(), "/payload", json!("x"))), "payload", Wrong("an object")),
        case("push_op.stamp_missing", push_op(del(o(), "/stamp")), "stamp", Missing),
        case(
            "push_op.stamp_op_id_differs",
            push_op(set(o(), "/stamp/opId", json!("op-2"))),
            "stamp.opId",
            Rule("differs from the op's opId"),
        ),
        case("push_batch.root_string", batch(json!("batch")), "", Wrong("an object")),
        case("push_batch.scope_missing", batch(del(b(), "/scope")), "scope", Missing),
        case("push_batch.workspace_id_missing", batch(set(b(), "/scope", json!({}))), "scope.workspaceId", Missing),
        case("push_batch.device_id_missing", batch(del(b(), "/deviceId")), "deviceId", Missing),
        case("push_batch.device_id_number", batch(set(b(), "/deviceId", json!(1))), "deviceId", Wrong("a string")),
        case(
            "push_batch.device_id_empty",
            batch(set(b(), "/deviceId", json!(""))),
            "deviceId",
            Rule("must not be empty"),
        ),
        case("push_batch.ops_missing", batch(del(b(), "/ops")), "ops", Missing),
        case("push_batch.ops_null", batch(set(b(), "/ops", Value::Null)), "ops", Missing),
        case("push_batch.ops_object", batch(set(b(), "/ops", json!({}))), "ops", Wrong("an array")),
        case("push_batch.too_many_ops", batch(push_batch(4)), "ops", Rule("more than 3 ops in one batch")),
        case("push_batch.op_not_object", batch(set(b(), "/ops", json!(["x"]))), "ops[0]", Wrong("an object")),
        case(
            "push_batch.deep_op_upsert",
            batch(set(b(), "/ops/1/op", json!("upsert"))),
            "ops[1].op",
            Rule("must be \"put\" or \"delete\""),
        ),
        case(
            "push_batch.deep_hlc_malformed",
            batch(set(b(), "/ops/1/stamp/hlc", json!("bad"))),
            "ops[1].stamp.hlc",
            Rule("not an HLC string"),
        ),
        case(
            "push_batch.deep_stamp_op_id_differs",
            batch(set(b(), "/ops/0/stamp/opId", json!("op-9"))),
            "ops[0].stamp.opId",
            Rule("differs from the op's opId"),
        ),
        case("push_result.root_array", result(json!([])), "", Wrong("an object")),
        case("push_result.results_missing", result(del(r(), "/results")), "results", Missing),
        case("push_result.results_null", result(set(r(), "/results", Value::Null)), "results", Missing),
        case("push_result.results_object", result(set(r(), "/results", json!({}))), "results", Wrong("an array")),
        case(
            "push_result.result_not_object",
            result(set(r(), "/results", json!([true]))),
            "results[0]",
            Wrong("an object"),
        ),
        case("push_result.result_null", result(set(r(), "/results", json!([null]))), "results[0]", Missing),
        case(
            "push_result.op_id_missing",
            result(set(r(), "/results", json!([{ "success": true }]))),
            "results[0].opId",
            Missing,
        ),
        case(
            "push_result.op_id_number",
            result(set(r(), "/results/0/opId", json!(1))),
            "results[0].opId",
            Wrong("a string"),
        ),
        case("push_result.success_missing", result(del(r(), "/results/0/success")), "results[0].success", Missing),
        case(
            "push_result.success_null",
            result(set(r(), "/results/0/success", Value::Null)),
            "results[0].success",
            Missing,
        ),
        case(
            "push_result.success_string",
            result(set(r(), "/results/0/success", json!("true"))),
            "results[0].success",
            Wrong("a boolean"),
        ),
        case(
            "push_result.op_not_sent",
            result(set(r(), "/results/1/opId", json!("op-3"))),
            "results[1].opId",
            Rule("\"op-3\" was not in the batch"),
        ),
        case(
            "push_result.op_answered_twice",
            result(set(r(), "/results/1/opId", json!("op-1"))),
            "results[1].opId",
            Rule("\"op-1\" is answered twice"),
        ),
        case(
            "push_result.server_version_zero",
            result(set(r(), "/results/0/serverVersion", json!(0))),
            "results[0].serverVersion",
            Range,
        ),
        case(
            "push_result.server_version_string",
            result(set(r(), "/results/0/serverVersion", json!("3"))),
            "results[0].serverVersion",
            Wrong("a number"),
        ),
        case(
            "push_result.error_number",
            result(set(r(), "/results/0/error", json!(500))),
            "results[0].error",
            Wrong("a string"),
        ),
        case(
            "push_result.code_bool",
            result(set(r(), "/results/0/code", json!(true))),
            "results[0].code",
            Wrong("a string"),
        ),
        case(
            "push_result.retryable_string",
            result(set(r(), "/results/0/retryable", json!("no"))),
            "results[0].retryable",
            Wrong("a boolean"),
        ),
        case(
            "push_result.top_server_version_negative",
            result(set(r(), "/serverVersion", json!(-1))),
            "serverVersion",
            Range,
        ),
    ]
}

#[test]
fn catalogue_push_op_batch_result() {
    check(push_cases());
}

/// The doc comment at the top is this file's published list: it names every
/// case here exactly once and names nothing that is not a case.
#[test]
fn doc_comment_lists_every_case() {
    let all = push_cases();
    check_doc_lists(include_str!("core_wire_push.rs"), &all, 45);
}

//! The validation catalogue of docs/PROTOCOL.md section 2, part 1: pull requests,
//! pull responses and change arrays.
//! Every malformed wire value below is decoded and must be rejected with
//! exactly this path and this `InvalidKind`. `Rule(..)` entries also check a
//! fragment of the message. The test `doc_comment_lists_every_case` keeps
//! this list and this file's cases in step: each case id appears here exactly
//! once, and nothing else does. The other parts of the catalogue are
//! `core_wire_stamp.rs` (one change, stamp, scope) and `core_wire_push.rs`
//! (push op, batch, result).
//!
//! Pull request (`decode_pull_request`); valid base:
//! `{scope:{workspaceId:"w1"}, cursor:0, limit:100}`
//! - `pull_request.root_array`: `[]` -> `""` WrongType(an object)
//! - `pull_request.root_string`: `"pull"` -> `""` WrongType(an object)
//! - `pull_request.root_null`: `null` -> `""` Missing
//! - `pull_request.scope_missing`: no scope -> `scope` Missing
//! - `pull_request.scope_null`: scope null -> `scope` Missing
//! - `pull_request.scope_string`: scope "w1" -> `scope` WrongType(an object)
//! - `pull_request.workspace_id_missing`: scope {} -> `scope.workspaceId` Missing
//! - `pull_request.workspace_id_null`: workspaceId null -> `scope.workspaceId` Missing
//! - `pull_request.workspace_id_number`: workspaceId 7 -> `scope.workspaceId` WrongType(a string)
//! - `pull_request.workspace_id_empty`: workspaceId "" -> `scope.workspaceId` Rule(must not be empty)
//! - `pull_request.workspace_id_too_long`: 257 bytes -> `scope.workspaceId` Rule(longer than 256 bytes)
//! - `pull_request.project_id_empty`: projectId "" -> `scope.projectId` Rule(must not be empty)
//! - `pull_request.project_id_number`: projectId 1 -> `scope.projectId` WrongType(a string)
//! - `pull_request.cursor_missing`: no cursor -> `cursor` Missing
//! - `pull_request.cursor_null`: cursor null -> `cursor` Missing
//! - `pull_request.cursor_string`: cursor "5" -> `cursor` WrongType(a number)
//! - `pull_request.cursor_negative`: cursor -1 -> `cursor` OutOfRange
//! - `pull_request.cursor_fractional`: cursor 1.5 -> `cursor` OutOfRange
//! - `pull_request.cursor_above_max_safe`: cursor 2^53 -> `cursor` OutOfRange
//! - `pull_request.limit_missing`: no limit -> `limit` Missing
//! - `pull_request.limit_zero`: limit 0 -> `limit` OutOfRange
//! - `pull_request.limit_above_10000`: limit 10001 -> `limit` OutOfRange
//! - `pull_request.limit_bool`: limit true -> `limit` WrongType(a number)
//! - `pull_request.tables_not_array`: tables "notes" -> `tables` WrongType(an array)
//! - `pull_request.tables_item_empty`: tables ["notes",""] -> `tables[1]` Rule(must not be empty)
//! - `pull_request.tables_item_number`: tables [1] -> `tables[0]` WrongType(a string)
//!
//! Pull response (`decode_pull_response`); valid base, answering cursor 0:
//! `{changes:[put v1, delete v2], nextCursor:2, hasMore:false}`
//! - `pull_response.root_array`: `[]` -> `""` WrongType(an object)
//! - `pull_response.root_null`: `null` -> `""` Missing
//! - `pull_response.changes_missing`: no changes -> `changes` Missing
//! - `pull_response.changes_null`: changes null -> `changes` Missing
//! - `pull_response.changes_object`: changes {} -> `changes` WrongType(an array)
//! - `pull_response.changes_string`: changes "[]" -> `changes` WrongType(an array)
//! - `pull_response.next_cursor_missing`: no nextCursor -> `nextCursor` Missing
//! - `pull_response.next_cursor_null`: nextCursor null -> `nextCursor` Missing
//! - `pull_response.next_cursor_negative`: nextCursor -1 -> `nextCursor` OutOfRange
//! - `pull_response.next_cursor_string`: nextCursor "2" -> `nextCursor` WrongType(a number)
//! - `pull_response.has_more_missing`: no hasMore -> `hasMore` Missing
//! - `pull_response.has_more_string`: hasMore "false" -> `hasMore` WrongType(a boolean)
//! - `pull_response.has_more_number`: hasMore 0 -> `hasMore` WrongType(a boolean)
//! - `pull_response.remaining_negative`: remaining -3 -> `remaining` OutOfRange
//! - `pull_response.change_not_object`: changes [1] -> `changes[0]` WrongType(an object)
//! - `pull_response.change_null`: changes [null] -> `changes[0]` Missing
//! - `pull_response.deep_clock_string`: changes[1].stamp.clock "2" -> `changes[1].stamp.clock` WrongType(a number)
//! - `pull_response.deep_payload_array`: changes[0].payload [] -> `changes[0].payload` WrongType(an object)
//! - `pull_response.versions_descending`: versions 2, 1 -> `changes[1].serverVersion` Rule(strictly ascending)
//! - `pull_response.versions_repeated`: versions 1, 1 -> `changes[1].serverVersion` Rule(strictly ascending)
//! - `pull_response.version_not_above_cursor`: cursor 5, version 5 -> `changes[0].serverVersion` Rule(not above 5)
//! - `pull_response.next_cursor_below_cursor`: cursor 10, nextCursor 9 -> `nextCursor` Rule(went back)
//! - `pull_response.next_cursor_below_last_change`: versions 1, 2, nextCursor 1 -> `nextCursor` Rule(below the last change)
//! - `pull_response.has_more_without_progress`: cursor 7, no changes, nextCursor 7, hasMore -> `nextCursor` Rule(did not advance)
//! - `pull_response.unknown_table`: table "secrets" not known -> `changes[1].tableName` Rule(unknown table)
//!
//! Changes array (`decode_changes`, after = 3):
//! - `changes.not_array`: {} -> `""` WrongType(an array)
//! - `changes.version_not_above_after`: version 3 -> `[0].serverVersion` Rule(not above 3)
//!
//! Not checked, because JSON cannot carry them: NaN and infinities, and
//! numbers such as `1e400` that do not fit a double.

#![cfg(not(target_arch = "wasm32"))]

mod wire_support;

use serde_json::{json, Value};
use tidesync::core::wire::{decode_changes, decode_pull_response};
use wire_support::*;

fn pull_request_cases() -> Vec<Case> {
    use Want::*;
    let b = pull_request;
    vec![
        case("pull_request.root_array", pull_req(json!([])), "", Wrong("an object")),
        case("pull_request.root_string", pull_req(json!("pull")), "", Wrong("an object")),
        case("pull_request.root_null", pull_req(Value::Null), "", Missing),
        case("pull_request.scope_missing", pull_req(del(b(), "/scope")), "scope", Missing),
        case("pull_request.scope_null", pull_req(set(b(), "/scope", Value::Null)), "scope", Missing),
        case("pull_request.scope_string", pull_req(set(b(), "/scope", json!("w1"))), "scope", Wrong("an object")),
        case(
            "pull_request.workspace_id_missing",
            pull_req(set(b(), "/scope", json!({}))),
            "scope.workspaceId",
            Missing,
        ),
        case(
            "pull_request.workspace_id_null",
            pull_req(set(b(), "/scope/workspaceId", Value::Null)),
            "scope.workspaceId",
            Missing,
        ),
        case(
            "pull_request.workspace_id_number",
            pull_req(set(b(), "/scope/workspaceId", json!(7))),
            "scope.workspaceId",
            Wrong("a string"),
        ),
        case(
            "pull_request.workspace_id_empty",
            pull_req(set(b(), "/scope/workspaceId", json!(""))),
            "scope.workspaceId",
            Rule("must not be empty"),
        ),
        case(
            "pull_request.workspace_id_too_long",
            pull_req(set(b(), "/scope/workspaceId", json!("w".repeat(257)))),
            "scope.workspaceId",
            Rule("longer than 256 bytes"),
        ),
        case(
            "pull_request.project_id_empty",
            pull_req(set(b(), "/scope/projectId", json!(""))),
            "scope.projectId",
            Rule("must not be empty"),
        ),
        case(
            "pull_request.project_id_number",
            pull_req(set(b(), "/scope/projectId", json!(1))),
            "scope.projectId",
            Wrong("a string"),
        ),
        case("pull_request.cursor_missing", pull_req(del(b(), "/cursor")), "cursor", Missing),
        case("pull_request.cursor_null", pull_req(set(b(), "/cursor", Value::Null)), "cursor", Missing),
        case("pull_request.cursor_string", pull_req(set(b(), "/cursor", json!("5"))), "cursor", Wrong("a number")),
        case("pull_request.cursor_negative", pull_req(set(b(), "/cursor", json!(-1))), "cursor", Range),
        case("pull_request.cursor_fractional", pull_req(set(b(), "/cursor", json!(1.5))), "cursor", Range),
        case("pull_request.cursor_above_max_safe", pull_req(set(b(), "/cursor", json!(MAX_SAFE + 1))), "cursor", Range),
        case("pull_request.limit_missing", pull_req(del(b(), "/limit")), "limit", Missing),
        case("pull_request.limit_zero", pull_req(set(b(), "/limit", json!(0))), "limit", Range),
        case("pull_request.limit_above_10000", pull_req(set(b(), "/limit", json!(10_001))), "limit", Range),
        case("pull_request.limit_bool", pull_req(set(b(), "/limit", json!(true))), "limit", Wrong("a number")),
        case(
            "pull_request.tables_not_array",
            pull_req(set(b(), "/tables", json!("notes"))),
            "tables",
            Wrong("an array"),
        ),
        case(
            "pull_request.tables_item_empty",
            pull_req(set(b(), "/tables", json!(["notes", ""]))),
            "tables[1]",
            Rule("must not be empty"),
        ),
        case(
            "pull_request.tables_item_number",
            pull_req(set(b(), "/tables", json!([1]))),
            "tables[0]",
            Wrong("a string"),
        ),
    ]
}

fn pull_response_cases() -> Vec<Case> {
    use Want::*;
    let b = pull_response;
    let v = |n: u64| change_json(n, "notes", json!(format!("n{n}")), "put");
    let known = |t: &str| t == "notes";
    let two_tables = json!({
        "changes": [change_json(1, "notes", json!("n1"), "put"), change_json(2, "secrets", json!("s1"), "put")],
        "nextCursor": 2,
        "hasMore": false,
    });
    vec![
        case("pull_response.root_array", pull_resp(json!([]), 0), "", Wrong("an object")),
        case("pull_response.root_null", pull_resp(Value::Null, 0), "", Missing),
        case("pull_response.changes_missing", pull_resp(del(b(), "/changes"), 0), "changes", Missing),
        case("pull_response.changes_null", pull_resp(set(b(), "/changes", Value::Null), 0), "changes", Missing),
        case(
            "pull_response.changes_object",
            pull_resp(set(b(), "/changes", json!({})), 0),
            "changes",
            Wrong("an array"),
        ),
        case(
            "pull_response.changes_string",
            pull_resp(set(b(), "/changes", json!("[]")), 0),
            "changes",
            Wrong("an array"),
        ),
        case("pull_response.next_cursor_missing", pull_resp(del(b(), "/nextCursor"), 0), "nextCursor", Missing),
        case(
            "pull_response.next_cursor_null",
            pull_resp(set(b(), "/nextCursor", Value::Null), 0),
            "nextCursor",
            Missing,
        ),
        case(
            "pull_response.next_cursor_negative",
            pull_resp(set(b(), "/nextCursor", json!(-1)), 0),
            "nextCursor",
            Range,
        ),
        case(
            "pull_response.next_cursor_string",
            pull_resp(set(b(), "/nextCursor", json!("2")), 0),
            "nextCursor",
            Wrong("a number"),
        ),
        case("pull_response.has_more_missing", pull_resp(del(b(), "/hasMore"), 0), "hasMore", Missing),
        case(
            "pull_response.has_more_string",
            pull_resp(set(b(), "/hasMore", json!("false")), 0),
            "hasMore",
            Wrong("a boolean"),
        ),
        case(
            "pull_response.has_more_number",
            pull_resp(set(b(), "/hasMore", json!(0)), 0),
            "hasMore",
            Wrong("a boolean"),
        ),
        case("pull_response.remaining_negative", pull_resp(set(b(), "/remaining", json!(-3)), 0), "remaining", Range),
        case(
            "pull_response.change_not_object",
            pull_resp(set(b(), "/changes", json!([1])), 0),
            "changes[0]",
            Wrong("an object"),
        ),
        case("pull_response.change_null", pull_resp(set(b(), "/changes", json!([null])), 0), "changes[0]", Missing),
        case(
            "pull_response.deep_clock_string",
            pull_resp(set(b(), "/changes/1/stamp/clock", json!("2")), 0),
            "changes[1].stamp.clock",
            Wrong("a number"),
        ),
        case(
            "pull_response.deep_payload_array",
            pull_resp(set(b(), "/changes/0/payload", json!([])), 0),
            "changes[0].payload",
            Wrong("an object"),
        ),
        case(
            "pull_response.versions_descending",
            pull_resp(json!({ "changes": [v(2), v(1)], "nextCursor": 2, "hasMore": false }), 0),
            "changes[1].serverVersion",
            Rule("strictly ascending"),
        ),
        case(
            "pull_response.versions_repeated",
            pull_resp(json!({ "changes": [v(1), v(1)], "nextCursor": 1, "hasMore": false }), 0),
            "changes[1].serverVersion",
            Rule("strictly ascending"),
        ),
        case(
            "pull_response.version_not_above_cursor",
            pull_resp(json!({ "changes": [v(5), v(6)], "nextCursor": 6, "hasMore": false }), 5),
            "changes[0].serverVersion",
            Rule("5 is not above 5"),
        ),
        case(
            "pull_response.next_cursor_below_cursor",
            pull_resp(json!({ "changes": [], "nextCursor": 9, "hasMore": false }), 10),
            "nextCursor",
            Rule("went back from 10 to 9"),
        ),
        case(
            "pull_response.next_cursor_below_last_change",
            pull_resp(set(b(), "/nextCursor", json!(1)), 0),
            "nextCursor",
            Rule("below the last change's version 2"),
        ),
        case(
            "pull_response.has_more_without_progress",
            pull_resp(json!({ "changes": [], "nextCursor": 7, "hasMore": true }), 7),
            "nextCursor",
            Rule("did not advance"),
        ),
        case(
            "pull_response.unknown_table",
            dbg(decode_pull_response(&two_tables, 0, Some(&known))),
            "changes[1].tableName",
            Rule("unknown table \"secrets\""),
        ),
        case("changes.not_array", dbg(decode_changes(&json!({}), &ROOT, 3, None)), "", Wrong("an array")),
        case(
            "changes.version_not_above_after",
            dbg(decode_changes(&json!([v(3)]), &ROOT, 3, None)),
            "[0].serverVersion",
            Rule("3 is not above 3"),
        ),
    ]
}

#[test]
fn catalogue_pull_request() {
    check(pull_request_cases());
}

#[test]
fn catalogue_pull_response_and_changes() {
    check(pull_response_cases());
}

/// The doc comment at the top is this file's published list: it names every
/// case here exactly once and names nothing that is not a case.
#[test]
fn doc_comment_lists_every_case() {
    let mut all = pull_request_cases();
    all.extend(pull_response_cases());
    check_doc_lists(include_str!("core_wire_pull.rs"), &all, 53);
}

//! The validation catalogue of docs/PROTOCOL.md section 2, part 2: one change,
//! its stamp, and the scope.
//! Every malformed wire value below is decoded and must be rejected with
//! exactly this path and this `InvalidKind`. `Rule(..)` entries also check a
//! fragment of the message. The test `doc_comment_lists_every_case` keeps
//! this list and this file's cases in step: each case id appears here exactly
//! once, and nothing else does. The other parts of the catalogue are
//! `core_wire_pull.rs` (pull request, response, changes) and
//! `core_wire_push.rs` (push op, batch, result).
//!
//! One change (`decode_change`); valid base: a put of `notes` pk "n1", version 1:
//! - `change.root_string`: "change" -> `""` WrongType(an object)
//! - `change.table_name_missing`: no tableName -> `tableName` Missing
//! - `change.table_name_null`: tableName null -> `tableName` Missing
//! - `change.table_name_empty`: tableName "" -> `tableName` Rule(must not be empty)
//! - `change.table_name_number`: tableName 3 -> `tableName` WrongType(a string)
//! - `change.pk_missing`: no pk -> `pk` Missing
//! - `change.pk_null`: pk null -> `pk` Missing
//! - `change.pk_boolean`: pk true -> `pk` WrongType(a string or a finite number)
//! - `change.pk_array`: pk ["n1"] -> `pk` WrongType(a string or a finite number)
//! - `change.pk_object`: pk {id:1} -> `pk` WrongType(a string or a finite number)
//! - `change.op_missing`: no op -> `op` Missing
//! - `change.op_upsert`: op "upsert" -> `op` Rule(must be "put" or "delete")
//! - `change.op_uppercase`: op "PUT" -> `op` Rule(must be "put" or "delete")
//! - `change.op_number`: op 1 -> `op` WrongType(a string)
//! - `change.put_payload_missing`: put without payload -> `payload` Missing
//! - `change.put_payload_null`: put with payload null -> `payload` Missing
//! - `change.put_payload_array`: put with payload [] -> `payload` WrongType(an object)
//! - `change.put_payload_string`: put with payload "{}" -> `payload` WrongType(an object)
//! - `change.put_payload_number`: put with payload 1 -> `payload` WrongType(an object)
//! - `change.server_version_missing`: no serverVersion -> `serverVersion` Missing
//! - `change.server_version_zero`: serverVersion 0 -> `serverVersion` OutOfRange
//! - `change.server_version_negative`: serverVersion -4 -> `serverVersion` OutOfRange
//! - `change.server_version_fractional`: serverVersion 1.25 -> `serverVersion` OutOfRange
//! - `change.server_version_string`: serverVersion "1" -> `serverVersion` WrongType(a number)
//! - `change.stamp_missing`: no stamp -> `stamp` Missing
//! - `change.stamp_array`: stamp [] -> `stamp` WrongType(an object)
//! - `change.stamp_clock_zero`: stamp.clock 0 -> `stamp.clock` OutOfRange
//!
//! Stamp (`decode_stamp`); valid base: `{clock:1, hlc:"…:00000:dev-a", deviceId:"dev-a", opId:"op-1"}`
//! - `stamp.root_null`: `null` -> `""` Missing
//! - `stamp.root_number`: `5` -> `""` WrongType(an object)
//! - `stamp.clock_missing`: no clock -> `clock` Missing
//! - `stamp.clock_null`: clock null -> `clock` Missing
//! - `stamp.clock_string`: clock "1" -> `clock` WrongType(a number)
//! - `stamp.clock_zero`: clock 0 -> `clock` OutOfRange
//! - `stamp.clock_negative`: clock -1 -> `clock` OutOfRange
//! - `stamp.clock_fractional`: clock 1.5 -> `clock` OutOfRange
//! - `stamp.clock_above_max_safe`: clock 2^53 -> `clock` OutOfRange
//! - `stamp.clock_u64_max`: clock 18446744073709551615 -> `clock` OutOfRange
//! - `stamp.hlc_missing`: no hlc -> `hlc` Missing
//! - `stamp.hlc_number`: hlc 1700000000000 -> `hlc` WrongType(a string)
//! - `stamp.hlc_malformed_date`: hlc "2023-11-14T22:13:20Z" -> `hlc` Rule(not an HLC string)
//! - `stamp.hlc_short_ms`: hlc "1700000000000:00000:dev-a" -> `hlc` Rule(not an HLC string)
//! - `stamp.hlc_letter_in_counter`: hlc "…:0000x:dev-a" -> `hlc` Rule(not an HLC string)
//! - `stamp.hlc_no_device`: hlc "…:00000:" -> `hlc` Rule(not an HLC string)
//! - `stamp.hlc_empty`: hlc "" -> `hlc` Rule(not an HLC string)
//! - `stamp.hlc_device_differs`: hlc of "dev-b", deviceId "dev-a" -> `hlc` Rule(device part differs)
//! - `stamp.hlc_device_prefix`: hlc of "dev-a", deviceId "dev-ab" -> `hlc` Rule(device part differs)
//! - `stamp.device_id_missing`: no deviceId -> `deviceId` Missing
//! - `stamp.device_id_empty`: deviceId "" -> `deviceId` Rule(must not be empty)
//! - `stamp.device_id_number`: deviceId 1 -> `deviceId` WrongType(a string)
//! - `stamp.op_id_missing`: no opId -> `opId` Missing
//! - `stamp.op_id_number`: opId 1 -> `opId` WrongType(a string)
//! - `stamp.op_id_empty`: opId "" -> `opId` Rule(must not be empty)
//!
//! Scope (`decode_scope`):
//! - `scope.root_array`: `[]` -> `""` WrongType(an object)
//! - `scope.workspace_id_bool`: workspaceId false -> `workspaceId` WrongType(a string)
//!
//! Not checked, because JSON cannot carry them: NaN and infinities, and
//! numbers such as `1e400` that do not fit a double.

#![cfg(not(target_arch = "wasm32"))]

mod wire_support;

use serde_json::{json, Value};
use tidesync::core::wire::decode_scope;
use wire_support::*;

fn change_cases() -> Vec<Case> {
    use Want::*;
    let b = || change_json(1, "notes", json!("n1"), "put");
    let pk_type = "a string or a finite number";
    vec![
        case("change.root_string", change(json!("change")), "", Wrong("an object")),
        case("change.table_name_missing", change(del(b(), "/tableName")), "tableName", Missing),
        case("change.table_name_null", change(set(b(), "/tableName", Value::Null)), "tableName", Missing),
        case(
            "change.table_name_empty",
            change(set(b(), "/tableName", json!(""))),
            "tableName",
            Rule("must not be empty"),
        ),
        case("change.table_name_number", change(set(b(), "/tableName", json!(3))), "tableName", Wrong("a string")),
        case("change.pk_missing", change(del(b(), "/pk")), "pk", Missing),
        case("change.pk_null", change(set(b(), "/pk", Value::Null)), "pk", Missing),
        case("change.pk_boolean", change(set(b(), "/pk", json!(true))), "pk", Wrong(pk_type)),
        case("change.pk_array", change(set(b(), "/pk", json!(["n1"]))), "pk", Wrong(pk_type)),
        case("change.pk_object", change(set(b(), "/pk", json!({ "id": 1 }))), "pk", Wrong(pk_type)),
        case("change.op_missing", change(del(b(), "/op")), "op", Missing),
        case(
            "change.op_upsert",
            change(set(b(), "/op", json!("upsert"))),
            "op",
            Rule("must be \"put\" or \"delete\", not \"upsert\""),
        ),
        case("change.op_uppercase", change(set(b(), "/op", json!("PUT"))), "op", Rule("must be \"put\" or \"delete\"")),
        case("change.op_number", change(set(b(), "/op", json!(1))), "op", Wrong("a string")),
        case("change.put_payload_missing", change(del(b(), "/payload")), "payload", Missing),
        case("change.put_payload_null", change(set(b(), "/payload", Value::Null)), "payload", Missing),
        case("change.put_payload_array", change(set(b(), "/payload", json!([]))), "payload", Wrong("an object")),
        case("change.put_payload_string", change(set(b(), "/payload", json!("{}"))), "payload", Wrong("an object")),
        case("change.put_payload_number", change(set(b(), "/payload", json!(1))), "payload", Wrong("an object")),
        case("change.server_version_missing", change(del(b(), "/serverVersion")), "serverVersion", Missing),
        case("change.server_version_zero", change(set(b(), "/serverVersion", json!(0))), "serverVersion", Range),
        case("change.server_version_negative", change(set(b(), "/serverVersion", json!(-4))), "serverVersion", Range),
        case(
            "change.server_version_fractional",
            change(set(b(), "/serverVersion", json!(1.25))),
            "serverVersion",
            Range,
        ),
        case(
            "change.server_version_string",
            change(set(b(), "/serverVersion", json!("1"))),
            "serverVersion",
            Wrong("a number"),
        ),
        case("change.stamp_missing", change(del(b(), "/stamp")), "stamp", Missing),
        case("change.stamp_array", change(set(b(), "/stamp", json!([]))), "stamp", Wrong("an object")),
        case("change.stamp_clock_zero", change(set(b(), "/stamp/clock", json!(0))), "stamp.clock", Range),
    ]
}

fn stamp_cases() -> Vec<Case> {
    use Want::*;
    let b = || stamp_json(1, "dev-a", "op-1");
    let not_hlc = "not an HLC string";
    let differs = "device part differs from deviceId";
    vec![
        case("stamp.root_null", stamp(Value::Null), "", Missing),
        case("stamp.root_number", stamp(json!(5)), "", Wrong("an object")),
        case("stamp.clock_missing", stamp(del(b(), "/clock")), "clock", Missing),
        case("stamp.clock_null", stamp(set(b(), "/clock", Value::Null)), "clock", Missing),
        case("stamp.clock_string", stamp(set(b(), "/clock", json!("1"))), "clock", Wrong("a number")),
        case("stamp.clock_zero", stamp(set(b(), "/clock", json!(0))), "clock", Range),
        case("stamp.clock_negative", stamp(set(b(), "/clock", json!(-1))), "clock", Range),
        case("stamp.clock_fractional", stamp(set(b(), "/clock", json!(1.5))), "clock", Range),
        case("stamp.clock_above_max_safe", stamp(set(b(), "/clock", json!(MAX_SAFE + 1))), "clock", Range),
        case("stamp.clock_u64_max", stamp(set(b(), "/clock", json!(u64::MAX))), "clock", Range),
        case("stamp.hlc_missing", stamp(del(b(), "/hlc")), "hlc", Missing),
        case("stamp.hlc_number", stamp(set(b(), "/hlc", json!(T0))), "hlc", Wrong("a string")),
        case("stamp.hlc_malformed_date", stamp(set(b(), "/hlc", json!("2023-11-14T22:13:20Z"))), "hlc", Rule(not_hlc)),
        case("stamp.hlc_short_ms", stamp(set(b(), "/hlc", json!(format!("{T0}:00000:dev-a")))), "hlc", Rule(not_hlc)),
        case(
            "stamp.hlc_letter_in_counter",
            stamp(set(b(), "/hlc", json!(format!("{T0:015}:0000x:dev-a")))),
            "hlc",
            Rule(not_hlc),
        ),
        case("stamp.hlc_no_device", stamp(set(b(), "/hlc", json!(format!("{T0:015}:00000:")))), "hlc", Rule(not_hlc)),
        case("stamp.hlc_empty", stamp(set(b(), "/hlc", json!(""))), "hlc", Rule(not_hlc)),
        case("stamp.hlc_device_differs", stamp(set(b(), "/hlc", json!(hlc(T0, 0, "dev-b")))), "hlc", Rule(differs)),
        case("stamp.hlc_device_prefix", stamp(set(b(), "/deviceId", json!("dev-ab"))), "hlc", Rule(differs)),
        case("stamp.device_id_missing", stamp(del(b(), "/deviceId")), "deviceId", Missing),
        case("stamp.device_id_empty", stamp(set(b(), "/deviceId", json!(""))), "deviceId", Rule("must not be empty")),
        case("stamp.device_id_number", stamp(set(b(), "/deviceId", json!(1))), "deviceId", Wrong("a string")),
        case("stamp.op_id_missing", stamp(del(b(), "/opId")), "opId", Missing),
        case("stamp.op_id_number", stamp(set(b(), "/opId", json!(1))), "opId", Wrong("a string")),
        case("stamp.op_id_empty", stamp(set(b(), "/opId", json!(""))), "opId", Rule("must not be empty")),
        case("scope.root_array", dbg(decode_scope(&json!([]), &ROOT)), "", Wrong("an object")),
        case(
            "scope.workspace_id_bool",
            dbg(decode_scope(&json!({ "workspaceId": false }), &ROOT)),
            "workspaceId",
            Wrong("a string"),
        ),
    ]
}

#[test]
fn catalogue_change() {
    check(change_cases());
}

#[test]
fn catalogue_stamp_and_scope() {
    check(stamp_cases());
}

/// The doc comment at the top is this file's published list: it names every
/// case here exactly once and names nothing that is not a case.
#[test]
fn doc_comment_lists_every_case() {
    let mut all = change_cases();
    all.extend(stamp_cases());
    check_doc_lists(include_str!("core_wire_stamp.rs"), &all, 54);
}

//! Shared fixtures for the `core_server_*` tests of the server-side apply
//! algorithm (`tidesync::core::server`): scopes, stamps, put and delete ops,
//! batches, pull requests, and small lookups over snapshots and change lists.
//! Not every test file uses every helper.
#![cfg(not(target_arch = "wasm32"))]
#![allow(dead_code)]

use serde_json::{json, Value};
use tidesync::core::server::{RecordState, ServerState};
use tidesync::core::wire::{OpKind, PullRequest, PullResponse, PushBatch, PushOp, SyncChange, SyncScope};
use tidesync::core::{ChangeStamp, Hlc, Pk};

/// A plausible wall-clock time (2023-11-14), in milliseconds.
pub const T0: u64 = 1_700_000_000_000;

pub type Server = ServerState<Value>;

pub fn scope(ws: &str, project: Option<&str>) -> SyncScope {
    SyncScope { workspace_id: ws.to_string(), project_id: project.map(str::to_string) }
}

pub fn stamp(clock: u64, ms: u64, device: &str, op_id: &str) -> ChangeStamp {
    let hlc = Hlc { ms, counter: 0, device_id: device.to_string() };
    ChangeStamp { clock, hlc: hlc.to_string(), device_id: device.to_string(), op_id: op_id.to_string() }
}

pub fn put_op(table: &str, pk: impl Into<Pk>, st: ChangeStamp) -> PushOp<Value> {
    PushOp {
        op_id: st.op_id.clone(),
        table_name: table.to_string(),
        op: OpKind::Put,
        pk: pk.into(),
        payload: Some(json!({ "by": st.op_id })),
        stamp: st,
    }
}

pub fn delete_op(table: &str, pk: impl Into<Pk>, st: ChangeStamp) -> PushOp<Value> {
    PushOp {
        op_id: st.op_id.clone(),
        table_name: table.to_string(),
        op: OpKind::Delete,
        pk: pk.into(),
        payload: None,
        stamp: st,
    }
}

/// A put of `t/pk` by device `d` with clock 1 and a distinct HLC.
pub fn simple_put(table: &str, pk: &str, op_id: &str, ms: u64) -> PushOp<Value> {
    put_op(table, pk, stamp(1, ms, "d", op_id))
}

pub fn batch(ws: &str, project: Option<&str>, ops: Vec<PushOp<Value>>) -> PushBatch<Value> {
    PushBatch { scope: scope(ws, project), device_id: "d".to_string(), ops }
}

pub fn request(ws: &str, project: Option<&str>, cursor: u64, limit: u64) -> PullRequest {
    PullRequest { scope: scope(ws, project), cursor, limit, tables: None, rescan: false }
}

pub fn pull(server: &Server, ws: &str, cursor: u64) -> PullResponse<Value> {
    server.pull(&request(ws, None, cursor, 1000)).unwrap()
}

pub fn record<'a>(snap: &'a [RecordState<Value>], table: &str, pk: &str) -> &'a RecordState<Value> {
    let pk = Pk::from(pk);
    snap.iter().find(|r| r.table_name == table && r.pk == pk).expect("record in snapshot")
}

pub fn versions(changes: &[SyncChange<Value>]) -> Vec<u64> {
    changes.iter().map(|c| c.server_version).collect()
}

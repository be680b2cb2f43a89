//! The wire types of docs/PROTOCOL.md section 2 and their validating decoders.
//!
//! Types are generic over the payload `P`, which passes through untouched as
//! the app wrote it (`serde_json::Value` natively, `JsValue` in the browser).
//! `decode_*` functions never panic: every malformed value gives an
//! [`Invalid`] that names the path and the reason.

use serde::{Deserialize, Serialize};

use super::decode::{self, optional, required, Path, Shape, WireValue};
use super::error::{Invalid, InvalidKind};
use super::hlc::Hlc;
use super::pk::Pk;
use super::stamp::ChangeStamp;

/// Longest table name, id or device id accepted.
pub const MAX_NAME_LEN: usize = 256;
/// Largest `limit` a pull may ask for.
pub const MAX_PULL_LIMIT: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncScope {
    pub workspace_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    Put,
    Delete,
}

impl OpKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncChange<P> {
    pub table_name: String,
    pub pk: Pk,
    pub op: OpKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<P>,
    pub server_version: u64,
    pub stamp: ChangeStamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    pub scope: SyncScope,
    pub cursor: u64,
    pub limit: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tables: Option<Vec<String>>,
    /// Set on every page of a rescan (a full pull from cursor 0 after
    /// `CURSOR_EXPIRED`): the server pages below its purge watermark, since
    /// the client replaces its state with what it receives.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rescan: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullResponse<P> {
    pub changes: Vec<SyncChange<P>>,
    pub next_cursor: u64,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushOp<P> {
    pub op_id: String,
    pub table_name: String,
    pub op: OpKind,
    pub pk: Pk,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<P>,
    pub stamp: ChangeStamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushBatch<P> {
    pub scope: SyncScope,
    pub device_id: String,
    pub ops: Vec<PushOp<P>>,
}

/// The answer for one pushed op.
///
/// `current` is the server's version of the record when the op did not
/// become the record's state: an op that lost LWW (`success: true` without
/// `serverVersion`), and optionally a rejection. The engine applies it, so a
/// device never keeps a version that no other replica has (see
/// docs/PROTOCOL.md section 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpResult<P> {
    pub op_id: String,
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<SyncChange<P>>,
}

impl<P> OpResult<P> {
    /// `success: true`, applied at `server_version` (or, without one,
    /// acknowledged and not applied: `current` says what the server holds).
    pub fn acknowledged(op_id: &str, server_version: Option<u64>, current: Option<SyncChange<P>>) -> Self {
        OpResult {
            op_id: op_id.to_string(),
            success: true,
            server_version,
            error: None,
            code: None,
            retryable: None,
            current,
        }
    }

    /// `success: false`: a rejection, permanent unless `retryable`.
    pub fn rejected(op_id: &str, error: String, code: Option<String>, retryable: bool) -> Self {
        OpResult {
            op_id: op_id.to_string(),
            success: false,
            server_version: None,
            error: Some(error),
            code,
            retryable: Some(retryable),
            current: None,
        }
    }

    /// The same answer with another payload type.
    pub fn map_payload<Q>(self, f: impl FnMut(P) -> Q) -> OpResult<Q> {
        OpResult {
            op_id: self.op_id,
            success: self.success,
            server_version: self.server_version,
            error: self.error,
            code: self.code,
            retryable: self.retryable,
            current: self.current.map(|c| c.map_payload(f)),
        }
    }
}

impl<P> PushOp<P> {
    /// The same op with another payload type.
    pub fn map_payload<Q>(self, f: impl FnOnce(P) -> Q) -> PushOp<Q> {
        PushOp {
            op_id: self.op_id,
            table_name: self.table_name,
            op: self.op,
            pk: self.pk,
            payload: self.payload.map(f),
            stamp: self.stamp,
        }
    }
}

impl<P> SyncChange<P> {
    /// The same change with another payload type.
    pub fn map_payload<Q>(self, f: impl FnMut(P) -> Q) -> SyncChange<Q> {
        SyncChange {
            table_name: self.table_name,
            pk: self.pk,
            op: self.op,
            payload: self.payload.map(f),
            server_version: self.server_version,
            stamp: self.stamp,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushResult<P> {
    pub results: Vec<OpResult<P>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<u64>,
}

// ---------------------------------------------------------------- decoders

pub fn decode_scope<V: WireValue>(v: &V, path: &Path<'_>) -> Result<SyncScope, Invalid> {
    decode::expect_object(v, path)?;
    let workspace_id =
        decode::name(&required(v, "workspaceId", path)?, &Path::Field(path, "workspaceId"), MAX_NAME_LEN)?;
    let project_id = match optional(v, "projectId") {
        Some(p) => Some(decode::name(&p, &Path::Field(path, "projectId"), MAX_NAME_LEN)?),
        None => None,
    };
    Ok(SyncScope { workspace_id, project_id })
}

pub fn decode_op_kind<V: WireValue>(v: &V, path: &Path<'_>) -> Result<OpKind, Invalid> {
    match decode::string(v, path)?.as_str() {
        "put" => Ok(OpKind::Put),
        "delete" => Ok(OpKind::Delete),
        other => Err(path.rule(format!("must be \"put\" or \"delete\", not {other:?}"))),
    }
}

pub fn decode_stamp<V: WireValue>(v: &V, path: &Path<'_>) -> Result<ChangeStamp, Invalid> {
    decode::expect_object(v, path)?;
    let field = |n: &'static str| required(v, n, path).map(|x| (x, n));
    let (clock, n) = field("clock")?;
    let clock = decode::integer(&clock, &Path::Field(path, n), 1)?;
    let (hlc, n) = field("hlc")?;
    let hlc_path = Path::Field(path, n);
    let hlc = decode::string(&hlc, &hlc_path)?;
    let parsed = Hlc::parse(&hlc).map_err(|_| hlc_path.rule("not an HLC string"))?;
    let (device, n) = field("deviceId")?;
    let device_id = decode::name(&device, &Path::Field(path, n), MAX_NAME_LEN)?;
    if parsed.device_id != device_id {
        return Err(hlc_path.rule("its device part differs from deviceId"));
    }
    let (op, n) = field("opId")?;
    let op_id = decode::name(&op, &Path::Field(path, n), MAX_NAME_LEN)?;
    Ok(ChangeStamp { clock, hlc, device_id, op_id })
}

/// A put needs an object payload; a delete carries none (one sent anyway is ignored).
/// A put without its payload (decoded, or typed from any provider).
fn payload_missing(path: &Path<'_>) -> Invalid {
    path.err(InvalidKind::Missing)
}

fn decode_payload<V: WireValue>(v: &V, op: OpKind, path: &Path<'_>) -> Result<Option<V>, Invalid> {
    let p = Path::Field(path, "payload");
    match (op, optional(v, "payload")) {
        (OpKind::Delete, _) => Ok(None),
        (OpKind::Put, None) => Err(payload_missing(&p)),
        (OpKind::Put, Some(payload)) if payload.shape() == Shape::Object => Ok(Some(payload)),
        (OpKind::Put, Some(_)) => Err(p.err(InvalidKind::WrongType { expected: "an object" })),
    }
}

pub fn decode_change<V: WireValue>(v: &V, path: &Path<'_>) -> Result<SyncChange<V>, Invalid> {
    decode::expect_object(v, path)?;
    let table_name = decode::name(&required(v, "tableName", path)?, &Path::Field(path, "tableName"), MAX_NAME_LEN)?;
    let pk = decode::pk(&required(v, "pk", path)?, &Path::Field(path, "pk"))?;
    let op = decode_op_kind(&required(v, "op", path)?, &Path::Field(path, "op"))?;
    let payload = decode_payload(v, op, path)?;
    let server_version = decode::integer(&required(v, "serverVersion", path)?, &Path::Field(path, "serverVersion"), 1)?;
    let stamp = decode_stamp(&required(v, "stamp", path)?, &Path::Field(path, "stamp"))?;
    Ok(SyncChange { table_name, pk, op, payload, server_version, stamp })
}

pub fn decode_pull_request<V: WireValue>(v: &V) -> Result<PullRequest, Invalid> {
    let root = Path::Root("");
    decode::expect_object(v, &root)?;
    let scope = decode_scope(&required(v, "scope", &root)?, &Path::Field(&root, "scope"))?;
    let cursor = decode::integer(&required(v, "cursor", &root)?, &Path::Field(&root, "cursor"), 0)?;
    let limit_path = Path::Field(&root, "limit");
    let limit = decode::integer(&required(v, "limit", &root)?, &limit_path, 1)?;
    if limit > MAX_PULL_LIMIT {
        return Err(limit_path.err(InvalidKind::OutOfRange));
    }
    let tables = match optional(v, "tables") {
        None => None,
        Some(t) => {
            let tp = Path::Field(&root, "tables");
            let items = decode::array(&t, &tp)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(decode::name(item, &Path::Index(&tp, i), MAX_NAME_LEN)?);
            }
            Some(out)
        }
    };
    let rescan = match optional(v, "rescan") {
        Some(r) => decode::boolean(&r, &Path::Field(&root, "rescan"))?,
        None => false,
    };
    Ok(PullRequest { scope, cursor, limit, tables, rescan })
}

/// Decodes a pull response and checks it against the request it answers:
/// versions strictly ascending, all above `cursor` and at most `nextCursor`,
/// a cursor that never goes back, progress whenever `hasMore` is set, and
/// only tables the caller knows (`known_tables`, when given).
pub fn decode_pull_response<V: WireValue>(
    v: &V,
    cursor: u64,
    known_tables: Option<&dyn Fn(&str) -> bool>,
) -> Result<PullResponse<V>, Invalid> {
    let root = Path::Root("");
    decode::expect_object(v, &root)?;
    let next_path = Path::Field(&root, "nextCursor");
    let next_cursor = decode::integer(&required(v, "nextCursor", &root)?, &next_path, 0)?;
    let has_more = decode::boolean(&required(v, "hasMore", &root)?, &Path::Field(&root, "hasMore"))?;
    let remaining = match optional(v, "remaining") {
        Some(r) => Some(decode::integer(&r, &Path::Field(&root, "remaining"), 0)?),
        None => None,
    };
    let changes_path = Path::Field(&root, "changes");
    let changes = decode_changes(&required(v, "changes", &root)?, &changes_path, cursor, known_tables)?;
    check_cursor(&changes, cursor, next_cursor, has_more, &next_path)?;
    Ok(PullResponse { changes, next_cursor, has_more, remaining })
}

/// Decodes an array of changes (a pull page or a subscription batch):
/// versions strictly ascending and above `after`.
pub fn decode_changes<V: WireValue>(
    v: &V,
    path: &Path<'_>,
    after: u64,
    known_tables: Option<&dyn Fn(&str) -> bool>,
) -> Result<Vec<SyncChange<V>>, Invalid> {
    let items = decode::array(v, path)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(decode_change(item, &Path::Index(path, i))?);
    }
    check_changes(&out, after, known_tables.unwrap_or(&|_| true), path)?;
    Ok(out)
}

/// Checks a list of changes, decoded or typed (from any provider): only
/// `known` tables, a payload on every put, versions strictly ascending and
/// above `after`. The one place these rules are written.
pub fn check_changes<P>(
    changes: &[SyncChange<P>],
    after: u64,
    known: &dyn Fn(&str) -> bool,
    path: &Path<'_>,
) -> Result<(), Invalid> {
    let mut last = after;
    for (i, change) in changes.iter().enumerate() {
        let p = Path::Index(path, i);
        if !known(&change.table_name) {
            return Err(Path::Field(&p, "tableName").rule(format!("unknown table {:?}", change.table_name)));
        }
        if change.op == OpKind::Put && change.payload.is_none() {
            return Err(payload_missing(&Path::Field(&p, "payload")));
        }
        if change.server_version <= last {
            return Err(Path::Field(&p, "serverVersion").rule(format!(
                "{} is not above {last}: versions must be strictly ascending and above the cursor",
                change.server_version
            )));
        }
        last = change.server_version;
    }
    Ok(())
}

/// Checks a pull page, decoded or typed, against the cursor it was asked
/// from: its changes ([`check_changes`]), then its `nextCursor`.
pub fn check_page<P>(
    page: &PullResponse<P>,
    cursor: u64,
    known: &dyn Fn(&str) -> bool,
    root: &Path<'_>,
) -> Result<(), Invalid> {
    check_changes(&page.changes, cursor, known, &Path::Field(root, "changes"))?;
    check_cursor(&page.changes, cursor, page.next_cursor, page.has_more, &Path::Field(root, "nextCursor"))
}

/// A page's `nextCursor`: never back, not below its last change, and moved
/// whenever `hasMore` is set.
fn check_cursor<P>(
    changes: &[SyncChange<P>],
    cursor: u64,
    next_cursor: u64,
    has_more: bool,
    next_path: &Path<'_>,
) -> Result<(), Invalid> {
    if next_cursor < cursor {
        return Err(next_path.rule(format!("went back from {cursor} to {next_cursor}")));
    }
    if let Some(last) = changes.last() {
        if last.server_version > next_cursor {
            return Err(
                next_path.rule(format!("{next_cursor} is below the last change's version {}", last.server_version))
            );
        }
    }
    if has_more && next_cursor == cursor {
        return Err(next_path.rule("hasMore is set but the cursor did not advance"));
    }
    Ok(())
}

pub fn decode_push_op<V: WireValue>(v: &V, path: &Path<'_>) -> Result<PushOp<V>, Invalid> {
    decode::expect_object(v, path)?;
    let op_id = decode::name(&required(v, "opId", path)?, &Path::Field(path, "opId"), MAX_NAME_LEN)?;
    let table_name = decode::name(&required(v, "tableName", path)?, &Path::Field(path, "tableName"), MAX_NAME_LEN)?;
    let op = decode_op_kind(&required(v, "op", path)?, &Path::Field(path, "op"))?;
    let pk = decode::pk(&required(v, "pk", path)?, &Path::Field(path, "pk"))?;
    let payload = decode_payload(v, op, path)?;
    let stamp_path = Path::Field(path, "stamp");
    let stamp = decode_stamp(&required(v, "stamp", path)?, &stamp_path)?;
    if stamp.op_id != op_id {
        return Err(Path::Field(&stamp_path, "opId").rule("differs from the op's opId"));
    }
    Ok(PushOp { op_id, table_name, op, pk, payload, stamp })
}

/// Decodes a push batch: at most `max_ops` ops, each opId once.
pub fn decode_push_batch<V: WireValue>(v: &V, max_ops: usize) -> Result<PushBatch<V>, Invalid> {
    let root = Path::Root("");
    decode::expect_object(v, &root)?;
    let scope = decode_scope(&required(v, "scope", &root)?, &Path::Field(&root, "scope"))?;
    let device_id = decode::name(&required(v, "deviceId", &root)?, &Path::Field(&root, "deviceId"), MAX_NAME_LEN)?;
    let ops_path = Path::Field(&root, "ops");
    let items = decode::array(&required(v, "ops", &root)?, &ops_path)?;
    if items.len() > max_ops {
        return Err(ops_path.rule(format!("more than {max_ops} ops in one batch")));
    }
    let mut ops: Vec<PushOp<V>> = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = Path::Index(&ops_path, i);
        let op = decode_push_op(item, &p)?;
        if !seen.insert(op.op_id.clone()) {
            return Err(Path::Field(&p, "opId").rule(format!("{:?} appears twice in the batch", op.op_id)));
        }
        ops.push(op);
    }
    Ok(PushBatch { scope, device_id, ops })
}

/// Decodes a push result and checks it answers the batch: every result names
/// an op that was sent (`sent_op_ids`), and no op is answered twice. Ops the
/// result does not mention stay pending.
pub fn decode_push_result<V: WireValue>(v: &V, sent_op_ids: &[&str]) -> Result<PushResult<V>, Invalid> {
    let root = Path::Root("");
    decode::expect_object(v, &root)?;
    let results_path = Path::Field(&root, "results");
    let items = decode::array(&required(v, "results", &root)?, &results_path)?;
    let mut results = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let p = Path::Index(&results_path, i);
        decode::expect_object(item, &p)?;
        let op_path = Path::Field(&p, "opId");
        let op_id = decode::name(&required(item, "opId", &p)?, &op_path, MAX_NAME_LEN)?;
        if !sent_op_ids.contains(&op_id.as_str()) {
            return Err(op_path.rule(format!("{op_id:?} was not in the batch")));
        }
        if !seen.insert(op_id.clone()) {
            return Err(op_path.rule(format!("{op_id:?} is answered twice")));
        }
        let success = decode::boolean(&required(item, "success", &p)?, &Path::Field(&p, "success"))?;
        let server_version = match optional(item, "serverVersion") {
            Some(x) => Some(decode::integer(&x, &Path::Field(&p, "serverVersion"), 1)?),
            None => None,
        };
        let text = |n: &'static str| -> Result<Option<String>, Invalid> {
            optional(item, n).map(|x| decode::string(&x, &Path::Field(&p, n))).transpose()
        };
        let error = text("error")?;
        let code = text("code")?;
        let retryable = match optional(item, "retryable") {
            Some(x) => Some(decode::boolean(&x, &Path::Field(&p, "retryable"))?),
            None => None,
        };
        let current = match optional(item, "current") {
            Some(c) => Some(decode_change(&c, &Path::Field(&p, "current"))?),
            None => None,
        };
        results.push(OpResult { op_id, success, server_version, error, code, retryable, current });
    }
    let server_version = match optional(v, "serverVersion") {
        Some(x) => Some(decode::integer(&x, &Path::Field(&root, "serverVersion"), 0)?),
        None => None,
    };
    Ok(PushResult { results, server_version })
}

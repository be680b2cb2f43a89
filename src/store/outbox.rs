//! The outbox (`pending_ops`) above the storage trait: ops keyed by an
//! auto-increment `seq` (FIFO), found per record through `by_record`, the
//! dead letters through the sparse `failed` index.

use serde::Serialize;

use super::read_many::{read_many, Source};
use super::schema::{OPS_BY_OP_ID, OPS_BY_RECORD, OPS_FAILED};
use super::tombstones::{pk_field, record_key};
use super::{KeyRange, OpState, PendingOp, Row, Scan, StoreTx, PENDING_OPS};
use crate::core::wire::OpKind;
use crate::core::{ChangeStamp, Pk, Result};

/// How an op is stored (the payload, when present, is set beside it).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OpRow<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    op_id: &'a str,
    table_name: &'a str,
    pk: &'a Pk,
    op: OpKind,
    stamp: &'a ChangeStamp,
    state: OpState,
    attempts: u32,
    created_at: u64,
    #[serde(skip_serializing_if = "is_zero")]
    base: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<&'a str>,
    /// Present (1) only on failed ops, for the sparse `failed` index.
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<u8>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn op_row<R>(op: &PendingOp<R>) -> OpRow<'_> {
    OpRow {
        seq: op.seq,
        op_id: &op.stamp.op_id,
        table_name: &op.table_name,
        pk: &op.pk,
        op: op.op,
        stamp: &op.stamp,
        state: op.state,
        attempts: op.attempts,
        created_at: op.created_at,
        base: op.base,
        last_error: op.last_error.as_deref(),
        failed: (op.state == OpState::Failed).then_some(1),
    }
}

/// Ops as stored rows (docs/PROTOCOL.md section 5), payloads beside them.
pub fn encode<R: Row>(ops: &[PendingOp<R>]) -> Result<Vec<R>> {
    let rows = R::encode(&ops.iter().map(op_row).collect::<Vec<_>>())?;
    rows.into_iter()
        .zip(ops)
        .map(|(row, op)| match &op.payload {
            Some(p) => row.with_field("payload", p),
            None => Ok(row),
        })
        .collect()
}

/// The ops of each record, oldest first.
pub async fn ops_for<T: StoreTx + ?Sized>(tx: &T, table: &str, pks: &[Pk]) -> Result<Vec<Vec<PendingOp<T::Rec>>>> {
    let key = |pk: &Pk| record_key(table, pk);
    let src = Source { store: PENDING_OPS, index: Some(OPS_BY_RECORD), key: &key, pk_of: &pk_field::<T::Rec> };
    let mut found = read_many(tx, pks, src).await?;
    let mut out = Vec::with_capacity(pks.len());
    for pk in pks {
        let mut ops = T::Rec::decode_ops(found.remove(pk).unwrap_or_default())?;
        ops.sort_unstable_by_key(|o| o.seq);
        out.push(ops);
    }
    Ok(out)
}

pub async fn put<T: StoreTx + ?Sized>(tx: &T, ops: Vec<PendingOp<T::Rec>>) -> Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    tx.put(PENDING_OPS, encode(&ops)?).await
}

/// Removes ops by seq: each run of consecutive seqs (the usual shape of a
/// settled batch) as one range.
pub async fn delete<T: StoreTx + ?Sized>(tx: &T, seqs: &[u64]) -> Result<()> {
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for s in sorted {
        match runs.last_mut() {
            Some((_, hi)) if *hi + 1 == s => *hi = s,
            _ => runs.push((s, s)),
        }
    }
    let ranges = runs.into_iter().map(|(lo, hi)| KeyRange::between(lo.into(), hi.into())).collect();
    tx.delete(PENDING_OPS, ranges).await
}

/// Ops in FIFO order after `after_seq`, at most `limit`.
pub async fn list<T: StoreTx + ?Sized>(tx: &T, after_seq: Option<u64>, limit: u32) -> Result<Vec<PendingOp<T::Rec>>> {
    let range = after_seq.map_or_else(KeyRange::all, |s| KeyRange::above(s.into(), true));
    T::Rec::decode_ops(tx.scan(PENDING_OPS, &Scan::range(range).limit(limit)).await?)
}

/// The op with this id, if it is still in the outbox.
pub async fn by_id<T: StoreTx + ?Sized>(tx: &T, op_id: &str) -> Result<Option<PendingOp<T::Rec>>> {
    let scan = Scan::index(OPS_BY_OP_ID, KeyRange::only(op_id.into())).limit(1);
    Ok(T::Rec::decode_ops(tx.scan(PENDING_OPS, &scan).await?)?.pop())
}

/// Failed (dead-lettered) ops, FIFO, at most `limit`.
pub async fn failed<T: StoreTx + ?Sized>(tx: &T, limit: u32) -> Result<Vec<PendingOp<T::Rec>>> {
    T::Rec::decode_ops(tx.scan(PENDING_OPS, &Scan::index(OPS_FAILED, KeyRange::all()).limit(limit)).await?)
}

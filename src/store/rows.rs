//! A stored row ([`Row`]: what the store holds, a JS value or a
//! `serde_json::Value`) and the decoders for the rows the engine stores
//! itself: outbox entries and tombstones. The decoders are written over
//! [`WireValue`] like the wire's, so they read a JS object, a parsed JSON
//! tree or a `serde_json::Value` alike, and no serde `Deserialize` runs in
//! the browser. A row that does not decode is a damaged database, reported
//! as `STORAGE`.

use serde::Serialize;

use super::{OpState, PendingOp, Record, Tombstone};
use crate::core::decode::{self, optional, required, Path, Shape, WireValue};
use crate::core::wire::{decode_op_kind, MAX_NAME_LEN};
use crate::core::{ChangeStamp, Invalid, Result, SyncError};

/// A value a store holds: an app record or one of the engine's own rows.
pub trait Row: Record + WireValue {
    /// The engine's own rows from serialisable data, all in one conversion.
    fn encode<T: Serialize>(items: &[T]) -> Result<Vec<Self>>;
    /// The row as JSON (state and journal rows).
    fn json(&self) -> Result<serde_json::Value>;
    /// The row with `field` set to `value` (a copy, or the row itself changed
    /// in place where the store shares it).
    fn with_field(self, field: &str, value: &Self) -> Result<Self>;

    /// Outbox rows, each with the payload stored beside it.
    fn decode_ops(rows: Vec<Self>) -> Result<Vec<PendingOp<Self>>> {
        rows.into_iter()
            .map(|row| {
                let payload = row.field("payload").filter(|p| p.shape() == Shape::Object);
                decode_op(&row, payload).map_err(|e| damaged("outbox", e))
            })
            .collect()
    }

    fn decode_tombstone(&self) -> Result<Tombstone> {
        decode_tombstone(self).map_err(|e| damaged("tombstone", e))
    }
}

/// A stamp as this engine stored it. Unlike the wire's `decode_stamp` it
/// takes what the engine itself writes and the wire refuses: the clock-0,
/// empty-id stamp of a side that never had an op (a conflict's local side
/// that was only ever a tombstone, say).
pub fn read_stamp<V: WireValue>(v: &V, path: &Path<'_>) -> Result<ChangeStamp, Invalid> {
    decode::expect_object(v, path)?;
    let text = |n: &'static str| decode::string(&required(v, n, path)?, &Path::Field(path, n));
    Ok(ChangeStamp {
        clock: decode::integer(&required(v, "clock", path)?, &Path::Field(path, "clock"), 0)?,
        hlc: text("hlc")?,
        device_id: text("deviceId")?,
        op_id: text("opId")?,
    })
}

/// A stored row that does not decode.
pub fn damaged(what: &str, e: Invalid) -> SyncError {
    SyncError::Storage(format!("a stored {what} row does not decode: {e}"))
}

fn op_state<V: WireValue>(v: &V, path: &Path<'_>) -> Result<OpState, Invalid> {
    match decode::string(v, path)?.as_str() {
        "pending" => Ok(OpState::Pending),
        "inFlight" => Ok(OpState::InFlight),
        "failed" => Ok(OpState::Failed),
        other => Err(path.rule(format!("unknown op state {other:?}"))),
    }
}

fn integer_or<V: WireValue>(v: &V, name: &str, path: &Path<'_>, default: u64) -> Result<u64, Invalid> {
    match optional(v, name) {
        Some(x) => decode::integer(&x, &Path::Field(path, name), 0),
        None => Ok(default),
    }
}

/// An outbox row (as `pending_ops` holds it, docs/PROTOCOL.md section 5),
/// with the payload its caller read beside it.
pub fn decode_op<V: WireValue, R>(v: &V, payload: Option<R>) -> Result<PendingOp<R>, Invalid> {
    let root = Path::Root("op");
    let at = |n: &'static str| Path::Field(&root, n);
    decode::expect_object(v, &root)?;
    let seq = match optional(v, "seq") {
        Some(s) => Some(decode::integer(&s, &at("seq"), 0)?),
        None => None,
    };
    let last_error = match optional(v, "lastError") {
        Some(e) if e.shape() != decode::Shape::Null => Some(decode::string(&e, &at("lastError"))?),
        _ => None,
    };
    Ok(PendingOp {
        seq,
        table_name: decode::name(&required(v, "tableName", &root)?, &at("tableName"), MAX_NAME_LEN)?,
        pk: decode::pk(&required(v, "pk", &root)?, &at("pk"))?,
        op: decode_op_kind(&required(v, "op", &root)?, &at("op"))?,
        stamp: read_stamp(&required(v, "stamp", &root)?, &at("stamp"))?,
        state: op_state(&required(v, "state", &root)?, &at("state"))?,
        attempts: integer_or(v, "attempts", &root, 0)?.min(u32::MAX as u64) as u32,
        created_at: integer_or(v, "createdAt", &root, 0)?,
        base: integer_or(v, "base", &root, 0)?,
        last_error,
        payload,
    })
}

/// A tombstone row.
pub fn decode_tombstone<V: WireValue>(v: &V) -> Result<Tombstone, Invalid> {
    let root = Path::Root("tombstone");
    let at = |n: &'static str| Path::Field(&root, n);
    decode::expect_object(v, &root)?;
    Ok(Tombstone {
        table_name: decode::name(&required(v, "tableName", &root)?, &at("tableName"), MAX_NAME_LEN)?,
        pk: decode::pk(&required(v, "pk", &root)?, &at("pk"))?,
        stamp: read_stamp(&required(v, "stamp", &root)?, &at("stamp"))?,
        deleted_at: integer_or(v, "deletedAt", &root, 0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wire::OpKind;
    use crate::core::Pk;
    use serde_json::{json, Value};

    fn stamp() -> ChangeStamp {
        ChangeStamp {
            clock: 3,
            hlc: "001700000000000:00000:dev-a".into(),
            device_id: "dev-a".into(),
            op_id: "op-1".into(),
        }
    }

    #[test]
    fn an_op_row_decodes_as_it_was_written() {
        let row = json!({
            "seq": 7, "opId": "op-1", "tableName": "notes", "pk": "a", "op": "put",
            "stamp": serde_json::to_value(stamp()).unwrap(), "state": "inFlight",
            "attempts": 2, "createdAt": 1000, "base": 5, "lastError": "UNAVAILABLE: down", "failed": 1
        });
        let op: PendingOp<Value> = decode_op(&row, None).unwrap();
        assert_eq!(op.seq, Some(7));
        assert_eq!((op.table_name.as_str(), &op.pk, op.op), ("notes", &Pk::Str("a".into()), OpKind::Put));
        assert_eq!((op.state, op.attempts, op.created_at, op.base), (OpState::InFlight, 2, 1000, 5));
        assert_eq!(op.stamp, stamp());
        assert_eq!(op.last_error.as_deref(), Some("UNAVAILABLE: down"));
        // Rows written before `base` existed have none.
        let mut old = row.clone();
        old.as_object_mut().unwrap().remove("base");
        assert_eq!(decode_op::<_, Value>(&old, None).unwrap().base, 0);
    }

    #[test]
    fn a_damaged_row_is_refused_with_its_field() {
        let row = json!({ "opId": "op-1", "tableName": "notes", "pk": "a", "op": "put", "state": "lost" });
        let err = decode_op::<_, Value>(&row, None).unwrap_err();
        assert_eq!(err.path, "op.stamp");
        let tomb =
            json!({ "tableName": "notes", "pk": 4, "stamp": serde_json::to_value(stamp()).unwrap(), "deletedAt": 9 });
        let t = decode_tombstone(&tomb).unwrap();
        assert_eq!((t.pk, t.deleted_at), (Pk::Num(4.0), 9));
    }
}

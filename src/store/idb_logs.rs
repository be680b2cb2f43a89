//! IndexedDB requests for the engine's journals (`sync_runs`, `conflicts`:
//! append, newest first, trim the oldest), the key list of a table (rescan),
//! and the scan for old tombstones (local GC).

use rexie::{Direction, KeyRange};
use serde_json::Value;

use super::idb::{storage, to_js, tombstone_from_js, value_from_js};
use super::js_value::pk_from_js;
use super::Tombstone;
use crate::core::{Pk, Result, SyncError};

pub(super) async fn append(store: &rexie::Store, rows: Vec<Value>) -> Result<()> {
    let rows = rows.iter().map(to_js).collect::<Result<Vec<_>>>()?;
    for r in crate::engine::join::join_all(rows.iter().map(|r| store.add(r, None))).await {
        r.map_err(|e| storage("journal append", e))?;
    }
    Ok(())
}

pub(super) async fn recent(store: &rexie::Store, limit: u32) -> Result<Vec<Value>> {
    let rows = store.scan(None, Some(limit), None, Some(Direction::Prev)).await.map_err(|e| storage("journal", e))?;
    rows.iter().map(|(_, v)| value_from_js(v)).collect()
}

pub(super) async fn oldest(store: &rexie::Store, limit: u32) -> Result<Vec<Value>> {
    let rows = store.get_all(None, Some(limit)).await.map_err(|e| storage("journal", e))?;
    rows.iter().map(value_from_js).collect()
}

pub(super) async fn drop_through(store: &rexie::Store, id: u64) -> Result<()> {
    let range = KeyRange::upper_bound(&wasm_bindgen::JsValue::from_f64(id as f64), Some(false))
        .map_err(|e| storage("range", e))?;
    store.delete(range.into()).await.map_err(|e| storage("journal drop", e))
}

pub(super) async fn trim(store: &rexie::Store, keep: u64) -> Result<()> {
    let n = store.count(None).await.map_err(|e| storage("journal count", e))? as u64;
    if n <= keep {
        return Ok(());
    }
    let excess = (n - keep).min(u32::MAX as u64) as u32;
    let keys = store.get_all_keys(None, Some(excess)).await.map_err(|e| storage("journal keys", e))?;
    if let Some(last) = keys.last() {
        let range = KeyRange::upper_bound(last, Some(false)).map_err(|e| storage("range", e))?;
        store.delete(range.into()).await.map_err(|e| storage("journal trim", e))?;
    }
    Ok(())
}

pub(super) async fn keys(store: &rexie::Store, table: &str) -> Result<Vec<Pk>> {
    let keys = store.get_all_keys(None, None).await.map_err(|e| storage("keys", e))?;
    keys.iter().map(|k| pk_from_js(k, table).map_err(SyncError::Invalid)).collect()
}

pub(super) async fn old_tombstones(store: &rexie::Store, before_ms: u64, limit: u32) -> Result<Vec<Tombstone>> {
    let rows = store.get_all(None, None).await.map_err(|e| storage("tombstones", e))?;
    let mut out = Vec::new();
    for row in rows {
        let t = tombstone_from_js(&row)?;
        if t.deleted_at < before_ms {
            out.push(t);
            if out.len() >= limit as usize {
                break;
            }
        }
    }
    Ok(out)
}

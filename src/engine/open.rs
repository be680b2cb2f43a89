//! What an engine's open finds in its database and must write there,
//! decided from the stored state rows alone: the device id (kept, given by
//! the config, or new), the scope (a database syncs one workspace and
//! project), per-table cursors (from a single cursor of older versions), the
//! schema row, and the HLC. Most opens write nothing, so the engine reads the
//! rows without the write lock and writes only when this says so.

use serde_json::Value;

use super::config::EngineConfig;
use super::cursors::{self, Cursors};
use super::{hlc_from_rows, STATE_BOOTSTRAPPED, STATE_DEVICE_ID, STATE_HLC, STATE_HLC_REMOTE};
use super::{STATE_SCHEMA, STATE_SCOPE};
use crate::core::{HlcState, Result, SyncError};
use crate::store::TableSchema;

/// The state rows an open reads, in the order [`plan`] takes them.
pub const KEYS: [&str; 8] = [
    STATE_DEVICE_ID,
    STATE_SCOPE,
    cursors::STATE_CURSORS,
    cursors::STATE_LEGACY_CURSOR,
    STATE_SCHEMA,
    STATE_BOOTSTRAPPED,
    STATE_HLC,
    STATE_HLC_REMOTE,
];

/// The open's findings, and the rows it must write.
pub struct Opened {
    pub device_id: String,
    /// Nothing of an earlier database was there (no device id, no scope).
    pub created: bool,
    pub cursors: Cursors,
    pub bootstrapped: bool,
    pub hlc_state: HlcState,
    /// A write was ever captured here (the HLC row exists).
    pub captured: bool,
    /// State rows to write: none on a plain reopen.
    pub writes: Vec<(&'static str, Value)>,
}

/// Decides the open from the rows of [`KEYS`] (as `get_states` returns
/// them); `INVALID` when the database belongs to another scope.
pub fn plan(config: &EngineConfig, rows: Vec<Option<Value>>, new_device: impl FnOnce() -> String) -> Result<Opened> {
    let mut rows = rows.into_iter();
    let mut next = || rows.next().flatten();
    let (stored_device, stored_scope, cursors_row, legacy_cursor, old_schema, boot) =
        (next(), next(), next(), next(), next(), next());
    let (hlc, hlc_remote) = (next(), next());
    let scope = serde_json::json!({ "workspaceId": config.workspace_id, "projectId": config.project_id });
    if let Some(held) = &stored_scope {
        check_scope(held, &scope)?;
    }
    let (hlc_state, captured) = hlc_from_rows(hlc, hlc_remote)?;
    let stored_device = stored_device.as_ref().and_then(Value::as_str).map(str::to_string);
    let created = stored_scope.is_none() && stored_device.is_none();
    let device_id = match (&config.device_id, &stored_device) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => new_device(),
    };
    let mut writes = Vec::new();
    if stored_device.as_deref() != Some(device_id.as_str()) {
        writes.push((STATE_DEVICE_ID, Value::String(device_id.clone())));
    }
    if stored_scope.is_none() {
        writes.push((STATE_SCOPE, scope));
    }
    let cursors = match Cursors::decode(cursors_row.as_ref()) {
        Some(c) => c,
        None => {
            let c = Cursors::from_legacy(legacy_cursor.as_ref(), old_schema.as_ref());
            writes.push((cursors::STATE_CURSORS, c.encode()));
            c
        }
    };
    let schema = schema_json(&config.tables);
    if old_schema.as_ref() != Some(&schema) {
        writes.push((STATE_SCHEMA, schema));
    }
    let bootstrapped = boot.as_ref().and_then(Value::as_bool) == Some(true);
    Ok(Opened { device_id, created, cursors, bootstrapped, hlc_state, captured, writes })
}

/// `INVALID` unless the stored scope is the one being opened.
fn check_scope(held: &Value, opening: &Value) -> Result<()> {
    for (field, name) in [("workspaceId", "workspaceId"), ("projectId", "projectId")] {
        let (a, b) = (held.get(field).filter(|v| !v.is_null()), opening.get(field).filter(|v| !v.is_null()));
        if a != b {
            return Err(SyncError::invalid(
                name,
                format!(
                    "this database syncs {field} {}, not {}: open another dbName (the default name includes both)",
                    a.map_or("(none)".to_string(), Value::to_string),
                    b.map_or("(none)".to_string(), Value::to_string)
                ),
            ));
        }
    }
    Ok(())
}

fn schema_json(tables: &[TableSchema]) -> Value {
    Value::Array(
        tables
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name, "primaryKey": t.primary_key,
                    "indexes": t.indexes.iter().map(|i| i.declaration()).collect::<Vec<_>>(), "orderKey": t.order_key,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TableSchema;

    fn config() -> EngineConfig {
        EngineConfig::new("w1", vec![TableSchema::simple("notes")])
    }

    fn rows_after(opened: &Opened) -> Vec<Option<Value>> {
        KEYS.iter().map(|k| opened.writes.iter().find(|(w, _)| w == k).map(|(_, v)| v.clone())).collect()
    }

    #[test]
    fn a_new_database_gets_its_rows_and_a_reopen_writes_nothing() {
        let first = plan(&config(), vec![None; KEYS.len()], || "dev-1".into()).unwrap();
        assert!(first.created);
        assert_eq!(first.device_id, "dev-1");
        let written: Vec<&str> = first.writes.iter().map(|(k, _)| *k).collect();
        assert_eq!(written, [STATE_DEVICE_ID, STATE_SCOPE, cursors::STATE_CURSORS, STATE_SCHEMA]);
        let again = plan(&config(), rows_after(&first), || unreachable!("the device id is kept")).unwrap();
        assert!(!again.created);
        assert_eq!(again.device_id, "dev-1");
        assert!(again.writes.is_empty(), "a plain reopen writes nothing");
    }

    #[test]
    fn a_changed_table_list_or_device_id_is_written_and_another_scope_refused() {
        let first = plan(&config(), vec![None; KEYS.len()], || "dev-1".into()).unwrap();
        let mut wider = config();
        wider.tables.push(TableSchema::simple("tags"));
        let keys: Vec<&str> =
            plan(&wider, rows_after(&first), String::new).unwrap().writes.iter().map(|w| w.0).collect();
        assert_eq!(keys, [STATE_SCHEMA]);
        let mut named = config();
        named.device_id = Some("dev-2".into());
        let opened = plan(&named, rows_after(&first), String::new).unwrap();
        assert_eq!((opened.device_id.as_str(), opened.writes[0].0), ("dev-2", STATE_DEVICE_ID));
        let mut other = config();
        other.project_id = Some("p2".into());
        let err = plan(&other, rows_after(&first), String::new).err().unwrap();
        assert!(matches!(err, SyncError::Invalid(ref i) if i.path == "projectId"), "{err:?}");
    }
}

//! The pull cursor belongs to a table: `sync_state.cursors` maps each table
//! name to the highest serverVersion applied for it (docs/PROTOCOL.md
//! section 5).
//!
//! One number for the whole database was not enough:
//! - a table added by an app update starts at 0 and is backfilled from the
//!   server, instead of silently skipping every change made before it
//!   existed on this device;
//! - an older tab that still runs the previous table list advances only the
//!   cursors of the tables it knows, so it never moves a newer table's
//!   cursor past changes it did not apply.
//!
//! A pull asks for the tables whose cursor is the lowest (the group) from
//! that cursor; every page commits with the group's cursors in the same
//! transaction. Once the group reaches the others, it pulls with them. In
//! the usual case every table has the same cursor and there is one group.
//!
//! Databases written before per-table cursors kept one `cursor` row: it
//! becomes the cursor of every table of the schema that database was last
//! opened with (its `schema` row), and only those.

use std::collections::BTreeMap;

use serde_json::Value;

/// The `sync_state` key.
pub const STATE_CURSORS: &str = "cursors";
/// The one cursor of databases written before per-table cursors.
pub const STATE_LEGACY_CURSOR: &str = "cursor";

/// Table name to cursor. A table without an entry is at 0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cursors(pub BTreeMap<String, u64>);

impl Cursors {
    /// From the stored row; `None` when there is no (valid) row.
    pub fn decode(row: Option<&Value>) -> Option<Cursors> {
        let map = row?.as_object()?;
        let mut out = BTreeMap::new();
        for (table, v) in map {
            out.insert(table.clone(), v.as_u64()?);
        }
        Some(Cursors(out))
    }

    pub fn encode(&self) -> Value {
        Value::Object(self.0.iter().map(|(t, c)| (t.clone(), Value::from(*c))).collect())
    }

    /// From the legacy single cursor: every table of the previous schema row
    /// (a JSON array of `{ name, .. }`) gets it.
    pub fn from_legacy(cursor: Option<&Value>, schema: Option<&Value>) -> Cursors {
        let cursor = cursor.and_then(Value::as_u64).unwrap_or(0);
        let mut out = BTreeMap::new();
        if cursor > 0 {
            let tables = schema.and_then(Value::as_array).into_iter().flatten();
            for name in tables.filter_map(|t| t.get("name").and_then(Value::as_str)) {
                out.insert(name.to_string(), cursor);
            }
        }
        Cursors(out)
    }

    pub fn get(&self, table: &str) -> u64 {
        self.0.get(table).copied().unwrap_or(0)
    }

    /// The lowest cursor among `tables` and the tables that have it.
    pub fn group(&self, tables: &[String]) -> (u64, Vec<String>) {
        let low = tables.iter().map(|t| self.get(t)).min().unwrap_or(0);
        (low, tables.iter().filter(|t| self.get(t) == low).cloned().collect())
    }

    /// Whether every table of `tables` is at `cursor`.
    pub fn all_at(&self, tables: &[String], cursor: u64) -> bool {
        tables.iter().all(|t| self.get(t) == cursor)
    }

    /// Sets the cursor of `tables` to `to`.
    pub fn set(&mut self, tables: &[String], to: u64) {
        for t in tables {
            self.0.insert(t.clone(), to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_new_table_pulls_first_from_zero() {
        let c = Cursors::from_legacy(Some(&json!(40)), Some(&json!([{ "name": "a" }])));
        assert_eq!(c.get("a"), 40);
        assert_eq!(c.group(&names(&["a", "b"])), (0, names(&["b"])));
        let mut c = c;
        c.set(&names(&["b"]), 40);
        assert_eq!(c.group(&names(&["a", "b"])), (40, names(&["a", "b"])));
        assert!(c.all_at(&names(&["a", "b"]), 40));
    }

    #[test]
    fn round_trips_and_refuses_bad_rows() {
        let mut c = Cursors::default();
        c.set(&names(&["x", "y"]), 7);
        assert_eq!(Cursors::decode(Some(&c.encode())), Some(c));
        assert_eq!(Cursors::decode(Some(&json!({ "x": -1 }))), None);
        assert_eq!(Cursors::decode(None), None);
        assert_eq!(Cursors::from_legacy(Some(&json!(0)), Some(&json!([{ "name": "a" }]))), Cursors::default());
    }
}

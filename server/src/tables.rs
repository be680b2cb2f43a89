//! What may be synced: an optional allow-list of table names, each with an
//! optional maximum payload size (`--table messages --table files:65536`).
//!
//! Without a list every table name is accepted (the demo's default). With
//! one, a request that names another table changes nothing and is refused
//! with `INVALID` whose message starts with the field at fault:
//!
//! - a push op of an unknown table: 400, `ops[i].tableName: table "x" is not
//!   allowed on this server`;
//! - a put whose payload (as compact JSON) is larger than its table's limit:
//!   413, `ops[i].payload: N bytes, above table "x"'s limit of M`;
//! - a pull or watch whose `tables` names an unknown table: 400.
//!
//! The engine splits a batch refused with `INVALID` down to the op at
//! fault, which alone is dead-lettered (docs/PROTOCOL.md, "Failures").

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::Value;
use tidesync::core::wire::{PushBatch, MAX_NAME_LEN};
use tidesync::core::SyncError;

use crate::error::ApiError;

/// The allowed tables and their payload limits (`None`: no limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRules {
    tables: BTreeMap<String, Option<usize>>,
}

impl TableRules {
    /// Parses `NAME` or `NAME:MAX_PAYLOAD_BYTES` specs; `None` when there are none.
    pub fn parse(specs: &[String]) -> Result<Option<TableRules>, String> {
        if specs.is_empty() {
            return Ok(None);
        }
        let mut tables = BTreeMap::new();
        for spec in specs {
            let (name, max) = match spec.rsplit_once(':') {
                Some((name, n)) => {
                    let n = n.parse::<usize>().ok().filter(|n| *n > 0);
                    (
                        name,
                        Some(n.ok_or_else(|| format!("--table {spec}: the limit must be a positive number of bytes"))?),
                    )
                }
                None => (spec.as_str(), None),
            };
            if name.is_empty() || name.len() > MAX_NAME_LEN {
                return Err(format!("--table {spec}: a table name has 1 to {MAX_NAME_LEN} bytes"));
            }
            if tables.insert(name.to_string(), max).is_some() {
                return Err(format!("--table {name} is given twice"));
            }
        }
        Ok(Some(TableRules { tables }))
    }

    fn unknown(&self, path: &str, table: &str) -> SyncError {
        SyncError::invalid(path, format!("table {table:?} is not allowed on this server"))
    }

    /// Every op's table is allowed and every put's payload within its limit.
    pub fn check_push(&self, batch: &PushBatch<Value>) -> Result<(), ApiError> {
        for (i, op) in batch.ops.iter().enumerate() {
            let Some(limit) = self.tables.get(&op.table_name) else {
                return Err(self.unknown(&format!("ops[{i}].tableName"), &op.table_name).into());
            };
            if let (Some(max), Some(payload)) = (limit, &op.payload) {
                let size = serde_json::to_vec(payload).map_or(usize::MAX, |v| v.len());
                if size > *max {
                    let message = format!("{size} bytes, above table {:?}'s limit of {max}", op.table_name);
                    let error = SyncError::invalid(format!("ops[{i}].payload"), message);
                    return Err(ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, error });
                }
            }
        }
        Ok(())
    }

    /// Every table a pull or watch asks for is allowed (`None`: all of them).
    pub fn check_tables(&self, tables: Option<&[String]>) -> Result<(), SyncError> {
        match tables.into_iter().flatten().enumerate().find(|(_, t)| !self.tables.contains_key(*t)) {
            Some((i, t)) => Err(self.unknown(&format!("tables[{i}]"), t)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_names_and_limits_and_refuses_bad_specs() {
        assert_eq!(TableRules::parse(&[]), Ok(None));
        let r = TableRules::parse(&specs(&["messages", "files:100"])).unwrap().unwrap();
        assert_eq!(r.tables.get("messages"), Some(&None));
        assert_eq!(r.tables.get("files"), Some(&Some(100)));
        for bad in [&["files:0"][..], &["files:x"], &[":5"], &[""], &["a", "a:5"]] {
            assert!(TableRules::parse(&specs(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn checks_pull_tables() {
        let r = TableRules::parse(&specs(&["a", "b"])).unwrap().unwrap();
        assert!(r.check_tables(None).is_ok());
        assert!(r.check_tables(Some(&specs(&["b", "a"]))).is_ok());
        let e = r.check_tables(Some(&specs(&["a", "c"]))).unwrap_err();
        assert_eq!(e.code(), "INVALID");
        assert!(e.to_string().contains("tables[1]"), "{e}");
    }
}

//! The database layout of docs/PROTOCOL.md section 5, derived from the app's table
//! declarations: one object store per app table (key path = primary key, one
//! index per declared field, plus `order_key` for orderKey tables) and the
//! engine's fixed stores.

use super::{CONFLICTS, PENDING_OPS, SYNC_RUNS, SYNC_STATE, TOMBSTONES};

/// The engine's fields on every stored record, and the field every orderKey
/// table gets (set from the HLC at creation).
pub use crate::core::record::{CLOCK_FIELD, HLC_FIELD, ORDER_KEY};
/// Index of `pending_ops` over `[tableName, pk]`.
pub const OPS_BY_RECORD: &str = "by_record";
/// Unique index of `pending_ops` over `opId`.
pub const OPS_BY_OP_ID: &str = "by_op_id";
/// Sparse index of `pending_ops` over `failed`, a field only dead-lettered ops
/// carry: it lists them without costing anything on the write path.
pub const OPS_FAILED: &str = "failed";

/// One app table as the app declared it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub name: String,
    pub primary_key: String,
    pub indexes: Vec<IndexSpec>,
    pub order_key: bool,
}

impl TableSchema {
    /// Every index the object store must have: the declared ones, and
    /// `order_key` for an orderKey table.
    pub fn all_indexes(&self) -> Vec<IndexSpec> {
        let mut out = self.indexes.clone();
        if self.order_key && !out.iter().any(|i| i.name == ORDER_KEY) {
            out.push(IndexSpec::field(ORDER_KEY));
        }
        out
    }

    /// The index called `name` (`"thread_id"`, `"[thread_id+index]"`).
    pub fn index(&self, name: &str) -> Option<IndexSpec> {
        self.all_indexes().into_iter().find(|i| i.name == name)
    }
}

/// An index of an object store. Its name is its field, or `[a+b+c]` for a
/// compound index over fields a, b and c (as Dexie names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub key_path: KeyPath,
    /// No two rows may hold the same key.
    pub unique: bool,
    /// A row whose field is an array is indexed under each element.
    pub multi_entry: bool,
}

impl IndexSpec {
    /// A plain index over one field.
    pub fn field(name: &str) -> IndexSpec {
        IndexSpec {
            name: name.to_string(),
            key_path: KeyPath::Field(name.to_string()),
            unique: false,
            multi_entry: false,
        }
    }

    /// A compound index over `fields`, in order.
    pub fn compound(fields: &[&str]) -> IndexSpec {
        IndexSpec {
            name: format!("[{}]", fields.join("+")),
            key_path: KeyPath::Compound(fields.iter().map(|f| f.to_string()).collect()),
            unique: false,
            multi_entry: false,
        }
    }

    /// The index as the config declares it: `"f"`, `"&f"` (unique), `"*f"`
    /// (multi-entry), `"[a+b]"`, `"&[a+b]"`.
    pub fn declaration(&self) -> String {
        let prefix = if self.unique {
            "&"
        } else if self.multi_entry {
            "*"
        } else {
            ""
        };
        format!("{prefix}{}", self.name)
    }
}

/// How an object store or an index is keyed.
pub use crate::core::key::KeyPath;

/// One object store to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    pub name: String,
    pub key_path: KeyPath,
    pub auto_increment: bool,
    pub indexes: Vec<IndexSpec>,
}

/// The whole layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub tables: Vec<TableSchema>,
}

impl Schema {
    pub fn new(tables: Vec<TableSchema>) -> Self {
        Schema { tables }
    }

    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The primary-key field of a declared table (`INVALID` otherwise).
    pub fn key_path(&self, table: &str) -> crate::core::Result<String> {
        self.table(table).map(|t| t.primary_key.clone()).ok_or_else(|| crate::core::SyncError::unknown_table(table))
    }

    /// The key path of an object store (app table or the engine's own).
    pub fn store_key_path(&self, store: &str) -> Option<KeyPath> {
        let field = |s: &str| Some(KeyPath::Field(s.to_string()));
        match store {
            PENDING_OPS => field("seq"),
            TOMBSTONES => Some(KeyPath::Compound(vec!["tableName".into(), "pk".into()])),
            SYNC_STATE => field("key"),
            SYNC_RUNS | CONFLICTS => field("id"),
            table => field(&self.table(table)?.primary_key),
        }
    }

    /// Every object store, app tables first.
    pub fn stores(&self) -> Vec<StoreSpec> {
        let field = |s: &str| KeyPath::Field(s.to_string());
        let compound = |a: &[&str]| KeyPath::Compound(a.iter().map(|s| s.to_string()).collect());
        let mut out: Vec<StoreSpec> = self
            .tables
            .iter()
            .map(|t| StoreSpec {
                name: t.name.clone(),
                key_path: field(&t.primary_key),
                auto_increment: false,
                indexes: t.all_indexes(),
            })
            .collect();
        out.push(StoreSpec {
            name: PENDING_OPS.into(),
            key_path: field("seq"),
            auto_increment: true,
            indexes: vec![
                IndexSpec { name: OPS_BY_RECORD.into(), ..IndexSpec::compound(&["tableName", "pk"]) },
                IndexSpec { name: OPS_BY_OP_ID.into(), unique: true, ..IndexSpec::field("opId") },
                IndexSpec::field(OPS_FAILED),
            ],
        });
        out.push(StoreSpec {
            name: TOMBSTONES.into(),
            key_path: compound(&["tableName", "pk"]),
            auto_increment: false,
            indexes: vec![],
        });
        out.push(StoreSpec { name: SYNC_STATE.into(), key_path: field("key"), auto_increment: false, indexes: vec![] });
        for name in [SYNC_RUNS, CONFLICTS] {
            out.push(StoreSpec { name: name.into(), key_path: field("id"), auto_increment: true, indexes: vec![] });
        }
        out
    }
}

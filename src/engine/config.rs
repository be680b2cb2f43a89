//! `SyncEngine.open(config)`: the options of docs/PROTOCOL.md section 4, their
//! defaults, and validation with typed errors.
//!
//! An option object with a key the engine does not know is refused
//! ([`check_keys`]), in the config, in each table, and in the options of the
//! read calls: a typo such as `autosync: false` must not leave the engine
//! syncing while the app believes it told it not to. The error names the
//! key, suggests the accepted key it differs from only in case, and lists
//! the accepted ones.

use crate::core::decode::{self, optional, required, Path, Shape, WireValue};
use crate::core::hlc::DEFAULT_MAX_DRIFT_MS;
use crate::core::wire::MAX_NAME_LEN;
use crate::core::{Invalid, InvalidKind};
use crate::store::schema::IndexSpec;
use crate::store::schema::{CLOCK_FIELD, HLC_FIELD, ORDER_KEY};
use crate::store::{Durability, KeyPath, Schema, TableSchema, SYSTEM_STORES};

/// Default retention of tombstones and journal rows: 30 days.
pub const DEFAULT_RETENTION_MS: u64 = 30 * 86_400_000;
/// The shortest retention accepted: one minute.
pub const MIN_RETENTION_MS: u64 = 60_000;

/// Validated engine options.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub workspace_id: String,
    pub project_id: Option<String>,
    pub device_id: Option<String>,
    pub db_name: String,
    pub tables: Vec<TableSchema>,
    pub auto_sync: bool,
    pub batch_size: u32,
    pub pull_limit: u32,
    pub backoff_ms: Vec<u64>,
    pub max_attempts: u32,
    pub max_pending_ops: u64,
    pub max_clock_drift_ms: u64,
    /// How long tombstones and journal rows are kept before local GC.
    pub retention_ms: u64,
    /// The `durability` hint of the engine's readwrite transactions.
    pub durability: Durability,
}

impl EngineConfig {
    /// A config with defaults for everything but the workspace and tables.
    pub fn new(workspace_id: &str, tables: Vec<TableSchema>) -> Self {
        EngineConfig {
            workspace_id: workspace_id.to_string(),
            project_id: None,
            device_id: None,
            db_name: format!("tidesync-{workspace_id}"),
            tables,
            auto_sync: true,
            batch_size: 100,
            pull_limit: 500,
            backoff_ms: vec![250, 1000, 3000, 5000],
            max_attempts: 8,
            max_pending_ops: 100_000,
            max_clock_drift_ms: DEFAULT_MAX_DRIFT_MS,
            retention_ms: DEFAULT_RETENTION_MS,
            durability: Durability::Default,
        }
    }

    pub fn schema(&self) -> Schema {
        Schema::new(self.tables.clone())
    }
}

impl TableSchema {
    /// A table keyed by `id`, without indexes.
    pub fn simple(name: &str) -> Self {
        TableSchema { name: name.into(), primary_key: "id".into(), indexes: vec![], order_key: false }
    }
}

/// The keys `SyncEngine.open` accepts in its config.
pub const CONFIG_KEYS: [&str; 15] = [
    "workspaceId",
    "projectId",
    "deviceId",
    "dbName",
    "tables",
    "provider",
    "autoSync",
    "batchSize",
    "pullLimit",
    "backoffMs",
    "maxAttempts",
    "maxPendingOps",
    "maxClockDriftMs",
    "retentionMs",
    "durability",
];
/// The keys of one table's config (`resolve` is the JS merge hook).
pub const TABLE_KEYS: [&str; 5] = ["name", "primaryKey", "indexes", "orderKey", "resolve"];

/// Values whose own property names can be listed, so that an options object
/// can be checked for keys the engine does not know.
pub trait OptionKeys {
    /// The object's own enumerable keys, in order; none for a non-object.
    fn option_keys(&self) -> Vec<String>;
}

impl OptionKeys for serde_json::Value {
    fn option_keys(&self) -> Vec<String> {
        self.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
    }
}

/// Refuses the first key of `v` that is not in `accepted`, at `path.<key>`.
pub fn check_keys<V: OptionKeys>(v: &V, path: &Path<'_>, accepted: &[&str]) -> Result<(), Invalid> {
    let Some(key) = v.option_keys().into_iter().find(|k| !accepted.contains(&k.as_str())) else {
        return Ok(());
    };
    let hint = match accepted.iter().find(|a| a.eq_ignore_ascii_case(&key)) {
        Some(a) => format!(" (did you mean {a:?}?)"),
        None => String::new(),
    };
    Err(Path::Field(path, &key).rule(format!("unknown option{hint}; accepted: {}", accepted.join(", "))))
}

/// Names a table or field may have: letters, digits, `_`, `-`, `.` (no
/// leading `.`), so they are valid IndexedDB store names and key paths.
fn identifier<V: WireValue>(v: &V, path: &Path<'_>) -> Result<String, Invalid> {
    let s = decode::name(v, path, MAX_NAME_LEN)?;
    let ok = s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && !s.starts_with('.')
        && !s.ends_with('.')
        && !s.contains("..");
    if !ok {
        return Err(path.rule("use letters, digits, '_', '-' or '.'"));
    }
    Ok(s)
}

fn int_option<V: WireValue>(v: &V, name: &str, min: u64, max: u64, default: u64) -> Result<u64, Invalid> {
    let root = Path::Root("config");
    match optional(v, name) {
        None => Ok(default),
        Some(x) => {
            let p = Path::Field(&root, name);
            let n = decode::integer(&x, &p, min)?;
            if n > max {
                return Err(p.err(InvalidKind::OutOfRange));
            }
            Ok(n)
        }
    }
}

/// One entry of a table's `indexes`: a field (`"thread_id"`), a compound
/// index as an array of fields (`["thread_id", "index"]`) or in Dexie's
/// form (`"[thread_id+index]"`), prefixed with `&` for a unique index or
/// `*` for a multi-entry one (a single field holding an array).
fn decode_index<V: WireValue>(v: &V, path: &Path<'_>) -> Result<IndexSpec, Invalid> {
    if v.shape() == Shape::Array {
        return compound(&decode::array(v, path)?, path);
    }
    let text = decode::string(v, path)?;
    let (unique, multi_entry, rest) = match text.as_bytes().first() {
        Some(b'&') => (true, false, &text[1..]),
        Some(b'*') => (false, true, &text[1..]),
        _ => (false, false, text.as_str()),
    };
    let mut index = match rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => {
            if multi_entry {
                return Err(path.rule("a compound index cannot be multi-entry (IndexedDB forbids it)"));
            }
            let parts: Vec<serde_json::Value> = inner.split('+').map(|f| f.into()).collect();
            compound(&parts, path)?
        }
        None => IndexSpec::field(&identifier(&serde_json::Value::from(rest), path)?),
    };
    index.unique = unique;
    index.multi_entry = multi_entry;
    Ok(index)
}

/// A compound index over the named fields (two or more).
fn compound<W: WireValue>(items: &[W], path: &Path<'_>) -> Result<IndexSpec, Invalid> {
    let fields =
        items.iter().enumerate().map(|(i, f)| identifier(f, &Path::Index(path, i))).collect::<Result<Vec<_>, _>>()?;
    if fields.len() < 2 {
        return Err(path.rule("a compound index needs two fields or more"));
    }
    Ok(IndexSpec::compound(&fields.iter().map(String::as_str).collect::<Vec<_>>()))
}

fn decode_table<V: WireValue + OptionKeys>(v: &V, path: &Path<'_>) -> Result<TableSchema, Invalid> {
    decode::expect_object(v, path)?;
    check_keys(v, path, &TABLE_KEYS)?;
    let name = identifier(&required(v, "name", path)?, &Path::Field(path, "name"))?;
    if SYSTEM_STORES.contains(&name.as_str()) {
        return Err(Path::Field(path, "name").rule(format!("{name:?} is reserved for the engine")));
    }
    let primary_key = match optional(v, "primaryKey") {
        Some(pk) => identifier(&pk, &Path::Field(path, "primaryKey"))?,
        None => "id".to_string(),
    };
    if [CLOCK_FIELD, HLC_FIELD, ORDER_KEY].contains(&primary_key.as_str()) {
        return Err(Path::Field(path, "primaryKey").rule("is a field the engine writes"));
    }
    let mut indexes: Vec<IndexSpec> = Vec::new();
    if let Some(list) = optional(v, "indexes") {
        let ip = Path::Field(path, "indexes");
        for (i, item) in decode::array(&list, &ip)?.iter().enumerate() {
            let p = Path::Index(&ip, i);
            let index = decode_index(item, &p)?;
            if index.key_path == KeyPath::Field(primary_key.clone()) || indexes.iter().any(|x| x.name == index.name) {
                return Err(p.rule(format!("{:?} is declared twice or is the primary key", index.name)));
            }
            indexes.push(index);
        }
    }
    let order_key = match optional(v, "orderKey") {
        Some(b) => decode::boolean(&b, &Path::Field(path, "orderKey"))?,
        None => false,
    };
    Ok(TableSchema { name, primary_key, indexes, order_key })
}

/// Validates the options object given to `SyncEngine.open`.
pub fn decode_config<V: WireValue + OptionKeys>(v: &V) -> Result<EngineConfig, Invalid> {
    let root = Path::Root("config");
    decode::expect_object(v, &root)?;
    check_keys(v, &root, &CONFIG_KEYS)?;
    let workspace_id = identifier(&required(v, "workspaceId", &root)?, &Path::Field(&root, "workspaceId"))?;
    let text = |name: &'static str| -> Result<Option<String>, Invalid> {
        optional(v, name).map(|x| decode::name(&x, &Path::Field(&root, name), MAX_NAME_LEN)).transpose()
    };
    let project_id = text("projectId")?;
    let device_id = text("deviceId")?;
    // One database per scope. A workspace id never holds '/', so the name
    // of workspace "a" with project "b" is no other scope's.
    let db_name = text("dbName")?.unwrap_or_else(|| match &project_id {
        Some(p) => format!("tidesync-{workspace_id}/{p}"),
        None => format!("tidesync-{workspace_id}"),
    });

    let tp = Path::Field(&root, "tables");
    let list = decode::array(&required(v, "tables", &root)?, &tp)?;
    if list.is_empty() {
        return Err(tp.rule("declare at least one table"));
    }
    let mut tables: Vec<TableSchema> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let t = decode_table(item, &Path::Index(&tp, i))?;
        if tables.iter().any(|x| x.name == t.name) {
            return Err(Path::Index(&tp, i).rule(format!("table {:?} is declared twice", t.name)));
        }
        tables.push(t);
    }

    let defaults = EngineConfig::new(&workspace_id, vec![]);
    let auto_sync = match optional(v, "autoSync") {
        Some(b) => decode::boolean(&b, &Path::Field(&root, "autoSync"))?,
        None => defaults.auto_sync,
    };
    let backoff_ms = match optional(v, "backoffMs") {
        None => defaults.backoff_ms.clone(),
        Some(list) => {
            let bp = Path::Field(&root, "backoffMs");
            let items = decode::array(&list, &bp)?;
            if items.is_empty() {
                return Err(bp.rule("give at least one delay"));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let p = Path::Index(&bp, i);
                let ms = decode::integer(item, &p, 0)?;
                if ms > 3_600_000 {
                    return Err(p.err(InvalidKind::OutOfRange));
                }
                out.push(ms);
            }
            out
        }
    };
    let durability = match optional(v, "durability") {
        None => defaults.durability,
        Some(d) => {
            let p = Path::Field(&root, "durability");
            let all = [Durability::Default, Durability::Strict, Durability::Relaxed];
            let name = decode::string(&d, &p)?;
            all.into_iter()
                .find(|x| x.as_str() == name)
                .ok_or_else(|| p.rule("use \"default\", \"strict\" or \"relaxed\""))?
        }
    };
    if let Some(p) = optional(v, "provider") {
        if p.shape() != Shape::Object {
            return Err(Path::Field(&root, "provider").err(InvalidKind::WrongType { expected: "an object" }));
        }
    }
    Ok(EngineConfig {
        workspace_id,
        project_id,
        device_id,
        db_name,
        tables,
        auto_sync,
        batch_size: int_option(v, "batchSize", 1, 10_000, defaults.batch_size as u64)? as u32,
        pull_limit: int_option(v, "pullLimit", 1, 10_000, defaults.pull_limit as u64)? as u32,
        backoff_ms,
        max_attempts: int_option(v, "maxAttempts", 1, 1_000, defaults.max_attempts as u64)? as u32,
        max_pending_ops: int_option(v, "maxPendingOps", 1, 100_000_000, defaults.max_pending_ops)?,
        max_clock_drift_ms: int_option(v, "maxClockDriftMs", 1_000, 86_400_000, defaults.max_clock_drift_ms)?,
        retention_ms: int_option(v, "retentionMs", MIN_RETENTION_MS, 10 * 365 * 86_400_000, defaults.retention_ms)?,
        durability,
    })
}

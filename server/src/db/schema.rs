//! The schema, as numbered migrations applied at start (both backends) by
//! refinery.
//!
//! The migrations run in one transaction (refinery's grouped mode), which
//! also records them in refinery's `refinery_schema_history`; a process that
//! finds a migration applied that it does not know (a newer schema) or one
//! whose SQL changed refuses to run. The SQL is the same for both backends
//! except where a type differs, so each migration is written once per
//! backend side by side.
//!
//! Databases made before refinery recorded their version in
//! `schema_migrations`; [`migrate`] takes that version (the backends read it
//! with [`super::sql::legacy_version`]) and baselines refinery at it: those
//! migrations are marked applied without running, then the rest run.

use refinery::{Migrate, Migration, Runner, Target};
use tidesync::core::SyncError;

use super::sql::Dialect;

/// `(refinery name, SQLite SQL, PostgreSQL SQL)`; the name's `V<n>__` is the
/// version, the one `schema_migrations` recorded before refinery.
const MIGRATIONS: &[(&str, &str, &str)] =
    &[("V1__initial", V1_SQLITE, V1_POSTGRES), ("V2__ops_seen_at", V2_SQLITE, V2_POSTGRES)];

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

fn migration_error(e: impl std::fmt::Display) -> SyncError {
    SyncError::Storage(format!("migrations: {e}"))
}

/// The migrations in `dialect`.
pub fn migrations(dialect: Dialect) -> Result<Vec<Migration>, SyncError> {
    MIGRATIONS
        .iter()
        .map(|&(name, sqlite, postgres)| {
            let sql = match dialect {
                Dialect::Sqlite => sqlite,
                Dialect::Postgres => postgres,
            };
            Migration::unapplied(name, sql).map_err(migration_error)
        })
        .collect()
}

/// Creates or upgrades the schema over `conn` (the caller serialises
/// processes). `legacy` is the version the pre-refinery runner recorded,
/// if the database has its table: refinery is baselined there first.
pub fn migrate<C: Migrate>(conn: &mut C, dialect: Dialect, legacy: Option<i64>) -> Result<(), SyncError> {
    let migrations = migrations(dialect)?;
    let runner = || Runner::new(&migrations).set_grouped(true).set_abort_divergent(true).set_abort_missing(true);
    if let Some(version) = legacy.filter(|&v| v > 0) {
        if version > latest() {
            return Err(SyncError::Storage(format!(
                "the database has schema version {version}; this server knows up to {}",
                latest()
            )));
        }
        let version = i32::try_from(version).map_err(migration_error)?;
        runner().set_target(Target::FakeVersion(version)).run(conn).map_err(migration_error)?;
    }
    runner().run(conn).map_err(migration_error)?;
    Ok(())
}

const V1_SQLITE: &str = "
CREATE TABLE workspaces (
  id TEXT PRIMARY KEY,
  version INTEGER NOT NULL DEFAULT 0,
  watermark INTEGER NOT NULL DEFAULT 0,
  applied INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE records (
  workspace TEXT NOT NULL,
  table_name TEXT NOT NULL,
  pk TEXT NOT NULL,
  op TEXT NOT NULL,
  payload TEXT,
  clock INTEGER NOT NULL,
  hlc TEXT NOT NULL,
  device_id TEXT NOT NULL,
  op_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  project_id TEXT,
  applied_at_ms INTEGER NOT NULL,
  in_log INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (workspace, table_name, pk)
);
CREATE UNIQUE INDEX records_log ON records (workspace, version);
CREATE TABLE ops (
  workspace TEXT NOT NULL,
  op_id TEXT NOT NULL,
  version INTEGER,
  PRIMARY KEY (workspace, op_id)
);
CREATE TABLE cursors (
  workspace TEXT NOT NULL,
  device_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (workspace, device_id)
);
CREATE TABLE users (id TEXT PRIMARY KEY, created_at_ms INTEGER NOT NULL);
CREATE TABLE tokens (
  hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id),
  created_at_ms INTEGER NOT NULL
);
CREATE TABLE memberships (
  user_id TEXT NOT NULL REFERENCES users (id),
  workspace TEXT NOT NULL,
  PRIMARY KEY (user_id, workspace)
);
";

const V1_POSTGRES: &str = "
CREATE TABLE workspaces (
  id TEXT PRIMARY KEY,
  version BIGINT NOT NULL DEFAULT 0,
  watermark BIGINT NOT NULL DEFAULT 0,
  applied BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE records (
  workspace TEXT NOT NULL,
  table_name TEXT NOT NULL,
  pk TEXT NOT NULL,
  op TEXT NOT NULL,
  payload TEXT,
  clock BIGINT NOT NULL,
  hlc TEXT NOT NULL,
  device_id TEXT NOT NULL,
  op_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  project_id TEXT,
  applied_at_ms BIGINT NOT NULL,
  in_log BOOLEAN NOT NULL DEFAULT TRUE,
  PRIMARY KEY (workspace, table_name, pk)
);
CREATE UNIQUE INDEX records_log ON records (workspace, version);
CREATE TABLE ops (
  workspace TEXT NOT NULL,
  op_id TEXT NOT NULL,
  version BIGINT,
  PRIMARY KEY (workspace, op_id)
);
CREATE TABLE cursors (
  workspace TEXT NOT NULL,
  device_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  updated_at_ms BIGINT NOT NULL,
  PRIMARY KEY (workspace, device_id)
);
CREATE TABLE users (id TEXT PRIMARY KEY, created_at_ms BIGINT NOT NULL);
CREATE TABLE tokens (
  hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id),
  created_at_ms BIGINT NOT NULL
);
CREATE TABLE memberships (
  user_id TEXT NOT NULL REFERENCES users (id),
  workspace TEXT NOT NULL,
  PRIMARY KEY (user_id, workspace)
);
";

// When each opId was remembered, so GC can prune the `ops` table past
// retention (`crate::gc`). Rows that exist already count as remembered at
// the migration: they are kept one more retention period.
const V2_SQLITE: &str = "
ALTER TABLE ops ADD COLUMN seen_at_ms INTEGER NOT NULL DEFAULT 0;
UPDATE ops SET seen_at_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
CREATE INDEX ops_seen ON ops (workspace, seen_at_ms);
";

const V2_POSTGRES: &str = "
ALTER TABLE ops ADD COLUMN seen_at_ms BIGINT NOT NULL DEFAULT (extract(epoch FROM now()) * 1000)::bigint;
ALTER TABLE ops ALTER COLUMN seen_at_ms SET DEFAULT 0;
CREATE INDEX ops_seen ON ops (workspace, seen_at_ms);
";

//! The schema, as numbered migrations applied at start (both backends).
//!
//! Each migration runs once, in order, inside a transaction that also
//! records it in `schema_migrations`; a process that starts against a newer
//! schema than it knows refuses to run. The SQL is the same for both
//! backends except where a type differs, so each migration is written once
//! per backend side by side.

/// `(version, SQLite SQL, PostgreSQL SQL)`.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[(1, V1_SQLITE, V1_POSTGRES), (2, V2_SQLITE, V2_POSTGRES)];

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
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

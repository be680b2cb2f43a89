//! The SQLite backend (rusqlite, bundled SQLite, WAL): one file, one
//! process or several on one machine.
//!
//! One writer connection behind a mutex takes every write; a pool of
//! reader connections ([`READERS`], `query_only`) serves pulls, version
//! reads and token checks, so a pull never waits behind a push (WAL lets
//! readers run beside the one writer, each on its own snapshot). A push
//! runs in a `BEGIN IMMEDIATE` transaction (the database's write lock, held
//! through the commit, so versions commit in order even with several
//! processes on one file); a pull runs in one read transaction (one WAL
//! snapshot).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::Value;
use tidesync::core::server::{apply, LogRead, PushOutcome, Scan, ScanFilter, WorkspaceStore};
use tidesync::core::wire::{OpKind, PullRequest, PullResponse, PushBatch, SyncChange};
use tidesync::core::{ChangeStamp, Pk, SyncError};

use super::pool::Pool;
use super::row::{self, ChangeRow, CHANGE_COLUMNS};
use super::{schema, storage, Db, Grant, DEVICE_TTL_MS};

/// How many reader connections a process opens at most.
pub const READERS: usize = 4;

/// How long a statement waits for another connection's lock.
const BUSY: Duration = Duration::from_secs(10);

/// A SQLite sync database.
pub struct SqliteDb {
    writer: Mutex<Connection>,
    readers: Pool<Connection>,
}

fn open_reader(path: &Path) -> Result<Connection, SyncError> {
    let conn = Connection::open(path).map_err(storage)?;
    conn.busy_timeout(BUSY).map_err(storage)?;
    conn.pragma_update(None, "query_only", "ON").map_err(storage)?;
    Ok(conn)
}

impl SqliteDb {
    /// Opens (creating if needed) the file at `path`, switches it to WAL and
    /// runs the migrations.
    pub fn open(path: &Path) -> Result<SqliteDb, SyncError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(storage)?;
        }
        let mut conn = Connection::open(path).map_err(storage)?;
        conn.busy_timeout(BUSY).map_err(storage)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(storage)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(storage)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(storage)?;
        migrate(&mut conn)?;
        let path: PathBuf = path.to_path_buf();
        let readers = Pool::new(READERS, move || open_reader(&path), |_| false);
        Ok(SqliteDb { writer: Mutex::new(conn), readers })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, SyncError>) -> Result<T, SyncError> {
        let mut conn = self.writer.lock().map_err(|_| SyncError::Storage("the database lock is poisoned".into()))?;
        f(&mut conn)
    }

    /// Runs `f` in one read transaction (one WAL snapshot) on a reader.
    fn read<T>(
        &self,
        workspace: &str,
        f: impl FnOnce(&mut SqliteWorkspace<'_>) -> Result<T, SyncError>,
    ) -> Result<T, SyncError> {
        self.readers.with(|conn| {
            let tx = conn.transaction().map_err(storage)?;
            let out = f(&mut SqliteWorkspace { tx: &tx, ws: workspace, now_ms: 0 })?;
            tx.commit().map_err(storage)?;
            Ok(out)
        })
    }

    /// Runs `f` over the workspace's store in a write transaction.
    fn write<T>(
        &self,
        workspace: &str,
        now_ms: u64,
        f: impl FnOnce(&mut SqliteWorkspace<'_>) -> Result<T, SyncError>,
    ) -> Result<T, SyncError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
            tx.execute("INSERT INTO workspaces (id) VALUES (?1) ON CONFLICT DO NOTHING", [workspace])
                .map_err(storage)?;
            let out = f(&mut SqliteWorkspace { tx: &tx, ws: workspace, now_ms })?;
            tx.commit().map_err(storage)?;
            Ok(out)
        })
    }
}

fn migrate(conn: &mut Connection) -> Result<(), SyncError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
        .map_err(storage)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
    let current: i64 =
        tx.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0)).map_err(storage)?;
    if current > schema::latest() {
        return Err(SyncError::Storage(format!(
            "the database has schema version {current}; this server knows up to {}",
            schema::latest()
        )));
    }
    for (version, sql, _) in schema::MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql).map_err(storage)?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES (?1)", [version]).map_err(storage)?;
    }
    tx.commit().map_err(storage)
}

/// One workspace inside one SQLite transaction.
struct SqliteWorkspace<'a> {
    tx: &'a Transaction<'a>,
    ws: &'a str,
    now_ms: u64,
}

impl SqliteWorkspace<'_> {
    fn number(&self, sql: &str) -> Result<u64, SyncError> {
        let n: Option<i64> = self.tx.query_row(sql, [self.ws], |r| r.get(0)).optional().map_err(storage)?;
        row::to_u64(n.unwrap_or(0))
    }
}

fn change_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChangeRow> {
    Ok(ChangeRow {
        table_name: r.get(0)?,
        pk: r.get(1)?,
        op: r.get(2)?,
        payload: r.get(3)?,
        version: r.get(4)?,
        clock: r.get(5)?,
        hlc: r.get(6)?,
        device_id: r.get(7)?,
        op_id: r.get(8)?,
    })
}

/// The scan's filter as SQL parameters: tables as a JSON array (read with
/// `json_each`), project as text; `NULL` for "no filter".
fn filter_params(filter: &ScanFilter<'_>) -> Result<(Option<String>, Option<String>), SyncError> {
    let tables = filter.tables.map(serde_json::to_string).transpose().map_err(storage)?;
    Ok((tables, filter.project.map(str::to_string)))
}

const FILTER_SQL: &str = "(?3 IS NULL OR table_name IN (SELECT value FROM json_each(?3)))
   AND (?4 IS NULL OR project_id = ?4)";

impl LogRead<Value> for SqliteWorkspace<'_> {
    fn version(&mut self) -> Result<u64, SyncError> {
        self.number("SELECT version FROM workspaces WHERE id = ?1")
    }

    fn watermark(&mut self) -> Result<u64, SyncError> {
        self.number("SELECT watermark FROM workspaces WHERE id = ?1")
    }

    fn scan(&mut self, after: u64, limit: usize, filter: ScanFilter<'_>) -> Result<Scan<Value>, SyncError> {
        let (tables, project) = filter_params(&filter)?;
        // One row past the page says whether more follow, without counting them.
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM records WHERE workspace = ?1 AND version > ?2 AND in_log = 1
               AND {FILTER_SQL} ORDER BY version LIMIT ?5"
        );
        let mut stmt = self.tx.prepare_cached(&sql).map_err(storage)?;
        let rows = stmt
            .query_map(params![self.ws, row::to_i64(after)?, tables, project, fetch], change_row)
            .map_err(storage)?;
        let mut changes = Vec::new();
        for r in rows {
            changes.push(r.map_err(storage)?.into_change()?);
        }
        drop(stmt);
        let version = self.version()?;
        Ok(row::page(changes, limit, version))
    }
}

impl WorkspaceStore<Value> for SqliteWorkspace<'_> {
    fn seen_op(&mut self, op_id: &str) -> Result<Option<Option<u64>>, SyncError> {
        let got: Option<Option<i64>> = self
            .tx
            .prepare_cached("SELECT version FROM ops WHERE workspace = ?1 AND op_id = ?2")
            .and_then(|mut s| s.query_row([self.ws, op_id], |r| r.get(0)).optional())
            .map_err(storage)?;
        got.map(|v| v.map(row::to_u64).transpose()).transpose()
    }

    fn remember_op(&mut self, op_id: &str, version: Option<u64>) -> Result<(), SyncError> {
        let (version, seen_at) = (version.map(row::to_i64).transpose()?, row::to_i64(self.now_ms)?);
        self.tx
            .prepare_cached("INSERT INTO ops (workspace, op_id, version, seen_at_ms) VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut s| s.execute(params![self.ws, op_id, version, seen_at]))
            .map_err(storage)?;
        Ok(())
    }

    fn head(&mut self, table: &str, pk: &Pk) -> Result<Option<(OpKind, ChangeStamp)>, SyncError> {
        let pk = row::encode_pk(pk)?;
        let found = self
            .tx
            .prepare_cached(
                "SELECT op, clock, hlc, device_id, op_id FROM records
                 WHERE workspace = ?1 AND table_name = ?2 AND pk = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![self.ws, table, pk], |r| {
                    Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()
            })
            .map_err(storage)?;
        found
            .map(|(op, clock, hlc, device, op_id)| Ok((row::decode_op(&op)?, row::stamp(clock, hlc, device, op_id)?)))
            .transpose()
    }

    fn current(&mut self, table: &str, pk: &Pk) -> Result<Option<SyncChange<Value>>, SyncError> {
        let pk = row::encode_pk(pk)?;
        let sql = format!("SELECT {CHANGE_COLUMNS} FROM records WHERE workspace = ?1 AND table_name = ?2 AND pk = ?3");
        let found = self
            .tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params![self.ws, table, pk], change_row).optional())
            .map_err(storage)?;
        found.map(ChangeRow::into_change).transpose()
    }

    fn write(
        &mut self,
        change: &SyncChange<Value>,
        project_id: Option<&str>,
        applied_at_ms: u64,
    ) -> Result<(), SyncError> {
        let version = row::to_i64(change.server_version)?;
        let pk = row::encode_pk(&change.pk)?;
        let payload = row::encode_payload(change.payload.as_ref())?;
        let clock = row::to_i64(change.stamp.clock)?;
        let applied_at = row::to_i64(applied_at_ms)?;
        self.tx
            .prepare_cached(
                "INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                                      version, project_id, applied_at_ms, in_log)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1)
                 ON CONFLICT (workspace, table_name, pk) DO UPDATE SET
                   op = excluded.op, payload = excluded.payload, clock = excluded.clock, hlc = excluded.hlc,
                   device_id = excluded.device_id, op_id = excluded.op_id, version = excluded.version,
                   project_id = excluded.project_id, applied_at_ms = excluded.applied_at_ms, in_log = 1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    self.ws,
                    change.table_name,
                    pk,
                    change.op.as_str(),
                    payload,
                    clock,
                    change.stamp.hlc,
                    change.stamp.device_id,
                    change.stamp.op_id,
                    version,
                    project_id,
                    applied_at,
                ])
            })
            .map_err(storage)?;
        self.tx
            .prepare_cached("UPDATE workspaces SET version = ?2, applied = applied + 1 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![self.ws, version]))
            .map_err(storage)?;
        Ok(())
    }

    fn raise_cursor(&mut self, device_id: &str, version: u64) -> Result<(), SyncError> {
        self.tx
            .execute(
                "INSERT INTO cursors (workspace, device_id, version, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (workspace, device_id) DO UPDATE SET
                   version = MAX(version, excluded.version), updated_at_ms = excluded.updated_at_ms",
                params![self.ws, device_id, row::to_i64(version)?, row::to_i64(self.now_ms)?],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn min_cursor(&mut self) -> Result<Option<u64>, SyncError> {
        let since = row::to_i64(self.now_ms.saturating_sub(DEVICE_TTL_MS))?;
        let n: Option<i64> = self
            .tx
            .query_row(
                "SELECT MIN(version) FROM cursors WHERE workspace = ?1 AND updated_at_ms >= ?2",
                params![self.ws, since],
                |r| r.get(0),
            )
            .map_err(storage)?;
        n.map(row::to_u64).transpose()
    }

    fn raise_watermark(&mut self, watermark: u64) -> Result<(), SyncError> {
        self.tx
            .execute(
                "UPDATE workspaces SET watermark = MAX(watermark, ?2) WHERE id = ?1",
                params![self.ws, row::to_i64(watermark)?],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn purge_tombstones(&mut self, max_version: u64, applied_until_ms: u64) -> Result<(usize, Option<u64>), SyncError> {
        let args = params![self.ws, row::to_i64(max_version)?, row::to_i64(applied_until_ms)?];
        let highest: Option<i64> = self
            .tx
            .query_row(
                "SELECT MAX(version) FROM records WHERE workspace = ?1 AND in_log = 1 AND op = 'delete'
                   AND version <= ?2 AND applied_at_ms <= ?3",
                args,
                |r| r.get(0),
            )
            .map_err(storage)?;
        let purged = self
            .tx
            .execute(
                "UPDATE records SET in_log = 0, payload = NULL WHERE workspace = ?1 AND in_log = 1 AND op = 'delete'
                   AND version <= ?2 AND applied_at_ms <= ?3",
                args,
            )
            .map_err(storage)?;
        Ok((purged, highest.map(row::to_u64).transpose()?))
    }
}

impl Db for SqliteDb {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn notifies(&self) -> bool {
        false
    }

    fn health(&self) -> Result<(), SyncError> {
        self.readers.with(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(storage))
    }

    fn push(&self, batch: &PushBatch<Value>, now_ms: u64) -> Result<PushOutcome<Value>, SyncError> {
        self.write(&batch.scope.workspace_id, now_ms, |ws| apply::push(ws, batch, now_ms))
    }

    fn pull(&self, req: &PullRequest) -> Result<PullResponse<Value>, SyncError> {
        self.read(&req.scope.workspace_id, |ws| apply::pull(ws, req))
    }

    fn update_cursor(&self, workspace: &str, device_id: &str, version: u64, now_ms: u64) -> Result<(), SyncError> {
        self.write(workspace, now_ms, |ws| apply::update_cursor(ws, device_id, version))
    }

    fn version(&self, workspace: &str) -> Result<u64, SyncError> {
        self.read(workspace, |ws| ws.version())
    }

    fn workspaces(&self) -> Result<Vec<String>, SyncError> {
        self.readers.with(|conn| {
            let mut stmt = conn.prepare("SELECT id FROM workspaces ORDER BY id").map_err(storage)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(storage)?;
            rows.collect::<Result<Vec<String>, _>>().map_err(storage)
        })
    }

    fn gc(&self, workspace: &str, now_ms: u64, retention_ms: u64) -> Result<usize, SyncError> {
        self.write(workspace, now_ms, |ws| apply::gc(ws, now_ms, retention_ms))
    }

    fn purge_history(&self, workspace: &str, below: u64) -> Result<(), SyncError> {
        self.write(workspace, 0, |ws| apply::purge_history(ws, below))
    }

    fn prune_ops(&self, workspace: &str, seen_until_ms: u64, limit: usize) -> Result<usize, SyncError> {
        let (until, limit) = (row::to_i64(seen_until_ms)?, i64::try_from(limit).unwrap_or(i64::MAX));
        self.with(|c| {
            c.execute(
                "DELETE FROM ops WHERE rowid IN
                   (SELECT rowid FROM ops WHERE workspace = ?1 AND seen_at_ms <= ?2 LIMIT ?3)",
                params![workspace, until, limit],
            )
            .map_err(storage)
        })
    }

    fn grant(&self, token_hash: &str) -> Result<Option<Grant>, SyncError> {
        self.readers.with(|conn| {
            let user: Option<String> = conn
                .query_row("SELECT user_id FROM tokens WHERE hash = ?1", [token_hash], |r| r.get(0))
                .optional()
                .map_err(storage)?;
            let Some(user_id) = user else { return Ok(None) };
            let mut stmt = conn
                .prepare_cached("SELECT workspace FROM memberships WHERE user_id = ?1 ORDER BY workspace")
                .map_err(storage)?;
            let workspaces =
                stmt.query_map([&user_id], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(storage)?;
            Ok(Some(Grant { user_id, workspaces }))
        })
    }

    fn create_token(
        &self,
        token_hash: &str,
        user_id: &str,
        workspaces: &[String],
        now_ms: u64,
    ) -> Result<(), SyncError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
            let now = row::to_i64(now_ms)?;
            tx.execute(
                "INSERT INTO users (id, created_at_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![user_id, now],
            )
            .map_err(storage)?;
            let owner: Option<String> = tx
                .query_row("SELECT user_id FROM tokens WHERE hash = ?1", [token_hash], |r| r.get(0))
                .optional()
                .map_err(storage)?;
            match owner {
                Some(o) if o != user_id => {
                    return Err(SyncError::invalid("token", "this token already belongs to another user"));
                }
                Some(_) => {}
                None => {
                    tx.execute(
                        "INSERT INTO tokens (hash, user_id, created_at_ms) VALUES (?1, ?2, ?3)",
                        params![token_hash, user_id, now],
                    )
                    .map_err(storage)?;
                }
            }
            for ws in workspaces {
                tx.execute(
                    "INSERT INTO memberships (user_id, workspace) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![user_id, ws],
                )
                .map_err(storage)?;
            }
            tx.commit().map_err(storage)
        })
    }

    fn revoke_token(&self, token_hash: &str) -> Result<usize, SyncError> {
        self.with(|c| c.execute("DELETE FROM tokens WHERE hash = ?1", [token_hash]).map_err(storage))
    }

    fn revoke_user_tokens(&self, user_id: &str) -> Result<usize, SyncError> {
        self.with(|c| c.execute("DELETE FROM tokens WHERE user_id = ?1", [user_id]).map_err(storage))
    }

    fn remove_member(&self, user_id: &str, workspace: &str) -> Result<bool, SyncError> {
        self.with(|c| {
            let n = c
                .execute("DELETE FROM memberships WHERE user_id = ?1 AND workspace = ?2", [user_id, workspace])
                .map_err(storage)?;
            Ok(n > 0)
        })
    }
}

//! The SQLite backend (rusqlite, bundled SQLite, WAL): one file, one
//! process or several on one machine. The queries are [`super::sql`]'s;
//! this module opens, serialises and commits transactions.
//!
//! One writer connection behind a mutex takes every write; a pool of
//! reader connections ([`READERS`], `query_only`; r2d2, [`super::pool`])
//! serves pulls, version reads and token checks, so a pull never waits behind a push (WAL lets
//! readers run beside the one writer, each on its own snapshot). A push
//! runs in a `BEGIN IMMEDIATE` transaction (the database's write lock, held
//! through the commit, so versions commit in order even with several
//! processes on one file); a pull runs in one read transaction (one WAL
//! snapshot).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, ToSql, TransactionBehavior};
use serde_json::Value;
use tidesync::core::server::{apply, PushOutcome};
use tidesync::core::wire::{PullRequest, PushBatch};
use tidesync::core::SyncError;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;

use super::batch;
use super::page::{self, EncodedPage};
use super::pool;
use super::schema;
use super::sql::{self, Arg, CellRef, Dialect, EachRow, Store, Tx};
use super::{storage, Db, Grant};

/// How many reader connections a process opens at most.
pub const READERS: usize = 4;

/// How long a statement waits for another connection's lock.
const BUSY: Duration = Duration::from_secs(10);

/// A SQLite sync database.
pub struct SqliteDb {
    writer: Mutex<Connection>,
    readers: Pool<SqliteConnectionManager>,
}

/// A statement runner over one SQLite transaction (or connection).
pub struct Lite<'a>(&'a Connection);

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Arg::Int(n) => ToSqlOutput::from(n),
            Arg::OptInt(n) => n.map_or(ToSqlOutput::Owned(SqlValue::Null), ToSqlOutput::from),
            Arg::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Arg::OptText(t) => {
                t.map_or(ToSqlOutput::Owned(SqlValue::Null), |t| ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())))
            }
            Arg::Tables(None) => ToSqlOutput::Owned(SqlValue::Null),
            Arg::Tables(Some(t)) => json_text(t)?,
            Arg::Texts(t) => json_text(t)?,
            Arg::OptTexts(t) => json_text(t)?,
            Arg::Ints(t) => json_text(t)?,
            Arg::OptInts(t) => json_text(t)?,
        })
    }
}

/// A list parameter, as the JSON array `json_each` reads.
fn json_text(v: &(impl serde::Serialize + ?Sized)) -> rusqlite::Result<ToSqlOutput<'static>> {
    let text = serde_json::to_string(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok(ToSqlOutput::Owned(SqlValue::Text(text)))
}

fn cell(v: ValueRef<'_>) -> Result<CellRef<'_>, SyncError> {
    match v {
        ValueRef::Null => Ok(CellRef::Null),
        ValueRef::Integer(n) => Ok(CellRef::Int(n)),
        ValueRef::Text(t) => Ok(CellRef::Text(std::str::from_utf8(t).map_err(storage)?)),
        other => Err(SyncError::Storage(format!("unexpected column type {:?}", other.data_type()))),
    }
}

impl Tx for Lite<'_> {
    const DIALECT: Dialect = Dialect::Sqlite;

    fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, SyncError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(storage)?;
        Ok(stmt.execute(rusqlite::params_from_iter(args)).map_err(storage)? as u64)
    }

    fn each_row(&mut self, sql: &'static str, args: &[Arg<'_>], each: &mut EachRow<'_>) -> Result<(), SyncError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(storage)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args)).map_err(storage)?;
        while let Some(r) = rows.next().map_err(storage)? {
            if !sql::hand_row(n, |i| cell(r.get_ref(i).map_err(storage)?), each)? {
                break;
            }
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<(), SyncError> {
        self.0.execute_batch(sql).map_err(storage)
    }
}

/// How many times a start retries the migrations: processes that start
/// together on a fresh file race, and the loser's transaction fails (the
/// tables exist) and rolls back; its retry finds them recorded.
const MIGRATE_TRIES: usize = 3;

fn migrate(conn: &mut Connection) -> Result<(), SyncError> {
    let once = |conn: &mut Connection| -> Result<(), SyncError> {
        let legacy = sql::legacy_version(&mut Lite(conn))?;
        schema::migrate(conn, Dialect::Sqlite, legacy)?;
        if legacy.is_some() {
            sql::drop_legacy(&mut Lite(conn))?;
        }
        Ok(())
    };
    let mut tries = 1;
    loop {
        match once(conn) {
            Err(e) if tries < MIGRATE_TRIES => {
                tracing::warn!(error = %e, "migrations failed; retrying");
                tries += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            out => return out,
        }
    }
}

/// Switches the file to WAL. The switch takes the file's exclusive lock,
/// and SQLite answers `SQLITE_BUSY` at once, without its busy handler,
/// while another process opening the same fresh file holds it; so the
/// switch is retried until [`BUSY`] has passed.
fn switch_to_wal(conn: &Connection) -> Result<(), SyncError> {
    let deadline = std::time::Instant::now() + BUSY;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => return Err(SyncError::Storage(format!("the database stays in journal mode {mode}, not WAL"))),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(storage(e)),
        }
    }
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
        switch_to_wal(&conn)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(storage)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(storage)?;
        // refinery's transactions take the write lock up front (waiting
        // for other processes' up to BUSY) instead of failing on upgrade.
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        migrate(&mut conn)?;
        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            c.busy_timeout(BUSY)?;
            c.pragma_update(None, "query_only", "ON")
        });
        let readers = pool::build(READERS, manager);
        Ok(SqliteDb { writer: Mutex::new(conn), readers })
    }

    /// Runs `f` in a write transaction on the writer (`BEGIN IMMEDIATE`);
    /// commits when it succeeds.
    fn transact<T>(&self, f: impl FnOnce(&mut Lite<'_>) -> Result<T, SyncError>) -> Result<T, SyncError> {
        let mut conn = self.writer.lock().map_err(|_| SyncError::Storage("the database lock is poisoned".into()))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        let out = f(&mut Lite(&tx))?;
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    /// Runs `f` over the workspace's store in a write transaction.
    fn write<T>(
        &self,
        workspace: &str,
        now_ms: u64,
        f: impl FnOnce(&mut Store<'_, Lite<'_>>) -> Result<T, SyncError>,
    ) -> Result<T, SyncError> {
        self.transact(|tx| {
            let mut store = Store { tx: Lite(tx.0), ws: workspace, now_ms };
            store.ensure()?;
            f(&mut store)
        })
    }

    /// Runs `f` in one read transaction (one WAL snapshot) on a reader.
    fn read<T>(&self, f: impl FnOnce(&mut Lite<'_>) -> Result<T, SyncError>) -> Result<T, SyncError> {
        let mut conn = pool::get(&self.readers)?;
        let tx = conn.transaction().map_err(storage)?;
        let out = f(&mut Lite(&tx))?;
        tx.commit().map_err(storage)?;
        Ok(out)
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
        self.read(|tx| tx.query("SELECT 1", &[]).map(drop))
    }

    fn push(&self, batch: &PushBatch<Value>, now_ms: u64) -> Result<PushOutcome<Value>, SyncError> {
        self.write(&batch.scope.workspace_id, now_ms, |ws| batch::push(ws, batch, now_ms, None))
    }

    fn pull(&self, req: &PullRequest) -> Result<EncodedPage, SyncError> {
        let ws = &req.scope.workspace_id;
        self.read(|tx| page::pull(&mut Store { tx: Lite(tx.0), ws, now_ms: 0 }, req))
    }

    fn update_cursor(&self, workspace: &str, device_id: &str, version: u64, now_ms: u64) -> Result<(), SyncError> {
        self.write(workspace, now_ms, |ws| apply::update_cursor(ws, device_id, version))
    }

    fn version(&self, workspace: &str) -> Result<u64, SyncError> {
        self.read(|tx| Store { tx: Lite(tx.0), ws: workspace, now_ms: 0 }.version())
    }

    fn workspaces(&self) -> Result<Vec<String>, SyncError> {
        self.read(|tx| sql::workspaces(tx))
    }

    fn gc(&self, workspace: &str, now_ms: u64, retention_ms: u64) -> Result<usize, SyncError> {
        self.write(workspace, now_ms, |ws| apply::gc(ws, now_ms, retention_ms))
    }

    fn purge_history(&self, workspace: &str, below: u64) -> Result<(), SyncError> {
        self.write(workspace, 0, |ws| apply::purge_history(ws, below))
    }

    fn prune_ops(&self, workspace: &str, seen_until_ms: u64, limit: usize) -> Result<usize, SyncError> {
        self.transact(|tx| Store { tx: Lite(tx.0), ws: workspace, now_ms: 0 }.prune_ops(seen_until_ms, limit))
    }

    fn grant(&self, token_hash: &str) -> Result<Option<Grant>, SyncError> {
        self.read(|tx| sql::grant(tx, token_hash))
    }

    fn create_token(
        &self,
        token_hash: &str,
        user_id: &str,
        workspaces: &[String],
        now_ms: u64,
    ) -> Result<(), SyncError> {
        self.transact(|tx| sql::create_token(tx, token_hash, user_id, workspaces, now_ms))
    }

    fn revoke_token(&self, token_hash: &str) -> Result<usize, SyncError> {
        self.transact(|tx| sql::revoke_token(tx, token_hash))
    }

    fn revoke_user_tokens(&self, user_id: &str) -> Result<usize, SyncError> {
        self.transact(|tx| sql::revoke_user_tokens(tx, user_id))
    }

    fn remove_member(&self, user_id: &str, workspace: &str) -> Result<bool, SyncError> {
        self.transact(|tx| sql::remove_member(tx, user_id, workspace))
    }
}

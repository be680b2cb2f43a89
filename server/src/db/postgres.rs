//! The PostgreSQL backend: several server processes share one database.
//!
//! - **Versions from the database.** A push locks its workspace's row
//!   (`SELECT ... FOR UPDATE`) and holds the lock through its commit, so
//!   pushes to one workspace are serialised across every process and a
//!   version commits only after all lower ones: a puller never sees version
//!   n+1 without n, and never skips a change that commits later.
//! - **Snapshot pulls.** A pull is one `REPEATABLE READ, READ ONLY`
//!   transaction, so its page, watermark and `nextCursor` agree.
//! - **Fan-out across processes.** A push that applied something runs
//!   `pg_notify('tidesync_changes', workspace)` in its transaction; the
//!   notification is delivered at commit to every process's [`listen`]
//!   thread, which wakes that process's watchers.
//!
//! Statements are prepared once per pooled connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, IsolationLevel, NoTls, Statement, Transaction};
use serde_json::Value;
use tidesync::core::server::{apply, LogRead, PushOutcome, Scan, ScanFilter, WorkspaceStore};
use tidesync::core::wire::{OpKind, PullRequest, PullResponse, PushBatch, SyncChange};
use tidesync::core::{ChangeStamp, Pk, SyncError};

use super::pool::Pool;
use super::row::{self, ChangeRow, CHANGE_COLUMNS};
use super::{schema, storage, Db, Grant, DEVICE_TTL_MS};

/// The channel every process LISTENs on; the payload is a workspace id.
pub const CHANNEL: &str = "tidesync_changes";

/// A pooled connection and its prepared statements.
pub struct PgConn {
    client: Client,
    stmts: HashMap<&'static str, Statement>,
}

/// A PostgreSQL sync database.
pub struct PgDb {
    pool: Pool<PgConn>,
}

fn connect(url: &str) -> Result<Client, SyncError> {
    Client::connect(url, NoTls).map_err(|e| SyncError::Unavailable(format!("PostgreSQL: {e}")))
}

impl PgDb {
    /// Connects (at most `max_connections` at a time) and runs the
    /// migrations, under an advisory lock so that processes starting
    /// together migrate once.
    pub fn open(url: &str, max_connections: usize) -> Result<PgDb, SyncError> {
        let mut client = connect(url)?;
        migrate(&mut client)?;
        let url = url.to_string();
        let pool = Pool::new(
            max_connections,
            move || Ok(PgConn { client: connect(&url)?, stmts: HashMap::new() }),
            |c| c.client.is_closed(),
        );
        Ok(PgDb { pool })
    }

    /// Runs `f` over the workspace's store in a transaction that holds the
    /// workspace's row lock; notifies watchers when `notify(&out)`.
    fn write<T>(
        &self,
        workspace: &str,
        now_ms: u64,
        f: impl FnOnce(&mut PgWorkspace<'_, '_>) -> Result<T, SyncError>,
        notify: impl FnOnce(&T) -> bool,
    ) -> Result<T, SyncError> {
        self.pool.with(|conn| {
            let mut tx = conn.client.transaction().map_err(storage)?;
            tx.execute("INSERT INTO workspaces (id) VALUES ($1) ON CONFLICT DO NOTHING", &[&workspace])
                .map_err(storage)?;
            tx.query_one("SELECT version FROM workspaces WHERE id = $1 FOR UPDATE", &[&workspace]).map_err(storage)?;
            let out = f(&mut PgWorkspace { tx: &mut tx, stmts: &mut conn.stmts, ws: workspace, now_ms })?;
            if notify(&out) {
                tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &workspace]).map_err(storage)?;
            }
            tx.commit().map_err(storage)?;
            Ok(out)
        })
    }

    /// Runs `f` in one read-only snapshot.
    fn read<T>(
        &self,
        workspace: &str,
        f: impl FnOnce(&mut PgWorkspace<'_, '_>) -> Result<T, SyncError>,
    ) -> Result<T, SyncError> {
        self.pool.with(|conn| {
            let mut tx = conn
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(storage)?;
            let out = f(&mut PgWorkspace { tx: &mut tx, stmts: &mut conn.stmts, ws: workspace, now_ms: 0 })?;
            tx.commit().map_err(storage)?;
            Ok(out)
        })
    }
}

fn migrate(client: &mut Client) -> Result<(), SyncError> {
    let mut tx = client.transaction().map_err(storage)?;
    tx.execute("SELECT pg_advisory_xact_lock(7262616) ", &[]).map_err(storage)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)").map_err(storage)?;
    let current: i64 =
        tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).map_err(storage)?.get(0);
    if current > schema::latest() {
        return Err(SyncError::Storage(format!(
            "the database has schema version {current}; this server knows up to {}",
            schema::latest()
        )));
    }
    for (version, _, sql) in schema::MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql).map_err(storage)?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version]).map_err(storage)?;
    }
    tx.commit().map_err(storage)
}

/// Listens for commits of every process on `url` and calls `wake` with the
/// workspace id, on a thread of its own. When the connection drops it
/// reconnects (after a pause) and calls `wake(None)`: every watcher then
/// re-reads, since notifications may have been missed meanwhile.
pub fn listen(url: String, wake: Arc<dyn Fn(Option<String>) + Send + Sync>) {
    std::thread::Builder::new()
        .name("tidesync-pg-listen".into())
        .spawn(move || loop {
            if let Err(e) = listen_once(&url, &*wake) {
                eprintln!("tidesync-server: LISTEN connection lost ({e}); reconnecting");
            }
            std::thread::sleep(Duration::from_secs(1));
            wake(None);
        })
        .expect("spawn the LISTEN thread");
}

fn listen_once(url: &str, wake: &dyn Fn(Option<String>)) -> Result<(), SyncError> {
    let mut client = connect(url)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(storage)?;
    let mut notes = client.notifications();
    let mut it = notes.blocking_iter();
    while let Some(note) = postgres::fallible_iterator::FallibleIterator::next(&mut it).map_err(storage)? {
        wake(Some(note.payload().to_string()));
    }
    Ok(())
}

/// One workspace inside one PostgreSQL transaction.
struct PgWorkspace<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    stmts: &'a mut HashMap<&'static str, Statement>,
    ws: &'a str,
    now_ms: u64,
}

impl PgWorkspace<'_, '_> {
    fn stmt(&mut self, sql: &'static str) -> Result<Statement, SyncError> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql).map_err(storage)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }

    fn number(&mut self, sql: &'static str) -> Result<u64, SyncError> {
        let st = self.stmt(sql)?;
        let row = self.tx.query_opt(&st, &[&self.ws]).map_err(storage)?;
        row::to_u64(row.map_or(0, |r| r.get(0)))
    }
}

const SCAN_SQL: &str = "SELECT table_name, pk, op, payload, version, clock, hlc, device_id, op_id FROM records
   WHERE workspace = $1 AND version > $2 AND in_log
     AND ($3::text[] IS NULL OR table_name = ANY($3)) AND ($4::text IS NULL OR project_id = $4)
   ORDER BY version LIMIT $5";

impl LogRead<Value> for PgWorkspace<'_, '_> {
    fn version(&mut self) -> Result<u64, SyncError> {
        self.number("SELECT version FROM workspaces WHERE id = $1")
    }

    fn watermark(&mut self) -> Result<u64, SyncError> {
        self.number("SELECT watermark FROM workspaces WHERE id = $1")
    }

    fn scan(&mut self, after: u64, limit: usize, filter: ScanFilter<'_>) -> Result<Scan<Value>, SyncError> {
        debug_assert!(CHANGE_COLUMNS.split(", ").all(|c| SCAN_SQL.contains(c)));
        let tables: Option<Vec<String>> = filter.tables.map(<[String]>::to_vec);
        let project = filter.project;
        // One row past the page says whether more follow, without counting them.
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let st = self.stmt(SCAN_SQL)?;
        let rows = self.tx.query(&st, &[&self.ws, &row::to_i64(after)?, &tables, &project, &fetch]).map_err(storage)?;
        let mut changes = Vec::with_capacity(rows.len());
        for r in rows {
            changes.push(change_row(&r).into_change()?);
        }
        let version = self.version()?;
        Ok(row::page(changes, limit, version))
    }
}

impl WorkspaceStore<Value> for PgWorkspace<'_, '_> {
    fn seen_op(&mut self, op_id: &str) -> Result<Option<Option<u64>>, SyncError> {
        let st = self.stmt("SELECT version FROM ops WHERE workspace = $1 AND op_id = $2")?;
        let row = self.tx.query_opt(&st, &[&self.ws, &op_id]).map_err(storage)?;
        row.map(|r| r.get::<_, Option<i64>>(0).map(row::to_u64).transpose()).transpose()
    }

    fn remember_op(&mut self, op_id: &str, version: Option<u64>) -> Result<(), SyncError> {
        let version = version.map(row::to_i64).transpose()?;
        let st = self.stmt("INSERT INTO ops (workspace, op_id, version, seen_at_ms) VALUES ($1, $2, $3, $4)")?;
        self.tx.execute(&st, &[&self.ws, &op_id, &version, &row::to_i64(self.now_ms)?]).map_err(storage)?;
        Ok(())
    }

    fn head(&mut self, table: &str, pk: &Pk) -> Result<Option<(OpKind, ChangeStamp)>, SyncError> {
        let pk = row::encode_pk(pk)?;
        let st = self.stmt(
            "SELECT op, clock, hlc, device_id, op_id FROM records WHERE workspace = $1 AND table_name = $2 AND pk = $3",
        )?;
        let Some(r) = self.tx.query_opt(&st, &[&self.ws, &table, &pk]).map_err(storage)? else {
            return Ok(None);
        };
        let op: String = r.get(0);
        Ok(Some((row::decode_op(&op)?, row::stamp(r.get(1), r.get(2), r.get(3), r.get(4))?)))
    }

    fn current(&mut self, table: &str, pk: &Pk) -> Result<Option<SyncChange<Value>>, SyncError> {
        let pk = row::encode_pk(pk)?;
        debug_assert!(CHANGE_COLUMNS.split(", ").all(|c| CURRENT_SQL.contains(c)));
        let st = self.stmt(CURRENT_SQL)?;
        let found = self.tx.query_opt(&st, &[&self.ws, &table, &pk]).map_err(storage)?;
        found.map(|r| change_row(&r).into_change()).transpose()
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
        let st = self.stmt(
            "INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                                  version, project_id, applied_at_ms, in_log)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, TRUE)
             ON CONFLICT (workspace, table_name, pk) DO UPDATE SET
               op = excluded.op, payload = excluded.payload, clock = excluded.clock, hlc = excluded.hlc,
               device_id = excluded.device_id, op_id = excluded.op_id, version = excluded.version,
               project_id = excluded.project_id, applied_at_ms = excluded.applied_at_ms, in_log = TRUE",
        )?;
        self.tx
            .execute(
                &st,
                &[
                    &self.ws,
                    &change.table_name,
                    &pk,
                    &change.op.as_str(),
                    &payload,
                    &clock,
                    &change.stamp.hlc,
                    &change.stamp.device_id,
                    &change.stamp.op_id,
                    &version,
                    &project_id,
                    &applied_at,
                ],
            )
            .map_err(storage)?;
        let st = self.stmt("UPDATE workspaces SET version = $2, applied = applied + 1 WHERE id = $1")?;
        self.tx.execute(&st, &[&self.ws, &version]).map_err(storage)?;
        Ok(())
    }

    fn raise_cursor(&mut self, device_id: &str, version: u64) -> Result<(), SyncError> {
        let st = self.stmt(
            "INSERT INTO cursors (workspace, device_id, version, updated_at_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (workspace, device_id) DO UPDATE SET
               version = GREATEST(cursors.version, excluded.version), updated_at_ms = excluded.updated_at_ms",
        )?;
        let args: [&(dyn postgres::types::ToSql + Sync); 4] =
            [&self.ws, &device_id, &row::to_i64(version)?, &row::to_i64(self.now_ms)?];
        self.tx.execute(&st, &args).map_err(storage)?;
        Ok(())
    }

    fn min_cursor(&mut self) -> Result<Option<u64>, SyncError> {
        let since = row::to_i64(self.now_ms.saturating_sub(DEVICE_TTL_MS))?;
        let st = self.stmt("SELECT MIN(version) FROM cursors WHERE workspace = $1 AND updated_at_ms >= $2")?;
        let n: Option<i64> = self.tx.query_one(&st, &[&self.ws, &since]).map_err(storage)?.get(0);
        n.map(row::to_u64).transpose()
    }

    fn raise_watermark(&mut self, watermark: u64) -> Result<(), SyncError> {
        let st = self.stmt("UPDATE workspaces SET watermark = GREATEST(watermark, $2) WHERE id = $1")?;
        self.tx.execute(&st, &[&self.ws, &row::to_i64(watermark)?]).map_err(storage)?;
        Ok(())
    }

    fn purge_tombstones(&mut self, max_version: u64, applied_until_ms: u64) -> Result<(usize, Option<u64>), SyncError> {
        let st = self.stmt(
            "UPDATE records SET in_log = FALSE, payload = NULL
             WHERE workspace = $1 AND in_log AND op = 'delete' AND version <= $2 AND applied_at_ms <= $3
             RETURNING version",
        )?;
        let rows = self
            .tx
            .query(&st, &[&self.ws, &row::to_i64(max_version)?, &row::to_i64(applied_until_ms)?])
            .map_err(storage)?;
        let highest = rows.iter().map(|r| r.get::<_, i64>(0)).max().map(row::to_u64).transpose()?;
        Ok((rows.len(), highest))
    }
}

impl Db for PgDb {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn notifies(&self) -> bool {
        true
    }

    fn health(&self) -> Result<(), SyncError> {
        self.pool.with(|c| c.client.simple_query("SELECT 1").map(|_| ()).map_err(storage))
    }

    fn push(&self, batch: &PushBatch<Value>, now_ms: u64) -> Result<PushOutcome<Value>, SyncError> {
        let notify = |out: &PushOutcome<Value>| !out.applied.is_empty();
        self.write(&batch.scope.workspace_id, now_ms, |ws| apply::push(ws, batch, now_ms), notify)
    }

    fn pull(&self, req: &PullRequest) -> Result<PullResponse<Value>, SyncError> {
        self.read(&req.scope.workspace_id, |ws| apply::pull(ws, req))
    }

    fn update_cursor(&self, workspace: &str, device_id: &str, version: u64, now_ms: u64) -> Result<(), SyncError> {
        self.write(workspace, now_ms, |ws| apply::update_cursor(ws, device_id, version), |_| false)
    }

    fn version(&self, workspace: &str) -> Result<u64, SyncError> {
        self.read(workspace, |ws| ws.version())
    }

    fn workspaces(&self) -> Result<Vec<String>, SyncError> {
        self.pool.with(|c| {
            let rows = c.client.query("SELECT id FROM workspaces ORDER BY id", &[]).map_err(storage)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn gc(&self, workspace: &str, now_ms: u64, retention_ms: u64) -> Result<usize, SyncError> {
        self.write(workspace, now_ms, |ws| apply::gc(ws, now_ms, retention_ms), |_| false)
    }

    fn purge_history(&self, workspace: &str, below: u64) -> Result<(), SyncError> {
        self.write(workspace, 0, |ws| apply::purge_history(ws, below), |_| false)
    }

    fn prune_ops(&self, workspace: &str, seen_until_ms: u64, limit: usize) -> Result<usize, SyncError> {
        let (until, limit) = (row::to_i64(seen_until_ms)?, i64::try_from(limit).unwrap_or(i64::MAX));
        self.pool.with(|c| {
            let n = c
                .client
                .execute(
                    "DELETE FROM ops WHERE workspace = $1 AND op_id IN
                       (SELECT op_id FROM ops WHERE workspace = $1 AND seen_at_ms <= $2 LIMIT $3)",
                    &[&workspace, &until, &limit],
                )
                .map_err(storage)?;
            Ok(n as usize)
        })
    }

    fn grant(&self, token_hash: &str) -> Result<Option<Grant>, SyncError> {
        self.pool.with(|c| {
            let Some(r) =
                c.client.query_opt("SELECT user_id FROM tokens WHERE hash = $1", &[&token_hash]).map_err(storage)?
            else {
                return Ok(None);
            };
            let user_id: String = r.get(0);
            let rows = c
                .client
                .query("SELECT workspace FROM memberships WHERE user_id = $1 ORDER BY workspace", &[&user_id])
                .map_err(storage)?;
            Ok(Some(Grant { user_id, workspaces: rows.iter().map(|r| r.get(0)).collect() }))
        })
    }

    fn create_token(
        &self,
        token_hash: &str,
        user_id: &str,
        workspaces: &[String],
        now_ms: u64,
    ) -> Result<(), SyncError> {
        self.pool.with(|c| {
            let mut tx = c.client.transaction().map_err(storage)?;
            let now = row::to_i64(now_ms)?;
            tx.execute(
                "INSERT INTO users (id, created_at_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&user_id, &now],
            )
            .map_err(storage)?;
            tx.execute(
                "INSERT INTO tokens (hash, user_id, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&token_hash, &user_id, &now],
            )
            .map_err(storage)?;
            let owner: String =
                tx.query_one("SELECT user_id FROM tokens WHERE hash = $1", &[&token_hash]).map_err(storage)?.get(0);
            if owner != user_id {
                return Err(SyncError::invalid("token", "this token already belongs to another user"));
            }
            for ws in workspaces {
                tx.execute(
                    "INSERT INTO memberships (user_id, workspace) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&user_id, ws],
                )
                .map_err(storage)?;
            }
            tx.commit().map_err(storage)
        })
    }

    fn revoke_token(&self, token_hash: &str) -> Result<usize, SyncError> {
        self.pool.with(|c| {
            let n = c.client.execute("DELETE FROM tokens WHERE hash = $1", &[&token_hash]).map_err(storage)?;
            Ok(n as usize)
        })
    }

    fn revoke_user_tokens(&self, user_id: &str) -> Result<usize, SyncError> {
        self.pool.with(|c| {
            let n = c.client.execute("DELETE FROM tokens WHERE user_id = $1", &[&user_id]).map_err(storage)?;
            Ok(n as usize)
        })
    }

    fn remove_member(&self, user_id: &str, workspace: &str) -> Result<bool, SyncError> {
        self.pool.with(|c| {
            let n = c
                .client
                .execute("DELETE FROM memberships WHERE user_id = $1 AND workspace = $2", &[&user_id, &workspace])
                .map_err(storage)?;
            Ok(n > 0)
        })
    }
}

/// One record's state, by key.
const CURRENT_SQL: &str = "SELECT table_name, pk, op, payload, version, clock, hlc, device_id, op_id
                           FROM records WHERE workspace = $1 AND table_name = $2 AND pk = $3";

/// A row read with [`CHANGE_COLUMNS`], in that order.
fn change_row(r: &postgres::Row) -> ChangeRow {
    ChangeRow {
        table_name: r.get(0),
        pk: r.get(1),
        op: r.get(2),
        payload: r.get(3),
        version: r.get(4),
        clock: r.get(5),
        hlc: r.get(6),
        device_id: r.get(7),
        op_id: r.get(8),
    }
}

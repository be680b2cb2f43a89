//! The PostgreSQL backend: several server processes share one database.
//!
//! - **Versions from the database.** A push locks its workspace's row
//!   (`LOCK_WORKSPACE`, which also creates it and reads its version) and
//!   holds the lock through its commit, so
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
//! Statements are prepared once per pooled connection. The queries are
//! [`super::sql`]'s; this module opens, locks and commits transactions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, IsolationLevel, NoTls, Statement, Transaction};
use serde_json::Value;
use tidesync::core::server::{apply, PushOutcome};
use tidesync::core::wire::{PullRequest, PushBatch};
use tidesync::core::SyncError;

use r2d2::{ManageConnection, Pool};
use r2d2_postgres::PostgresConnectionManager;

use super::batch;
use super::page::{self, EncodedPage};
use super::pool;
use super::schema;
use super::sql::{self, Arg, Cell, CellRef, Dialect, EachRow, Store, Tx};
use super::{storage, Db, Grant};

/// The channel every process LISTENs on; the payload is a workspace id.
pub const CHANNEL: &str = "tidesync_changes";

/// A pooled connection and its prepared statements.
pub struct PgConn {
    client: Client,
    stmts: HashMap<&'static str, Statement>,
}

/// r2d2_postgres's manager, keeping each connection's prepared statements
/// beside it.
pub struct PgManager(PostgresConnectionManager<NoTls>);

impl ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn { client: self.0.connect()?, stmts: HashMap::new() })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        self.0.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}

/// Creates the workspace's row if needed, locks it until the commit (as
/// `SELECT ... FOR UPDATE` would: `ON CONFLICT DO UPDATE` locks the row it
/// conflicts with) and reads its version after the lock: one round trip.
const LOCK_WORKSPACE: &str = "INSERT INTO workspaces (id) VALUES ($1)
   ON CONFLICT (id) DO UPDATE SET version = workspaces.version RETURNING version";

/// A PostgreSQL sync database.
pub struct PgDb {
    pool: Pool<PgManager>,
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
        let config = url.parse::<postgres::Config>().map_err(|e| SyncError::Unavailable(format!("PostgreSQL: {e}")))?;
        let manager = PgManager(PostgresConnectionManager::new(config, NoTls));
        Ok(PgDb { pool: pool::build(max_connections, manager) })
    }

    /// Runs `f` over the workspace's store in a transaction that holds the
    /// workspace's row lock; notifies watchers when `notify(&out)`.
    fn write<T>(
        &self,
        workspace: &str,
        now_ms: u64,
        f: impl FnOnce(&mut Store<'_, PgTx<'_, Transaction<'_>>>, u64) -> Result<T, SyncError>,
        notify: impl FnOnce(&T) -> bool,
    ) -> Result<T, SyncError> {
        let mut conn = pool::get(&self.pool)?;
        let conn = &mut *conn;
        let mut tx = conn.client.transaction().map_err(storage)?;
        let out = {
            let mut store = Store { tx: PgTx { tx: &mut tx, stmts: &mut conn.stmts }, ws: workspace, now_ms };
            let row = store.tx.query(LOCK_WORKSPACE, &[Arg::Text(workspace)])?;
            let version = row.into_iter().next().and_then(|r| r.into_iter().next()).unwrap_or(Cell::Null).int()?;
            f(&mut store, super::row::to_u64(version)?)?
        };
        if notify(&out) {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &workspace]).map_err(storage)?;
        }
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    /// Runs `f` in one transaction (no workspace lock).
    fn transact<T>(
        &self,
        f: impl FnOnce(&mut PgTx<'_, Transaction<'_>>) -> Result<T, SyncError>,
    ) -> Result<T, SyncError> {
        let mut conn = pool::get(&self.pool)?;
        let conn = &mut *conn;
        let mut tx = conn.client.transaction().map_err(storage)?;
        let out = f(&mut PgTx { tx: &mut tx, stmts: &mut conn.stmts })?;
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    /// Runs `f`, one statement, on a connection without a transaction of
    /// its own (a statement is atomic): one round trip instead of three.
    fn single<T>(&self, f: impl FnOnce(&mut PgTx<'_, Client>) -> Result<T, SyncError>) -> Result<T, SyncError> {
        let mut conn = pool::get(&self.pool)?;
        let conn = &mut *conn;
        f(&mut PgTx { tx: &mut conn.client, stmts: &mut conn.stmts })
    }

    /// Runs `f` in one read-only snapshot.
    fn read<T>(&self, f: impl FnOnce(&mut PgTx<'_, Transaction<'_>>) -> Result<T, SyncError>) -> Result<T, SyncError> {
        let mut conn = pool::get(&self.pool)?;
        let conn = &mut *conn;
        let mut tx = conn
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(storage)?;
        let out = f(&mut PgTx { tx: &mut tx, stmts: &mut conn.stmts })?;
        tx.commit().map_err(storage)?;
        Ok(out)
    }
}

/// The advisory lock that serialises migrations across processes.
const MIGRATE_LOCK: i64 = 7262616;

/// Runs the migrations (refinery) under a session advisory lock, so that
/// processes starting together migrate once; baselines a database made by
/// the pre-refinery runner first.
fn migrate(client: &mut Client) -> Result<(), SyncError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK]).map_err(storage)?;
    let out = (|| {
        let mut stmts = HashMap::new();
        let mut tx = client.transaction().map_err(storage)?;
        let legacy = sql::legacy_version(&mut PgTx { tx: &mut tx, stmts: &mut stmts })?;
        tx.commit().map_err(storage)?;
        schema::migrate(client, Dialect::Postgres, legacy)?;
        if legacy.is_some() {
            let mut tx = client.transaction().map_err(storage)?;
            sql::drop_legacy(&mut PgTx { tx: &mut tx, stmts: &mut stmts })?;
            tx.commit().map_err(storage)?;
        }
        Ok(())
    })();
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK]).map_err(storage)?;
    out
}

/// Listens for commits of every process on `url` and calls `wake` with the
/// workspace id, on a thread of its own. Each time `LISTEN` takes effect
/// (at start and after a reconnect) it calls `wake(None)`: every watcher
/// then re-reads, since a commit before that point sent its notification
/// to nobody. The server accepts watches before the first `LISTEN` is in
/// place, so without that wake a push in that window would reach its
/// watchers only on the next commit.
pub fn listen(url: String, wake: Arc<dyn Fn(Option<String>) + Send + Sync>) {
    std::thread::Builder::new()
        .name("tidesync-pg-listen".into())
        .spawn(move || loop {
            if let Err(e) = listen_once(&url, &*wake) {
                tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
            }
            std::thread::sleep(Duration::from_secs(1));
        })
        .expect("spawn the LISTEN thread");
}

fn listen_once(url: &str, wake: &dyn Fn(Option<String>)) -> Result<(), SyncError> {
    let mut client = connect(url)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(storage)?;
    wake(None);
    let mut notes = client.notifications();
    let mut it = notes.blocking_iter();
    while let Some(note) = postgres::fallible_iterator::FallibleIterator::next(&mut it).map_err(storage)? {
        wake(Some(note.payload().to_string()));
    }
    Ok(())
}

/// A statement runner over one PostgreSQL transaction (or, for a single
/// statement, the bare connection), with the connection's prepared
/// statements.
pub struct PgTx<'a, C> {
    tx: &'a mut C,
    stmts: &'a mut HashMap<&'static str, Statement>,
}

impl<C: GenericClient> PgTx<'_, C> {
    fn stmt(&mut self, sql: &'static str) -> Result<Statement, SyncError> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql).map_err(storage)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }
}

/// The parameters as the driver takes them.
fn params<'a>(args: &'a [Arg<'a>]) -> Vec<Box<dyn ToSql + Sync + 'a>> {
    args.iter()
        .map(|a| -> Box<dyn ToSql + Sync + 'a> {
            match *a {
                Arg::Int(n) => Box::new(n),
                Arg::OptInt(n) => Box::new(n),
                Arg::Text(t) => Box::new(t),
                Arg::OptText(t) => Box::new(t),
                Arg::Tables(t) => Box::new(t.map(<[String]>::to_vec)),
                Arg::Texts(t) => Box::new(t),
                Arg::OptTexts(t) => Box::new(t),
                Arg::Ints(t) => Box::new(t),
                Arg::OptInts(t) => Box::new(t),
            }
        })
        .collect()
}

fn cell(row: &postgres::Row, i: usize) -> Result<CellRef<'_>, SyncError> {
    let ty = row.columns()[i].type_();
    let got = if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i).map(|v| v.map(CellRef::Int))
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i).map(|v| v.map(|n| CellRef::Int(n.into())))
    } else if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i).map(|v| v.map(|b| CellRef::Int(b.into())))
    } else {
        row.try_get::<_, Option<&str>>(i).map(|v| v.map(CellRef::Text))
    };
    Ok(got.map_err(storage)?.unwrap_or(CellRef::Null))
}

impl<C: GenericClient> Tx for PgTx<'_, C> {
    const DIALECT: Dialect = Dialect::Postgres;

    fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, SyncError> {
        let st = self.stmt(sql)?;
        let boxed = params(args);
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect();
        self.tx.execute(&st, &refs).map_err(storage)
    }

    fn each_row(&mut self, sql: &'static str, args: &[Arg<'_>], each: &mut EachRow<'_>) -> Result<(), SyncError> {
        let st = self.stmt(sql)?;
        let boxed = params(args);
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect();
        for r in self.tx.query(&st, &refs).map_err(storage)? {
            if !sql::hand_row(r.len(), |i| cell(&r, i), each)? {
                break;
            }
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<(), SyncError> {
        self.tx.batch_execute(sql).map_err(storage)
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
        pool::get(&self.pool)?.client.simple_query("SELECT 1").map(drop).map_err(storage)
    }

    fn push(&self, batch: &PushBatch<Value>, now_ms: u64) -> Result<PushOutcome<Value>, SyncError> {
        // The batch's last statement notifies when it applied something.
        let ws = &batch.scope.workspace_id;
        self.write(ws, now_ms, |store, version| batch::push(store, batch, now_ms, Some(version)), |_| false)
    }

    fn pull(&self, req: &PullRequest) -> Result<EncodedPage, SyncError> {
        let ws = &req.scope.workspace_id;
        self.read(|tx| page::pull(&mut Store { tx, ws, now_ms: 0 }, req))
    }

    fn update_cursor(&self, workspace: &str, device_id: &str, version: u64, now_ms: u64) -> Result<(), SyncError> {
        self.write(workspace, now_ms, |ws, _| apply::update_cursor(ws, device_id, version), |_| false)
    }

    fn version(&self, workspace: &str) -> Result<u64, SyncError> {
        self.read(|tx| Store { tx, ws: workspace, now_ms: 0 }.version())
    }

    fn workspaces(&self) -> Result<Vec<String>, SyncError> {
        self.read(|tx| sql::workspaces(tx))
    }

    fn gc(&self, workspace: &str, now_ms: u64, retention_ms: u64) -> Result<usize, SyncError> {
        self.write(workspace, now_ms, |ws, _| apply::gc(ws, now_ms, retention_ms), |_| false)
    }

    fn purge_history(&self, workspace: &str, below: u64) -> Result<(), SyncError> {
        self.write(workspace, 0, |ws, _| apply::purge_history(ws, below), |_| false)
    }

    fn prune_ops(&self, workspace: &str, seen_until_ms: u64, limit: usize) -> Result<usize, SyncError> {
        self.transact(|tx| Store { tx, ws: workspace, now_ms: 0 }.prune_ops(seen_until_ms, limit))
    }

    fn grant(&self, token_hash: &str) -> Result<Option<Grant>, SyncError> {
        self.single(|tx| sql::grant(tx, token_hash))
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

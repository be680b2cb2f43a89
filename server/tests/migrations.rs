//! Migrations (refinery) on both backends: a fresh database, and one made
//! by the pre-refinery runner (`schema_migrations`), which is baselined at
//! its version with its data intact; a newer schema is refused.

mod support;

use serde_json::{json, Value};
use support::*;
use tidesync::core::wire::PushBatch;
use tidesync_server::config::Database;
use tidesync_server::db::schema;
use tidesync_server::db::sql::Dialect;

/// A database of its own: a fresh SQLite file, or a fresh PostgreSQL
/// database on the test server (dropped at the end).
struct Fresh {
    database: Database,
    admin: Option<(String, String)>,
}

impl Fresh {
    fn new(backend: &Backend) -> Fresh {
        match backend {
            Backend::Sqlite => {
                let database = backend.database();
                let Database::Sqlite(path) = &database else { unreachable!() };
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                Fresh { database, admin: None }
            }
            Backend::Postgres(url) => {
                let name = unique("mig").replace('-', "_");
                let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
                admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
                let (base, _) = url.rsplit_once('/').unwrap();
                Fresh { database: Database::Postgres(format!("{base}/{name}")), admin: Some((url.clone(), name)) }
            }
        }
    }

    fn dialect(&self) -> Dialect {
        match self.database {
            Database::Sqlite(_) => Dialect::Sqlite,
            Database::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs `sql` (several statements) on a plain connection.
    fn exec(&self, sql: &str) {
        match &self.database {
            Database::Sqlite(path) => rusqlite::Connection::open(path).unwrap().execute_batch(sql).unwrap(),
            Database::Postgres(url) => {
                postgres::Client::connect(url, postgres::NoTls).unwrap().batch_execute(sql).unwrap()
            }
        }
    }

    /// The first column of every row of `sql`, as text.
    fn column(&self, sql: &str) -> Vec<String> {
        match &self.database {
            Database::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let rows = stmt.query_map([], |r| r.get::<_, rusqlite::types::Value>(0)).unwrap();
                rows.map(|v| match v.unwrap() {
                    rusqlite::types::Value::Integer(n) => n.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => panic!("unexpected {other:?}"),
                })
                .collect()
            }
            Database::Postgres(url) => {
                let mut conn = postgres::Client::connect(url, postgres::NoTls).unwrap();
                let rows = conn.simple_query(sql).unwrap();
                rows.iter()
                    .filter_map(|m| match m {
                        postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
                        _ => None,
                    })
                    .collect()
            }
        }
    }

    /// What the pre-refinery runner left after applying migrations
    /// `1..=version`: the schema and `schema_migrations`.
    fn old_runner(&self, version: usize) {
        let int = if self.dialect() == Dialect::Sqlite { "INTEGER" } else { "BIGINT" };
        self.exec(&format!("CREATE TABLE schema_migrations (version {int} PRIMARY KEY)"));
        for (i, m) in schema::migrations(self.dialect()).unwrap().iter().take(version).enumerate() {
            self.exec(m.sql().unwrap());
            self.exec(&format!("INSERT INTO schema_migrations (version) VALUES ({})", i + 1));
        }
    }

    fn tables(&self) -> Vec<String> {
        let sql = match self.dialect() {
            Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            Dialect::Postgres => "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
        };
        self.column(sql)
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some((url, name)) = &self.admin {
            if let Ok(mut admin) = postgres::Client::connect(url, postgres::NoTls) {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

fn backends() -> Vec<Backend> {
    std::iter::once(Backend::Sqlite).chain(Backend::postgres()).collect()
}

fn push_one(db: &dyn tidesync_server::db::Db, ws: &str, pk: &str, op: &str) -> Option<u64> {
    let b: PushBatch<Value> =
        serde_json::from_value(batch(ws, "d", vec![put("t", json!(pk), 1, 1, "d", op, json!({"v": pk}))])).unwrap();
    db.push(&b, now_ms()).unwrap().result.server_version
}

#[test]
fn a_fresh_database_is_migrated_once_and_recorded_by_refinery() {
    for backend in backends() {
        let fresh = Fresh::new(&backend);
        let db = tidesync_server::open_db(&fresh.database, 2).unwrap();
        assert_eq!(push_one(&*db, "ws", "a", "o1"), Some(1), "{backend:?}");
        drop(db);
        // A second start finds everything applied and keeps the data.
        let db = tidesync_server::open_db(&fresh.database, 2).unwrap();
        assert_eq!(db.version("ws").unwrap(), 1, "{backend:?}");
        let history = fresh.column("SELECT name FROM refinery_schema_history ORDER BY version");
        assert_eq!(history, ["initial", "ops_seen_at"], "{backend:?}");
        assert!(!fresh.tables().contains(&"schema_migrations".to_string()), "{backend:?}");
    }
}

#[test]
fn a_database_of_the_old_runner_is_baselined_with_its_data_intact() {
    for backend in backends() {
        let fresh = Fresh::new(&backend);
        fresh.old_runner(2);
        // Data the old server wrote: a workspace at version 1, its record,
        // opId and a token.
        fresh.exec(
            "INSERT INTO workspaces (id, version) VALUES ('ws', 1);
             INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id, version,
               applied_at_ms) VALUES ('ws', 't', '\"a\"', 'put', '{\"v\":\"a\"}', 1, '0000000000001-0000-d', 'd', 'o1',
               1, 1);
             INSERT INTO ops (workspace, op_id, version, seen_at_ms) VALUES ('ws', 'o1', 1, 1);
             INSERT INTO users (id, created_at_ms) VALUES ('u', 1);
             INSERT INTO tokens (hash, user_id, created_at_ms) VALUES ('h', 'u', 1);
             INSERT INTO memberships (user_id, workspace) VALUES ('u', 'ws');",
        );
        let db = tidesync_server::open_db(&fresh.database, 2).unwrap();
        assert_eq!(db.version("ws").unwrap(), 1, "{backend:?}");
        let grant = db.grant("h").unwrap().expect("the old token still works");
        assert_eq!((grant.user_id.as_str(), grant.workspaces), ("u", vec!["ws".to_string()]), "{backend:?}");
        // The old opId is still remembered: its retry is a duplicate.
        assert_eq!(push_one(&*db, "ws", "a", "o1"), Some(1), "{backend:?}");
        assert_eq!(push_one(&*db, "ws", "b", "o2"), Some(2), "{backend:?}");
        assert_eq!(fresh.column("SELECT COUNT(*) FROM records WHERE workspace = 'ws'"), ["2"], "{backend:?}");
        let history = fresh.column("SELECT version FROM refinery_schema_history ORDER BY version");
        assert_eq!(history, ["1", "2"], "{backend:?}");
        assert!(!fresh.tables().contains(&"schema_migrations".to_string()), "{backend:?}");
    }
}

#[test]
fn an_old_database_behind_the_latest_gets_the_missing_migrations() {
    for backend in backends() {
        let fresh = Fresh::new(&backend);
        fresh.old_runner(1);
        fresh.exec("INSERT INTO ops (workspace, op_id, version) VALUES ('ws', 'old', 1)");
        let db = tidesync_server::open_db(&fresh.database, 2).unwrap();
        // V2 ran: the old opId got a seen time (now), so it is not pruned
        // before its retention.
        assert_eq!(db.prune_ops("ws", 1, 10).unwrap(), 0, "{backend:?}");
        assert_eq!(db.prune_ops("ws", now_ms() + 60_000, 10).unwrap(), 1, "{backend:?}");
        let history = fresh.column("SELECT version FROM refinery_schema_history ORDER BY version");
        assert_eq!(history, ["1", "2"], "{backend:?}");
    }
}

#[test]
fn a_newer_schema_is_refused() {
    for backend in backends() {
        // Made by a newer server with the old runner.
        let fresh = Fresh::new(&backend);
        fresh.old_runner(2);
        fresh.exec("INSERT INTO schema_migrations (version) VALUES (3)");
        let err = tidesync_server::open_db(&fresh.database, 2).err().expect("refused");
        assert!(err.to_string().contains("schema version 3"), "{backend:?}: {err}");

        // Made by a newer server with refinery: a migration this build lacks.
        let fresh = Fresh::new(&backend);
        drop(tidesync_server::open_db(&fresh.database, 2).unwrap());
        fresh.exec(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (3, 'future', '2030-01-01T00:00:00Z', '1')",
        );
        let err = tidesync_server::open_db(&fresh.database, 2).err().expect("refused");
        assert!(err.to_string().contains("migrations"), "{backend:?}: {err}");
        assert!(err.to_string().contains('3'), "{backend:?}: {err}");
    }
}

#[test]
fn servers_starting_together_on_a_fresh_database_all_open_it() {
    for backend in backends() {
        let fresh = Fresh::new(&backend);
        let opened: Vec<_> = std::thread::scope(|s| {
            let starts: Vec<_> =
                (0..4).map(|_| s.spawn(|| tidesync_server::open_db(&fresh.database, 1).map(drop))).collect();
            starts.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(opened.iter().all(Result::is_ok), "{backend:?}: {opened:?}");
        let history = fresh.column("SELECT version FROM refinery_schema_history ORDER BY version");
        assert_eq!(history, ["1", "2"], "{backend:?}");
    }
}

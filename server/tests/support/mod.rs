//! Shared fixtures of the server's integration tests: a real server on a
//! loopback port (in this process, on its own runtime thread) over SQLite
//! (a fresh temporary file) or PostgreSQL (`TIDESYNC_TEST_DATABASE_URL`,
//! started by `scripts/pg`), a blocking HTTP client, a WebSocket client and
//! wire-value builders.
//!
//! Every test uses workspace names made unique per process, so tests and
//! runs can share one PostgreSQL database.
#![allow(dead_code)]

pub mod jwks;
pub mod keys;

use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tidesync::core::Hlc;
use tidesync_server::app::{self, App, Limits};
use tidesync_server::config::Database;
use tidesync_server::db::Db;
use tidesync_server::jwt::{JwtConfig, JwtVerifier};
use tidesync_server::rate::RateLimiter;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::WebSocket;

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// PostgreSQL from `TIDESYNC_TEST_DATABASE_URL`. Without it the test is
    /// skipped (with a note), unless `TIDESYNC_REQUIRE_PG=1` (scripts/test
    /// sets both), which makes it fail.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("TIDESYNC_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ if std::env::var("TIDESYNC_REQUIRE_PG").as_deref() == Ok("1") => {
                panic!("TIDESYNC_REQUIRE_PG=1 but TIDESYNC_TEST_DATABASE_URL is not set")
            }
            _ => {
                eprintln!("skipped: set TIDESYNC_TEST_DATABASE_URL (./scripts/pg start) to run the PostgreSQL tests");
                None
            }
        }
    }

    pub fn database(&self) -> Database {
        match self {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("tidesync-test-{}", std::process::id()));
                Database::Sqlite(dir.join(format!("{}.db", unique("db"))))
            }
            Backend::Postgres(url) => Database::Postgres(url.clone()),
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique to this process and call (`w-<pid>-<nanos>-<n>`).
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000_000;
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub fn now_ms() -> u64 {
    app::now_ms()
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub addr: String,
    pub db: Arc<dyn Db>,
    pub app: Arc<App>,
    pub database: Database,
}

/// Options of [`start_with`].
pub struct Opts {
    pub limits: Limits,
    pub rate_limit: f64,
    pub rate_burst: f64,
    pub jwt: Option<JwtConfig>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts { limits: Limits::default(), rate_limit: 0.0, rate_burst: 1.0, jwt: None }
    }
}

pub fn start(backend: &Backend) -> TestServer {
    start_with(backend, Opts::default())
}

/// Starts a server on `127.0.0.1:0` on a runtime thread of its own (it
/// lives until the test process ends).
pub fn start_with(backend: &Backend, opts: Opts) -> TestServer {
    start_stoppable(backend, opts).0
}

/// Stops a server started by [`start_stoppable`].
pub struct Stop {
    tx: tokio::sync::oneshot::Sender<()>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Stop {
    /// Starts the graceful shutdown.
    pub fn stop(self) -> std::sync::mpsc::Receiver<()> {
        let _ = self.tx.send(());
        self.done
    }
}

/// Like [`start_with`], with a handle that shuts the server down; the
/// receiver it returns gets a message once `serve_until` has returned.
pub fn start_stoppable(backend: &Backend, opts: Opts) -> (TestServer, Stop) {
    let database = backend.database();
    let db = tidesync_server::open_db(&database, 8).expect("open the database");
    let listen_url = match &database {
        Database::Postgres(url) => Some(url.clone()),
        Database::Sqlite(_) => None,
    };
    let jwt = opts.jwt.clone().map(|c| JwtVerifier::new(c).expect("a usable JWT configuration"));
    let app = App::with_jwt(db.clone(), opts.limits, RateLimiter::new(opts.rate_limit, opts.rate_burst), jwt);
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let server_app = app.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().to_string()).unwrap();
            let router = app::router(server_app.clone(), None, &[]);
            // A dropped `Stop` (start_with) never stops the server.
            let stop = async move {
                if stop_rx.await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            app::serve_until(listener, server_app, router, listen_url, stop).await;
        });
        let _ = done_tx.send(());
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("server started");
    let server = TestServer { base: format!("http://{addr}"), addr, db, app, database };
    (server, Stop { tx: stop_tx, done: done_rx })
}

impl TestServer {
    /// A token for a fresh user that is a member of `workspaces`.
    pub fn token(&self, workspaces: &[&str]) -> String {
        let ws: Vec<String> = workspaces.iter().map(|w| w.to_string()).collect();
        tidesync_server::create_token(&*self.db, &ws, None, None).unwrap()
    }

    /// A token for user `user` (created if needed), adding it to `workspaces`.
    pub fn token_for(&self, user: &str, workspaces: &[&str]) -> String {
        let ws: Vec<String> = workspaces.iter().map(|w| w.to_string()).collect();
        tidesync_server::create_token(&*self.db, &ws, Some(user), None).unwrap()
    }

    /// POSTs `body` to `path`; returns the status, the JSON body and the
    /// `Retry-After` header.
    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.post_raw(path, token, &body.to_string())
    }

    pub fn post_raw(&self, path: &str, token: Option<&str>, body: &str) -> Reply {
        let mut req = ureq::post(&format!("{}{path}", self.base)).set("content-type", "application/json");
        if let Some(t) = token {
            req = req.set("authorization", &format!("Bearer {t}"));
        }
        let res = match req.send_string(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("request failed: {e}"),
        };
        let status = res.status();
        let retry_after = res.header("retry-after").map(str::to_string);
        let text = res.into_string().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body, retry_after }
    }

    pub fn push(&self, token: &str, batch: &Value) -> Reply {
        self.post("/v1/push", Some(token), batch)
    }

    pub fn pull(&self, token: &str, ws: &str, cursor: u64, limit: u64) -> Reply {
        self.post("/v1/pull", Some(token), &json!({ "scope": { "workspaceId": ws }, "cursor": cursor, "limit": limit }))
    }

    /// Opens `/v1/watch`; `Err(status)` when the server refuses the upgrade.
    pub fn watch(&self, token: &str, ws: &str, extra: &str) -> Result<Watcher, u16> {
        let url = format!("ws://{}/v1/watch?token={token}&workspaceId={ws}{extra}", self.addr);
        match tungstenite::connect(url) {
            Ok((socket, _)) => {
                if let MaybeTlsStream::Plain(s) = socket.get_ref() {
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                }
                Ok(Watcher { socket })
            }
            Err(tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
            Err(e) => panic!("watch failed: {e}"),
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl Reply {
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "unexpected answer {}", self.body);
        self.body
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// A WebSocket watch.
pub struct Watcher {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
}

impl Watcher {
    /// The next JSON text message (pings skipped); panics after the read
    /// timeout (10 s).
    pub fn next(&mut self) -> Value {
        loop {
            match self.socket.read().expect("a message from the watch") {
                tungstenite::Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                tungstenite::Message::Close(f) => panic!("watch closed: {f:?}"),
                _ => continue,
            }
        }
    }

    /// The next message, or `None` if nothing comes within `ms`.
    pub fn try_next(&mut self, ms: u64) -> Option<Value> {
        if let MaybeTlsStream::Plain(s) = self.socket.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(ms))).unwrap();
        }
        let out = loop {
            match self.socket.read() {
                Ok(tungstenite::Message::Text(t)) => break Some(serde_json::from_str(&t).unwrap()),
                Ok(_) => continue,
                Err(_) => break None,
            }
        };
        if let MaybeTlsStream::Plain(s) = self.socket.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        out
    }
}

impl Watcher {
    /// Waits up to `ms` for the server to close the watch; returns the close
    /// code (`None` if it stays open) and the text messages read meanwhile.
    pub fn closed_within(&mut self, ms: u64) -> (Option<u16>, Vec<Value>) {
        let end = std::time::Instant::now() + Duration::from_millis(ms);
        let mut texts = Vec::new();
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return (None, texts);
            }
            if let MaybeTlsStream::Plain(s) = self.socket.get_ref() {
                s.set_read_timeout(Some(left)).unwrap();
            }
            match self.socket.read() {
                Ok(tungstenite::Message::Text(t)) => texts.push(serde_json::from_str(&t).unwrap()),
                Ok(tungstenite::Message::Close(f)) => return (Some(f.map_or(1005, |f| u16::from(f.code))), texts),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("the watch failed without a close frame: {e}"),
            }
        }
    }
}

// ------------------------------------------------------------- wire values

pub fn stamp(clock: u64, ms: u64, device: &str, op_id: &str) -> Value {
    let hlc = Hlc { ms, counter: 0, device_id: device.to_string() };
    json!({ "clock": clock, "hlc": hlc.to_string(), "deviceId": device, "opId": op_id })
}

pub fn put(table: &str, pk: Value, clock: u64, ms: u64, device: &str, op_id: &str, payload: Value) -> Value {
    json!({ "opId": op_id, "tableName": table, "op": "put", "pk": pk, "payload": payload,
            "stamp": stamp(clock, ms, device, op_id) })
}

pub fn delete(table: &str, pk: Value, clock: u64, ms: u64, device: &str, op_id: &str) -> Value {
    json!({ "opId": op_id, "tableName": table, "op": "delete", "pk": pk, "stamp": stamp(clock, ms, device, op_id) })
}

pub fn batch(ws: &str, device: &str, ops: Vec<Value>) -> Value {
    json!({ "scope": { "workspaceId": ws }, "deviceId": device, "ops": ops })
}

/// Versions of a page's changes.
pub fn versions(page: &Value) -> Vec<u64> {
    page["changes"].as_array().unwrap().iter().map(|c| c["serverVersion"].as_u64().unwrap()).collect()
}

/// Runs `f` once per backend test: the macro below makes a `sqlite` and a
/// `postgres` module with one `#[test]` per name.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&$crate::support::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                if let Some(b) = $crate::support::Backend::postgres() { super::$name(&b) }
            } )*
        }
    };
}

//! The application: shared state, the router and the server loop.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/push` | `PushBatch` -> `PushResult` |
//! | `POST /v1/pull` | `PullRequest` -> `PullResponse` |
//! | `POST /v1/cursor` | `{ scope, deviceId, version }` -> `{}` |
//! | `GET /v1/watch` | WebSocket of change batches ([`crate::watch`]) |
//! | `GET /healthz` | `{ ok, backend }`, 503 when the database is down |
//! | `GET /metrics` | Prometheus text ([`crate::metrics`]) |
//! | `/pkg/`, `/node_modules/`, `/` | static files, when a static root is set |

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use tidesync::core::SyncError;
use tokio::runtime::{Handle, RuntimeFlavor};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

use crate::db::Db;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::jwt::JwtVerifier;
use crate::metrics::{self, Metrics};
use crate::rate::RateLimiter;
use crate::tables::TableRules;
use crate::{routes, watch};

/// Request limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted (413 `INVALID` above).
    pub max_body_bytes: usize,
    /// Most ops in one push batch (400 `INVALID` above).
    pub max_batch_ops: usize,
    /// The tables that may be synced (every table when `None`).
    pub tables: Option<TableRules>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_body_bytes: 4 * 1024 * 1024, max_batch_ops: 1000, tables: None }
    }
}

/// Everything a request handler needs.
pub struct App {
    pub db: Arc<dyn Db>,
    pub hub: Hub,
    pub limiter: RateLimiter,
    pub limits: Limits,
    /// JWT auth, when configured (opaque tokens work either way).
    pub jwt: Option<Arc<JwtVerifier>>,
    pub metrics: Arc<Metrics>,
    /// Reads shared by the watchers of one wake.
    pub fanout: crate::fanout::Fanout,
    /// Becomes true when the server shuts down: open watches close.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl App {
    pub fn new(db: Arc<dyn Db>, limits: Limits, limiter: RateLimiter) -> Arc<App> {
        App::with_jwt(db, limits, limiter, None)
    }

    pub fn with_jwt(db: Arc<dyn Db>, limits: Limits, limiter: RateLimiter, jwt: Option<JwtVerifier>) -> Arc<App> {
        Arc::new(App {
            db,
            hub: Hub::default(),
            limiter,
            limits,
            jwt: jwt.map(Arc::new),
            metrics: Arc::new(Metrics::new()),
            fanout: crate::fanout::Fanout::default(),
            shutdown: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Runs a database call, which blocks its thread.
    ///
    /// On the multi-threaded runtime (the server's) the call runs on the
    /// request's own worker thread, which hands its other tasks to a fresh
    /// worker for the while (`block_in_place`): no hand-over to a pool
    /// thread and back for every request. Measured on loopback with SQLite,
    /// interleaved with `spawn_blocking` in the same session: pulls of
    /// 1,000 changes 5 % and concurrent pulls 12 % faster, pushes 3 to 10 %
    /// (server/README.md, "Figures"). Elsewhere (a current-thread runtime,
    /// as in tests) it runs on the blocking pool. Either way a panic in the
    /// call is the request's `UNAVAILABLE`, not the task's end.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Db) -> Result<T, SyncError> + Send + 'static,
    ) -> Result<T, SyncError> {
        let db = self.db.clone();
        let failed = || SyncError::Unavailable("the request's database call panicked".into());
        if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
            let call = AssertUnwindSafe(move || f(&*db));
            return tokio::task::block_in_place(|| std::panic::catch_unwind(call)).unwrap_or_else(|_| Err(failed()));
        }
        tokio::task::spawn_blocking(move || f(&*db)).await.unwrap_or_else(|_| Err(failed()))
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The router; `static_root` (the repository) adds `www/` at `/`, `pkg/` at
/// `/pkg/` and `tests/node_modules/` at `/node_modules/`, as
/// `scripts/serve.mjs` does, so the demo page works from this server.
/// `cors_origins` lets pages of those origins (`*`: any) call the API.
pub fn router(app: Arc<App>, static_root: Option<PathBuf>, cors_origins: &[String]) -> Router {
    let api = Router::new()
        .route("/v1/push", post(routes::push))
        .route("/v1/pull", post(routes::pull))
        .route("/v1/cursor", post(routes::cursor))
        .route("/v1/watch", get(watch::watch))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::metrics))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), metrics::track))
        .with_state(app);
    let api = match cors(cors_origins) {
        Some(layer) => api.layer(layer),
        None => api,
    };
    match static_root {
        None => api,
        Some(root) => api
            .nest_service("/pkg", ServeDir::new(root.join("pkg")))
            .nest_service("/node_modules", ServeDir::new(root.join("tests").join("node_modules")))
            .fallback_service(ServeDir::new(root.join("www"))),
    }
}

/// CORS for the API: the listed origins (or any, for `*`) may send JSON
/// with a bearer token and read `Retry-After`.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .expose_headers([header::RETRY_AFTER]),
    )
}

async fn healthz(axum::extract::State(app): axum::extract::State<Arc<App>>) -> axum::response::Response {
    let backend = app.db.backend();
    match app.blocking(|db| db.health()).await {
        Ok(()) => Json(serde_json::json!({ "ok": true, "backend": backend })).into_response(),
        Err(e) => {
            let mut res = ApiError::from(SyncError::Unavailable(e.to_string())).into_response();
            *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            res
        }
    }
}

/// Serves `router` on `listener` until the process ends (see [`serve_until`]).
pub async fn serve(listener: tokio::net::TcpListener, app: Arc<App>, router: Router, listen_url: Option<String>) {
    serve_until(listener, app, router, listen_url, std::future::pending()).await;
}

/// How long a shutdown waits for open watches to send their close frame.
const WATCH_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `stop` completes, then shuts down
/// gracefully: stops accepting connections, closes every watch with 1012
/// (service restart: clients reconnect, to another process or after the
/// restart) and returns once in-flight requests have finished. With a
/// database that notifies (PostgreSQL), starts the LISTEN thread that
/// wakes this process's watchers on every process's commits.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    router: Router,
    listen_url: Option<String>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if let Some(url) = listen_url {
        let hub = app.hub.clone();
        crate::db::postgres::listen(url, Arc::new(move |ws: Option<String>| hub.wake(ws.as_deref())));
    }
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    // No Nagle: a watch's batch or a push's answer is one small write, and
    // waiting for the peer's (delayed) ACK of the previous one before
    // sending it would add up to tens of milliseconds.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    let shutting = app.clone();
    let signal = async move {
        stop.await;
        tracing::info!(watches = shutting.metrics.watches_open.get(), "shutting down");
        shutting.shutdown.send_replace(true);
    };
    if let Err(e) = axum::serve(listener, service).with_graceful_shutdown(signal).await {
        tracing::error!(error = %e, "server error");
    }
    let started = std::time::Instant::now();
    while app.metrics.watches_open.get() > 0 && started.elapsed() < WATCH_CLOSE_WAIT {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tracing::info!("stopped");
}

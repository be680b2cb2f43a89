//! `GET /metrics`: the process's counters in the Prometheus text format
//! (the `prometheus` crate).
//!
//! | metric | what |
//! |---|---|
//! | `tidesync_http_requests_total{route,code}` | API requests by route and status (a watch upgrade is 101) |
//! | `tidesync_http_request_seconds{route}` | a request's handling, from its arrival at the router until its answer is ready (the body's writing to the socket follows; a watch: until the upgrade) |
//! | `tidesync_push_ops_applied_total` | ops that won LWW and got a version |
//! | `tidesync_pull_changes_served_total` | changes sent in `/v1/pull` answers |
//! | `tidesync_watch_changes_sent_total` | changes sent in watch batches |
//! | `tidesync_watches_open` | open watches |
//! | `tidesync_fanout_seconds` | a wake of this process (its own commit, or PostgreSQL's notification of another process's) until a watcher's batch is written to its socket |
//! | `tidesync_gc_runs_total{outcome}` | GC passes, `ok` or `error` |
//! | `tidesync_gc_purged_total{what}` | tombstone changes (`tombstones`) and opIds (`ops`) GC removed |
//!
//! The endpoint needs no token: expose it on an internal network only.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::app::App;

/// Every metric of one process.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub push_ops_applied: IntCounter,
    pub pull_changes_served: IntCounter,
    pub watch_changes_sent: IntCounter,
    pub watches_open: IntGauge,
    pub fanout_seconds: Histogram,
    pub gc_runs: IntCounterVec,
    pub gc_purged: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("a valid metric");
            registry.register(Box::new(c.clone())).expect("registered once");
            c
        };
        let family = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
            registry.register(Box::new(c.clone())).expect("registered once");
            c
        };
        let requests =
            family("tidesync_http_requests_total", "API requests by route and status code", &["route", "code"]);
        let push_ops_applied = counter("tidesync_push_ops_applied_total", "Pushed ops that were applied");
        let pull_changes_served = counter("tidesync_pull_changes_served_total", "Changes sent in pull answers");
        let watch_changes_sent = counter("tidesync_watch_changes_sent_total", "Changes sent in watch batches");
        let gc_runs = family("tidesync_gc_runs_total", "GC passes by outcome", &["outcome"]);
        let gc_purged = family("tidesync_gc_purged_total", "What GC removed: tombstones or ops", &["what"]);
        let watches_open = IntGauge::new("tidesync_watches_open", "Open watches").expect("a valid metric");
        registry.register(Box::new(watches_open.clone())).expect("registered once");
        // 0.1 ms to about 0.8 s: a pull page on loopback takes about 1 ms.
        let buckets = prometheus::exponential_buckets(0.0001, 2.0, 14).expect("valid buckets");
        let opts =
            HistogramOpts::new("tidesync_http_request_seconds", "An API request's handling by route").buckets(buckets);
        let request_seconds = HistogramVec::new(opts, &["route"]).expect("a valid metric");
        registry.register(Box::new(request_seconds.clone())).expect("registered once");
        let buckets = prometheus::exponential_buckets(0.0005, 2.0, 14).expect("valid buckets");
        let opts =
            HistogramOpts::new("tidesync_fanout_seconds", "A wake until a watcher's batch is sent").buckets(buckets);
        let fanout_seconds = Histogram::with_opts(opts).expect("a valid metric");
        registry.register(Box::new(fanout_seconds.clone())).expect("registered once");
        Metrics {
            registry,
            requests,
            request_seconds,
            push_ops_applied,
            pull_changes_served,
            watch_changes_sent,
            watches_open,
            fanout_seconds,
            gc_runs,
            gc_purged,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding our own well-formed metrics into memory cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// `GET /metrics`.
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], app.metrics.render()).into_response()
}

/// Counts, times and logs every API request by its route and status.
pub async fn track(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "other".to_string(), |p| p.as_str().to_string());
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let status = res.status();
    let seconds = started.elapsed().as_secs_f64();
    app.metrics.requests.with_label_values(&[route.as_str(), status.as_str()]).inc();
    app.metrics.request_seconds.with_label_values(&[route.as_str()]).observe(seconds);
    tracing::debug!(route, status = status.as_u16(), ms = seconds * 1000.0, "request");
    res
}

//! `GET /v1/watch`: a WebSocket that carries change batches as they commit.
//!
//! Query: `token` (browsers cannot set headers on a WebSocket),
//! `workspaceId`, optional `projectId`, optional `tables` (a JSON array of
//! names; all tables when absent) and optional `cursor` (where the client's
//! stream left off, for a reconnect; the current version when absent).
//! The token is checked before the upgrade: 401 `AUTH` or 403 `FORBIDDEN`
//! as a plain HTTP answer, so no socket is ever opened on another workspace.
//! An open watch checks it again every [`RECHECK`] and before each batch it
//! sends: a token that was revoked closes the socket with code 4401 (get a
//! fresh token and reconnect), a user no longer a member of the workspace
//! with 4403 (do not reconnect). A server shutting down closes it with 1012
//! (service restart: reconnect). Other errors close it with 1011.
//!
//! Server messages (JSON text frames):
//!
//! - `{ "type": "ready", "cursor": n }` once, when the watch is registered;
//! - `{ "type": "changes", "changes": [SyncChange...], "fromCursor": f,
//!   "nextCursor": t }`: exactly what a pull from `f` with the watch's
//!   filters returns (a page of at most 500), so a client whose cursor is
//!   `f` may apply it directly (docs/PROTOCOL.md section 3); pages with no
//!   matching change are not sent, and `f` is where the previous batch left
//!   the client, so changes the filters skip never look like a gap.
//!
//! On every wake of its workspace (see [`crate::hub`]) a watch pulls from
//! its own cursor through the core's algorithm, so batches are gapless and
//! in order, and identical whichever process committed the write.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use tidesync::core::decode::Path;
use tidesync::core::wire::{decode_scope, PullRequest, SyncScope, MAX_NAME_LEN};
use tidesync::core::SyncError;
use tokio::sync::broadcast::error::RecvError;

use crate::app::App;
use crate::auth;
use crate::error::ApiError;
use crate::fanout::Page;

/// Changes per batch.
const PAGE: u64 = 500;
/// A ping this often keeps proxies from closing an idle socket.
const HEARTBEAT: Duration = Duration::from_secs(25);
/// How often an open watch re-checks its token and membership.
pub const RECHECK: Duration = Duration::from_secs(2);
/// Close code: the token is no longer valid; refresh it and reconnect.
pub const CLOSE_AUTH: u16 = 4401;
/// Close code: the user is no longer a member of the workspace.
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code: the server is shutting down; reconnect (WebSocket's "service restart").
pub const CLOSE_RESTART: u16 = 1012;

/// Completes once the server shuts down.
async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Counts a watch as open while it lives.
struct Open(Arc<App>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.metrics.watches_open.dec();
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchQuery {
    token: Option<String>,
    workspace_id: Option<String>,
    project_id: Option<String>,
    tables: Option<String>,
    cursor: Option<u64>,
}

/// What a watch follows, and with which token.
struct Watch {
    scope: SyncScope,
    tables: Option<Vec<String>>,
    token: String,
}

fn decode_query(q: &WatchQuery, token: String) -> Result<Watch, SyncError> {
    let scope_json = json!({ "workspaceId": q.workspace_id, "projectId": q.project_id });
    let scope = decode_scope(&scope_json, &Path::Root("")).map_err(SyncError::from)?;
    let tables = match &q.tables {
        None => None,
        Some(text) => {
            let list: Vec<String> = serde_json::from_str(text)
                .map_err(|_| SyncError::invalid("tables", "must be a JSON array of table names"))?;
            if let Some(bad) = list.iter().find(|t| t.is_empty() || t.len() > MAX_NAME_LEN) {
                return Err(SyncError::invalid("tables", format!("bad table name {bad:?}")));
            }
            Some(list)
        }
    };
    Ok(Watch { scope, tables, token })
}

/// A watch's read buffer. Clients send little (pongs, a close), and
/// tungstenite zeroes the buffer's free capacity before every read attempt:
/// at its default of 128 KiB, 1,000 watchers polled after each batch spent
/// half the server's CPU in that `memset`. A larger frame still grows it.
const READ_BUFFER: usize = 4096;

pub async fn watch(State(app): State<Arc<App>>, Query(q): Query<WatchQuery>, upgrade: WebSocketUpgrade) -> Response {
    match admit(&app, &q).await {
        Ok((w, cursor)) => {
            upgrade.read_buffer_size(READ_BUFFER).on_upgrade(move |socket| run(socket, app, w, cursor)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Token, rate limit, query, membership; the starting cursor.
async fn admit(app: &Arc<App>, q: &WatchQuery) -> Result<(Watch, Option<u64>), ApiError> {
    let token = q.token.as_deref().ok_or_else(|| SyncError::Auth("missing token".into()))?;
    app.limiter.check(&auth::hash(token))?;
    let w = decode_query(q, token.to_string())?;
    if let Some(rules) = &app.limits.tables {
        rules.check_tables(w.tables.as_deref())?;
    }
    still_allowed(app, &w).await?;
    Ok((w, q.cursor))
}

/// `AUTH` once the watch's token is revoked, or its JWT expired or no
/// longer verifies; `FORBIDDEN` once it no longer grants the workspace.
async fn still_allowed(app: &App, w: &Watch) -> Result<(), SyncError> {
    let (token, ws, jwt) = (w.token.clone(), w.scope.workspace_id.clone(), app.jwt.clone());
    app.blocking(move |db| auth::authorize(&auth::authenticate(db, jwt.as_deref(), Some(&token))?, &ws)).await
}

async fn run(mut socket: WebSocket, app: Arc<App>, w: Watch, start: Option<u64>) {
    app.metrics.watches_open.inc();
    let _open = Open(app.clone());
    // Register for wakes before reading the version: a commit after this
    // point wakes us, one before it is below the cursor we start from.
    let mut wakes = app.hub.subscribe();
    let ws = w.scope.workspace_id.clone();
    let version = match app.blocking(move |db| db.version(&ws)).await {
        Ok(v) => v,
        Err(e) => return close(socket, &e).await,
    };
    let cursor = start.filter(|c| *c <= version).unwrap_or(version);
    if send(&mut socket, json!({ "type": "ready", "cursor": cursor })).await.is_err() {
        return;
    }
    let mut cursor = Position { scanned: cursor, sent: cursor };
    if let Err(e) = deliver(&mut socket, &app, &w, &mut cursor, None).await {
        return close(socket, &e).await;
    }
    let stop = stopped(app.shutdown.subscribe());
    tokio::pin!(stop);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recheck.tick().await;
    loop {
        tokio::select! {
            wake = wakes.recv() => match wake {
                Ok(wake) if wake.workspace.as_deref().is_some_and(|id| id != w.scope.workspace_id) => {}
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    let since = wake.ok().map(|w| w.at);
                    if let Err(e) = deliver(&mut socket, &app, &w, &mut cursor, since).await {
                        return close(socket, &e).await;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = heartbeat.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
            _ = &mut stop => {
                return close_with(socket, CLOSE_RESTART, "SHUTDOWN").await;
            }
            _ = recheck.tick() => {
                if let Err(e) = still_allowed(&app, &w).await {
                    return close(socket, &e).await;
                }
            }
        }
    }
}

/// How far a watch has read the log, and where its last batch left the
/// client (the two differ after changes its filters skip).
struct Position {
    scanned: u64,
    sent: u64,
}

/// One page from `req.cursor`, encoded once.
async fn read_page(app: &App, req: PullRequest) -> Result<Arc<Page>, SyncError> {
    let from = req.cursor;
    let response = app.blocking(move |db| db.pull(&req)).await?;
    Ok(Arc::new(Page::new(from, response)))
}

/// Sends every matching change above the scanned position, page by page,
/// and moves it to the end. A cursor GC has purged past restarts at the
/// current version, and so does `sent`: the next batch then does not follow
/// on from the client's cursor, and its next pull learns of the gap (410).
///
/// `since`: when the wake that asked for it was raised. The watchers of one
/// wake share its page reads and token checks ([`crate::fanout`]); it also
/// times the fan-out for the metric.
async fn deliver(
    socket: &mut WebSocket,
    app: &App,
    w: &Watch,
    at: &mut Position,
    since: Option<std::time::Instant>,
) -> Result<(), SyncError> {
    loop {
        let req = PullRequest {
            scope: w.scope.clone(),
            cursor: at.scanned,
            limit: PAGE,
            tables: w.tables.clone(),
            rescan: false,
        };
        let read = match since {
            Some(t) => {
                let key = (w.scope.workspace_id.clone(), at.scanned, w.tables.clone(), w.scope.project_id.clone());
                app.fanout.pages.get(key, t, || read_page(app, req)).await
            }
            None => read_page(app, req).await,
        };
        let page = match read {
            Ok(p) => p,
            Err(SyncError::CursorExpired(_)) => {
                let ws = w.scope.workspace_id.clone();
                at.scanned = app.blocking(move |db| db.version(&ws)).await?;
                at.sent = at.scanned;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let (next, has_more, n) = (page.encoded.next_cursor, page.encoded.has_more, page.encoded.len);
        at.scanned = next;
        if n > 0 {
            // Never a batch for a token revoked or a member removed meanwhile.
            match since {
                Some(t) => {
                    let key = (w.token.clone(), w.scope.workspace_id.clone());
                    app.fanout.grants.get(key, t, || still_allowed(app, w)).await?;
                }
                None => still_allowed(app, w).await?,
            }
            // Nothing matched between `sent` and this page's start, so a pull
            // from `sent` returns exactly this page.
            socket
                .send(Message::Text(page.message(at.sent)))
                .await
                .map_err(|_| SyncError::Unavailable("the watcher went away".into()))?;
            app.metrics.watch_changes_sent.inc_by(n as u64);
            if let Some(t) = since {
                app.metrics.fanout_seconds.observe(t.elapsed().as_secs_f64());
            }
            at.sent = next;
        }
        if !has_more {
            return Ok(());
        }
    }
}

async fn send(socket: &mut WebSocket, msg: Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(msg.to_string().into())).await
}

/// Closes with [`CLOSE_AUTH`], [`CLOSE_FORBIDDEN`] or 1011 (server error),
/// and the error's code as the reason.
async fn close(socket: WebSocket, e: &SyncError) {
    let code = match e {
        SyncError::Auth(_) => CLOSE_AUTH,
        SyncError::Forbidden(_) => CLOSE_FORBIDDEN,
        _ => 1011,
    };
    close_with(socket, code, ApiError::from(e.clone()).body().code).await;
}

async fn close_with(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = axum::extract::ws::CloseFrame { code, reason: reason.into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

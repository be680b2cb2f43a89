//! Control messages between engines on one database, over its
//! BroadcastChannel, and `syncNow()` on an engine that does not push.
//!
//! Only the leader (the engine holding the Web Lock `tidesync:<dbName>`, or
//! the lease of [`super::lease`]) pushes and pulls. The others (followers)
//! still have to keep two promises:
//!
//! - **A write is pushed promptly.** After every write a follower posts
//!   [`Message::Push`] at once (its change notice follows within
//!   [`super::notices::WINDOW_MS`]); either wakes the leader's push loop, so
//!   the write reaches a reachable server well within a second.
//! - **`syncNow()` pushes and pulls before it resolves.** The follower posts
//!   [`Message::Request`] with a fresh id. The leader answers
//!   [`Message::Ack`] at once and again every [`HEARTBEAT_MS`] while its own
//!   `syncNow` runs (which pushes the follower's ops too: they share the
//!   outbox), then [`Message::Report`] with its report or its error, and the
//!   follower resolves or rejects with that. Pulled changes are in the shared
//!   database by then.
//! - The request is re-posted every [`RESEND_MS`] until acknowledged (a
//!   leader that is just taking over may miss the first). If nothing is
//!   heard for [`SILENCE_MS`] the follower rejects with `UNAVAILABLE`
//!   ("no engine that pushes this database answered"). A leader that closes
//!   posts [`Message::Leaving`]; its followers then ask again, and a follower
//!   that becomes the leader meanwhile runs `syncNow` itself.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};

use crate::core::join::{select, First};
use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::JsValue;

use super::platform::WebPlatform;
use super::sync::WebDriver;
use crate::core::decode::{optional, WireValue};
use crate::core::error::InvalidKind;
use crate::core::{Invalid, Result, SyncError};
use crate::engine::driver::SyncReport;
use crate::engine::Platform;

/// How often an unacknowledged request is posted again.
pub const RESEND_MS: u64 = 250;
/// How often the leader says it is still working on a request.
pub const HEARTBEAT_MS: u64 = 1_000;
/// How long a follower waits without hearing from a leader before it gives up.
pub const SILENCE_MS: u64 = 3_000;
/// How many request ids a leader remembers (to ignore re-posted requests).
const REMEMBERED: usize = 64;

/// An error as it crosses the channel.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct WireError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A control message (change notices are strings, see [`super::notices`]).
#[derive(Serialize, Debug, Clone)]
#[serde(tag = "tidesync", rename_all = "camelCase")]
pub enum Message {
    /// Something was written: the leader should push now.
    Push,
    /// Run `syncNow` for me and answer with this id.
    Request { id: String },
    /// The leader has the request `id` (sent again while it works).
    Ack { id: String },
    /// The leader's `syncNow` for request `id` ended.
    Report {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<SyncReport>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<WireError>,
    },
    /// The leader is closing; `lease` is the id of the lease it held, if any.
    Leaving {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lease: Option<String>,
    },
}

impl Message {
    /// The message in `data`, if it is a control message.
    pub fn decode(data: &JsValue) -> Option<Message> {
        if data.is_string() || !data.is_object() {
            return None;
        }
        crate::store::js_json::read_js(data, |m| Ok(Message::read(&m))).ok().flatten()
    }

    /// Reads a message (the shape `Serialize` writes); `None` if it is not one.
    fn read<V: WireValue>(v: &V) -> Option<Message> {
        let text = |name: &str| optional(v, name).and_then(|x| x.as_string());
        match text("tidesync")?.as_str() {
            "push" => Some(Message::Push),
            "request" => Some(Message::Request { id: text("id")? }),
            "ack" => Some(Message::Ack { id: text("id")? }),
            "report" => Some(Message::Report {
                id: text("id")?,
                report: optional(v, "report").map(|r| read_report(&r)),
                error: optional(v, "error").and_then(|e| read_error(&e)),
            }),
            "leaving" => Some(Message::Leaving { lease: text("lease") }),
            _ => None,
        }
    }

    pub fn post(&self, platform: &WebPlatform) {
        if let Ok(v) = crate::store::js_json::to_js(self) {
            platform.post(&v);
        }
    }
}

fn read_report<V: WireValue>(v: &V) -> SyncReport {
    let n = |name: &str| optional(v, name).and_then(|x| x.as_f64()).unwrap_or(0.0) as u64;
    SyncReport {
        pushed: n("pushed"),
        pulled: n("pulled"),
        conflicts: n("conflicts"),
        failed: n("failed"),
        duration_ms: n("durationMs"),
    }
}

fn read_error<V: WireValue>(v: &V) -> Option<WireError> {
    let text = |name: &str| optional(v, name).and_then(|x| x.as_string());
    Some(WireError {
        code: text("code")?,
        message: text("message").unwrap_or_default(),
        retry_after_ms: optional(v, "retryAfterMs").and_then(|x| x.as_f64()).map(|ms| ms as u64),
        path: text("path"),
    })
}

pub fn to_wire(e: &SyncError) -> WireError {
    let (message, path, retry_after_ms) = match e {
        SyncError::Invalid(inv) | SyncError::BadAnswer(inv) => {
            let message = match &inv.kind {
                InvalidKind::Rule(m) => m.clone(),
                _ => inv.to_string(),
            };
            (message, Some(inv.path.clone()), None)
        }
        SyncError::Storage(m) | SyncError::Quota(m) | SyncError::ClockDrift(m) => (m.clone(), None, None),
        SyncError::RateLimit { message, retry_after_ms } => (message.clone(), None, *retry_after_ms),
        other => (other.to_string(), None, None),
    };
    WireError { code: e.code().to_string(), message, retry_after_ms, path }
}

pub fn from_wire(e: WireError) -> SyncError {
    let m = e.message;
    match e.code.as_str() {
        "INVALID" => SyncError::Invalid(Invalid::rule(e.path.unwrap_or_else(|| "syncNow".into()), m)),
        "AUTH" => SyncError::Auth(m),
        "FORBIDDEN" => SyncError::Forbidden(m),
        "RATE_LIMIT" => SyncError::RateLimit { message: m, retry_after_ms: e.retry_after_ms },
        "CURSOR_EXPIRED" => SyncError::CursorExpired(m),
        "CLOCK_DRIFT" => SyncError::ClockDrift(m),
        "QUOTA" => SyncError::Quota(m),
        "STORAGE" => SyncError::Storage(m),
        _ => SyncError::Unavailable(m),
    }
}

/// A request this engine is waiting on.
#[derive(Default)]
struct Waiting {
    acked: bool,
    last_sent: u64,
    last_heard: u64,
    answer: Option<Result<SyncReport>>,
}

/// One engine's side of the relay: its open requests (as a follower) and
/// the requests it served (as the leader).
pub struct Relay {
    platform: WebPlatform,
    waiting: RefCell<HashMap<String, Waiting>>,
    served: RefCell<VecDeque<String>>,
    next: Cell<u64>,
}

impl Relay {
    pub fn new(platform: WebPlatform) -> Rc<Relay> {
        Rc::new(Relay {
            platform,
            waiting: RefCell::new(HashMap::new()),
            served: RefCell::new(VecDeque::new()),
            next: Cell::new(0),
        })
    }

    /// Handles a control message; `false` if it was not one for the relay.
    pub fn handle(self: &Rc<Self>, msg: &Message, driver: &Rc<WebDriver>) -> bool {
        let now = self.platform.now_ms();
        match msg {
            Message::Request { id } => {
                if driver.state().leader {
                    self.serve(driver.clone(), id.clone());
                }
            }
            Message::Ack { id } => {
                if let Some(w) = self.waiting.borrow_mut().get_mut(id) {
                    w.acked = true;
                    w.last_heard = now;
                }
            }
            Message::Report { id, report, error } => {
                if let Some(w) = self.waiting.borrow_mut().get_mut(id) {
                    w.last_heard = now;
                    match (report, error) {
                        // The leader closed under the request: ask whoever leads next.
                        (_, Some(e)) if e.code == "CLOSED" => w.acked = false,
                        (_, Some(e)) => w.answer = Some(Err(from_wire(e.clone()))),
                        (Some(r), None) => w.answer = Some(Ok(r.clone())),
                        (None, None) => w.answer = Some(Ok(SyncReport::default())),
                    }
                }
            }
            Message::Leaving { .. } => {
                for w in self.waiting.borrow_mut().values_mut() {
                    w.acked = false;
                    w.last_sent = 0;
                    w.last_heard = now;
                }
                return false;
            }
            Message::Push => return false,
        }
        true
    }

    /// Runs `syncNow` for another engine and answers it.
    fn serve(self: &Rc<Self>, driver: Rc<WebDriver>, id: String) {
        Message::Ack { id: id.clone() }.post(&self.platform);
        {
            let mut served = self.served.borrow_mut();
            if served.contains(&id) {
                return;
            }
            if served.len() >= REMEMBERED {
                served.pop_front();
            }
            served.push_back(id.clone());
        }
        let platform = self.platform.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let heartbeat = async {
                loop {
                    platform.sleep(HEARTBEAT_MS).await;
                    Message::Ack { id: id.clone() }.post(&platform);
                }
            };
            // The heartbeat never ends, so the work always finishes first.
            let First::Left(result) = select(driver.sync_now(), heartbeat).await else { return };
            if driver.engine().is_closed() {
                // Leaving was posted; the follower asks the next leader.
                return;
            }
            let msg = match result {
                Ok(report) => Message::Report { id, report: Some(report), error: None },
                Err(e) => Message::Report { id, report: None, error: Some(to_wire(&e)) },
            };
            msg.post(&platform);
        });
    }

    fn fresh_id(&self) -> String {
        let mut r = [0u8; 8];
        self.platform.fill_random(&mut r);
        let n = self.next.get() + 1;
        self.next.set(n);
        format!("{}-{n}", u64::from_le_bytes(r))
    }

    /// `syncNow()`: runs it here if this engine leads, otherwise through the
    /// leader. Just after open the lock (or lease) may not be granted yet:
    /// the request is posted anyway, and if this engine becomes the leader
    /// while it waits, it runs `syncNow` itself.
    pub async fn sync_now(&self, driver: &WebDriver) -> Result<SyncReport> {
        if driver.state().leader {
            return driver.sync_now().await;
        }
        let platform = &self.platform;
        let id = self.fresh_id();
        let now = platform.now_ms();
        self.waiting.borrow_mut().insert(id.clone(), Waiting { last_heard: now, ..Default::default() });
        let out = self.wait(driver, &id).await;
        self.waiting.borrow_mut().remove(&id);
        out
    }

    async fn wait(&self, driver: &WebDriver, id: &str) -> Result<SyncReport> {
        let platform = &self.platform;
        loop {
            if driver.engine().is_closed() {
                return Err(SyncError::Closed);
            }
            if driver.state().leader {
                // The leader went away and this engine took over.
                return driver.sync_now().await;
            }
            let now = platform.now_ms();
            let resend = {
                let mut waiting = self.waiting.borrow_mut();
                // Registered by sync_now, which removes it after this returns.
                let Some(w) = waiting.get_mut(id) else {
                    return Err(SyncError::Unavailable("syncNow: the request was forgotten".into()));
                };
                if let Some(answer) = w.answer.take() {
                    return answer;
                }
                if now.saturating_sub(w.last_heard) > SILENCE_MS {
                    return Err(SyncError::Unavailable(format!(
                        "syncNow: this engine does not push its database, and no engine that does answered \
                         within {} s (is the tab that pushes it frozen or gone?)",
                        SILENCE_MS / 1000
                    )));
                }
                let resend = !w.acked && now.saturating_sub(w.last_sent) >= RESEND_MS;
                if resend {
                    w.last_sent = now;
                }
                resend
            };
            if resend {
                Message::Request { id: id.to_string() }.post(platform);
            }
            platform.sleep(10).await;
        }
    }
}

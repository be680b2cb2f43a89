//! Change notices between engines on one database (other tabs, or other
//! engines in the same page), over its BroadcastChannel.
//!
//! Posting a message costs a structured clone and a trip to every other
//! listener: a fifth of a single awaited `put` when each write posted its
//! own. So notices are batched: the first one after a quiet spell opens a
//! window of [`WINDOW_MS`], and everything written in it goes out as one
//! message of `{ table, pks, seqs }` entries, one per table, keys deduplicated in
//! order, with the write sequence numbers of the transactions they come from. Closing the engine sends what is waiting at once. The engine's own
//! `change` events are not delayed; only other engines hear up to
//! [`WINDOW_MS`] later.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use wasm_bindgen::JsValue;

use crate::core::decode::{self, optional, Path, WireValue};
use crate::core::json_tree::Json;
use crate::core::Pk;
use crate::engine::events::{ChangeEvent, ChangeSource};

/// How long notices wait to be sent together.
pub const WINDOW_MS: u32 = 40;

/// One table's changed keys, and the write sequence numbers of the
/// transactions that changed them.
#[derive(serde::Serialize)]
struct Notice {
    table: String,
    pks: Vec<Pk>,
    seqs: Vec<u64>,
}

/// Notices waiting for their window to close.
pub struct Outgoing {
    channel: web_sys::BroadcastChannel,
    waiting: RefCell<Vec<Notice>>,
    timer: RefCell<Option<Timeout>>,
}

impl Outgoing {
    pub fn new(channel: web_sys::BroadcastChannel) -> Rc<Outgoing> {
        Rc::new(Outgoing { channel, waiting: RefCell::new(Vec::new()), timer: RefCell::new(None) })
    }

    /// Queues a change; starts the window if none is open.
    pub fn add(self: &Rc<Self>, change: &ChangeEvent) {
        {
            let mut waiting = self.waiting.borrow_mut();
            match waiting.iter_mut().find(|n| n.table == change.table) {
                Some(n) => {
                    n.pks.extend_from_slice(&change.pks);
                    n.seqs.extend_from_slice(&change.seqs);
                }
                None => waiting.push(Notice {
                    table: change.table.clone(),
                    pks: change.pks.clone(),
                    seqs: change.seqs.clone(),
                }),
            }
        }
        if self.timer.borrow().is_none() {
            let weak: Weak<Outgoing> = Rc::downgrade(self);
            let timer = Timeout::new(WINDOW_MS, move || {
                if let Some(out) = weak.upgrade() {
                    out.timer.borrow_mut().take();
                    out.flush();
                }
            });
            *self.timer.borrow_mut() = Some(timer);
        }
    }

    /// Sends everything waiting as one message (nothing if nothing waits).
    pub fn flush(&self) {
        if let Some(t) = self.timer.borrow_mut().take() {
            t.cancel();
        }
        let mut waiting = std::mem::take(&mut *self.waiting.borrow_mut());
        if waiting.is_empty() {
            return;
        }
        for n in &mut waiting {
            let mut seen = HashSet::with_capacity(n.pks.len());
            n.pks.retain(|pk| seen.insert(pk.clone()));
        }
        // One JSON string: a page's keys cross once, not one by one.
        if let Ok(text) = serde_json::to_string(&waiting) {
            let _ = self.channel.post_message(&JsValue::from_str(&text));
        }
    }
}

/// The change events a message carries; empty for other messages.
pub fn decode(data: &JsValue) -> Vec<ChangeEvent> {
    let Some(text) = data.as_string() else {
        return Vec::new();
    };
    let Ok(tree) = Json::parse(&text) else {
        return Vec::new();
    };
    // `[{ table, pks, seqs }]`, as `Serialize` wrote it; anything else is not a notice.
    let items = (&tree).elements().unwrap_or_default();
    items
        .iter()
        .filter_map(|n| {
            let table = optional(n, "table")?.as_string()?;
            let keys = optional(n, "pks")?.elements()?;
            let pks = keys.iter().filter_map(|k| decode::pk(k, &Path::Root("pk")).ok()).collect();
            // Without its numbers a notice still re-runs live queries, in full.
            let seqs = optional(n, "seqs")
                .and_then(|s| s.elements())
                .map(|s| s.iter().filter_map(|v| v.as_f64()).map(|v| v as u64).collect())
                .unwrap_or_default();
            Some(ChangeEvent { table, pks, source: ChangeSource::Tab, seqs })
        })
        .collect()
}

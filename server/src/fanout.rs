//! Reads shared by the watchers one wake reaches.
//!
//! A commit wakes every watcher of its workspace, and each one pulls from
//! its own cursor and re-checks its token before it sends. Watchers at the
//! same cursor with the same filters (and the same token) need the same
//! page (and the same answer), so [`Shared`] lets them make that read once:
//! the first watcher of a wake starts it, the others await its result.
//!
//! A result is reused only by a watcher whose wake was raised before the
//! read began (`since <= started`). A wake is raised after its commit, so
//! such a read sees the commit: no watcher ever gets a page older than the
//! wake that asked for it, and batches stay exactly what a pull returns.
//! Entries older than [`KEEP`] are dropped when the map grows.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use tidesync::core::SyncError;
use tokio::sync::OnceCell;

use crate::db::page::EncodedPage;

/// How long a finished read stays in the map once it holds many.
const KEEP: Duration = Duration::from_secs(5);
/// Above this many entries, old ones are dropped.
const PRUNE_AT: usize = 4096;

struct Slot<V> {
    started: Instant,
    value: OnceCell<V>,
}

/// Results of reads by key, each tagged with when it started.
pub struct Shared<K, V> {
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
}

impl<K, V> Default for Shared<K, V> {
    fn default() -> Self {
        Shared { slots: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq, V: Clone> Shared<K, V> {
    /// The result of a read of `key` that started at or after `since`:
    /// one in flight or done, or a new one made with `read`.
    pub async fn get<F, Fut>(&self, key: K, since: Instant, read: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if slots.len() > PRUNE_AT {
                slots.retain(|_, s| s.started.elapsed() < KEEP);
            }
            match slots.get(&key) {
                Some(s) if s.started >= since => s.clone(),
                _ => {
                    let s = Arc::new(Slot { started: Instant::now(), value: OnceCell::new() });
                    slots.insert(key, s.clone());
                    s
                }
            }
        };
        slot.value.get_or_init(read).await.clone()
    }
}

/// A page as watchers send it, encoded once for all of them: its changes
/// as JSON text, and the whole `changes` message for the watchers whose
/// last batch left them at the page's start (all of them, but those whose
/// table filter skipped changes), shared without a copy.
pub struct Page {
    pub from: u64,
    /// The page read: its changes, cursor and `hasMore`.
    pub encoded: EncodedPage,
    pub message: Utf8Bytes,
}

impl Page {
    /// The message of a pull's page from cursor `from`.
    pub fn new(from: u64, page: EncodedPage) -> Page {
        let message = Page::text(page.changes_json(), from, page.next_cursor).into();
        Page { from, encoded: page, message }
    }

    fn text(changes_json: &str, from: u64, next: u64) -> String {
        format!(r#"{{"type":"changes","changes":{changes_json},"fromCursor":{from},"nextCursor":{next}}}"#)
    }

    /// The message for a watcher whose last batch left it at `sent`.
    pub fn message(&self, sent: u64) -> Utf8Bytes {
        if sent == self.from {
            self.message.clone()
        } else {
            Page::text(self.encoded.changes_json(), sent, self.encoded.next_cursor).into()
        }
    }
}

/// Which page: workspace, cursor, tables, project.
pub type PageKey = (String, u64, Option<Vec<String>>, Option<String>);

/// The shared reads of this process's watchers.
#[derive(Default)]
pub struct Fanout {
    pub pages: Shared<PageKey, Result<Arc<Page>, SyncError>>,
    /// Token and workspace -> whether the token still grants it.
    pub grants: Shared<(String, String), Result<(), SyncError>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_page_message_is_shared_at_its_start_and_rebuilt_elsewhere() {
        let change: Value = serde_json::json!({ "tableName": "t", "pk": "a", "op": "put", "payload": { "x": 1 },
            "serverVersion": 8, "stamp": { "clock": 1, "hlc": "h", "deviceId": "d", "opId": "o" } });
        let encoded = EncodedPage::new(&serde_json::to_string(&[&change]).unwrap(), 1, 8, false, 0);
        let page = Page::new(7, encoded);
        let shared = page.message(7);
        assert_eq!(shared.as_str().as_ptr(), page.message.as_str().as_ptr(), "the same bytes, not a copy");
        let m: Value = serde_json::from_str(shared.as_str()).unwrap();
        assert_eq!(m, serde_json::json!({ "type": "changes", "changes": [change], "fromCursor": 7, "nextCursor": 8 }));
        let other: Value = serde_json::from_str(page.message(5).as_str()).unwrap();
        assert_eq!(other["fromCursor"], 5);
        assert_eq!(other["changes"], m["changes"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn one_read_per_wake_and_never_one_older_than_the_wake() {
        let shared: Shared<u8, usize> = Shared::default();
        let reads = AtomicUsize::new(0);
        let read = || async { reads.fetch_add(1, Ordering::SeqCst) + 1 };
        let wake = Instant::now();
        // Ten watchers of one wake: one read.
        for _ in 0..10 {
            assert_eq!(shared.get(1, wake, read).await, 1);
        }
        // A later wake never reuses it.
        tokio::time::sleep(Duration::from_millis(2)).await;
        let later = Instant::now();
        assert_eq!(shared.get(1, later, read).await, 2);
        assert_eq!(shared.get(1, later, read).await, 2);
        // Another key is another read.
        assert_eq!(shared.get(2, later, read).await, 3);
    }
}

//! Wakes this process's watchers when a workspace changed.
//!
//! A wake names a workspace (`Some(id)`) or every workspace (`None`, after
//! the PostgreSQL listener reconnected and may have missed notifications),
//! and when it was raised (for the fan-out latency metric). Watchers do not
//! receive the changes through the hub: each one pulls from its own cursor
//! with its own filters, so what it sends is exactly a pull's answer,
//! gapless, and the same on every process. A watcher that falls behind the
//! channel (`Lagged`) treats it as a wake of its workspace.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::broadcast;

/// What a wake carries: the workspace (`None`: all) and when it was raised.
#[derive(Debug, Clone)]
pub struct Wake {
    pub workspace: Option<Arc<str>>,
    pub at: Instant,
}

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Wake>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub { tx: broadcast::channel(1024).0 }
    }
}

impl Hub {
    pub fn wake(&self, workspace: Option<&str>) {
        // No receiver: nobody is watching, nothing to do.
        let _ = self.tx.send(Wake { workspace: workspace.map(Arc::from), at: Instant::now() });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Wake> {
        self.tx.subscribe()
    }
}

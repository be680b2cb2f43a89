//! Connection pools: r2d2 (a maintained, synchronous pool), set up the same
//! way for both backends. The core's storage traits are synchronous and the
//! HTTP layer calls them on blocking threads (`spawn_blocking`), so a
//! caller may block here while it waits for a free connection.
//!
//! Connections open lazily (none at start), are not pinged on checkout (a
//! broken one is dropped when it is returned: `has_broken`), and a caller
//! that waits longer than [`WAIT`] gets `UNAVAILABLE`.

use std::time::Duration;

use r2d2::{ManageConnection, Pool, PooledConnection};
use tidesync::core::SyncError;

/// How long a caller waits for a free connection before `UNAVAILABLE`.
pub const WAIT: Duration = Duration::from_secs(10);

/// A pool of at most `max` connections from `manager`.
pub fn build<M: ManageConnection>(max: usize, manager: M) -> Pool<M> {
    Pool::builder()
        .max_size(u32::try_from(max.max(1)).unwrap_or(u32::MAX))
        .min_idle(Some(0))
        .connection_timeout(WAIT)
        .test_on_check_out(false)
        .build_unchecked(manager)
}

/// A connection from `pool`, or `UNAVAILABLE` when none frees up in time
/// (or none can be opened: r2d2 reports the last connect error).
pub fn get<M: ManageConnection>(pool: &Pool<M>) -> Result<PooledConnection<M>, SyncError> {
    pool.get().map_err(|e| SyncError::Unavailable(format!("no database connection free: {e}")))
}

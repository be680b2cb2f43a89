//! A small blocking connection pool: at most `max` connections, idle ones
//! reused, broken ones dropped. Callers run on blocking threads
//! (`spawn_blocking`), so waiting on a condition variable is fine.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use tidesync::core::SyncError;

/// How long a caller waits for a free connection before `UNAVAILABLE`.
const WAIT: Duration = Duration::from_secs(10);

pub struct Pool<C> {
    connect: Box<dyn Fn() -> Result<C, SyncError> + Send + Sync>,
    is_broken: fn(&C) -> bool,
    max: usize,
    state: Mutex<State<C>>,
    freed: Condvar,
}

struct State<C> {
    idle: Vec<C>,
    /// Connections handed out or idle.
    open: usize,
}

impl<C> Pool<C> {
    pub fn new(
        max: usize,
        connect: impl Fn() -> Result<C, SyncError> + Send + Sync + 'static,
        is_broken: fn(&C) -> bool,
    ) -> Self {
        Pool {
            connect: Box::new(connect),
            is_broken,
            max: max.max(1),
            state: Mutex::new(State { idle: Vec::new(), open: 0 }),
            freed: Condvar::new(),
        }
    }

    /// Runs `f` with a connection. A connection that `f` leaves broken is
    /// dropped instead of returned.
    pub fn with<T>(&self, f: impl FnOnce(&mut C) -> Result<T, SyncError>) -> Result<T, SyncError> {
        let mut conn = self.take()?;
        let out = f(&mut conn);
        self.give_back(conn);
        out
    }

    fn take(&self) -> Result<C, SyncError> {
        let poisoned = || SyncError::Storage("the connection pool lock is poisoned".into());
        let mut st = self.state.lock().map_err(|_| poisoned())?;
        loop {
            if let Some(c) = st.idle.pop() {
                return Ok(c);
            }
            if st.open < self.max {
                st.open += 1;
                drop(st);
                return (self.connect)().inspect_err(|_| {
                    if let Ok(mut st) = self.state.lock() {
                        st.open -= 1;
                    }
                    self.freed.notify_one();
                });
            }
            let (next, timeout) = self.freed.wait_timeout(st, WAIT).map_err(|_| poisoned())?;
            if timeout.timed_out() && next.idle.is_empty() && next.open >= self.max {
                return Err(SyncError::Unavailable("no database connection free".into()));
            }
            st = next;
        }
    }

    fn give_back(&self, conn: C) {
        if let Ok(mut st) = self.state.lock() {
            if (self.is_broken)(&conn) {
                st.open -= 1;
            } else {
                st.idle.push(conn);
            }
        }
        self.freed.notify_one();
    }
}

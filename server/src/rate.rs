//! A per-token rate limit on `governor` (GCRA, the token bucket's exact
//! form): `burst` requests at once, refilled at `per_sec` a second, kept in
//! this process's memory (each server process limits on its own). A refused
//! request answers `RATE_LIMIT` with the time until the next one would be
//! allowed.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use tidesync::core::SyncError;

/// Above this many keys, those whose bucket is full again are dropped.
const MAX_KEYS: usize = 10_000;

pub struct RateLimiter {
    per_sec: f64,
    inner: Option<DefaultKeyedRateLimiter<String>>,
}

impl RateLimiter {
    /// `per_sec` of 0 disables the limit.
    pub fn new(per_sec: f64, burst: f64) -> Self {
        let inner =
            (per_sec > 0.0).then(|| Quota::with_period(Duration::from_secs_f64(1.0 / per_sec))).flatten().map(|q| {
                let burst = NonZeroU32::new(burst.clamp(1.0, f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
                DefaultKeyedRateLimiter::keyed(q.allow_burst(burst))
            });
        RateLimiter { per_sec, inner }
    }

    /// Takes one request from `key`'s bucket.
    pub fn check(&self, key: &str) -> Result<(), SyncError> {
        let Some(limiter) = &self.inner else { return Ok(()) };
        if limiter.len() > MAX_KEYS {
            limiter.retain_recent();
        }
        limiter.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            SyncError::RateLimit {
                message: format!("rate limit of {} requests/s exceeded", self.per_sec),
                retry_after_ms: Some((wait.as_millis() as u64).max(1)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_limited_with_a_retry_time() {
        let r = RateLimiter::new(10.0, 3.0);
        for _ in 0..3 {
            r.check("a").unwrap();
        }
        match r.check("a") {
            Err(SyncError::RateLimit { retry_after_ms: Some(ms), .. }) => assert!((1..=100).contains(&ms)),
            other => panic!("expected RATE_LIMIT, got {other:?}"),
        }
        r.check("b").unwrap();
        std::thread::sleep(Duration::from_millis(120));
        r.check("a").unwrap();
    }

    #[test]
    fn zero_turns_it_off() {
        let r = RateLimiter::new(0.0, 1.0);
        for _ in 0..1000 {
            r.check("a").unwrap();
        }
    }
}

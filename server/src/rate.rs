//! A per-token rate limit: a token bucket of `burst` requests refilled at
//! `per_sec` a second, kept in this process's memory (each server process
//! limits on its own). An empty bucket answers `RATE_LIMIT` with the time
//! until the next request would be allowed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use tidesync::core::SyncError;

/// Buckets not touched for this long are dropped, so the map stays small.
const IDLE_SECS: f64 = 600.0;

pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_sec` of 0 disables the limit.
    pub fn new(per_sec: f64, burst: f64) -> Self {
        RateLimiter { per_sec, burst: burst.max(1.0), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `key`'s bucket.
    pub fn check(&self, key: &str) -> Result<(), SyncError> {
        if self.per_sec <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| now.duration_since(b.at).as_secs_f64() < IDLE_SECS);
        }
        let b = buckets.entry(key.to_string()).or_insert(Bucket { tokens: self.burst, at: now });
        let refill = now.duration_since(b.at).as_secs_f64() * self.per_sec;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait_ms = ((1.0 - b.tokens) / self.per_sec * 1000.0).ceil() as u64;
        Err(SyncError::RateLimit {
            message: format!("rate limit of {} requests/s exceeded", self.per_sec),
            retry_after_ms: Some(wait_ms.max(1)),
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
    }
}

//! Retry timing for the outbox: the app's `backoffMs` schedule, indexed by
//! attempt, plus jitter so that many devices coming back at once do not push in
//! lockstep, and never sooner than a server's `retryAfterMs`.

/// The delay before attempt number `attempt + 1`, given that `attempt`
/// attempts (1-based) have failed. `jitter` in `[0, 1)` adds up to a fifth of
/// the base delay; the result is never below `retry_after_ms`.
pub fn retry_delay(attempt: u32, schedule: &[u64], retry_after_ms: Option<u64>, jitter: f64) -> u64 {
    let base = match schedule {
        [] => 1000,
        s => s[(attempt.max(1) as usize - 1).min(s.len() - 1)],
    };
    let jitter = jitter.clamp(0.0, 1.0);
    let delay = base + ((base as f64 / 5.0) * jitter) as u64;
    delay.max(retry_after_ms.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_and_stays_on_its_last_step() {
        let s = [250, 1000, 3000, 5000];
        let got: Vec<u64> = (1..=6).map(|a| retry_delay(a, &s, None, 0.0)).collect();
        assert_eq!(got, [250, 1000, 3000, 5000, 5000, 5000]);
    }

    #[test]
    fn jitter_adds_at_most_a_fifth() {
        assert_eq!(retry_delay(2, &[1000], None, 0.999_999), 1199);
        assert_eq!(retry_delay(2, &[1000], None, 0.5), 1100);
    }

    #[test]
    fn never_sooner_than_retry_after() {
        assert_eq!(retry_delay(1, &[250], Some(2000), 0.9), 2000);
        assert_eq!(retry_delay(1, &[5000], Some(2000), 0.0), 5000);
    }
}

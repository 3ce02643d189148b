//! Per-destination rate limit: a token bucket per `host:port`, so one noisy
//! tenant cannot flood a receiver (or get the fleet's IPs blocked by it).
//!
//! The limiter never waits: over the limit, [`RateLimiter::try_acquire`]
//! says how long to wait, and the handler returns `JobError::RetryAfter`,
//! which frees the worker slot and parks the message in SQS for that long.
//! To keep a herd of throttled jobs from all coming back at the same
//! instant (and being throttled again), the wait is spread: each throttled
//! call adds to a per-bucket "herd" that drains at the refill rate, and the
//! wait is the time to the next token plus a random share of the time the
//! herd needs, so the herd returns at roughly the rate the bucket allows.
//!
//! The limit is per pod: a pool of N pods allows up to N × rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many buckets, idle (full, herd-free) ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    herd: f64,
    last: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    rate_per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `rate_per_sec` must be positive and `burst` at least 1 (the config
    /// validates both).
    pub fn new(rate_per_sec: f64, burst: u32) -> Self {
        Self { rate_per_sec: rate_per_sec.max(f64::MIN_POSITIVE), burst: f64::from(burst.max(1)), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `key`, or says how long to wait for one.
    pub fn try_acquire(&self, key: &str) -> Result<(), Duration> {
        self.try_acquire_at(key, Instant::now(), fastrand::f64())
    }

    /// [`Self::try_acquire`] at a given instant, with `jitter` in `[0, 1)`.
    pub fn try_acquire_at(&self, key: &str, now: Instant, jitter: f64) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                let idle = now.saturating_duration_since(b.last).as_secs_f64() * self.rate_per_sec;
                b.tokens + idle < self.burst || b.herd > idle
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: self.burst, herd: 0.0, last: now });
        let refill = now.saturating_duration_since(bucket.last).as_secs_f64() * self.rate_per_sec;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.herd = (bucket.herd - refill).max(0.0);
        bucket.last = bucket.last.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let next_token = (1.0 - bucket.tokens) / self.rate_per_sec;
        let spread = bucket.herd / self.rate_per_sec;
        bucket.herd += 1.0;
        Err(Duration::from_secs_f64(next_token + jitter.clamp(0.0, 1.0) * spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_rate_per_destination() {
        let limiter = RateLimiter::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.try_acquire_at("a:443", t0, 0.0).is_ok());
        }
        let wait = limiter.try_acquire_at("a:443", t0, 0.0).expect_err("burst spent");
        assert_eq!(wait, Duration::from_millis(500), "one token at 2/s");
        assert!(limiter.try_acquire_at("b:443", t0, 0.0).is_ok(), "other destinations are not affected");
        assert!(limiter.try_acquire_at("a:443", t0 + Duration::from_millis(500), 0.0).is_ok(), "refilled");
        assert!(limiter.try_acquire_at("a:443", t0 + Duration::from_millis(500), 0.0).is_err());
        assert!(limiter.try_acquire_at("a:443", t0 + Duration::from_secs(10), 0.0).is_ok(), "caps at burst, not 20");
    }

    #[test]
    fn a_throttled_herd_is_spread_over_the_time_the_rate_needs() {
        let limiter = RateLimiter::new(1.0, 1);
        let t0 = Instant::now();
        assert!(limiter.try_acquire_at("h:443", t0, 0.0).is_ok());
        let waits: Vec<Duration> = (0..10).map(|_| limiter.try_acquire_at("h:443", t0, 0.999).expect_err("throttled")).collect();
        assert_eq!(waits[0], Duration::from_secs(1));
        // The k-th throttled caller may be told up to 1 + k seconds.
        assert!(waits[9] > Duration::from_secs(9) && waits[9] < Duration::from_secs(11), "{waits:?}");
        let min_jitter = limiter.try_acquire_at("h:443", t0, 0.0).expect_err("throttled");
        assert_eq!(min_jitter, Duration::from_secs(1), "jitter 0 waits only for the next token");
    }
}

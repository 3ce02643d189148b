//! Outbound HTTP to destinations a job or the configuration names: the SSRF
//! guard ([`ssrf`]), clients pinned to the checked addresses ([`pinned`]),
//! the per-destination rate limiter ([`rate_limit`]) and `Retry-After`
//! parsing ([`retry_after()`]). See docs/handlers.md for the rules.

pub mod pinned;
pub mod rate_limit;
pub mod retry_after;
pub mod ssrf;

pub use pinned::{HttpTimeouts, PinnedClients};
pub use rate_limit::RateLimiter;
pub use retry_after::{MAX_RETRY_AFTER, retry_after};
pub use ssrf::{AllowList, BlockReason, Destination, GuardError, SsrfGuard, classify};

use std::time::Duration;

/// A wait as SQS can express it: whole seconds, at least one.
pub fn whole_seconds(wait: Duration) -> Duration {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1)).min(MAX_RETRY_AFTER)
}

/// At most `max` characters of `text`, for error messages quoting a peer.
pub fn snippet(text: &str, max: usize) -> String {
    jobfleet_contract::text::truncate_chars(text.trim(), max)
}

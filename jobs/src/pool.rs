//! Pools: a set of identical pods consuming one queue with one concurrency budget.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A worker pool. Every job type belongs to exactly one pool (except the
/// `diag.*` types, which every pool accepts when enabled), and each pool has
/// its own queue `<env>-jobfleet-<pool>` and dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    Media,
    Notifications,
    Ai,
}

impl Pool {
    pub const ALL: [Pool; 3] = [Pool::Media, Pool::Notifications, Pool::Ai];

    pub fn as_str(self) -> &'static str {
        match self {
            Pool::Media => "media",
            Pool::Notifications => "notifications",
            Pool::Ai => "ai",
        }
    }

    /// The pool's main queue name in environment `env`.
    pub fn queue_name(self, env: &str) -> String {
        format!("{env}-jobfleet-{}", self.as_str())
    }

    /// The pool's dead-letter queue name in environment `env`.
    pub fn dlq_name(self, env: &str) -> String {
        format!("{env}-jobfleet-{}-dlq", self.as_str())
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a pool name that is not one of [`Pool::ALL`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown pool {0:?}: expected one of media, notifications, ai")]
pub struct UnknownPool(pub String);

impl FromStr for Pool {
    type Err = UnknownPool;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "media" => Ok(Pool::Media),
            "notifications" => Ok(Pool::Notifications),
            "ai" => Ok(Pool::Ai),
            other => Err(UnknownPool(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_queue_names_follow_the_design() {
        for pool in Pool::ALL {
            assert_eq!(pool.as_str().parse::<Pool>().ok(), Some(pool));
        }
        assert_eq!(Pool::Media.queue_name("local"), "local-jobfleet-media");
        assert_eq!(Pool::Ai.dlq_name("prod"), "prod-jobfleet-ai-dlq");
        assert!("gpu".parse::<Pool>().is_err());
    }
}

//! Pool names. A pool is a set of identical pods consuming one queue (or a
//! few, for priorities) with one concurrency budget; *which* pools exist is
//! configuration (the runtime's `pools` table), not code. This type only
//! guarantees that a name is usable everywhere a pool name ends up: SQS
//! queue names, Kubernetes object names, Prometheus label values and
//! `JOBFLEET_*` settings.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid pool name: 1–32 characters of `a-z`, `0-9` and `-`, starting with
/// a letter and not ending with `-`.
///
/// `Copy` and `&'static str` inside: pool names are few and live as long as
/// the process, and the runtime uses them as metric labels on every job, so
/// a parsed name is interned once instead of allocated per use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pool(&'static str);

impl Pool {
    /// The bundled pools' names (the default configuration has these three).
    pub const MEDIA: Pool = Pool::from_static("media");
    pub const NOTIFICATIONS: Pool = Pool::from_static("notifications");
    pub const AI: Pool = Pool::from_static("ai");
    /// The pools the default configuration declares.
    pub const BUNDLED: [Pool; 3] = [Pool::MEDIA, Pool::NOTIFICATIONS, Pool::AI];
    pub const MAX_LEN: usize = 32;

    /// A pool name known at compile time. An invalid name fails the build
    /// when used in a `const` (e.g. `Job::POOL`), and panics otherwise.
    pub const fn from_static(name: &'static str) -> Pool {
        assert!(is_valid(name), "invalid pool name: 1-32 characters of a-z, 0-9 and '-', starting with a letter, not ending with '-'");
        Pool(name)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The pool's main queue name in environment `env`.
    pub fn queue_name(self, env: &str) -> String {
        format!("{env}-jobfleet-{}", self.0)
    }

    /// The pool's dead-letter queue name in environment `env`.
    pub fn dlq_name(self, env: &str) -> String {
        format!("{env}-jobfleet-{}-dlq", self.0)
    }
}

const fn is_valid(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > Pool::MAX_LEN || !bytes[0].is_ascii_lowercase() || bytes[bytes.len() - 1] == b'-' {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// Leaks each distinct name once; the set of names a process sees is small
/// and fixed (its configuration), so the leak is bounded.
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    if let Some(bundled) = Pool::BUNDLED.iter().find(|p| p.0 == name) {
        return bundled.0;
    }
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(existing) = names.get(name) {
        return existing;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pool({})", self.0)
    }
}

/// The error for a string that is not a valid pool name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pool name {0:?}: 1-32 characters of a-z, 0-9 and '-', starting with a letter, not ending with '-'")]
pub struct InvalidPoolName(pub String);

impl FromStr for Pool {
    type Err = InvalidPoolName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_valid(s) { Ok(Pool(intern(s))) } else { Err(InvalidPoolName(s.to_owned())) }
    }
}

impl Serialize for Pool {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Pool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Pool {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Pool".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$",
            "description": "A pool name: 1-32 characters of a-z, 0-9 and '-', starting with a letter, not ending with '-'."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_queue_names_follow_the_design() {
        for pool in Pool::BUNDLED {
            assert_eq!(pool.as_str().parse::<Pool>().ok(), Some(pool));
        }
        assert_eq!(Pool::MEDIA.queue_name("local"), "local-jobfleet-media");
        assert_eq!(Pool::AI.dlq_name("prod"), "prod-jobfleet-ai-dlq");
        let reports: Pool = "reports".parse().expect("valid");
        assert_eq!(reports.queue_name("dev"), "dev-jobfleet-reports");
        assert_eq!(reports, Pool::from_static("reports"));
    }

    #[test]
    fn the_pattern_is_enforced() {
        for good in ["a", "reports", "eu-reports-2", &"x".repeat(32)] {
            assert!(good.parse::<Pool>().is_ok(), "{good}");
        }
        for bad in ["", "Reports", "2fast", "re_ports", "reports-", "rep orts", "répo", &"x".repeat(33)] {
            assert!(bad.parse::<Pool>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parsing_interns_one_copy_per_name() {
        let a: Pool = "interned-once".parse().expect("valid");
        let b: Pool = "interned-once".parse().expect("valid");
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
    }
}

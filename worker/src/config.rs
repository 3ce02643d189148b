//! Worker configuration: one typed struct, read from an optional TOML file
//! and `JOBFLEET_*` environment variables (env wins), validated before
//! anything starts so a bad value fails at start-up naming the setting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use jobs::Pool;
use serde::{Deserialize, Serialize};

/// SQS's ceiling for a message's visibility timeout, and so for any delay
/// we can ask for.
pub const MAX_VISIBILITY_SECS: u64 = 12 * 60 * 60;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Environment name, the queue-name prefix: `<env>-jobfleet-<pool>`.
    pub env: String,
    /// The pool this process consumes (`--pool` overrides).
    pub pool: Option<Pool>,
    /// Main queue URL; resolved from the queue name when absent.
    pub queue_url: Option<String>,
    /// Dead-letter queue URL; resolved from the DLQ name when absent.
    pub dlq_url: Option<String>,

    /// Handlers running at once in this process.
    pub concurrency: u32,
    /// Concurrent long polls; 0 picks concurrency ÷ 20, rounded down (1–8).
    pub pollers: u32,
    /// Long-poll wait (0–20). Also bounds how long a drain waits for a poll
    /// already in flight.
    pub receive_wait_time_secs: u32,
    /// Visibility timeout asked for on receive, and each heartbeat's extension.
    pub visibility_timeout_secs: u64,
    /// How often a running job's visibility is extended; must be shorter
    /// than the visibility timeout.
    pub heartbeat_interval_secs: u64,

    /// Hard limit on one run of a handler; a timeout is retried.
    pub job_timeout_secs: u64,
    /// Per job type overrides of `job_timeout_secs`.
    pub job_timeouts_secs: BTreeMap<String, u64>,
    /// Deliveries after which a still-failing job is dead-lettered by the
    /// worker (the queue's maxReceiveCount is only the backstop).
    pub max_attempts: u32,
    /// Backoff for retryable failures: full jitter in
    /// `[0, min(max, base × 2^(attempt−1))]`, at least 1 s.
    pub retry_base_delay_secs: u64,
    pub retry_max_delay_secs: u64,

    /// On SIGTERM/SIGINT: how long in-flight jobs may take to finish.
    pub drain_timeout_secs: u64,
    /// How long acknowledgements wait to fill a batch of 10.
    pub ack_flush_interval_ms: u64,

    /// Admin HTTP: `/metrics`, `/healthz`, `/readyz`.
    pub admin_addr: SocketAddr,
    /// `/readyz` fails when the last successful poll or database check is older.
    pub readiness_max_age_secs: u64,
    /// How often queue depth gauges are refreshed (GetQueueAttributes).
    pub queue_metrics_interval_secs: u64,
    /// Completion rate assumed by `jobfleet_queue_backlog_seconds` when this
    /// pod has completed nothing recently (so an idle pod still reports a
    /// finite drain time for a new backlog).
    pub backlog_min_rate_per_sec: f64,

    /// Postgres URL of the ledger (`DATABASE_URL` is read when this is unset).
    pub database_url: String,
    pub db_max_connections: u32,
    /// Apply pending migrations on start (`worker migrate` does it explicitly).
    pub migrate_on_start: bool,
    /// The longest a ledger write is held for the batch in flight to finish
    /// (group commit); a write with no batch in flight goes at once.
    pub ledger_flush_interval_ms: u64,

    /// Finished jobs (and sent outbox rows) are deleted from the ledger
    /// after this many days; 0 keeps them forever. At least 14 (SQS's
    /// longest retention), so a late redelivery still finds its job.
    pub retention_days: u32,
    /// How often `worker run` prunes (each pod; concurrent prunes are safe).
    pub prune_interval_secs: u64,

    /// Claim-checked payloads (`payload_ref`) larger than this are refused
    /// as `payload_unavailable` instead of being read into memory.
    pub claim_check_max_bytes: u64,
    /// Delete a claim-checked payload from S3 once its job's success is
    /// recorded (off: keep it for the bucket's lifecycle rule to expire).
    pub claim_check_delete_after_success: bool,

    /// Accept the `diag.*` job types. Defaults to on when `env` is `local`.
    pub diag_enabled: Option<bool>,
    pub log_format: LogFormat,

    /// `notify.*` handlers (`[notifications]`, `JOBFLEET_NOTIFICATIONS__<SETTING>`).
    #[serde(default)]
    pub notifications: jobs::notifications::NotificationsConfig,
    /// `ai.inference` (`[inference]`, `JOBFLEET_INFERENCE__<SETTING>`).
    #[serde(default)]
    pub inference: jobs::inference::InferenceConfig,
    /// `media.thumbnail` (`[media]`, `JOBFLEET_MEDIA__<SETTING>`).
    #[serde(default)]
    pub media: jobs::media::MediaConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env: "local".into(),
            pool: None,
            queue_url: None,
            dlq_url: None,
            concurrency: 16,
            pollers: 0,
            receive_wait_time_secs: 20,
            visibility_timeout_secs: 60,
            heartbeat_interval_secs: 20,
            job_timeout_secs: 300,
            job_timeouts_secs: BTreeMap::new(),
            max_attempts: 5,
            retry_base_delay_secs: 2,
            retry_max_delay_secs: MAX_VISIBILITY_SECS,
            drain_timeout_secs: 25,
            ack_flush_interval_ms: 10,
            admin_addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            readiness_max_age_secs: 60,
            queue_metrics_interval_secs: 15,
            backlog_min_rate_per_sec: 1.0,
            database_url: "postgres://postgres@127.0.0.1:5432/jobfleet".into(),
            db_max_connections: 10,
            migrate_on_start: true,
            ledger_flush_interval_ms: 5,
            retention_days: 30,
            prune_interval_secs: 3_600,
            claim_check_max_bytes: 64 * 1024 * 1024,
            claim_check_delete_after_success: true,
            diag_enabled: None,
            log_format: LogFormat::Json,
            notifications: jobs::notifications::NotificationsConfig::default(),
            inference: jobs::inference::InferenceConfig::default(),
            media: jobs::media::MediaConfig::default(),
        }
    }
}

/// A configuration problem, always naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid setting `{setting}` ({env_var}): {reason}")]
    Invalid { setting: &'static str, env_var: String, reason: String },
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { setting, env_var: env_var_of(setting), reason: reason.into() }
}

/// `notifications.webhook_burst` → `JOBFLEET_NOTIFICATIONS__WEBHOOK_BURST`.
fn env_var_of(setting: &str) -> String {
    format!("JOBFLEET_{}", setting.replace('.', "__").to_uppercase())
}

/// Secrets read from the environment verbatim: figment would parse a value
/// like `0123` or `1e10` as a number and lose the secret's exact text.
const VERBATIM_ENV: [(&str, &str); 2] = [
    ("JOBFLEET_NOTIFICATIONS__WEBHOOK_SIGNING_SECRET", "notifications.webhook_signing_secret"),
    ("JOBFLEET_INFERENCE__API_KEY", "inference.api_key"),
];

/// figment reports env keys as it saw them ("CONCURRENCY"); say which
/// setting, which variable, and where the value came from.
fn describe_figment_error(error: &figment::Error) -> String {
    if error.path.is_empty() {
        return error.to_string();
    }
    let setting = error.path.join(".").to_lowercase();
    let source = error.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
    let origin = if source.contains("environment") {
        env_var_of(&setting)
    } else if source.is_empty() {
        "default".to_owned()
    } else {
        source
    };
    format!("setting `{setting}` ({origin}): {}", error.kind)
}

impl Config {
    /// Defaults, then the TOML file if given, then `JOBFLEET_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Parse(format!("config file {} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        if std::env::var_os("JOBFLEET_DATABASE_URL").is_none()
            && let Ok(url) = std::env::var("DATABASE_URL")
        {
            figment = figment.merge(Serialized::default("database_url", url));
        }
        // `__` nests: JOBFLEET_INFERENCE__BASE_URL is `inference.base_url`.
        let verbatim: Vec<&str> = VERBATIM_ENV.iter().map(|(_, key)| *key).collect();
        figment = figment.merge(Env::prefixed("JOBFLEET_").split("__").ignore(&verbatim));
        for (var, key) in VERBATIM_ENV {
            if let Ok(value) = std::env::var(var) {
                figment = figment.merge(Serialized::default(key, value));
            }
        }
        let config: Config = figment
            .extract()
            .map_err(|errors| ConfigError::Parse(errors.into_iter().map(|e| describe_figment_error(&e)).collect::<Vec<_>>().join("; ")))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.env.is_empty() || self.env.len() > 32 || !self.env.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(invalid("env", format!("{:?} must be 1–32 characters of a-z, 0-9 and '-'", self.env)));
        }
        if !(1..=10_000).contains(&self.concurrency) {
            return Err(invalid("concurrency", format!("{} is outside 1..=10000", self.concurrency)));
        }
        if self.pollers > 64 {
            return Err(invalid("pollers", format!("{} is more than 64", self.pollers)));
        }
        if self.receive_wait_time_secs > 20 {
            return Err(invalid("receive_wait_time_secs", format!("{} exceeds SQS's maximum of 20", self.receive_wait_time_secs)));
        }
        if !(1..=MAX_VISIBILITY_SECS).contains(&self.visibility_timeout_secs) {
            return Err(invalid("visibility_timeout_secs", format!("{} is outside 1..=43200 (SQS's range)", self.visibility_timeout_secs)));
        }
        if self.heartbeat_interval_secs == 0 || self.heartbeat_interval_secs >= self.visibility_timeout_secs {
            return Err(invalid(
                "heartbeat_interval_secs",
                format!(
                    "{} must be at least 1 and less than visibility_timeout_secs ({}), or messages become visible while their job runs",
                    self.heartbeat_interval_secs, self.visibility_timeout_secs
                ),
            ));
        }
        if !(1..MAX_VISIBILITY_SECS).contains(&self.job_timeout_secs) {
            return Err(invalid("job_timeout_secs", format!("{} is outside 1..43200", self.job_timeout_secs)));
        }
        for (job_type, secs) in &self.job_timeouts_secs {
            if !(1..MAX_VISIBILITY_SECS).contains(secs) {
                return Err(invalid("job_timeouts_secs", format!("{job_type} = {secs} is outside 1..43200")));
            }
        }
        if self.max_attempts == 0 {
            return Err(invalid("max_attempts", "must be at least 1"));
        }
        if self.retry_base_delay_secs == 0 || self.retry_base_delay_secs > self.retry_max_delay_secs {
            return Err(invalid(
                "retry_base_delay_secs",
                format!(
                    "{} must be at least 1 and at most retry_max_delay_secs ({})",
                    self.retry_base_delay_secs, self.retry_max_delay_secs
                ),
            ));
        }
        if self.retry_max_delay_secs > MAX_VISIBILITY_SECS {
            return Err(invalid(
                "retry_max_delay_secs",
                format!("{} exceeds SQS's 12 h visibility limit (43200)", self.retry_max_delay_secs),
            ));
        }
        if self.drain_timeout_secs == 0 || self.drain_timeout_secs >= MAX_VISIBILITY_SECS {
            return Err(invalid("drain_timeout_secs", format!("{} is outside 1..43200", self.drain_timeout_secs)));
        }
        if self.ack_flush_interval_ms > 1_000 {
            return Err(invalid("ack_flush_interval_ms", format!("{} is more than 1000", self.ack_flush_interval_ms)));
        }
        if self.ledger_flush_interval_ms > 1_000 {
            return Err(invalid("ledger_flush_interval_ms", format!("{} is more than 1000", self.ledger_flush_interval_ms)));
        }
        if self.readiness_max_age_secs <= u64::from(self.receive_wait_time_secs) {
            return Err(invalid(
                "readiness_max_age_secs",
                format!(
                    "{} must exceed receive_wait_time_secs ({}) or an idle worker reads as not ready",
                    self.readiness_max_age_secs, self.receive_wait_time_secs
                ),
            ));
        }
        if self.queue_metrics_interval_secs == 0 {
            return Err(invalid("queue_metrics_interval_secs", "must be at least 1"));
        }
        if !(self.backlog_min_rate_per_sec > 0.0 && self.backlog_min_rate_per_sec.is_finite()) {
            return Err(invalid("backlog_min_rate_per_sec", "must be a positive number"));
        }
        let min_days = crate::store::records::MIN_RETENTION.as_secs() / 86_400;
        if self.retention_days != 0 && u64::from(self.retention_days) < min_days {
            return Err(invalid(
                "retention_days",
                format!(
                    "{} is under {min_days} (SQS's longest retention): a late redelivery could run a pruned job again; use 0 to keep jobs forever",
                    self.retention_days
                ),
            ));
        }
        if self.prune_interval_secs < 60 {
            return Err(invalid("prune_interval_secs", format!("{} is under 60", self.prune_interval_secs)));
        }
        if self.claim_check_max_bytes == 0 {
            return Err(invalid("claim_check_max_bytes", "must be at least 1"));
        }
        if !(1..=1_000).contains(&self.db_max_connections) {
            return Err(invalid("db_max_connections", format!("{} is outside 1..=1000", self.db_max_connections)));
        }
        if !(self.database_url.starts_with("postgres://") || self.database_url.starts_with("postgresql://")) {
            return Err(invalid("database_url", "must be a postgres:// or postgresql:// URL"));
        }
        if let Err(e) = sqlx::postgres::PgConnectOptions::from_str(&self.database_url) {
            return Err(invalid("database_url", format!("not a Postgres URL: {e}")));
        }
        for (setting, url) in [("queue_url", &self.queue_url), ("dlq_url", &self.dlq_url)] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(invalid(setting, format!("{url:?} is not an http(s) URL")));
            }
        }
        self.notifications.validate().map_err(|e| invalid(e.setting, e.reason))?;
        self.inference.validate().map_err(|e| invalid(e.setting, e.reason))?;
        self.media.validate().map_err(|e| invalid(e.setting, e.reason))?;
        Ok(())
    }

    pub fn diag_enabled(&self) -> bool {
        self.diag_enabled.unwrap_or(self.env == "local")
    }

    pub fn pollers(&self) -> u32 {
        match self.pollers {
            // Pollers × 10 ≤ half the concurrency: a poller waiting for a full
            // batch queues behind the others on the slot semaphore, and with
            // half the slots running jobs a batch frees up within its wait
            // (loadtest/FINDINGS.md #2: 6 pollers at concurrency 64 made
            // 0.215 requests per job, 3 made 0.204).
            0 => (self.concurrency / 20).clamp(1, 8),
            n => n.min(self.concurrency),
        }
    }

    pub fn job_timeout(&self, job_type: &str) -> Duration {
        Duration::from_secs(self.job_timeouts_secs.get(job_type).copied().unwrap_or(self.job_timeout_secs))
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_secs)
    }

    /// The pool, or an error naming the setting when none was given.
    pub fn require_pool(&self) -> Result<Pool, ConfigError> {
        self.pool.ok_or_else(|| invalid("pool", "no pool given: pass --pool media|notifications|ai or set JOBFLEET_POOL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting_of(config: &Config) -> Option<&'static str> {
        match config.validate() {
            Err(ConfigError::Invalid { setting, .. }) => Some(setting),
            _ => None,
        }
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().expect("defaults validate");
        assert!(Config::default().diag_enabled());
        assert!(!Config { env: "prod".into(), ..Config::default() }.diag_enabled());
    }

    #[test]
    fn each_rule_names_its_setting() {
        let base = Config::default();
        let cases: Vec<(Config, &str)> = vec![
            (Config { env: "Prod!".into(), ..base.clone() }, "env"),
            (Config { concurrency: 0, ..base.clone() }, "concurrency"),
            (Config { receive_wait_time_secs: 21, ..base.clone() }, "receive_wait_time_secs"),
            (Config { heartbeat_interval_secs: 60, ..base.clone() }, "heartbeat_interval_secs"),
            (Config { visibility_timeout_secs: 50_000, ..base.clone() }, "visibility_timeout_secs"),
            (Config { drain_timeout_secs: 43_200, ..base.clone() }, "drain_timeout_secs"),
            (Config { max_attempts: 0, ..base.clone() }, "max_attempts"),
            (Config { retry_base_delay_secs: 100, retry_max_delay_secs: 10, ..base.clone() }, "retry_base_delay_secs"),
            (Config { database_url: "mysql://x".into(), ..base.clone() }, "database_url"),
            (Config { queue_url: Some("sqs-queue".into()), ..base.clone() }, "queue_url"),
            (Config { backlog_min_rate_per_sec: 0.0, ..base.clone() }, "backlog_min_rate_per_sec"),
            (Config { job_timeouts_secs: BTreeMap::from([("diag.sleep".into(), 0)]), ..base.clone() }, "job_timeouts_secs"),
            (
                Config { media: jobs::media::MediaConfig { default_quality: 0, ..Default::default() }, ..base.clone() },
                "media.default_quality",
            ),
            (
                Config {
                    notifications: jobs::notifications::NotificationsConfig {
                        webhook_allow_hosts: vec!["10.0.0.0/99".into()],
                        ..Default::default()
                    },
                    ..base.clone()
                },
                "notifications.webhook_allow_hosts",
            ),
            (
                Config { inference: jobs::inference::InferenceConfig { max_in_flight: 0, ..Default::default() }, ..base.clone() },
                "inference.max_in_flight",
            ),
        ];
        for (config, setting) in cases {
            assert_eq!(setting_of(&config), Some(setting), "{config:?}");
        }
    }

    #[test]
    fn pollers_scale_with_concurrency_and_never_exceed_it() {
        let with = |concurrency, pollers| Config { concurrency, pollers, ..Config::default() }.pollers();
        assert_eq!(with(1, 0), 1);
        assert_eq!(with(16, 0), 1);
        assert_eq!(with(64, 0), 3);
        assert_eq!(with(1000, 0), 8);
        for concurrency in 20..=160 {
            assert!(with(concurrency, 0) * 10 <= concurrency / 2, "{concurrency}: full batches would tie up more than half the slots");
        }
        assert_eq!(with(2, 5), 2);
    }

    #[test]
    fn per_type_timeouts_override_the_default() {
        let config = Config { job_timeouts_secs: BTreeMap::from([("diag.sleep".into(), 5)]), ..Config::default() };
        assert_eq!(config.job_timeout("diag.sleep"), Duration::from_secs(5));
        assert_eq!(config.job_timeout("diag.noop"), Duration::from_secs(300));
    }
}

#[cfg(test)]
mod docs_tests {
    use super::*;

    /// The README's configuration table must list every setting, so the
    /// docs cannot drift from the code.
    #[test]
    fn every_setting_is_documented_in_the_readme() {
        let readme = include_str!("../../README.md");
        let value = serde_json::to_value(Config::default()).expect("config serialises");
        let settings = value.as_object().expect("an object");
        for name in settings.keys() {
            assert!(readme.contains(&format!("| `{name}` |")), "README's configuration table lacks `{name}`");
        }
    }
}

//! Worker configuration: one typed struct, read from an optional TOML file
//! and `JOBFLEET_*` environment variables (env wins), validated before
//! anything starts so a bad value fails at start-up naming the setting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use jobfleet_contract::Pool;
use serde::{Deserialize, Serialize};

pub use crate::sqs::priority::PriorityMode;

/// SQS's ceiling for a message's visibility timeout, and so for any delay
/// we can ask for.
pub const MAX_VISIBILITY_SECS: u64 = 12 * 60 * 60;
/// SQS requires a FIFO queue's name to end with this.
pub const FIFO_SUFFIX: &str = ".fifo";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Environment name, the queue-name prefix: `<env>-jobfleet-<pool>`.
    pub env: String,
    /// The pool this process consumes (`--pool` overrides); one of `pools`.
    pub pool: Option<Pool>,
    /// Main queue URL of `pool`; resolved from the queue name when absent.
    pub queue_url: Option<String>,
    /// Dead-letter queue URL of `pool`; resolved from the DLQ name when absent.
    pub dlq_url: Option<String>,
    /// The fleet's pools: name → routing and per-pool overrides. The default
    /// declares the bundled `media`, `notifications` and `ai`; a config file
    /// adds pools (`[pools.reports]`) — see docs/extending.md.
    pub pools: BTreeMap<Pool, PoolConfig>,

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
    /// Off, start-up refuses a database that lacks one of this binary's migrations.
    pub migrate_on_start: bool,
    /// sqlx's per-connection prepared-statement cache. Turn it off when the
    /// database URL goes through a transaction-pooling PgBouncer without
    /// prepared-statement tracking (Debian's 1.18; `max_prepared_statements`
    /// came in 1.21): a cached statement lives on one server connection and
    /// the next transaction may get another.
    pub db_statement_cache: bool,
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
    #[cfg(feature = "notifications")]
    #[serde(default)]
    pub notifications: jobfleet_handlers::notifications::NotificationsConfig,
    /// `ai.inference` (`[inference]`, `JOBFLEET_INFERENCE__<SETTING>`).
    #[cfg(feature = "inference")]
    #[serde(default)]
    pub inference: jobfleet_handlers::inference::InferenceConfig,
    /// `media.thumbnail` (`[media]`, `JOBFLEET_MEDIA__<SETTING>`).
    #[cfg(feature = "media")]
    #[serde(default)]
    pub media: jobfleet_handlers::media::MediaConfig,
}

/// One pool of the fleet: which job types it runs and what it overrides.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// The job types this pool runs: exact names (`reports.render`) or
    /// prefixes (`reports.*`). A type whose `Job::POOL` is this pool must be
    /// routed here; the `diag.*` types are accepted by every pool when
    /// `diag_enabled`.
    pub job_types: Vec<String>,
    /// Handlers running at once per process of this pool; overrides the
    /// top-level `concurrency`.
    pub concurrency: Option<u32>,
    /// Explicit queue URLs; resolved by name (`<env>-jobfleet-<pool>[-dlq]`) when absent.
    pub queue_url: Option<String>,
    pub dlq_url: Option<String>,
    /// Per job type timeouts; override the top-level `job_timeouts_secs`.
    pub job_timeouts_secs: BTreeMap<String, u64>,
    /// The pool's queue is FIFO: each message group runs strictly in order
    /// inside a pod (docs/topologies.md), and the queues are named
    /// `<env>-jobfleet-<pool>.fifo` / `<env>-jobfleet-<pool>-dlq.fifo`.
    /// Unset: derived from a `.fifo` queue URL (false without one).
    pub fifo: Option<bool>,
    /// A fair pool: on its standard queue a message's `MessageGroupId`
    /// names its tenant, and each tenant runs at most its share of the
    /// pod's slots (docs/topologies.md, "Fair pools"). Not with `fifo`,
    /// where the group is an ordering key.
    pub fair: bool,
    /// Fair pools: the most jobs one tenant runs at once per pod. Unset:
    /// a fair share, `ceil(concurrency / tenants active in the pod)`, so a
    /// tenant alone uses every slot. At most the pool's concurrency.
    pub tenant_max_concurrency: Option<NonZeroU32>,
    /// Priority queues: more standard queues this pool consumes besides its
    /// own, by name — `<env>-jobfleet-<pool>-<name>`, each with its DLQ
    /// `…-<name>-dlq` (docs/topologies.md, "Priority queues").
    pub priority_queues: BTreeMap<String, PriorityQueueConfig>,
    /// With priority queues: the weight of the pool's own queue (default 1).
    pub weight: Option<NonZeroU32>,
    /// With priority queues: `weighted` (slots in proportion to the weights
    /// while several queues have a backlog) or `strict` (the heaviest queue
    /// with a backlog first, always).
    pub priority: PriorityMode,
}

/// One of a pool's priority queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityQueueConfig {
    /// Its share of the slots (weighted) or its rank (strict, heaviest first).
    pub weight: NonZeroU32,
    /// Explicit URLs; resolved by name when absent.
    #[serde(default)]
    pub queue_url: Option<String>,
    #[serde(default)]
    pub dlq_url: Option<String>,
}

/// The label of a pool's own queue among its [`QueueLane`]s (in metrics,
/// `worker queues` and the control service); no priority queue may take it.
pub const OWN_QUEUE_LABEL: &str = "main";

/// One queue a pool consumes, as the runtime runs it: the pool's own
/// (`label` [`OWN_QUEUE_LABEL`]) or a priority queue (`label` its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueLane {
    pub label: String,
    pub queue_name: String,
    pub dlq_name: String,
    pub queue_url: Option<String>,
    pub dlq_url: Option<String>,
    pub weight: u32,
}

impl QueueLane {
    /// Whether this is the pool's own queue rather than a priority queue.
    pub fn is_own(&self) -> bool {
        self.label == OWN_QUEUE_LABEL
    }
}

impl PoolConfig {
    fn routing(job_types: &[&str]) -> Self {
        Self { job_types: job_types.iter().map(|t| (*t).to_owned()).collect(), ..Self::default() }
    }

    /// Whether the pool's queue is FIFO, given the queue URL in effect.
    pub fn is_fifo(&self, queue_url: Option<&str>) -> bool {
        self.fifo.unwrap_or_else(|| queue_url.is_some_and(|url| url.ends_with(FIFO_SUFFIX)))
    }

    /// Whether `job_type` is routed to this pool by one of its patterns.
    pub fn routes(&self, job_type: &str) -> bool {
        self.job_types.iter().any(|pattern| pattern_matches(pattern, job_type))
    }
}

/// `reports.*` matches `reports.render` (not `reports` itself); anything
/// else matches exactly.
pub fn pattern_matches(pattern: &str, job_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => job_type.len() > prefix.len() && job_type.starts_with(prefix),
        None => pattern == job_type,
    }
}

/// The bundled pools and the job types each runs.
pub fn bundled_pools() -> BTreeMap<Pool, PoolConfig> {
    BTreeMap::from([
        (Pool::MEDIA, PoolConfig::routing(&["media.*"])),
        (Pool::NOTIFICATIONS, PoolConfig::routing(&["notify.*"])),
        (Pool::AI, PoolConfig::routing(&["ai.*"])),
    ])
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
            pools: bundled_pools(),
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
            db_statement_cache: true,
            ledger_flush_interval_ms: 5,
            retention_days: 30,
            prune_interval_secs: 3_600,
            claim_check_max_bytes: 64 * 1024 * 1024,
            claim_check_delete_after_success: true,
            diag_enabled: None,
            log_format: LogFormat::Json,
            #[cfg(feature = "notifications")]
            notifications: jobfleet_handlers::notifications::NotificationsConfig::default(),
            #[cfg(feature = "inference")]
            inference: jobfleet_handlers::inference::InferenceConfig::default(),
            #[cfg(feature = "media")]
            media: jobfleet_handlers::media::MediaConfig::default(),
        }
    }
}

/// A configuration problem, always naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid setting `{setting}` ({env_var}): {reason}")]
    Invalid { setting: String, env_var: String, reason: String },
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    invalid_owned(setting.to_owned(), reason)
}

fn invalid_owned(setting: String, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { env_var: env_var_of(&setting), setting, reason: reason.into() }
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
        // JOBFLEET_CONFIG names the file itself (the CLI's `--config`), not a setting: the charts set
        // it to their mounted TOML, and as a key it would be refused as unknown.
        let verbatim: Vec<&str> = VERBATIM_ENV.iter().map(|(_, key)| *key).chain(["config"]).collect();
        // JOBFLEET_CONSOLE_* and JOBFLEET_CONTROL_* are `worker console`'s and `worker control`'s own
        // flags (clap reads them; charts/fleet sets them), not settings.
        let env = Env::prefixed("JOBFLEET_").split("__").ignore(&verbatim);
        figment = figment.merge(env.filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            !key.starts_with("console_") && !key.starts_with("control_")
        }));
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
        self.validate_pools()?;
        #[cfg(feature = "notifications")]
        self.notifications.validate().map_err(|e| invalid(e.setting, e.reason))?;
        #[cfg(feature = "inference")]
        self.inference.validate().map_err(|e| invalid(e.setting, e.reason))?;
        #[cfg(feature = "inference")]
        self.validate_cold_start_budget()?;
        #[cfg(feature = "media")]
        self.media.validate().map_err(|e| invalid(e.setting, e.reason))?;
        Ok(())
    }

    fn validate_pools(&self) -> Result<(), ConfigError> {
        if let Some(pool) = self.pool
            && !self.pools.contains_key(&pool)
        {
            return Err(invalid("pool", self.unknown_pool_reason(pool)));
        }
        for (pool, config) in &self.pools {
            let setting = |field: &str| format!("pools.{pool}.{field}");
            if config.job_types.is_empty() {
                return Err(invalid_owned(setting("job_types"), "is empty: list the job types (or `prefix.*`) this pool runs"));
            }
            for pattern in &config.job_types {
                let name = pattern.strip_suffix('*').unwrap_or(pattern);
                let valid = !name.is_empty()
                    && name.len() <= 128
                    && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
                    && (pattern.ends_with('*') == name.ends_with('.'));
                if !valid {
                    return Err(invalid_owned(
                        setting("job_types"),
                        format!("{pattern:?} is not a job type (`area.verb`: a-z, 0-9, '_', '.') or a prefix ending in `.*`"),
                    ));
                }
            }
            if let Some(concurrency) = config.concurrency
                && !(1..=10_000).contains(&concurrency)
            {
                return Err(invalid_owned(setting("concurrency"), format!("{concurrency} is outside 1..=10000")));
            }
            for (field, url) in [("queue_url", &config.queue_url), ("dlq_url", &config.dlq_url)] {
                if let Some(url) = url
                    && !(url.starts_with("http://") || url.starts_with("https://"))
                {
                    return Err(invalid_owned(setting(field), format!("{url:?} is not an http(s) URL")));
                }
            }
            for (job_type, secs) in &config.job_timeouts_secs {
                if !(1..MAX_VISIBILITY_SECS).contains(secs) {
                    return Err(invalid_owned(setting("job_timeouts_secs"), format!("{job_type} = {secs} is outside 1..43200")));
                }
            }
        }
        Ok(())
    }

    /// `ai.inference` waits for a cold model server inside the job, so the
    /// job's timeout must cover that wait and the call after it; checked for
    /// the process's pool when it runs `ai.inference` against a configured
    /// model server (without `inference.base_url` every such job fails at
    /// once as `inference_not_configured`: there is nothing to wait for).
    #[cfg(feature = "inference")]
    fn validate_cold_start_budget(&self) -> Result<(), ConfigError> {
        const INFERENCE: &str = "ai.inference";
        let Some(pool) = self.pool else { return Ok(()) };
        let Some(pool_config) = self.pools.get(&pool) else { return Ok(()) };
        if !pool_config.routes(INFERENCE) || self.inference.base_url.is_none() {
            return Ok(());
        }
        let timeout = pool_config.job_timeouts_secs.get(INFERENCE).copied().unwrap_or_else(|| self.job_timeout(INFERENCE).as_secs());
        let needed = self.inference.cold_start_budget_secs + self.inference.request_timeout_secs;
        if needed >= timeout {
            return Err(invalid(
                "inference.cold_start_budget_secs",
                format!(
                    "{} + inference.request_timeout_secs ({}) must be less than the {INFERENCE} job timeout ({timeout} s; job_timeout_secs or job_timeouts_secs): the timeout must cover the wait for a cold model server and the call after it",
                    self.inference.cold_start_budget_secs, self.inference.request_timeout_secs
                ),
            ));
        }
        Ok(())
    }

    fn unknown_pool_reason(&self, pool: Pool) -> String {
        let known: Vec<&str> = self.pools.keys().map(|p| p.as_str()).collect();
        format!("no pool {pool:?} is configured (pools: {}); declare it as [pools.{pool}] in the config file", known.join(", "))
    }

    /// The configuration of `pool`, or an error naming the setting and the
    /// pools that are configured.
    pub fn pool_config(&self, pool: Pool) -> Result<&PoolConfig, ConfigError> {
        self.pools.get(&pool).ok_or_else(|| invalid("pool", self.unknown_pool_reason(pool)))
    }

    /// This configuration as the process that runs `pool` sees it: `pool`
    /// set, and the pool's own settings (concurrency, queue URLs, per-type
    /// timeouts) in place of the top-level ones.
    pub fn for_pool(&self, pool: Pool) -> Result<Config, ConfigError> {
        let pool_config = self.pool_config(pool)?.clone();
        let mut config = Config { pool: Some(pool), ..self.clone() };
        if let Some(concurrency) = pool_config.concurrency {
            config.concurrency = concurrency;
        }
        if pool_config.queue_url.is_some() {
            config.queue_url = pool_config.queue_url;
        }
        if pool_config.dlq_url.is_some() {
            config.dlq_url = pool_config.dlq_url;
        }
        config.job_timeouts_secs.extend(pool_config.job_timeouts_secs);
        config.validate()?;
        config.check_fifo(pool)?;
        config.check_fair(pool)?;
        config.check_priority(pool)?;
        Ok(config)
    }

    /// Priority queues are standard queues with names of their own, and a
    /// pool needs a slot beyond the one each queue's long poll holds.
    fn check_priority(&self, pool: Pool) -> Result<(), ConfigError> {
        let pool_config = self.pool_config(pool)?;
        if pool_config.priority_queues.is_empty() {
            if pool_config.weight.is_some() {
                return Err(invalid_owned(
                    format!("pools.{pool}.weight"),
                    format!("weights rank priority queues, and pools.{pool}.priority_queues is empty"),
                ));
            }
            return Ok(());
        }
        let setting = format!("pools.{pool}.priority_queues");
        if self.pool_fifo(pool)? || pool_config.fair {
            return Err(invalid_owned(
                setting,
                "priority queues are for standard pools; a FIFO or fair pool consumes one queue (set priority_queues or fifo/fair, not both)",
            ));
        }
        for name in pool_config.priority_queues.keys() {
            // The Terraform sqs module's rule: ^[a-z][a-z0-9-]{0,14}[a-z0-9]$,
            // not `dlq` (a suffix of the names) nor `main` (the own queue's label).
            let valid = (2..=16).contains(&name.len())
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && !name.ends_with('-')
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && name != "dlq"
                && name != OWN_QUEUE_LABEL;
            if !valid {
                return Err(invalid_owned(
                    format!("{setting}.{name}"),
                    "a priority queue's name is 2–16 of a-z, 0-9 and '-', starting with a letter and not ending with '-' (not `dlq` or `main`): it becomes <env>-jobfleet-<pool>-<name>",
                ));
            }
            let full = format!("{pool}-{name}");
            if self.pools.keys().any(|other| other.as_str() == full) {
                return Err(invalid_owned(format!("{setting}.{name}"), format!("its queue would be pool {full}'s queue")));
            }
        }
        let lanes = self.queue_lanes(pool)?;
        if pool_config.priority == PriorityMode::Strict {
            let mut weights: Vec<u32> = lanes.iter().map(|l| l.weight).collect();
            weights.dedup();
            if weights.len() < lanes.len() {
                return Err(invalid_owned(
                    format!("pools.{pool}.priority"),
                    "strict priority ranks the queues by weight, and two have the same weight: give each a different one",
                ));
            }
        }
        if (self.concurrency as usize) <= lanes.len() {
            return Err(invalid_owned(
                "concurrency".to_owned(),
                format!(
                    "pool {pool} consumes {} queues and each idle queue's long poll holds a slot: its concurrency ({}) must be more than that",
                    lanes.len(),
                    self.concurrency
                ),
            ));
        }
        Ok(())
    }

    /// The queues `pool` consumes, highest priority (weight) first: its own
    /// queue, labelled `main`, and its priority queues. One lane for a pool
    /// without priority queues.
    pub fn queue_lanes(&self, pool: Pool) -> Result<Vec<QueueLane>, ConfigError> {
        let pool_config = self.pool_config(pool)?;
        let (queue_name, dlq_name) = self.queue_names(pool)?;
        let own =
            |url: &Option<String>, top: &Option<String>| url.clone().or_else(|| if self.pool == Some(pool) { top.clone() } else { None });
        let mut lanes = vec![QueueLane {
            label: OWN_QUEUE_LABEL.to_owned(),
            queue_name,
            dlq_name,
            queue_url: own(&pool_config.queue_url, &self.queue_url),
            dlq_url: own(&pool_config.dlq_url, &self.dlq_url),
            weight: pool_config.weight.map_or(1, NonZeroU32::get),
        }];
        for (name, queue) in &pool_config.priority_queues {
            let base = format!("{}-{name}", pool.queue_name(&self.env));
            lanes.push(QueueLane {
                label: name.clone(),
                dlq_name: format!("{base}-dlq"),
                queue_name: base,
                queue_url: queue.queue_url.clone(),
                dlq_url: queue.dlq_url.clone(),
                weight: queue.weight.get(),
            });
        }
        // Stable: equal weights keep the pool's own queue first.
        lanes.sort_by_key(|lane| std::cmp::Reverse(lane.weight));
        Ok(lanes)
    }

    /// Fairness is per tenant on a standard queue; its cap must fit the pool.
    fn check_fair(&self, pool: Pool) -> Result<(), ConfigError> {
        let pool_config = self.pool_config(pool)?;
        if pool_config.fair && self.pool_fifo(pool)? {
            return Err(invalid_owned(
                format!("pools.{pool}.fair"),
                "a FIFO pool's MessageGroupId is an ordering key, run one message at a time; fairness between tenants is for standard queues (set fair or fifo, not both)",
            ));
        }
        if let Some(cap) = pool_config.tenant_max_concurrency {
            if !pool_config.fair {
                return Err(invalid_owned(
                    format!("pools.{pool}.tenant_max_concurrency"),
                    format!("only a fair pool caps tenants; set pools.{pool}.fair = true or remove it"),
                ));
            }
            if cap.get() > self.concurrency {
                return Err(invalid_owned(
                    format!("pools.{pool}.tenant_max_concurrency"),
                    format!("{cap} is more than the pool's concurrency {} and would cap nothing", self.concurrency),
                ));
            }
        }
        Ok(())
    }

    /// A FIFO queue needs a FIFO dead-letter queue, and an explicit `fifo`
    /// must agree with the queue URLs given.
    fn check_fifo(&self, pool: Pool) -> Result<(), ConfigError> {
        let fifo = self.pool_fifo(pool)?;
        for (field, url) in [("queue_url", &self.queue_url), ("dlq_url", &self.dlq_url)] {
            if let Some(url) = url
                && url.ends_with(FIFO_SUFFIX) != fifo
            {
                let reason = if fifo {
                    format!("{url:?} is not a FIFO queue (no `.fifo` suffix) but pools.{pool}.fifo is true")
                } else {
                    format!(
                        "{url:?} is a FIFO queue but the pool's queue is standard (pools.{pool}.fifo is false, or queue_url is standard)"
                    )
                };
                return Err(invalid_owned(format!("pools.{pool}.{field}"), reason));
            }
        }
        Ok(())
    }

    /// Whether `pool`'s queue is FIFO (`pools.<pool>.fifo`, else its queue URL).
    pub fn pool_fifo(&self, pool: Pool) -> Result<bool, ConfigError> {
        let pool_config = self.pool_config(pool)?;
        let url = pool_config.queue_url.as_deref().or(if self.pool == Some(pool) { self.queue_url.as_deref() } else { None });
        Ok(pool_config.is_fifo(url))
    }

    /// `pool`'s queue and dead-letter queue names: `<env>-jobfleet-<pool>`
    /// and `…-dlq`, with `.fifo` appended to both for a FIFO pool (the
    /// Terraform `sqs` module's names).
    pub fn queue_names(&self, pool: Pool) -> Result<(String, String), ConfigError> {
        let suffix = if self.pool_fifo(pool)? { FIFO_SUFFIX } else { "" };
        Ok((format!("{}{suffix}", pool.queue_name(&self.env)), format!("{}{suffix}", pool.dlq_name(&self.env))))
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
        self.pool.ok_or_else(|| {
            let known: Vec<&str> = self.pools.keys().map(|p| p.as_str()).collect();
            invalid("pool", format!("no pool given: pass --pool <{}> or set JOBFLEET_POOL", known.join("|")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting_of(config: &Config) -> Option<String> {
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
                Config { media: jobfleet_handlers::media::MediaConfig { default_quality: 0, ..Default::default() }, ..base.clone() },
                "media.default_quality",
            ),
            (
                Config {
                    notifications: jobfleet_handlers::notifications::NotificationsConfig {
                        webhook_allow_hosts: vec!["10.0.0.0/99".into()],
                        ..Default::default()
                    },
                    ..base.clone()
                },
                "notifications.webhook_allow_hosts",
            ),
            (
                Config {
                    inference: jobfleet_handlers::inference::InferenceConfig { max_in_flight: 0, ..Default::default() },
                    ..base.clone()
                },
                "inference.max_in_flight",
            ),
            (
                Config {
                    pool: Some(Pool::AI),
                    inference: jobfleet_handlers::inference::InferenceConfig {
                        base_url: Some("http://vllm:8000".into()),
                        cold_start_budget_secs: 200,
                        request_timeout_secs: 100,
                        ..Default::default()
                    },
                    ..base.clone()
                },
                "inference.cold_start_budget_secs",
            ),
            (
                Config {
                    pool: Some(Pool::AI),
                    job_timeouts_secs: BTreeMap::from([("ai.inference".into(), 200)]),
                    inference: jobfleet_handlers::inference::InferenceConfig {
                        base_url: Some("http://vllm:8000".into()),
                        ..Default::default()
                    },
                    ..base.clone()
                },
                "inference.cold_start_budget_secs",
            ),
        ];
        for (config, setting) in cases {
            assert_eq!(setting_of(&config).as_deref(), Some(setting), "{config:?}");
        }
    }

    /// The budget only binds the pool that runs `ai.inference` against a model server.
    #[test]
    fn the_cold_start_budget_is_checked_against_the_inference_job_timeout_only() {
        let unconfigured = Config { job_timeout_secs: 5, ..Config::default() };
        unconfigured.for_pool(Pool::AI).expect("no model server: ai.inference fails at once, nothing to wait for");
        let inference = jobfleet_handlers::inference::InferenceConfig { base_url: Some("http://vllm:8000".into()), ..Default::default() };
        let short = Config { job_timeout_secs: 60, inference, ..Config::default() };
        short.validate().expect("no pool: nothing runs ai.inference yet");
        short.for_pool(Pool::MEDIA).expect("media does not run ai.inference");
        let err = short.for_pool(Pool::AI).expect_err("60 s cannot cover 120 s of waiting and a 120 s call");
        assert!(matches!(&err, ConfigError::Invalid { setting, .. } if setting == "inference.cold_start_budget_secs"), "{err}");
        let overridden = Config { job_timeouts_secs: BTreeMap::from([("ai.inference".into(), 600)]), ..short };
        overridden.for_pool(Pool::AI).expect("a per-type timeout covers it");
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
mod pool_tests {
    use super::*;

    fn reports() -> Pool {
        "reports".parse().expect("valid")
    }

    fn with_reports(pool: PoolConfig) -> Config {
        let mut config = Config::default();
        config.pools.insert(reports(), pool);
        config
    }

    #[test]
    fn patterns_match_exact_names_and_prefixes_only() {
        assert!(pattern_matches("media.*", "media.thumbnail"));
        assert!(!pattern_matches("media.*", "media."));
        assert!(!pattern_matches("media.*", "mediax.thumbnail"));
        assert!(pattern_matches("notify.email", "notify.email"));
        assert!(!pattern_matches("notify.email", "notify.emails"));
    }

    #[test]
    fn the_bundled_pools_are_the_default_and_a_file_adds_one() {
        let dir = std::env::temp_dir().join(format!("jobfleet-pools-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("config.toml");
        std::fs::write(
            &file,
            "[pools.reports]\njob_types = [\"reports.*\"]\nconcurrency = 3\n[pools.reports.job_timeouts_secs]\n\"reports.render\" = 600\n",
        )
        .expect("write");
        let config = Config::load(Some(&file)).expect("loads");
        let names: Vec<&str> = config.pools.keys().map(|p| p.as_str()).collect();
        assert_eq!(names, ["ai", "media", "notifications", "reports"]);
        let run = config.for_pool(reports()).expect("configured");
        assert_eq!(run.pool, Some(reports()));
        assert_eq!(run.concurrency, 3);
        assert_eq!(run.job_timeout("reports.render"), Duration::from_secs(600));
        assert_eq!(config.for_pool(Pool::MEDIA).expect("bundled").concurrency, Config::default().concurrency);
    }

    #[test]
    fn an_unknown_pool_lists_the_configured_ones() {
        let err = Config::default().for_pool(reports()).expect_err("not configured");
        let text = err.to_string();
        assert!(text.contains("`pool`") && text.contains("ai, media, notifications") && text.contains("[pools.reports]"), "{text}");
    }

    #[test]
    fn fifo_is_derived_from_the_url_and_must_agree_with_both_queues() {
        let fifo_url = "http://sqs/1/t-jobfleet-reports.fifo".to_owned();
        let standard_dlq = Some("http://sqs/1/t-jobfleet-reports-dlq".to_owned());
        let mut config =
            with_reports(PoolConfig { queue_url: Some(fifo_url), dlq_url: standard_dlq, ..PoolConfig::routing(&["reports.*"]) });
        let pool = reports();
        let err = config.for_pool(pool).expect_err("a FIFO queue with a standard DLQ");
        assert_eq!(setting_of_error(&err).as_deref(), Some("pools.reports.dlq_url"), "{err}");
        config.pools.get_mut(&pool).expect("reports").dlq_url = Some("http://sqs/1/t-jobfleet-reports-dlq.fifo".into());
        assert!(config.pool_fifo(pool).expect("configured"));
        config.for_pool(pool).expect("FIFO queue and FIFO DLQ");
        config.pools.get_mut(&pool).expect("reports").fifo = Some(false);
        let err = config.for_pool(pool).expect_err("fifo = false with a .fifo URL");
        assert_eq!(setting_of_error(&err).as_deref(), Some("pools.reports.queue_url"), "{err}");

        let named = with_reports(PoolConfig { fifo: Some(true), ..PoolConfig::routing(&["reports.*"]) });
        assert_eq!(
            named.queue_names(pool).expect("configured"),
            ("local-jobfleet-reports.fifo".to_owned(), "local-jobfleet-reports-dlq.fifo".to_owned())
        );
        assert_eq!(Config::default().queue_names(Pool::MEDIA).expect("bundled").0, "local-jobfleet-media");
    }

    #[test]
    fn a_fair_pool_is_standard_and_its_tenant_cap_fits_the_pool() {
        let pool = reports();
        let fair = |cap: Option<u32>, fifo: Option<bool>| {
            with_reports(PoolConfig {
                fair: true,
                fifo,
                concurrency: Some(16),
                tenant_max_concurrency: cap.and_then(NonZeroU32::new),
                ..PoolConfig::routing(&["reports.*"])
            })
        };
        fair(None, None).for_pool(pool).expect("the default fair share");
        fair(Some(16), None).for_pool(pool).expect("a cap up to the concurrency");
        let err = fair(Some(17), None).for_pool(pool).expect_err("a cap over the concurrency caps nothing");
        assert_eq!(setting_of_error(&err).as_deref(), Some("pools.reports.tenant_max_concurrency"), "{err}");
        let err = fair(None, Some(true)).for_pool(pool).expect_err("fair and FIFO");
        assert_eq!(setting_of_error(&err).as_deref(), Some("pools.reports.fair"), "{err}");
        let mut unfair = fair(Some(4), None);
        unfair.pools.get_mut(&pool).expect("reports").fair = false;
        let err = unfair.for_pool(pool).expect_err("a cap without fair");
        assert_eq!(setting_of_error(&err).as_deref(), Some("pools.reports.tenant_max_concurrency"), "{err}");
    }

    #[test]
    fn priority_queues_are_named_after_the_pool_and_ranked_by_weight() {
        let pool = reports();
        let high = PriorityQueueConfig { weight: NonZeroU32::new(4).expect("4"), queue_url: None, dlq_url: None };
        let bulk = PriorityQueueConfig { weight: NonZeroU32::new(1).expect("1"), queue_url: None, dlq_url: None };
        let config = with_reports(PoolConfig {
            weight: NonZeroU32::new(2),
            priority_queues: BTreeMap::from([("high".to_owned(), high), ("bulk".to_owned(), bulk)]),
            ..PoolConfig::routing(&["reports.*"])
        });
        let lanes = config.queue_lanes(pool).expect("configured");
        let ranked: Vec<(&str, &str, u32)> = lanes.iter().map(|l| (l.label.as_str(), l.queue_name.as_str(), l.weight)).collect();
        assert_eq!(
            ranked,
            [("high", "local-jobfleet-reports-high", 4), ("main", "local-jobfleet-reports", 2), ("bulk", "local-jobfleet-reports-bulk", 1)]
        );
        assert_eq!(lanes[0].dlq_name, "local-jobfleet-reports-high-dlq");
        config.for_pool(pool).expect("weighted, distinct names");

        let edit = |config: &mut Config, f: &dyn Fn(&mut PoolConfig)| f(config.pools.get_mut(&pool).expect("reports"));
        let mut strict_tie = config.clone();
        edit(&mut strict_tie, &|p| {
            p.priority = PriorityMode::Strict;
            p.weight = NonZeroU32::new(1);
        });
        let err = strict_tie.for_pool(pool).expect_err("strict with two queues of weight 1");
        assert_eq!(setting_of_error(&err).as_deref(), Some("pools.reports.priority"), "{err}");

        let mut fifo = config.clone();
        edit(&mut fifo, &|p| p.fifo = Some(true));
        let err = fifo.for_pool(pool).expect_err("priority queues on a FIFO pool");
        assert_eq!(setting_of_error(&err).as_deref(), Some("pools.reports.priority_queues"), "{err}");

        let mut bad_name = config.clone();
        edit(&mut bad_name, &|p| {
            let q = p.priority_queues.remove("bulk").expect("bulk");
            p.priority_queues.insert("Bulk_1".to_owned(), q);
        });
        let err = bad_name.for_pool(pool).expect_err("a name that is not a queue name part");
        assert_eq!(setting_of_error(&err).as_deref(), Some("pools.reports.priority_queues.Bulk_1"), "{err}");

        let mut own_label = config.clone();
        edit(&mut own_label, &|p| {
            let q = p.priority_queues.remove("bulk").expect("bulk");
            p.priority_queues.insert(OWN_QUEUE_LABEL.to_owned(), q);
        });
        let err = own_label.for_pool(pool).expect_err("`main` labels the pool's own queue");
        assert_eq!(setting_of_error(&err).as_deref(), Some("pools.reports.priority_queues.main"), "{err}");

        let mut small = config.clone();
        edit(&mut small, &|p| p.concurrency = Some(3));
        let err = small.for_pool(pool).expect_err("three queues' long polls would hold every slot");
        assert_eq!(setting_of_error(&err).as_deref(), Some("concurrency"), "{err}");

        let mut stray_weight = Config::default();
        stray_weight.pools.get_mut(&Pool::MEDIA).expect("media").weight = NonZeroU32::new(3);
        let err = stray_weight.for_pool(Pool::MEDIA).expect_err("a weight without priority queues");
        assert_eq!(setting_of_error(&err).as_deref(), Some("pools.media.weight"), "{err}");
    }

    fn setting_of_error(error: &ConfigError) -> Option<String> {
        match error {
            ConfigError::Invalid { setting, .. } => Some(setting.clone()),
            _ => None,
        }
    }

    #[test]
    fn pool_settings_are_validated_naming_the_setting() {
        let cases = [
            (PoolConfig::default(), "pools.reports.job_types"),
            (PoolConfig { job_types: vec!["Reports.*".into()], ..PoolConfig::default() }, "pools.reports.job_types"),
            (PoolConfig { job_types: vec!["reports*".into()], ..PoolConfig::default() }, "pools.reports.job_types"),
            (
                PoolConfig { job_types: vec!["reports.*".into()], concurrency: Some(0), ..PoolConfig::default() },
                "pools.reports.concurrency",
            ),
            (
                PoolConfig { job_types: vec!["reports.*".into()], queue_url: Some("queue".into()), ..PoolConfig::default() },
                "pools.reports.queue_url",
            ),
        ];
        for (pool, setting) in cases {
            match with_reports(pool.clone()).validate() {
                Err(ConfigError::Invalid { setting: got, .. }) => assert_eq!(got, setting, "{pool:?}"),
                other => panic!("{pool:?}: expected {setting} to be refused, got {other:?}"),
            }
        }
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

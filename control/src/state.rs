//! Per-pool state: queue samples, ledger durations, the gauges.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobfleet_contract::Pool;
use jobfleet_runtime::admin::Health;
use jobfleet_runtime::config::OWN_QUEUE_LABEL;
use jobfleet_runtime::sqs::Sqs;
use jobfleet_runtime::sqs::error::SqsError;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::metrics::{POOL_DESIRED_REPLICAS, POOL_IDLE_SECONDS, POOL_MEAN_JOB_SECONDS, QUEUE_MESSAGES, QUEUE_VISIBLE_DURATION_SECONDS};
use crate::settings::ControlSettings;
use crate::sizing::{self, Demand, Sizing};

/// A pool's queues, resolved at start.
#[derive(Debug, Clone)]
pub struct PoolQueues {
    pub pool: Pool,
    pub main: String,
    pub dlq: String,
    /// The pool's priority queues (`[pools.<pool>.priority_queues]`): their
    /// messages are the pool's demand too.
    pub priority: Vec<PriorityQueue>,
    /// The pool's configured concurrency: used until a ScaledObject names its own.
    pub concurrency: u32,
}

/// One of a pool's priority queues, resolved at start.
#[derive(Debug, Clone)]
pub struct PriorityQueue {
    /// Its name in the configuration: the `queue` label of its gauges
    /// (`<label>-dlq` for its DLQ).
    pub label: String,
    pub url: String,
    pub dlq: String,
}

/// A lookup behind a scaler answer failed. Typed, so the gRPC status KEDA
/// logs can say whether waiting helps (`scaler::status`).
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Sqs(#[from] SqsError),
    #[error("ledger: {0}")]
    Ledger(#[from] sqlx::Error),
}

#[derive(Debug, Default)]
struct PoolState {
    /// (when read, mean job seconds or None without history).
    durations: Option<(Instant, Option<f64>)>,
    /// Since when the main queue has had visible messages without a break.
    visible_since: Option<Instant>,
    /// The sizing KEDA last asked with (the gauge uses it).
    last_sizing: Option<Sizing>,
}

/// Every configured pool, with what the service knows about it.
#[derive(Debug)]
pub struct Fleet {
    db: PgPool,
    sqs: Sqs,
    pools: Vec<PoolQueues>,
    settings: ControlSettings,
    health: Arc<Health>,
    state: Mutex<HashMap<Pool, PoolState>>,
}

impl Fleet {
    pub(crate) fn new(db: PgPool, sqs: Sqs, pools: Vec<PoolQueues>, settings: ControlSettings, health: Arc<Health>) -> Self {
        let state = pools.iter().map(|p| (p.pool, PoolState::default())).collect();
        Self { db, sqs, pools, settings, health, state: Mutex::new(state) }
    }

    pub fn pools(&self) -> Vec<Pool> {
        self.pools.iter().map(|p| p.pool).collect()
    }

    pub fn queues(&self, name: &str) -> Option<&PoolQueues> {
        self.pools.iter().find(|p| p.pool.as_str() == name)
    }

    pub(crate) fn settings(&self) -> &ControlSettings {
        &self.settings
    }

    fn with_state<T>(&self, pool: Pool, f: impl FnOnce(&mut PoolState) -> T) -> T {
        let mut guard = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(guard.entry(pool).or_default())
    }

    /// Each queue's counts now (one GetQueueAttributes each): the pool's own
    /// queue ([`OWN_QUEUE_LABEL`]), then its priority queues.
    async fn depths(&self, queues: &PoolQueues) -> Result<Vec<(String, Demand)>, LookupError> {
        let mut depths = Vec::with_capacity(1 + queues.priority.len());
        let lanes = std::iter::once((OWN_QUEUE_LABEL, &queues.main)).chain(queues.priority.iter().map(|q| (q.label.as_str(), &q.url)));
        for (label, url) in lanes {
            depths.push((label.to_owned(), self.depth(url).await?));
        }
        Ok(depths)
    }

    /// One queue's counts now.
    async fn depth(&self, url: &str) -> Result<Demand, SqsError> {
        let (visible, in_flight, delayed) = self.sqs.queue_depth(url).await?;
        Ok(Demand { visible, in_flight, delayed })
    }

    /// The pool's demand now: the sum over its queues.
    pub async fn demand(&self, queues: &PoolQueues) -> Result<Demand, LookupError> {
        Ok(total(&self.depths(queues).await?))
    }

    /// The pool's recent mean job seconds, re-read from the ledger at most
    /// every `durations_refresh`; `None` when the pool has no history.
    pub async fn mean_job_secs(&self, pool: Pool) -> Result<Option<f64>, LookupError> {
        let refresh = self.settings.durations_refresh;
        if let Some((at, mean)) = self.with_state(pool, |s| s.durations)
            && at.elapsed() < refresh
        {
            return Ok(mean);
        }
        let rows: Vec<(String, i64, f64)> = sqlx::query_as(
            "SELECT job_type, count(*)::bigint, avg(extract(epoch FROM finished_at - started_at))::float8
             FROM (SELECT job_type, started_at, finished_at FROM jobs
                   WHERE pool = $1 AND finished_at IS NOT NULL AND started_at IS NOT NULL
                     AND finished_at > now() - make_interval(secs => $2) AND finished_at >= started_at
                   ORDER BY finished_at DESC LIMIT $3) recent
             GROUP BY job_type",
        )
        .bind(pool.as_str())
        .bind(self.settings.history_max_age.as_secs_f64())
        .bind(i64::from(self.settings.history_jobs))
        .fetch_all(&self.db)
        .await?;
        self.health.db_ok();
        let per_type: Vec<(String, u64, f64)> = rows.into_iter().map(|(t, n, mean)| (t, n.max(0) as u64, mean)).collect();
        let mean = sizing::pool_mean_secs(&per_type);
        self.with_state(pool, |s| s.durations = Some((Instant::now(), mean)));
        Ok(mean)
    }

    /// Seconds since the ledger last recorded a job start in the pool
    /// (`None`: never).
    pub async fn idle_secs(&self, pool: Pool) -> Result<Option<f64>, LookupError> {
        let idle: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM now() - max(started_at))::float8 FROM jobs WHERE pool = $1 AND started_at IS NOT NULL",
        )
        .bind(pool.as_str())
        .fetch_one(&self.db)
        .await?;
        // Every sample round's ledger answer keeps readiness fresh: the
        // history query runs only every `durations_refresh`, and counting on
        // it alone made `/readyz` fail between refreshes (30 s against a max
        // age of 3 sample intervals + 5 s).
        self.health.db_ok();
        Ok(idle.map(|s| s.max(0.0)))
    }

    /// The sizing of a request: the ScaledObject's metadata where given,
    /// else the pool's configuration and the service's defaults.
    pub(crate) fn sizing(&self, queues: &PoolQueues, mean: Option<f64>, overrides: &Overrides) -> Sizing {
        Sizing {
            mean_job_secs: mean.unwrap_or(overrides.cold_start_job_secs.unwrap_or(self.settings.cold_start_job_secs)),
            concurrency: overrides.concurrency.unwrap_or(queues.concurrency),
            target_drain_secs: overrides.target_drain_secs.unwrap_or(self.settings.default_target_drain_secs),
        }
    }

    /// Desired replicas for a KEDA request, fresh from SQS and the ledger.
    pub(crate) async fn recommend(&self, queues: &PoolQueues, overrides: &Overrides) -> Result<(Demand, u32), LookupError> {
        let demand = self.demand(queues).await?;
        let mean = self.mean_job_secs(queues.pool).await?;
        let sizing = self.sizing(queues, mean, overrides);
        self.with_state(queues.pool, |s| s.last_sizing = Some(sizing));
        let desired = sizing::desired_replicas(demand, sizing);
        metrics::gauge!(POOL_DESIRED_REPLICAS, "pool" => queues.pool.as_str()).set(f64::from(desired));
        Ok((demand, desired))
    }

    /// One sampling round of a pool: queue gauges (main and DLQ), visible
    /// duration, idle time, mean job seconds and desired replicas.
    async fn sample(&self, queues: &PoolQueues) -> Result<(), LookupError> {
        let label = queues.pool.as_str();
        let mut depths = self.depths(queues).await?;
        let main = total(&depths);
        let dlqs =
            std::iter::once(("dlq".to_owned(), &queues.dlq)).chain(queues.priority.iter().map(|q| (format!("{}-dlq", q.label), &q.dlq)));
        for (queue, url) in dlqs.collect::<Vec<_>>() {
            depths.push((queue, self.depth(url).await?));
        }
        self.health.sqs_ok();
        for (queue, d) in &depths {
            for (state, value) in [("visible", d.visible), ("in_flight", d.in_flight), ("delayed", d.delayed)] {
                metrics::gauge!(QUEUE_MESSAGES, "pool" => label, "queue" => queue.clone(), "state" => state).set(value as f64);
            }
        }
        let visible_for = self.with_state(queues.pool, |s| {
            if main.visible == 0 {
                s.visible_since = None;
                Duration::ZERO
            } else {
                s.visible_since.get_or_insert_with(Instant::now).elapsed()
            }
        });
        metrics::gauge!(QUEUE_VISIBLE_DURATION_SECONDS, "pool" => label).set(visible_for.as_secs_f64());
        let idle = self.idle_secs(queues.pool).await?;
        // Never started a job: idle since forever, which +Inf says honestly.
        metrics::gauge!(POOL_IDLE_SECONDS, "pool" => label).set(idle.unwrap_or(f64::INFINITY));
        let mean = self.mean_job_secs(queues.pool).await?;
        let sizing = self
            .with_state(queues.pool, |s| s.last_sizing)
            .map(|last| Sizing { mean_job_secs: mean.unwrap_or(last.mean_job_secs), ..last })
            .unwrap_or_else(|| self.sizing(queues, mean, &Overrides::default()));
        metrics::gauge!(POOL_MEAN_JOB_SECONDS, "pool" => label).set(sizing.mean_job_secs);
        metrics::gauge!(POOL_DESIRED_REPLICAS, "pool" => label).set(f64::from(sizing::desired_replicas(main, sizing)));
        Ok(())
    }
}

/// Per-ScaledObject settings from the trigger's metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Overrides {
    pub target_drain_secs: Option<f64>,
    pub concurrency: Option<u32>,
    pub cold_start_job_secs: Option<f64>,
}

pub(crate) async fn sample_loop(fleet: Arc<Fleet>, pool: Pool, stop: CancellationToken) {
    let Some(queues) = fleet.pools.iter().find(|p| p.pool == pool).cloned() else { return };
    let mut ticker = tokio::time::interval(fleet.settings.sample_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Err(e) = fleet.sample(&queues).await {
            tracing::warn!(pool = %pool, error = %e, "pool sample failed");
        }
    }
}

/// The sum of several queues' counts.
fn total(depths: &[(String, Demand)]) -> Demand {
    depths.iter().fold(Demand { visible: 0, in_flight: 0, delayed: 0 }, |sum, (_, d)| Demand {
        visible: sum.visible + d.visible,
        in_flight: sum.in_flight + d.in_flight,
        delayed: sum.delayed + d.delayed,
    })
}

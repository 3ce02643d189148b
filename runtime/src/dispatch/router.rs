//! Maps job types to their middleware-wrapped handlers, for one pool.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use jobfleet_contract::{Handler, Job, JobError, Pool};
use serde_json::Value;
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;

use super::handler_service::{HandlerService, validate_payload};
use super::middleware::catch_panic::CatchPanicLayer;
use super::middleware::claim_check::ClaimCheckLayer;
use super::middleware::judge::JudgeLayer;
use super::middleware::metrics::MetricsLayer;
use super::middleware::timeout::TimeoutLayer;
use super::middleware::trace::TraceLayer;
use super::{Invocation, RetryPolicy, Verdict};
use crate::config::PoolConfig;
use crate::store::claims::ClaimStore;

/// What the router and the middleware stack need from the configuration.
#[derive(Debug, Clone)]
pub struct StackSettings {
    pub pool: Pool,
    /// The fleet's pools and their routing: this router takes the types
    /// `pools[pool]` routes, and refuses a type another pool routes too.
    pub pools: BTreeMap<Pool, PoolConfig>,
    /// Attempts and backoff: what the judge layer decides a failure with.
    pub retry: RetryPolicy,
    pub default_timeout: Duration,
    pub timeouts: BTreeMap<String, Duration>,
    /// Where `payload_ref`s are fetched from (and deleted after success).
    pub claims: Arc<ClaimStore>,
}

type Validate = fn(u32, Value) -> Result<(), JobError>;

/// One registered job type.
#[derive(Clone)]
pub struct Route {
    pub job_type: &'static str,
    pub version: u32,
    pub timeout: Duration,
    service: BoxCloneSyncService<Invocation, Verdict, Infallible>,
    validate: Validate,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route").field("job_type", &self.job_type).field("timeout", &self.timeout).finish()
    }
}

impl Route {
    /// Runs the job through the stack: its one verdict.
    pub async fn call(&self, inv: Invocation) -> Verdict {
        use tower::ServiceExt;
        match self.service.clone().oneshot(inv).await {
            Ok(verdict) => verdict,
            Err(never) => match never {},
        }
    }

    /// Checks a payload without running the job.
    pub fn validate(&self, version: u32, payload: Value) -> Result<(), JobError> {
        (self.validate)(version, payload)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(
        "job type {job_type} belongs to pool {pool} (its Job::POOL), but setting `pools.{pool}.job_types` does not route it there; add {job_type:?} (or a matching `prefix.*`)"
    )]
    NotRouted { job_type: &'static str, pool: Pool },
    #[error(
        "job type {job_type} is routed to pools {first} and {second} (settings `pools.{first}.job_types`, `pools.{second}.job_types`): a type belongs to exactly one pool"
    )]
    RoutedTwice { job_type: &'static str, first: Pool, second: Pool },
    #[error(
        "setting `pools.{pool}.job_types`: {pattern:?} matches no job type this worker has a handler for (registered: {registered}); run a worker binary that registers them (docs/extending.md)"
    )]
    NoHandler { pool: Pool, pattern: String, registered: String },
    #[error("no pool {0:?} is configured")]
    UnknownPool(Pool),
    #[error("job type {0} is registered twice")]
    Duplicate(&'static str),
}

#[derive(Debug)]
pub struct Router {
    settings: StackSettings,
    routes: HashMap<&'static str, Route>,
}

impl Router {
    pub fn new(settings: StackSettings) -> Self {
        Self { settings, routes: HashMap::new() }
    }

    pub fn pool(&self) -> Pool {
        self.settings.pool
    }

    pub fn claims(&self) -> &ClaimStore {
        &self.settings.claims
    }

    fn routing(&self) -> Option<&PoolConfig> {
        self.settings.pools.get(&self.settings.pool)
    }

    /// Registers `handler` for `J`, wrapped in the middleware stack in the
    /// order documented in [`super::middleware`] — if this pool runs `J`:
    /// its `job_types` route it, or `J` has no home pool (`diag.*`, which
    /// every pool accepts). A type routed elsewhere is skipped, so a binary
    /// can register all its handlers whichever pool it runs.
    pub fn register<J: Job, H: Handler<J>>(&mut self, handler: H) -> Result<&mut Self, RouterError> {
        let pool = self.settings.pool;
        let routed = self.routing().is_some_and(|r| r.routes(J::TYPE));
        match J::POOL {
            Some(home) if home == pool && !routed => return Err(RouterError::NotRouted { job_type: J::TYPE, pool }),
            Some(_) if !routed => return Ok(self),
            _ => {}
        }
        if self.routes.contains_key(J::TYPE) {
            return Err(RouterError::Duplicate(J::TYPE));
        }
        let timeout = self.settings.timeouts.get(J::TYPE).copied().unwrap_or(self.settings.default_timeout);
        let service = ServiceBuilder::new()
            .layer(TraceLayer)
            .layer(MetricsLayer)
            .layer(JudgeLayer { policy: self.settings.retry })
            .layer(TimeoutLayer { limit: timeout })
            .layer(CatchPanicLayer)
            .layer(ClaimCheckLayer { store: self.settings.claims.clone() })
            .service(HandlerService::<J, H>::new(handler));
        let route = Route {
            job_type: J::TYPE,
            version: J::VERSION,
            timeout,
            service: BoxCloneSyncService::new(service),
            validate: validate_payload::<J>,
        };
        self.routes.insert(J::TYPE, route);
        Ok(self)
    }

    /// Checks the routing once every handler is registered: each of the
    /// pool's `job_types` patterns has a handler here, and no type this pool
    /// runs is routed to another pool as well.
    pub fn check_routing(&self) -> Result<(), RouterError> {
        let pool = self.settings.pool;
        let routing = self.routing().ok_or(RouterError::UnknownPool(pool))?;
        for pattern in &routing.job_types {
            if !self.routes.keys().any(|t| crate::config::pattern_matches(pattern, t)) {
                return Err(RouterError::NoHandler { pool, pattern: pattern.clone(), registered: self.job_types().join(", ") });
            }
        }
        for job_type in self.routes.keys().filter(|t| routing.routes(t)) {
            if let Some((other, _)) = self.settings.pools.iter().find(|(p, r)| **p != pool && r.routes(job_type)) {
                let (first, second) = if pool < *other { (pool, *other) } else { (*other, pool) };
                return Err(RouterError::RoutedTwice { job_type, first, second });
            }
        }
        Ok(())
    }

    pub fn route(&self, job_type: &str) -> Option<&Route> {
        self.routes.get(job_type)
    }

    /// Registered type names, sorted.
    pub fn job_types(&self) -> Vec<&'static str> {
        let mut types: Vec<_> = self.routes.keys().copied().collect();
        types.sort_unstable();
        types
    }

    /// The longest timeout of any route: what a drain may have to wait for.
    pub fn max_timeout(&self) -> Duration {
        self.routes.values().map(|r| r.timeout).max().unwrap_or(self.settings.default_timeout)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jobfleet_contract::{JobContext, JobError};
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::config::{Config, PoolConfig, bundled_pools};

    const REPORTS: Pool = Pool::from_static("reports");

    #[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
    struct Render {}

    impl Job for Render {
        const TYPE: &'static str = "reports.render";
        const POOL: Option<Pool> = Some(REPORTS);
    }

    async fn render(_: Render, _: JobContext) -> Result<(), JobError> {
        Ok(())
    }

    fn router(pool: Pool, pools: BTreeMap<Pool, PoolConfig>) -> Router {
        let config = Config { pools, ..Config::default() };
        crate::dispatch::catalog::router(&config, pool)
    }

    fn with_reports(job_types: &[&str]) -> BTreeMap<Pool, PoolConfig> {
        let mut pools = bundled_pools();
        pools.insert(REPORTS, PoolConfig { job_types: job_types.iter().map(|t| (*t).to_owned()).collect(), ..PoolConfig::default() });
        pools
    }

    #[test]
    fn a_type_is_registered_where_it_is_routed_and_skipped_elsewhere() {
        let mut reports = router(REPORTS, with_reports(&["reports.*"]));
        reports.register(render).expect("routed");
        reports.check_routing().expect("every pattern has a handler");
        assert_eq!(reports.job_types(), ["reports.render"]);
        let mut media = router(Pool::MEDIA, with_reports(&["reports.*"]));
        media.register(render).expect("skipped, not refused");
        assert!(media.route("reports.render").is_none());
    }

    #[test]
    fn a_type_its_home_pool_does_not_route_is_refused() {
        let mut reports = router(REPORTS, with_reports(&["reports.export"]));
        let err = reports.register(render).expect_err("home pool must route it");
        assert!(err.to_string().contains("`pools.reports.job_types`"), "{err}");
    }

    #[test]
    fn a_pattern_without_a_handler_is_refused_naming_the_setting() {
        let reports = router(REPORTS, with_reports(&["reports.*"]));
        let err = reports.check_routing().expect_err("no handler registered");
        assert!(matches!(err, RouterError::NoHandler { .. }), "{err}");
        assert!(err.to_string().contains("docs/extending.md"), "{err}");
    }

    #[test]
    fn a_type_routed_to_two_pools_is_refused() {
        let mut pools = with_reports(&["reports.*"]);
        pools.insert(Pool::from_static("exports"), PoolConfig { job_types: vec!["reports.render".into()], ..PoolConfig::default() });
        let mut reports = router(REPORTS, pools);
        reports.register(render).expect("routed");
        let err = reports.check_routing().expect_err("routed twice");
        assert!(matches!(err, RouterError::RoutedTwice { first, second, .. } if first.as_str() == "exports" && second == REPORTS), "{err}");
    }
}

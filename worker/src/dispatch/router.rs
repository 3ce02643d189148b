//! Maps job types to their middleware-wrapped handlers, for one pool.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jobs::{Handler, Job, JobError, Pool};
use serde_json::Value;
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;

use super::handler_service::{HandlerService, validate_payload};
use super::middleware::MiddlewareLayer;
use super::middleware::catch_panic::CatchPanic;
use super::middleware::claim_check::ResolveClaimCheck;
use super::middleware::metrics::Metrics;
use super::middleware::retry_budget::RetryBudget;
use super::middleware::timeout::Timeout;
use super::middleware::trace::Trace;
use super::{Failure, Invocation, JobResult};
use crate::store::claims::ClaimStore;

/// What the middleware stack needs from the configuration.
#[derive(Debug, Clone)]
pub struct StackSettings {
    pub pool: Pool,
    pub max_attempts: u32,
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
    service: BoxCloneSyncService<Invocation, Value, Failure>,
    validate: Validate,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route").field("job_type", &self.job_type).field("timeout", &self.timeout).finish()
    }
}

impl Route {
    pub async fn call(&self, inv: Invocation) -> JobResult {
        use tower::ServiceExt;
        self.service.clone().oneshot(inv).await
    }

    /// Checks a payload without running the job.
    pub fn validate(&self, version: u32, payload: Value) -> Result<(), JobError> {
        (self.validate)(version, payload)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("job type {job_type} belongs to pool {belongs_to}, not {pool}")]
    WrongPool { job_type: &'static str, belongs_to: Pool, pool: Pool },
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

    /// Registers `handler` for `J`, wrapped in the middleware stack in the
    /// order documented in [`super::middleware`].
    pub fn register<J: Job, H: Handler<J>>(&mut self, handler: H) -> Result<&mut Self, RouterError> {
        let pool = self.settings.pool;
        if let Some(belongs_to) = J::POOL
            && belongs_to != pool
        {
            return Err(RouterError::WrongPool { job_type: J::TYPE, belongs_to, pool });
        }
        if self.routes.contains_key(J::TYPE) {
            return Err(RouterError::Duplicate(J::TYPE));
        }
        let timeout = self.settings.timeouts.get(J::TYPE).copied().unwrap_or(self.settings.default_timeout);
        let service = ServiceBuilder::new()
            .layer(MiddlewareLayer(Trace))
            .layer(MiddlewareLayer(Metrics))
            .layer(MiddlewareLayer(RetryBudget { max_attempts: self.settings.max_attempts }))
            .layer(MiddlewareLayer(Timeout { limit: timeout }))
            .layer(MiddlewareLayer(CatchPanic))
            .layer(MiddlewareLayer(ResolveClaimCheck { store: self.settings.claims.clone() }))
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

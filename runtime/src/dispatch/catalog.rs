//! The bundled handlers (each behind its cargo feature) and the router a
//! pool gets from them. An embedding binary builds its own router the same
//! way: [`router`] for the settings, `register` for each of its handlers,
//! then [`Router::check_routing`] (see docs/extending.md).

use std::sync::Arc;

use jobfleet_contract::Pool;

use super::RetryPolicy;
use super::router::{Router, RouterError, StackSettings};
use crate::config::Config;
use crate::store::claims::ClaimStore;

pub fn stack_settings(config: &Config, pool: Pool) -> StackSettings {
    let mut timeouts = config.job_timeouts_secs.clone();
    if let Some(pool_config) = config.pools.get(&pool) {
        timeouts.extend(pool_config.job_timeouts_secs.clone());
    }
    StackSettings {
        pool,
        pools: config.pools.clone(),
        retry: RetryPolicy {
            max_attempts: config.max_attempts,
            base_delay_secs: config.retry_base_delay_secs,
            max_delay_secs: config.retry_max_delay_secs,
        },
        default_timeout: std::time::Duration::from_secs(config.job_timeout_secs),
        timeouts: timeouts.into_iter().map(|(k, v)| (k, std::time::Duration::from_secs(v))).collect(),
        claims: Arc::new(ClaimStore::new(config.claim_check_max_bytes, config.claim_check_delete_after_success)),
    }
}

/// An empty router for `pool` (no handlers yet), with the stack settings
/// `config` gives it.
pub fn router(config: &Config, pool: Pool) -> Router {
    Router::new(stack_settings(config, pool))
}

/// Registers every bundled handler compiled into this binary; the router
/// keeps those its pool runs. The `diag.*` types only when `diag_enabled`.
pub fn register_bundled(router: &mut Router, config: &Config) -> Result<(), RouterError> {
    #[cfg(feature = "diag")]
    if config.diag_enabled() {
        use jobfleet_handlers::diag;
        router.register(diag::noop)?.register(diag::sleep)?.register(diag::fail)?;
    }
    // Handlers build their AWS clients lazily (on first job), so this stays
    // synchronous and cheap; `Config::validate` has checked their settings.
    #[cfg(feature = "notifications")]
    {
        use jobfleet_handlers::notifications::{EmailHandler, PushHandler, SmsHandler, WebhookHandler};
        let notifications = Arc::new(config.notifications.clone());
        router
            .register(EmailHandler::new(notifications.clone()))?
            .register(SmsHandler::new())?
            .register(PushHandler::new())?
            .register(WebhookHandler::new(notifications))?;
    }
    #[cfg(feature = "inference")]
    {
        use jobfleet_handlers::inference::InferenceHandler;
        let bucket = config.inference.results_bucket.clone().unwrap_or_else(|| format!("{}-jobfleet-media", config.env));
        router.register(InferenceHandler::new(Arc::new(config.inference.clone()), bucket))?;
    }
    #[cfg(feature = "media")]
    {
        use jobfleet_handlers::media::thumbnail::ThumbnailHandler;
        router.register(ThumbnailHandler::new(Arc::new(config.media.clone())))?;
    }
    let _ = (router, config);
    Ok(())
}

/// The router for `pool` with every bundled handler it runs, routing checked.
pub fn router_for(config: &Config, pool: Pool) -> Result<Router, RouterError> {
    let mut router = router(config, pool);
    register_bundled(&mut router, config)?;
    router.check_routing()?;
    Ok(router)
}

/// The configured pools whose router knows `job_type` (every pool for
/// `diag.*`), for tools like `worker enqueue` that start from a type name.
/// Routers are built with diag enabled so the answer does not depend on `env`.
pub fn pools_handling(config: &Config, job_type: &str) -> Vec<Pool> {
    let config = Config { diag_enabled: Some(true), ..config.clone() };
    config
        .pools
        .keys()
        .copied()
        .filter(|&pool| {
            let mut router = router(&config, pool);
            register_bundled(&mut router, &config).is_ok() && router.route(job_type).is_some()
        })
        .collect()
}

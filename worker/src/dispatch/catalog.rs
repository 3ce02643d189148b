//! Which handlers each pool runs. Adding a job type = one line here.

use std::sync::Arc;

use jobs::inference::InferenceHandler;
use jobs::media::thumbnail::ThumbnailHandler;
use jobs::notifications::{EmailHandler, PushHandler, SmsHandler, WebhookHandler};
use jobs::{Pool, diag};

use super::router::{Router, RouterError, StackSettings};
use crate::config::Config;
use crate::store::claims::ClaimStore;

pub fn stack_settings(config: &Config, pool: Pool) -> StackSettings {
    StackSettings {
        pool,
        max_attempts: config.max_attempts,
        default_timeout: std::time::Duration::from_secs(config.job_timeout_secs),
        timeouts: config.job_timeouts_secs.iter().map(|(k, v)| (k.clone(), std::time::Duration::from_secs(*v))).collect(),
        claims: Arc::new(ClaimStore::from_config(config)),
    }
}

/// The router for `pool` with every built-in handler of that pool.
pub fn router_for(config: &Config, pool: Pool) -> Result<Router, RouterError> {
    let mut router = Router::new(stack_settings(config, pool));
    if config.diag_enabled() {
        router.register(diag::noop)?.register(diag::sleep)?.register(diag::fail)?;
    }
    // Handlers build their AWS clients lazily (on first job), so this stays
    // synchronous and cheap; `Config::validate` has checked their settings.
    match pool {
        Pool::Notifications => {
            let notifications = Arc::new(config.notifications.clone());
            router
                .register(EmailHandler::new(notifications.clone()))?
                .register(SmsHandler::new())?
                .register(PushHandler::new())?
                .register(WebhookHandler::new(notifications))?;
        }
        Pool::Ai => {
            let bucket = config.inference.results_bucket.clone().unwrap_or_else(|| format!("{}-jobfleet-media", config.env));
            router.register(InferenceHandler::new(Arc::new(config.inference.clone()), bucket))?;
        }
        Pool::Media => {
            router.register(ThumbnailHandler::new(Arc::new(config.media.clone())))?;
        }
    }
    Ok(router)
}

/// The pools whose router knows `job_type` (every pool for `diag.*`), for
/// tools like `worker enqueue` that start from a type name. Routers are
/// built with diag enabled so the answer does not depend on `env`.
pub fn pools_handling(config: &Config, job_type: &str) -> Vec<Pool> {
    let config = Config { diag_enabled: Some(true), ..config.clone() };
    Pool::ALL.into_iter().filter(|&pool| router_for(&config, pool).is_ok_and(|r| r.route(job_type).is_some())).collect()
}

//! The worker daemon with the `reliability.effect` handler added: what the
//! scenarios start, kill -9, SIGTERM and cut off from its dependencies.
//! Configured like `worker run` (JOBFLEET_* variables; `JOBFLEET_POOL`).
//! `effect-worker relay` runs `worker relay`'s loop instead (batches of 50,
//! 20 ms idle), for the relay kill scenario.

use std::process::ExitCode;
use std::time::Duration;

use jobfleet_runtime::config::Config;
use jobfleet_runtime::dispatch::catalog::router_for;
use jobfleet_runtime::{runtime, store, telemetry};
use reliability::effects::{Effect, EffectHandler, Ordered, install, install_ordered};

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::load(None) {
        Ok(config) => config,
        Err(e) => return fail(e),
    };
    telemetry::init_logging(config.log_format);
    if std::env::args().nth(1).as_deref() == Some("relay") {
        return match jobfleet_runtime::outbox::relay::run_until_signalled(&config, 50, Duration::from_millis(20)).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        };
    }
    let pool = match config.require_pool() {
        Ok(pool) => pool,
        Err(e) => return fail(e),
    };
    let mut router = match router_for(&config, pool) {
        Ok(router) => router,
        Err(e) => return fail(e),
    };
    let db = match store::connect(&config.database_url, 8).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    if let Err(e) = install(&db).await {
        return fail(format!("effect tables: {e}"));
    }
    if let Err(e) = install_ordered(&db).await {
        return fail(format!("ordered effect table: {e}"));
    }
    if let Err(e) = router.register::<Effect, _>(EffectHandler { db: db.clone() }) {
        return fail(e);
    }
    if let Err(e) = router.register::<Ordered, _>(EffectHandler { db }) {
        return fail(e);
    }
    match runtime::run_until_signalled(config, router).await {
        Ok(report) => {
            // The scenarios read this line to learn how the drain went.
            println!("{{\"drain_ms\":{},\"aborted\":{}}}", report.took.as_millis(), report.aborted);
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

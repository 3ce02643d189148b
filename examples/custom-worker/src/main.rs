//! `custom-worker`: the jobfleet runtime with this crate's `reports.*`
//! handlers, consuming one pool (docs/extending.md, "Run your own worker").
//!
//! ```sh
//! cargo run -p custom-worker -- --config examples/custom-worker/reports.toml
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use custom_worker::{REPORTS, RenderHandler, digest};
use jobfleet_contract::Pool;
use jobfleet_runtime::config::Config;
use jobfleet_runtime::dispatch::catalog;
use jobfleet_runtime::{Router, RouterError, telemetry};

#[derive(Debug, Parser)]
#[command(name = "custom-worker", about = "The reports pool on the jobfleet runtime")]
struct Args {
    /// TOML config file declaring `[pools.reports]`; JOBFLEET_* variables override it.
    #[arg(long, env = "JOBFLEET_CONFIG")]
    config: Option<PathBuf>,
    /// The pool to consume (default: the config's `pool`, else reports).
    #[arg(long)]
    pool: Option<Pool>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Defaults, then the file, then JOBFLEET_* variables; validated, naming
    // the setting on error.
    let config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => return fail(2, e),
    };
    telemetry::init_logging(config.log_format);
    let pool = args.pool.or(config.pool).unwrap_or(REPORTS);
    // An undeclared pool fails here, listing the configured ones.
    if let Err(e) = config.pool_config(pool) {
        return fail(2, e);
    }

    let router = match router(&config, pool) {
        Ok(router) => router,
        Err(e) => return fail(2, e),
    };

    // Polls until SIGTERM/SIGINT, then drains like `worker run`.
    match jobfleet_runtime::run_until_signalled(config, router).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(1, e),
    }
}

/// The router of `pool` with this binary's handlers. `catalog::router` gives
/// the pool's middleware settings (timeouts, retry budget, claim check);
/// `register` keeps the handlers whose types the pool routes and skips the
/// others, so one binary can serve several pools; `check_routing` refuses a
/// `job_types` pattern without a handler here, or a type routed to two
/// pools, naming the setting.
fn router(config: &Config, pool: Pool) -> Result<Router, RouterError> {
    let mut router = catalog::router(config, pool);
    router.register(digest)?.register(RenderHandler::from_env())?;
    router.check_routing()?;
    Ok(router)
}

/// Exit codes as `worker`'s: 1 runtime failure, 2 bad configuration.
fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

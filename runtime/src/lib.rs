//! The jobfleet worker runtime, as a library.
//!
//! A [`start`]ed worker long-polls its pool's SQS queue, runs each message
//! through the [`dispatch`] router and middleware, records every outcome in
//! the Postgres ledger ([`store`]) before acknowledging it on SQS ([`sqs`]),
//! and exports metrics and health on the [`admin`] port. See
//! docs/ARCHITECTURE.md for the life of one message, and docs/extending.md
//! for embedding the runtime with your own job types.
//!
//! # Embedding it
//!
//! A team's own worker binary depends on `jobfleet-contract` and on this
//! crate with `default-features = false` (no bundled handler: the features
//! `diag`, `media`, `notifications` and `inference` add them), declares its
//! pool in the configuration file
//!
//! ```toml
//! [pools.reports]
//! job_types = ["reports.*"]
//! ```
//!
//! and registers its handlers with the router of the pool it runs:
//!
//! ```no_run
//! use jobfleet_contract::{Job, JobContext, JobError, Pool};
//! use jobfleet_runtime::config::Config;
//! use jobfleet_runtime::dispatch::catalog;
//!
//! #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! struct Digest {
//!     values: Vec<f64>,
//! }
//!
//! impl Job for Digest {
//!     const TYPE: &'static str = "reports.digest";
//!     const POOL: Option<Pool> = Some(Pool::from_static("reports"));
//! }
//!
//! async fn digest(job: Digest, _ctx: JobContext) -> Result<f64, JobError> {
//!     if job.values.is_empty() {
//!         return Err(JobError::permanent("empty_digest", "no values"));
//!     }
//!     Ok(job.values.iter().sum())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::load(Some(std::path::Path::new("reports.toml")))?; // file, then JOBFLEET_* variables
//! let pool: Pool = "reports".parse()?;
//! let mut router = catalog::router(&config, pool);
//! router.register(digest)?;
//! router.check_routing()?; // every `job_types` pattern has a handler
//! jobfleet_runtime::run_until_signalled(config, router).await?; // SIGTERM drains
//! # Ok(()) }
//! ```
//!
//! `examples/custom-worker` in the repository is that binary, complete and
//! tested; tests that want the worker in-process use [`start`] with their
//! own [`Shutdown`] instead of [`run_until_signalled`].

pub mod admin;
pub mod batch;
pub mod config;
pub mod dispatch;
pub mod outbox;
pub mod runtime;
pub mod shutdown;
pub mod sqs;
pub mod store;
pub mod telemetry;

pub use config::Config;
pub use dispatch::{Router, RouterError};
pub use runtime::{DrainReport, StartError, WorkerHandle, run_until_signalled, start};
pub use shutdown::Shutdown;

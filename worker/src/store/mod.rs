//! Where job state lives: the Postgres ledger (sqlx, embedded migrations)
//! and claim-checked payloads in S3.

pub mod claims;
pub mod ledger;
pub mod records;

pub use ledger::{BeginOutcome, FinishItem, FinishOutcome, JobStatus, Ledger, LedgerError, StartItem};

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The migrations in `worker/migrations`, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the ledger database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply ledger migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Connects lazily-validated: the pool is created at once and connections
/// are opened on first use, so a worker can start (and report not-ready)
/// while the database is briefly away.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(StoreError::Connect)?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(StoreError::Connect)
}

pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(StoreError::Migrate)
}

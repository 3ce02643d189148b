//! Where job state lives: the Postgres ledger (sqlx, embedded migrations)
//! and claim-checked payloads in S3.

pub mod claims;
pub mod ledger;
pub mod records;

pub use ledger::{BeginOutcome, DbErrorKind, FinishItem, FinishOutcome, JobStatus, Ledger, LedgerError, StartItem};

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
    #[error("cannot read which ledger migrations are applied: {0}")]
    SchemaCheck(#[source] sqlx::Error),
    #[error(
        "the ledger schema is older than this worker: {} not applied.\n  hint: run `worker migrate` against the database (in the cluster: the release's migrations Job, against RDS directly); with migrate_on_start=false a worker never migrates",
        describe_missing(.missing)
    )]
    SchemaBehind { missing: Vec<MissingMigration> },
}

/// An embedded migration the database has not applied, named like its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingMigration {
    pub version: i64,
    pub description: String,
}

fn describe_missing(missing: &[MissingMigration]) -> String {
    match missing {
        [one] => format!("migration {one} is"),
        many => format!("migrations {} are", many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    }
}

impl std::fmt::Display for MissingMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.version, self.description.replace(' ', "_"))
    }
}

/// Connects lazily-validated: the pool is created at once and connections
/// are opened on first use, so a worker can start (and report not-ready)
/// while the database is briefly away.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    connect_with(url, max_connections, true).await
}

/// [`connect`], with sqlx's per-connection statement cache on or off
/// (`db_statement_cache`). Off means "behind a transaction-pooling PgBouncer
/// without prepared-statement tracking" (Debian's 1.18; 1.21 added
/// `max_prepared_statements`), where two things break:
///
/// - *Named statements.* A cached statement lives on the server connection
///   it was prepared on; the client's next transaction may run on another
///   one (`prepared statement "sqlx_s_1" does not exist`), or another
///   client's `sqlx_s_1` is already there (`… already exists`). Off, sqlx
///   (≥ 0.9.1) prepares every statement unnamed.
/// - *Parse and Bind in separate syncs.* sqlx parses a statement, waits for
///   the server (Sync), then binds and executes it (another Sync). PgBouncer
///   hands the server connection to someone else at the first Sync unless a
///   transaction is open, so the Bind can meet another client's unnamed
///   statement. Off, every connection is therefore pinned for as long as it
///   is checked out of the pool: a transaction begins when it is handed out
///   and commits when it comes back (a statement is its own transaction, as
///   before; an explicit `begin()` inside becomes a savepoint).
///
/// Migrations never go through this pool ([`open`] migrates on a plain
/// connection): some cannot run inside a transaction.
pub async fn connect_with(url: &str, max_connections: u32, statement_cache: bool) -> Result<PgPool, StoreError> {
    use sqlx::postgres::PgTransactionManager;
    use sqlx_core::transaction::TransactionManager;

    let options = PgConnectOptions::from_str(url).map_err(StoreError::Connect)?;
    let pool = PgPoolOptions::new().max_connections(max_connections).acquire_timeout(Duration::from_secs(5));
    if statement_cache {
        return pool.connect_with(options).await.map_err(StoreError::Connect);
    }
    // sqlx's own transaction manager, so its depth stays right: a `begin()`
    // on a handed-out connection becomes a savepoint, not a second BEGIN.
    let pool = pool
        .after_connect(|conn, _| Box::pin(async move { PgTransactionManager::begin(conn, None).await }))
        .before_acquire(|conn, _| Box::pin(async move { PgTransactionManager::begin(conn, None).await.map(|()| true) }))
        .after_release(|conn, _| {
            Box::pin(async move {
                // A failed statement left the transaction aborted; COMMIT then rolls it back.
                while PgTransactionManager::get_transaction_depth(conn) > 0 {
                    PgTransactionManager::commit(conn).await?;
                }
                Ok(true)
            })
        })
        // Lazily: `connect_with` would park its first connection in the pool
        // without `after_release`, its transaction open and a server pinned.
        .connect_lazy_with(options.statement_cache_capacity(0));
    sqlx::query("SELECT 1").execute(&pool).await.map_err(StoreError::Connect)?;
    Ok(pool)
}

/// The ledger as a long-running process opens it: connected as configured
/// (`db_statement_cache`), then migrated when `migrate_on_start`, else
/// checked to have every migration this binary embeds — a worker of a newer
/// release must not run on an older schema.
pub async fn open(config: &crate::Config, max_connections: u32) -> Result<PgPool, StoreError> {
    if config.migrate_on_start {
        let plain = connect(&config.database_url, 1).await?;
        migrate(&plain).await?;
        plain.close().await;
    }
    let db = connect_with(&config.database_url, max_connections, config.db_statement_cache).await?;
    require_current_schema(&db).await?;
    Ok(db)
}

pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(StoreError::Migrate)
}

/// The embedded migrations `pool`'s database has not applied (successfully).
/// Migrations applied there but unknown here (a newer release's, during a
/// rollout) are fine: migrations only add.
pub async fn missing_migrations(pool: &PgPool) -> Result<Vec<MissingMigration>, StoreError> {
    let table_exists: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await.map_err(StoreError::SchemaCheck)?;
    let applied: Vec<i64> = if table_exists {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(pool).await.map_err(StoreError::SchemaCheck)?
    } else {
        Vec::new()
    };
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .map(|m| MissingMigration { version: m.version, description: m.description.to_string() })
        .collect())
}

/// Fails with [`StoreError::SchemaBehind`], naming the first missing
/// migration, unless every embedded migration is applied.
pub async fn require_current_schema(pool: &PgPool) -> Result<(), StoreError> {
    let missing = missing_migrations(pool).await?;
    if missing.is_empty() { Ok(()) } else { Err(StoreError::SchemaBehind { missing }) }
}

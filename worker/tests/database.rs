//! The ledger database as the cluster runs it: pods that never migrate
//! (`migrate_on_start=false`) and a transaction-pooling PgBouncer in front
//! of Postgres. Real Postgres (`DATABASE_URL`), and Debian's PgBouncer 1.18
//! started by the test on a port of its own (`scripts/stack.sh deps`
//! installs it).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use common::{Running, TestQueues, eventually};
use futures_util::future::join_all;
use jobfleet_contract::Pool;
use jobfleet_runtime::dispatch::catalog::router_for;
use jobfleet_runtime::store::{self, BeginOutcome, FinishItem, FinishOutcome, JobStatus, Ledger, MIGRATOR, StartItem};
use jobfleet_runtime::{Config, Shutdown};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use time::OffsetDateTime;
use uuid::Uuid;

/// A schema of its own with every migration applied but the newest, and a
/// URL whose connections use it.
async fn schema_missing_the_newest_migration() -> (PgPool, String, store::MissingMigration) {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let admin = PgPool::connect(&base).await.unwrap_or_else(|e| panic!("cannot reach Postgres at {base}: {e}; {}", common::STACK_HINT));
    let schema = format!("t_{}", Uuid::new_v4().simple());
    // Our own UUID, never input: safe to interpolate.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.expect("create schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let pool = PgPool::connect(&url).await.expect("connect to the schema");
    let mut ups: Vec<_> = MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()).collect();
    ups.sort_by_key(|m| m.version);
    let (newest, older) = ups.split_last().expect("migrations are embedded");
    let previous = older.last().expect("more than one migration").version;
    MIGRATOR.run_to(previous, &pool).await.expect("all but the newest migration apply");
    let newest = store::MissingMigration { version: newest.version, description: newest.description.to_string() };
    (pool, url, newest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_refuses_a_schema_older_than_it_needs_naming_the_missing_migration() {
    let (pool, url, newest) = schema_missing_the_newest_migration().await;
    let name = newest.to_string();
    assert_eq!(store::missing_migrations(&pool).await.expect("readable"), vec![newest]);

    let queues = TestQueues::create(Pool::MEDIA).await;
    let config = Config { database_url: url.clone(), migrate_on_start: false, ..queues.config() };
    let router = router_for(&config, queues.pool).expect("router");
    let err = jobfleet_runtime::start(config.clone(), router, Shutdown::new()).await.expect_err("an older schema is refused");
    let text = err.to_string();
    assert!(text.contains(&name) && text.contains("worker migrate"), "the error names the migration and the fix: {text}");

    // The binary says the same and exits 1.
    let out = Command::new(env!("CARGO_BIN_EXE_worker"))
        .args(["run", "--pool", "media"])
        .env("JOBFLEET_ENV", &queues.env)
        .env("JOBFLEET_DATABASE_URL", &url)
        .env("JOBFLEET_MIGRATE_ON_START", "false")
        .env("JOBFLEET_ADMIN_ADDR", "127.0.0.1:0")
        .stdin(Stdio::null())
        .output()
        .expect("worker runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&name), "{stderr}");

    // Once migrated (the release's migrations Job), the same worker starts.
    store::migrate(&pool).await.expect("migrate");
    let worker = Running::start(config.clone(), router_for(&config, queues.pool).expect("router")).await;
    worker.stop().await;
}

/// PgBouncer 1.18 in transaction pooling mode in front of the stack's
/// Postgres, on a free port, killed on drop.
struct PgBouncer {
    child: Child,
    port: u16,
    dir: PathBuf,
    user: String,
    database: String,
}

impl PgBouncer {
    /// `server_connections` per database/user pair: fewer than the
    /// clients, so transactions of different clients share server
    /// connections, as they do in the cluster.
    async fn start(server_connections: u32) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let upstream = PgConnectOptions::from_str(&std::env::var("DATABASE_URL").expect("DATABASE_URL")).expect("a Postgres URL");
        let user = upstream.get_username().to_owned();
        let database = upstream.get_database().unwrap_or("postgres").to_owned();
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let dir = std::env::temp_dir().join(format!("jobfleet-pgbouncer-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ini = format!(
            "[databases]\n{database} = host={host} port={upstream_port} dbname={database}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\nauth_type = trust\nauth_file = {auth}\npool_mode = transaction\ndefault_pool_size = {server_connections}\nmax_client_conn = 200\nignore_startup_parameters = extra_float_digits\nlog_connections = 0\nlog_disconnections = 0\n",
            host = upstream.get_host(),
            upstream_port = upstream.get_port(),
            auth = dir.join("users.txt").display(),
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini).expect("write ini");
        std::fs::write(dir.join("users.txt"), format!("\"{user}\" \"\"\n")).expect("write users");
        // PgBouncer refuses to run as root: then it drops to the postgres user (or nobody), which
        // must read its files.
        let succeeds = |program: &str, args: &[&str]| Command::new(program).args(args).output().is_ok_and(|o| o.status.success());
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        for path in [dir.clone(), dir.join("pgbouncer.ini"), dir.join("users.txt")] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(if path == dir { 0o755 } else { 0o644 })).expect("chmod");
        }
        // Debian installs it in /usr/sbin, which is not on every user's PATH.
        let program = if succeeds("pgbouncer", &["--version"]) { "pgbouncer" } else { "/usr/sbin/pgbouncer" };
        let mut command = Command::new(program);
        if root {
            command.args(["-u", if succeeds("id", &["postgres"]) { "postgres" } else { "nobody" }]);
        }
        let child = command
            .arg(dir.join("pgbouncer.ini"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start pgbouncer ({e}); `scripts/stack.sh deps` installs it"));
        let this = Self { child, port, dir, user, database };
        let url = this.url();
        eventually("pgbouncer to accept connections", Duration::from_secs(10), || {
            let url = url.clone();
            async move { PgPool::connect(&url).await.ok().map(drop) }
        })
        .await;
        this
    }

    fn url(&self) -> String {
        format!("postgres://{}@127.0.0.1:{}/{}", self.user, self.port, self.database)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn item(lease: Duration) -> StartItem {
    let id = Uuid::now_v7();
    StartItem {
        id,
        lease,
        job_type: "diag.noop".into(),
        pool: Pool::MEDIA,
        idempotency_key: id.to_string(),
        enqueued_at: OffsetDateTime::now_utc(),
        message_id: format!("m-{id}"),
    }
}

fn finish(job: &StartItem, fence: i32, status: JobStatus) -> FinishItem {
    FinishItem { job: job.clone(), fence: Some(fence), status, error_class: None, error_message: None, result: None }
}

/// Everything the runtime asks of the ledger, from many tasks at once:
/// start, finish fenced by the attempt, duplicates, busy leases, stale
/// attempts. `Err` on the first ledger error.
async fn exercise_the_ledger(ledger: &Ledger, jobs: usize) -> Result<(), String> {
    let runs = (0..jobs).map(|i| {
        let ledger = ledger.clone();
        async move {
            let lease = if i % 4 == 0 { Duration::ZERO } else { Duration::from_secs(300) };
            let job = item(lease);
            let e = |e: store::LedgerError| e.to_string();
            assert_eq!(ledger.start(job.clone()).await.map_err(e)?, BeginOutcome::Run { attempt: 1 });
            if lease.is_zero() {
                // The lease ran out: a second delivery takes over, and the first attempt is fenced off.
                assert_eq!(ledger.start(job.clone()).await.map_err(e)?, BeginOutcome::Run { attempt: 2 });
                assert_eq!(ledger.finish(finish(&job, 1, JobStatus::Succeeded)).await.map_err(e)?, FinishOutcome::Stale);
                assert_eq!(ledger.finish(finish(&job, 2, JobStatus::Succeeded)).await.map_err(e)?, FinishOutcome::Recorded);
            } else {
                assert_eq!(ledger.start(job.clone()).await.map_err(e)?, BeginOutcome::Busy, "the lease holds");
                assert_eq!(ledger.finish(finish(&job, 1, JobStatus::Retrying)).await.map_err(e)?, FinishOutcome::Recorded);
                assert_eq!(ledger.start(job.clone()).await.map_err(e)?, BeginOutcome::Run { attempt: 2 });
                assert_eq!(ledger.finish(finish(&job, 2, JobStatus::Succeeded)).await.map_err(e)?, FinishOutcome::Recorded);
            }
            assert_eq!(ledger.start(job.clone()).await.map_err(e)?, BeginOutcome::AlreadySucceeded);
            ledger.ping().await.map_err(e)?;
            Ok::<(), String>(())
        }
    });
    join_all(runs).await.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_works_through_a_transaction_pooling_pgbouncer_with_the_statement_cache_off() {
    common::db().await; // migrated directly, as the release's Job does (never through PgBouncer)
    let bouncer = PgBouncer::start(2).await;
    let pool = store::connect_with(&bouncer.url(), 8, false).await.expect("connect through pgbouncer");
    store::require_current_schema(&pool).await.expect("the schema check works through pgbouncer");
    let ledger = Ledger::new(pool, Duration::from_millis(1));
    for round in 0..5 {
        exercise_the_ledger(&ledger, 64).await.unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
}

/// What `db_statement_cache=false` prevents, made deterministic: one server
/// connection behind PgBouncer, two clients taking turns. With sqlx's cache
/// each client names its first statement `sqlx_s_1` and keeps it on the
/// server, so the second client's Parse meets the first one's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_statement_cache_on_a_transaction_pooler_mixes_up_prepared_statements() {
    let bouncer = PgBouncer::start(1).await;
    for cache in [true, false] {
        let first = store::connect_with(&bouncer.url(), 1, cache).await.expect("connect through pgbouncer");
        let second = store::connect_with(&bouncer.url(), 1, cache).await.expect("connect through pgbouncer");
        let one: Result<i32, _> = sqlx::query_scalar("SELECT $1::int4").bind(1).fetch_one(&first).await;
        let two: Result<i32, _> = sqlx::query_scalar("SELECT $1::int4").bind(2).fetch_one(&second).await;
        let again: Result<i32, _> = sqlx::query_scalar("SELECT $1::int4").bind(3).fetch_one(&first).await;
        if cache {
            let code = |r: &Result<i32, sqlx::Error>| match r {
                Err(sqlx::Error::Database(e)) => e.code().map(|c| c.into_owned()),
                _ => None,
            };
            // 42P05 duplicate_prepared_statement.
            assert_eq!(
                (code(&one), code(&two)),
                (None, Some("42P05".to_owned())),
                "with the cache on, the second client must meet the first one's statement: {one:?} {two:?} {again:?}"
            );
            println!("D10 with the statement cache on, through PgBouncer 1.18 (transaction pooling): {two:?}");
        } else {
            assert_eq!((one.ok(), two.ok(), again.ok()), (Some(1), Some(2), Some(3)), "with the cache off every statement works");
        }
        first.close().await;
        second.close().await;
    }
}

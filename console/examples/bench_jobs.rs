//! `make bench-console`: the console's job search on a ledger of 1 M rows.
//! Loads the rows into its own database (BENCH_DATABASE_URL, default
//! `…/jobfleet_console_bench` next to DATABASE_URL), then for each search
//! the Jobs page offers prints the p50/p95 of a page (the same
//! `ops::ledger::search` the page calls) and checks with EXPLAIN that its
//! plan has no sequential scan. Exits 1 if any plan has one.

use std::time::{Duration, Instant};

use jobfleet_ops::ledger::{self, Cursor, JobQuery};
use sqlx::{Executor, PgPool, Row};
use time::OffsetDateTime;

const ROWS: i64 = 1_000_000;
const RUNS: usize = 200;

fn bench_url() -> String {
    if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
        return url;
    }
    let base = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/jobfleet".into());
    match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/jobfleet_console_bench"),
        None => base,
    }
}

async fn load(db: &PgPool) -> Result<(), sqlx::Error> {
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(db).await?;
    if have >= ROWS {
        println!("ledger already has {have} rows");
        return Ok(());
    }
    let started = Instant::now();
    db.execute("TRUNCATE jobs").await?;
    // 30 days of jobs over 3 pools and 12 types; 6% dead or failed with one
    // of 5 error classes, 1% still waiting.
    sqlx::query(
        "INSERT INTO jobs (id, job_type, pool, status, attempts, idempotency_key, enqueued_at, started_at, finished_at, updated_at, last_error_class)
         SELECT gen_random_uuid(),
                (ARRAY['media','notifications','ai'])[1 + g % 3] || '.' || (ARRAY['a','b','c','d'])[1 + (g / 3) % 4],
                (ARRAY['media','notifications','ai'])[1 + g % 3],
                CASE WHEN g % 100 < 5 THEN 'dead' WHEN g % 100 = 5 THEN 'failed' WHEN g % 100 = 6 THEN 'queued' ELSE 'succeeded' END,
                1 + g % 3, 'key-' || g, t, t, CASE WHEN g % 100 = 6 THEN NULL ELSE t END, t,
                CASE WHEN g % 100 < 6 THEN (ARRAY['timeout','decode_error','http_5xx','invalid_payload','quota'])[1 + g % 5] END
         FROM generate_series(1, $1) g, LATERAL (SELECT now() - make_interval(secs => (g * 2.592)::double precision) AS t) ts",
    )
    .bind(ROWS)
    .execute(db)
    .await?;
    db.execute("ANALYZE jobs").await?;
    println!("loaded {ROWS} rows in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = bench_url();
    let (server, name) = url.rsplit_once('/').ok_or("BENCH_DATABASE_URL has no database name")?;
    let admin = PgPool::connect(&format!("{server}/postgres")).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)").bind(name).fetch_one(&admin).await?;
    if !exists {
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await?;
    }
    let db = PgPool::connect(&url).await?;
    jobfleet_runtime::store::migrate(&db).await?;
    load(&db).await?;

    let now = OffsetDateTime::now_utc();
    let deep = {
        // The cursor 10 pages (500 jobs) into the unfiltered list.
        let row =
            sqlx::query("SELECT updated_at, id FROM jobs ORDER BY updated_at DESC, id DESC OFFSET 499 LIMIT 1").fetch_one(&db).await?;
        Cursor { updated_at: row.try_get(0)?, id: row.try_get(1)? }
    };
    let page = |q: JobQuery| JobQuery { limit: 50, ..q };
    let cases: Vec<(&str, JobQuery)> = vec![
        ("newest, no filter", page(JobQuery::default())),
        ("page 11 (keyset)", page(JobQuery { after: Some(deep), ..JobQuery::default() })),
        ("status=dead", page(JobQuery { status: Some("dead".into()), ..JobQuery::default() })),
        ("pool=ai", page(JobQuery { pool: Some("ai".into()), ..JobQuery::default() })),
        ("pool=ai status=failed", page(JobQuery { pool: Some("ai".into()), status: Some("failed".into()), ..JobQuery::default() })),
        ("type prefix media.", page(JobQuery { type_prefix: Some("media.".into()), ..JobQuery::default() })),
        ("type prefix ai.c", page(JobQuery { type_prefix: Some("ai.c".into()), ..JobQuery::default() })),
        ("error_class=quota", page(JobQuery { error_class: Some("quota".into()), ..JobQuery::default() })),
        (
            "updated 3–2 days ago",
            page(JobQuery { from: Some(now - time::Duration::days(3)), to: Some(now - time::Duration::days(2)), ..JobQuery::default() }),
        ),
        ("idempotency key", page(JobQuery { idempotency_key: Some("key-777777".into()), ..JobQuery::default() })),
    ];
    println!("{:<26} {:>9} {:>9} {:>6}  plan", "search (50 per page)", "p50 ms", "p95 ms", "rows");
    let mut seq_scans = 0;
    for (name, query) in &cases {
        let mut times = Vec::with_capacity(RUNS);
        let mut rows = 0;
        for _ in 0..RUNS {
            let started = Instant::now();
            rows = ledger::search(&db, query).await?.jobs.len();
            times.push(started.elapsed());
        }
        times.sort();
        let plan = ledger::explain_search(&db, query).await?.join("\n");
        let seq = plan.contains("Seq Scan");
        seq_scans += usize::from(seq);
        let first = plan.lines().next().unwrap_or_default().trim().to_owned();
        let index = plan.lines().find(|l| l.contains("Index")).map(|l| l.trim().to_owned()).unwrap_or_default();
        println!(
            "{name:<26} {:>9.2} {:>9.2} {rows:>6}  {}{}",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.95).as_secs_f64() * 1e3,
            if seq { "SEQ SCAN! " } else { "" },
            if index.is_empty() { first } else { index }
        );
    }
    if seq_scans > 0 {
        eprintln!("{seq_scans} search(es) planned a sequential scan");
        std::process::exit(1);
    }
    Ok(())
}

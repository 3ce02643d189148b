//! The browser end-to-end test (`make test-console`): a console over real
//! moto and Postgres with a DLQ full of a bad deploy's failures, driven in
//! Debian's chromium by console/tests/browser/e2e.cjs; then SQS and the
//! audit table are checked from here. Needs scripts/browser-tools.sh (the
//! feature `browser-tests` is how the Makefile asks for it).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::TestConsole;
use serde_json::json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_replays_a_bad_deploy_from_the_browser_and_a_viewer_cannot() {
    let (c, _, urgent_dlq_url) = TestConsole::start_with_priority_queue("urgent").await;
    const BAD: usize = 12;
    const URGENT: usize = 2;
    c.seed_into(&urgent_dlq_url, "", "media.thumbnail", "urgent_failure", URGENT, json!({})).await;
    c.seed("media.thumbnail", "decode_error", BAD, json!({ "src": "s3://uploads/a.jpg", "to": "jane@example.com" })).await;
    c.seed("media.transcode", "timeout", 3, json!({})).await;
    // Some finished jobs, so the overview's chart has bars.
    sqlx::query(
        "INSERT INTO jobs (id, job_type, pool, status, attempts, idempotency_key, finished_at, updated_at) \
         SELECT gen_random_uuid(), 'media.thumbnail', 'media', CASE WHEN g % 7 = 0 THEN 'dead' ELSE 'succeeded' END, 1, \
                'browser-' || g || '-' || $1, now() - make_interval(mins => g * 9), now() - make_interval(mins => g * 9) \
         FROM generate_series(1, 150) g",
    )
    .bind(&c.env)
    .execute(&c.db)
    .await
    .expect("ledger rows");

    let modules = Command::new("bash").arg(root().join("scripts/browser-tools.sh")).output().expect("browser-tools.sh runs");
    assert!(modules.status.success(), "scripts/browser-tools.sh failed: {}", String::from_utf8_lossy(&modules.stderr));
    let modules = String::from_utf8_lossy(&modules.stdout).trim().to_owned();
    let shots = std::env::var("CONSOLE_SCREENSHOT_DIR").map(PathBuf::from).unwrap_or_else(|_| root().join("target/console-screenshots"));
    std::fs::create_dir_all(&shots).expect("screenshot dir");

    let output = tokio::process::Command::new("node")
        .arg(root().join("console/tests/browser/e2e.cjs"))
        .env("CONSOLE_URL", &c.base)
        .env("NODE_MODULES", &modules)
        .env("ERROR_CLASS", "decode_error")
        .env("EXPECT", BAD.to_string())
        .env("PRIORITY_EXPECT", URGENT.to_string())
        .env("SCREENSHOT_DIR", &shots)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(output.status.success(), "the browser test failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));

    assert_eq!(c.depth(&c.queue_url).await, BAD as u64, "the bad deploy's jobs are back on the queue");
    assert_eq!(c.depth(&c.dlq_url).await, 3, "the other failures stay in the DLQ");
    assert_eq!(c.depth(&urgent_dlq_url).await, 0, "the priority queue's DLQ was purged");
    let rows = c.audit_rows().await;
    assert!(
        rows.iter().any(|r| r == &("replay".to_owned(), "alice".to_owned(), false, BAD as i64, BAD as i64, true, "console".to_owned())),
        "{rows:?}"
    );
    assert!(rows.iter().all(|r| r.1 == "alice"), "nothing was done as the viewer: {rows:?}");
}

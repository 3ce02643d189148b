//! docs/producers.md's Node.js producer, run as the page prints it: the
//! fenced block marked `<!-- extract: producer.mjs … -->` is written to a
//! temporary folder beside the committed JSON Schema (`contract/schema/`,
//! as `jobfleet-schema/`), with the npm packages pinned in
//! `tests/node-producer/package-lock.json` (`npm ci` into `.tools/`), and
//! enqueues to a running `worker run --pool notifications` on the local
//! stack. The jobs must succeed in the ledger, so the page cannot go stale.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use common::{TestQueues, await_status, db};
use jobfleet_contract::Pool;
use serde_json::Value;
use tokio::process::Command;
use uuid::Uuid;

/// What the test runs with the page's module: one job of a type whose pool
/// comes from its schema, one `diag.*` job given its pool, one with a tenant
/// (to the `media` queue, which no worker reads here, so the test can look
/// at the message), and a payload the schema must refuse before anything is
/// sent.
const DRIVER: &str = r#"
import { enqueue } from "./producer.mjs";
const sms = await enqueue("notify.sms", { phone_number: "+14155550100", message: "Your code is 123456" });
const noop = await enqueue("diag.noop", {}, { pool: "notifications" });
const tenant = await enqueue("diag.noop", {}, { pool: "media", tenant: "customer-42" });
let refused = null;
try {
  await enqueue("notify.sms", { phone_number: "+14155550100" });
} catch (error) {
  refused = error.message;
}
console.log(JSON.stringify({ sms, noop, tenant, refused }));
"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repository root")
}

/// The fenced code blocks a page marks with `<!-- extract: NAME … -->` on
/// the line before the fence, as (NAME, code).
fn extract_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim().strip_prefix("<!-- extract:") else { continue };
        let name = rest.split_whitespace().next().expect("a file name after `extract:`").to_owned();
        let fence = lines.next().unwrap_or_default();
        assert!(fence.starts_with("```"), "the line after the extract marker for {name} must open a code fence, got {fence:?}");
        let code: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
        blocks.push((name, code.join("\n") + "\n"));
    }
    blocks
}

#[test]
fn the_extractor_takes_marked_blocks_only() {
    let page = "text\n```js\nnot this\n```\n<!-- extract: a.mjs — why -->\n```js\nline 1\nline 2\n```\nmore\n";
    assert_eq!(extract_blocks(page), [("a.mjs".to_owned(), "line 1\nline 2\n".to_owned())]);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

/// `npm ci` of the pinned packages into `.tools/node-producer`, once per
/// lock file: the installed copy of the lock is the stamp.
async fn node_modules() -> PathBuf {
    let pinned = repo_root().join("worker/tests/node-producer");
    let dir = repo_root().join(".tools/node-producer");
    let lock = std::fs::read(pinned.join("package-lock.json")).expect("committed package-lock.json");
    let installed = std::fs::read(dir.join("node_modules/.jobfleet-lock.json")).ok();
    if installed.as_deref() != Some(lock.as_slice()) {
        std::fs::create_dir_all(&dir).expect("create .tools/node-producer");
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(pinned.join(file), dir.join(file)).expect("copy the pinned manifest");
        }
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run npm ({e}): install Node.js and npm (`make deps` does)"));
        assert!(output.status.success(), "npm ci failed:\n{}", String::from_utf8_lossy(&output.stderr));
        std::fs::write(dir.join("node_modules/.jobfleet-lock.json"), &lock).expect("stamp");
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_producer_on_the_producers_page_enqueues_jobs_the_worker_runs() {
    let page = std::fs::read_to_string(repo_root().join("docs/producers.md")).expect("docs/producers.md");
    let blocks = extract_blocks(&page);
    assert!(blocks.iter().any(|(name, _)| name == "producer.mjs"), "docs/producers.md marks no producer.mjs block: {blocks:?}");

    let (queues, db) = (TestQueues::create(Pool::NOTIFICATIONS).await, db().await);
    queues.sqs.create_queue().queue_name(Pool::MEDIA.queue_name(&queues.env)).send().await.expect("create the media queue");
    let installed = node_modules().await;
    // Inside the install folder, so Node's module resolution finds its node_modules.
    let run = installed.join(format!("run-{}", Uuid::new_v4().simple()));
    for (name, code) in &blocks {
        std::fs::create_dir_all(&run).expect("run dir");
        std::fs::write(run.join(name), code).expect("write the extracted block");
    }
    copy_dir(&repo_root().join("contract/schema"), &run.join("jobfleet-schema"));
    std::fs::write(run.join("main.mjs"), DRIVER).expect("write the driver");

    let _worker = Command::new(env!("CARGO_BIN_EXE_worker"))
        .args(["run", "--pool", "notifications"])
        .env("JOBFLEET_ENV", &queues.env)
        .env("JOBFLEET_DIAG_ENABLED", "true")
        .env("JOBFLEET_RECEIVE_WAIT_TIME_SECS", "1")
        .env("JOBFLEET_ADMIN_ADDR", "127.0.0.1:0")
        .env("JOBFLEET_LOG_FORMAT", "pretty")
        .env_remove("JOBFLEET_CONFIG")
        .env_remove("JOBFLEET_POOL")
        .env_remove("JOBFLEET_QUEUE_URL")
        .env_remove("JOBFLEET_DLQ_URL")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("worker run starts");

    // AWS_ENDPOINT_URL, AWS_REGION and the credentials come from the
    // environment, as the page says; so does JOBFLEET_ENV.
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new("node").arg("main.mjs").current_dir(&run).env("JOBFLEET_ENV", &queues.env).output(),
    )
    .await
    .expect("node finishes within a minute")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "node failed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let sent: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("the driver prints JSON ({e}): {stdout}"));
    let refused = sent["refused"].as_str().unwrap_or_default();
    assert!(refused.contains("invalid notify.sms payload") && refused.contains("message"), "the schema refuses it: {sent}");

    for job in ["sms", "noop"] {
        let id: Uuid = sent[job].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{job}: no job id in {sent}"));
        let row = await_status(&db, id, "succeeded").await;
        assert_eq!(row.attempts, 1, "{job}: {row:?}");
    }
    assert_eq!(queues.counts(&queues.dlq_url).await, (0, 0), "nothing was dead-lettered");

    // The tenant job: on the standard media queue, with its MessageGroupId.
    let media = queues.sqs.get_queue_url().queue_name(Pool::MEDIA.queue_name(&queues.env)).send().await.expect("media queue");
    let received = queues
        .sqs
        .receive_message()
        .queue_url(media.queue_url.expect("url"))
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .wait_time_seconds(5)
        .send()
        .await
        .expect("receive the tenant job");
    let message = received.messages.unwrap_or_default().pop().expect("the tenant job is in the media queue");
    let tenant_id = sent["tenant"].as_str().unwrap_or_default();
    assert!(!tenant_id.is_empty() && message.body().unwrap_or_default().contains(tenant_id), "the tenant job: {message:?}");
    let group = message.attributes().and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId)).cloned();
    assert_eq!(group.as_deref(), Some("customer-42"), "sent with its tenant as MessageGroupId: {message:?}");
    std::fs::remove_dir_all(&run).expect("clean up the run folder");
}

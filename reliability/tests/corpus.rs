//! The hostile-message corpus (`reliability/corpus/messages.json`): every
//! malformed message reaches the DLQ with the error class the corpus names
//! for it and a non-empty reason, and the worker keeps going.

#[path = "../../worker/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Running, TestQueues, await_status, db, envelope, eventually};
use jobfleet_contract::Pool;
use jobfleet_runtime::dispatch::catalog::router_for;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    /// The message body; `{ID}`, `{ID2}` and `{NOW}` are filled in per run.
    body: String,
    error_class: String,
    why: String,
}

fn corpus() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/messages.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read corpus")).expect("corpus is valid JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_message_is_dead_lettered_with_its_class_and_the_worker_keeps_going() {
    let cases = corpus();
    assert!(cases.len() >= 25, "the corpus holds at least 25 classes of malformed message");
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let config = queues.config();
    let worker = Running::start(config.clone(), router_for(&config, queues.pool).expect("router")).await;

    let now = OffsetDateTime::now_utc().format(&Rfc3339).expect("format");
    let mut by_body = HashMap::new();
    for case in &cases {
        let body =
            case.body.replace("{ID2}", &Uuid::now_v7().to_string()).replace("{ID}", &Uuid::now_v7().to_string()).replace("{NOW}", &now);
        queues.send_raw(&body).await;
        assert!(by_body.insert(body, case).is_none(), "case {} repeats another's body", case.name);
    }
    // A good job after all the bad ones: the worker is still consuming.
    let after = queues.send(&envelope("diag.noop", 1, json!({}))).await;
    await_status(&db, after, "succeeded").await;

    let dead = queues.dead_letters(cases.len()).await;
    let mut wrong = Vec::new();
    for letter in &dead {
        let case = by_body.get(&letter.body).unwrap_or_else(|| panic!("a DLQ body matches no corpus case: {:?}", letter.body));
        if letter.attr("error_class") != case.error_class || letter.attr("error_message").is_empty() {
            wrong.push(format!(
                "{} ({}): expected {}, got {:?} / {:?}",
                case.name,
                case.why,
                case.error_class,
                letter.attr("error_class"),
                letter.attr("error_message")
            ));
        }
    }
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
    assert_eq!(dead.len(), cases.len(), "each case dead-lettered once");
    // A message is deleted after its dead letter is sent: wait for the deletes.
    eventually("nothing left behind in the queue", Duration::from_secs(15), || async {
        (queues.counts(&queues.queue_url).await == (0, 0)).then_some(())
    })
    .await;
    worker.stop().await;
}

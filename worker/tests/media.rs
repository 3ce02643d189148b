//! `media.thumbnail` end to end: a real worker of the `media` pool (built by `router_for`, as
//! `worker run --pool media` builds it), real SQS messages, real S3 and the real ledger.

mod common;

use std::time::Duration;

use common::{Running, TestQueues, await_status, db, envelope, eventually};
use jobfleet_contract::Pool;
use jobfleet_handlers::media::synth;
use jobfleet_runtime::dispatch::catalog::router_for;
use serde_json::json;

/// A photo-sized JPEG, quick to make in a debug build: gradients plus hash noise.
fn photo_jpeg(w: usize, h: usize) -> Vec<u8> {
    synth::encode_jpeg(&synth::gradient_noise(w, h, 5, 15, 16), w, h, 90, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thumbnail_job_from_sqs_writes_its_variants_and_succeeds_and_a_fake_image_is_dead_lettered() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let s3 = jobfleet_contract::aws::s3_client(&jobfleet_contract::aws::load_sdk_config().await);
    let bucket = format!("{}-media", queues.env);
    s3.create_bucket().bucket(&bucket).send().await.unwrap_or_else(|e| panic!("create bucket: {e:?}; {}", common::STACK_HINT));
    let source = photo_jpeg(2000, 1500);
    s3.put_object().bucket(&bucket).key("uploads/cat.jpg").body(source.clone().into()).send().await.expect("put photo");
    s3.put_object().bucket(&bucket).key("uploads/notes.jpg").body(b"plain text\n".to_vec().into()).send().await.expect("put text");

    let config = queues.config();
    let worker = Running::start(config.clone(), router_for(&config, Pool::MEDIA).expect("router")).await;
    let photo = queues.send(&envelope("media.thumbnail", 1, json!({ "bucket": bucket, "key": "uploads/cat.jpg" }))).await;
    let fake = queues.send(&envelope("media.thumbnail", 1, json!({ "bucket": bucket, "key": "uploads/notes.jpg" }))).await;

    let row = await_status(&db, photo, "succeeded").await;
    assert_eq!(row.attempts, 1);
    let result = row.result.expect("a result");
    assert_eq!(
        result["source"],
        json!({ "key": "uploads/cat.jpg", "bytes": source.len(), "format": "jpeg", "width": 2000, "height": 1500 })
    );
    let variants = result["variants"].as_array().expect("variants");
    let got: Vec<(String, u64, u64)> = variants
        .iter()
        .map(|v| (v["key"].as_str().unwrap_or_default().to_owned(), v["width"].as_u64().unwrap_or(0), v["height"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("thumbnails/uploads/cat/1600.jpg".to_owned(), 1600, 1200),
            ("thumbnails/uploads/cat/640.jpg".to_owned(), 640, 480),
            ("thumbnails/uploads/cat/160.jpg".to_owned(), 160, 120),
        ]
    );
    for v in variants {
        let key = v["key"].as_str().unwrap_or_default();
        let head = s3.head_object().bucket(&bucket).key(key).send().await.unwrap_or_else(|e| panic!("{key} not written: {e:?}"));
        assert_eq!(head.content_type(), Some("image/jpeg"), "{key}");
        assert_eq!(head.content_length().and_then(|n| u64::try_from(n).ok()), v["bytes"].as_u64(), "{key}");
    }

    let row = await_status(&db, fake, "failed").await;
    assert_eq!(row.last_error_class.as_deref(), Some("unsupported_format"));
    let dead = queues.dead_letters(1).await;
    assert_eq!(dead[0].attr("error_class"), "unsupported_format");
    assert_eq!(jobfleet_contract::Envelope::decode(dead[0].body.as_bytes()).map(|e| e.id).ok(), Some(fake));
    eventually("both messages to leave the queue", Duration::from_secs(10), || async {
        (queues.counts(&queues.queue_url).await == (0, 0)).then_some(())
    })
    .await;
    assert!(!worker.stop().await.aborted);
}

//! `media.thumbnail` against real S3 (the local stack's moto on 127.0.0.1:4566): each test
//! makes its own bucket, uploads generated images and hostile files, and runs the handler.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod media_common;
use media_common as common;

use std::sync::Arc;

use common::synth;
use jobfleet_contract::aws::{load_sdk_config, s3_client};
use jobfleet_contract::{Handler, JobContext, JobError, Pool};
use jobfleet_handlers::media::thumbnail::{CACHE_CONTROL, Thumbnail, ThumbnailFormat, ThumbnailHandler, ThumbnailsMade};
use jobfleet_handlers::media::{MediaConfig, OutputFormat};
use serde_json::json;

const STACK_HINT: &str = "is the local stack up? run `make stack-up` (or `bash scripts/stack.sh up`)";

struct TestBucket {
    name: String,
    s3: aws_sdk_s3::Client,
}

impl TestBucket {
    async fn create() -> Self {
        let s3 = s3_client(&load_sdk_config().await);
        let name = format!("t-media-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        s3.create_bucket().bucket(&name).send().await.unwrap_or_else(|e| panic!("create bucket: {e:?}; {STACK_HINT}"));
        Self { name, s3 }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.s3.put_object().bucket(&self.name).key(key).body(bytes.into()).send().await.expect("put source");
    }

    async fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.s3.list_objects_v2().bucket(&self.name).prefix(prefix).send().await.expect("list");
        let mut keys: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
        keys.sort();
        keys
    }

    fn handler(&self, config: MediaConfig) -> ThumbnailHandler {
        ThumbnailHandler::with_client(Arc::new(config), self.s3.clone())
    }

    fn job(&self, key: &str) -> Thumbnail {
        Thumbnail { bucket: self.name.clone(), key: key.to_owned(), variants: None, format: None, quality: None }
    }
}

async fn run(handler: &ThumbnailHandler, job: Thumbnail) -> Result<ThumbnailsMade, JobError> {
    handler.handle(job, JobContext::for_test(Pool::MEDIA)).await
}

/// A photo-sized JPEG, fast to make in an unoptimised test build: gradients plus hash noise.
fn photo_jpeg(w: usize, h: usize) -> Vec<u8> {
    synth::encode_jpeg(&synth::gradient_noise(w, h, 3, 15, 16), w, h, 90, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_gives_three_variants_in_s3_and_a_rerun_writes_the_same_keys() {
    let bucket = TestBucket::create().await;
    let source = photo_jpeg(2000, 1500);
    bucket.put("uploads/u1/holiday.photo.JPG", source.clone()).await;
    let handler = bucket.handler(MediaConfig::default());

    let made = run(&handler, bucket.job("uploads/u1/holiday.photo.JPG")).await.expect("thumbnails made");
    let want_keys = ["1600", "640", "160"].map(|s| format!("thumbnails/uploads/u1/holiday.photo/{s}.jpg"));
    assert_eq!(made.bucket, bucket.name);
    assert_eq!(
        (made.source.key.as_str(), made.source.bytes, made.source.format.as_str(), made.source.width, made.source.height),
        ("uploads/u1/holiday.photo.JPG", source.len() as u64, "jpeg", 2000, 1500)
    );
    let got: Vec<(u32, &str, u32, u32)> = made.variants.iter().map(|v| (v.longest_side, v.key.as_str(), v.width, v.height)).collect();
    assert_eq!(
        got,
        vec![(1600, want_keys[0].as_str(), 1600, 1200), (640, want_keys[1].as_str(), 640, 480), (160, want_keys[2].as_str(), 160, 120)]
    );

    for v in &made.variants {
        let object = bucket.s3.get_object().bucket(&bucket.name).key(&v.key).send().await.expect("variant exists");
        assert_eq!(object.content_type(), Some("image/jpeg"), "{}", v.key);
        assert_eq!(object.cache_control(), Some(CACHE_CONTROL), "{}", v.key);
        let bytes = object.body.collect().await.expect("body").into_bytes();
        assert_eq!(bytes.len() as u64, v.bytes, "{}", v.key);
        let (_, w, h) = synth::decode_jpeg(&bytes);
        assert_eq!((w as u32, h as u32), (v.width, v.height), "{}", v.key);
        assert_eq!(v.content_type, "image/jpeg");
    }

    // The ledger's copy of the result: exactly these fields.
    let value = serde_json::to_value(&made).expect("serialises");
    let variant = |i: usize| {
        let v = &made.variants[i];
        json!({"longest_side": v.longest_side, "key": v.key, "width": v.width, "height": v.height,
               "bytes": v.bytes, "content_type": "image/jpeg"})
    };
    assert_eq!(
        value,
        json!({
            "bucket": bucket.name,
            "source": {"key": "uploads/u1/holiday.photo.JPG", "bytes": source.len(), "format": "jpeg", "width": 2000, "height": 1500},
            "variants": [variant(0), variant(1), variant(2)],
        })
    );

    // A redelivery or a DLQ replay: same keys, same bytes, nothing else written.
    let again = run(&handler, bucket.job("uploads/u1/holiday.photo.JPG")).await.expect("re-run");
    assert_eq!(again, made);
    assert_eq!(bucket.keys("thumbnails/").await, {
        let mut k = want_keys.to_vec();
        k.sort();
        k
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webp_output_from_a_png_with_custom_sizes() {
    let bucket = TestBucket::create().await;
    let (w, h) = (300usize, 200usize);
    bucket.put("logo.png", synth::encode_png(&synth::photo_rgba(w, h, 4), w, h, png::ColorType::Rgba)).await;
    let handler = bucket.handler(MediaConfig { output_prefix: "derived/".into(), ..MediaConfig::default() });
    let job = Thumbnail { variants: Some(vec![120, 400, 120]), format: Some(ThumbnailFormat::Webp), ..bucket.job("logo.png") };
    let made = run(&handler, job).await.expect("made");
    let got: Vec<(&str, u32, u32)> = made.variants.iter().map(|v| (v.key.as_str(), v.width, v.height)).collect();
    // Duplicates collapse; 400 is bigger than the source, which is not upscaled.
    assert_eq!(got, vec![("derived/logo/120.webp", 120, 80), ("derived/logo/400.webp", 300, 200)]);
    assert_eq!(made.source.format, "png");
    let head = bucket.s3.head_object().bucket(&bucket.name).key("derived/logo/120.webp").send().await.expect("written");
    assert_eq!(head.content_type(), Some(OutputFormat::WebP.content_type()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_and_missing_inputs_fail_permanently_with_their_class_and_write_nothing() {
    let bucket = TestBucket::create().await;
    let jpeg = photo_jpeg(400, 300);
    let cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        ("bomb.jpg", Some(synth::jpeg_bomb(65_535, 65_535)), "too_many_pixels"),
        ("bomb.png", Some(synth::png_bomb(100_000, 100_000)), "too_many_pixels"),
        ("half.jpg", Some(jpeg[..jpeg.len() / 2].to_vec()), "truncated_image"),
        ("notes.jpg", Some(b"this is a text file, not a picture\n".to_vec()), "unsupported_format"),
        ("anim.jpg", Some(synth::gif()), "unsupported_format"),
        ("empty.jpg", Some(Vec::new()), "empty_input"),
        ("missing.jpg", None, "not_found"),
    ];
    for (key, bytes, _) in &cases {
        if let Some(bytes) = bytes {
            bucket.put(key, bytes.clone()).await;
        }
    }
    let handler = bucket.handler(MediaConfig::default());
    for (key, _, class) in &cases {
        let err = run(&handler, bucket.job(key)).await.expect_err(key);
        assert!(err.is_permanent(), "{key}: {err}");
        assert_eq!(err.class(), *class, "{key}: {err}");
    }

    // Bigger than max_input_bytes: refused from Content-Length, without decoding.
    let small = bucket.handler(MediaConfig { max_input_bytes: 10_000, ..MediaConfig::default() });
    bucket.put("big.jpg", jpeg.clone()).await;
    assert!(jpeg.len() > 10_000);
    let err = run(&small, bucket.job("big.jpg")).await.expect_err("too large");
    assert_eq!((err.class(), err.is_permanent()), ("too_large", true), "{err}");

    // A bucket that does not exist, and a bad spec, are permanent too.
    let err = run(&handler, Thumbnail { bucket: format!("{}-gone", bucket.name), ..bucket.job("bomb.jpg") }).await.expect_err("no bucket");
    assert_eq!((err.class(), err.is_permanent()), ("not_found", true), "{err}");
    let err = run(&handler, Thumbnail { quality: Some(0), ..bucket.job("half.jpg") }).await.expect_err("bad spec");
    assert_eq!((err.class(), err.is_permanent()), ("invalid_spec", true), "{err}");

    assert_eq!(bucket.keys("thumbnails/").await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_unreachable_is_retryable() {
    let sdk = load_sdk_config().await;
    // Nothing listens on port 9 (discard) here: connection refused, as in a network failure.
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .endpoint_url("http://127.0.0.1:9")
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    let handler = ThumbnailHandler::with_client(Arc::new(MediaConfig::default()), aws_sdk_s3::Client::from_conf(config));
    let job = Thumbnail { bucket: "any".into(), key: "a.jpg".into(), variants: None, format: None, quality: None };
    let err = run(&handler, job).await.expect_err("unreachable");
    assert!(!err.is_permanent(), "{err}");
    assert_eq!(err.class(), "s3_unavailable", "{err}");
}

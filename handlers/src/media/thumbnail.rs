//! `media.thumbnail`: resized variants of an image in S3, written beside it in the same bucket.
//!
//! 1. The source is read with `GetObject`, refusing more than `media.max_input_bytes` both by
//!    its `Content-Length` (before reading the body) and while streaming it (should the length
//!    lie). A missing object or bucket is permanent `not_found`; S3 5xx, throttling and network
//!    failures are retryable `s3_unavailable`.
//! 2. The pipeline ([`make_thumbnails`]) runs in `spawn_blocking`, at most one job per core in
//!    the whole process (a semaphore sized by `std::thread::available_parallelism`, which
//!    honours a container's CPU quota): CPU work never blocks the async threads and never
//!    oversubscribes the cores however high the pool's `concurrency` is. The permit travels
//!    with the blocking closure, so a job abandoned by a timeout keeps its slot until its CPU
//!    work really ends.
//! 3. Variants go to deterministic keys, [`variant_key`]:
//!    `<output_prefix><source key without extension>/<longest side>.<jpg|webp>`, so a re-run
//!    (redelivery, DLQ replay) overwrites the same objects with the same bytes.

use std::num::NonZeroUsize;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{MediaConfig, MediaError, OutputFormat, ThumbnailSpec, make_thumbnails, probe};
pub use crate::payloads::media::{DEFAULT_VARIANTS, Thumbnail, ThumbnailFormat};
use jobfleet_contract::aws::{LazyClient, s3_client};
use jobfleet_contract::envelope::DecodeErrorClass;
use jobfleet_contract::{JobContext, JobError};

/// `Cache-Control` of every variant: its key never gets different bytes (same source, same
/// spec), so caches may keep it forever.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// S3's limit on a key, in bytes.
const MAX_KEY_BYTES: usize = 1024;

impl From<ThumbnailFormat> for OutputFormat {
    fn from(format: ThumbnailFormat) -> Self {
        match format {
            ThumbnailFormat::Jpeg => OutputFormat::Jpeg,
            ThumbnailFormat::Webp => OutputFormat::WebP,
        }
    }
}

/// The job's result in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailsMade {
    /// Bucket of the source and of the variants.
    pub bucket: String,
    pub source: SourceImage,
    /// One per distinct requested size, in the order requested.
    pub variants: Vec<StoredVariant>,
}

/// What the source turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceImage {
    pub key: String,
    pub bytes: u64,
    /// `jpeg`, `png` or `webp`, from the content.
    pub format: String,
    /// Display size (after EXIF orientation).
    pub width: u32,
    pub height: u32,
}

/// One variant written to S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredVariant {
    /// The requested longest side (the `<size>` in the key).
    pub longest_side: u32,
    pub key: String,
    /// Actual size (smaller than requested when the source is).
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub content_type: String,
}

/// The key of one variant: `<prefix><source key without extension>/<longest_side>.<ext>`.
/// Only the last path segment's extension is dropped (`a.b/c.jpeg` → `a.b/c`); a name that
/// starts with its only dot (`.profile`) has none.
pub fn variant_key(prefix: &str, source_key: &str, longest_side: u32, format: OutputFormat) -> String {
    let name_start = source_key.rfind('/').map_or(0, |i| i + 1);
    let stem = match source_key[name_start..].rfind('.') {
        None | Some(0) => source_key,
        Some(dot) => &source_key[..name_start + dot],
    };
    format!("{prefix}{stem}/{longest_side}.{}", format.extension())
}

/// Pipeline runs at once in this process: one per core.
static CPU_SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(cpu_slots())));

/// The cores this process may use (`available_parallelism` reads the cgroup CPU quota).
pub fn cpu_slots() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Runs `media.thumbnail`.
#[derive(Debug)]
pub struct ThumbnailHandler {
    config: Arc<MediaConfig>,
    s3: LazyClient<aws_sdk_s3::Client>,
    cpu: Arc<Semaphore>,
}

impl ThumbnailHandler {
    /// With an S3 client built from the environment on first use. `config` should have passed
    /// [`MediaConfig::validate`].
    pub fn new(config: Arc<MediaConfig>) -> Self {
        Self { config, s3: LazyClient::from_env(s3_client), cpu: CPU_SLOTS.clone() }
    }

    pub fn with_client(config: Arc<MediaConfig>, s3: aws_sdk_s3::Client) -> Self {
        Self { config, s3: LazyClient::ready(s3, s3_client), cpu: CPU_SLOTS.clone() }
    }

    /// The spec and the distinct sizes, in request order; refuses a bad payload before any I/O.
    fn plan(&self, job: &Thumbnail) -> Result<(ThumbnailSpec, OutputFormat), JobError> {
        let invalid = |m: String| JobError::permanent(DecodeErrorClass::InvalidPayload.as_str(), m);
        if job.bucket.is_empty() {
            return Err(invalid("`bucket` is empty".into()));
        }
        if job.key.is_empty() || job.key.len() > MAX_KEY_BYTES {
            return Err(invalid(format!("`key` must be 1–{MAX_KEY_BYTES} bytes")));
        }
        let mut sizes: Vec<u32> = Vec::new();
        for &size in job.variants.as_deref().unwrap_or(&DEFAULT_VARIANTS) {
            if !sizes.contains(&size) {
                sizes.push(size);
            }
        }
        let format = OutputFormat::from(job.format.unwrap_or_default());
        let spec = ThumbnailSpec { variants: sizes, format, quality: job.quality.unwrap_or(self.config.default_quality) };
        spec.validate().map_err(media_error)?;
        let longest = spec.variants.iter().map(|&v| variant_key(&self.config.output_prefix, &job.key, v, format).len()).max();
        if longest.is_some_and(|len| len > MAX_KEY_BYTES) {
            return Err(invalid(format!("`key` is too long: its variants' keys would exceed S3's {MAX_KEY_BYTES} bytes")));
        }
        Ok((spec, format))
    }

    /// Reads the source, refusing more than `max_input_bytes`.
    async fn fetch(&self, s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, JobError> {
        let max = self.config.max_input_bytes;
        let object = s3.get_object().bucket(bucket).key(key).send().await.map_err(|e| s3_error("GetObject", bucket, key, e))?;
        let declared = object.content_length().map_or(0, |n| u64::try_from(n).unwrap_or(0));
        if declared > max {
            // Dropping the body closes the connection: the object is never downloaded.
            return Err(too_large(declared, max));
        }
        let mut body = object.body;
        let mut data = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| JobError::retryable_as("s3_unavailable", format!("reading s3://{bucket}/{key}: {}", DisplayErrorContext(&e))))?
        {
            let size = (data.len() + chunk.len()) as u64;
            if size > max {
                return Err(too_large(size, max));
            }
            data.extend_from_slice(&chunk);
        }
        Ok(data)
    }
}

fn too_large(size: u64, max: u64) -> JobError {
    media_error(MediaError::TooLarge { size, max })
}

/// A pipeline error as the runtime needs it: the input's fault is permanent (the class says
/// which), anything else may be retried.
pub fn media_error(e: MediaError) -> JobError {
    if e.is_permanent() { JobError::permanent(e.class(), e) } else { JobError::retryable_as(e.class(), e) }
}

/// An S3 failure: missing bucket or key → `not_found`, refused → `access_denied` (both
/// permanent; fix and replay from the DLQ); any other 4xx → permanent `s3_rejected`; 5xx,
/// throttling, timeouts and network errors → retryable `s3_unavailable`.
fn s3_error<E>(operation: &str, bucket: &str, key: &str, err: SdkError<E, HttpResponse>) -> JobError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = format!("S3 {operation} s3://{bucket}/{key}: {}", DisplayErrorContext(&err));
    let SdkError::ServiceError(service) = &err else {
        return JobError::retryable_as("s3_unavailable", message);
    };
    let status = service.raw().status().as_u16();
    match (status, service.err().code().unwrap_or_default()) {
        (_, "NoSuchKey" | "NoSuchBucket") | (404, _) => JobError::permanent("not_found", message),
        (_, "SlowDown" | "RequestTimeout" | "Throttling" | "ThrottlingException" | "RequestTimeTooSkewed") => {
            JobError::retryable_as("s3_unavailable", message)
        }
        (403, _) | (_, "AccessDenied") => JobError::permanent("access_denied", message),
        (429, _) | (500.., _) => JobError::retryable_as("s3_unavailable", message),
        (400..=499, _) => JobError::permanent("s3_rejected", message),
        _ => JobError::retryable_as("s3_unavailable", message),
    }
}

impl jobfleet_contract::Handler<Thumbnail> for ThumbnailHandler {
    type Output = ThumbnailsMade;

    async fn handle(&self, job: Thumbnail, ctx: JobContext) -> Result<ThumbnailsMade, JobError> {
        tokio::select! {
            made = self.run(job) => made,
            () = ctx.cancel.cancelled() => Err(JobError::retryable_as("cancelled", "worker stopping")),
        }
    }
}

impl ThumbnailHandler {
    async fn run(&self, job: Thumbnail) -> Result<ThumbnailsMade, JobError> {
        let (spec, format) = self.plan(&job)?;
        let s3 = self.s3.get().await;
        let started = Instant::now();
        let input = self.fetch(s3, &job.bucket, &job.key).await?;
        let fetched = started.elapsed();

        let permit = self.cpu.clone().acquire_owned().await.map_err(|e| JobError::retryable_as("internal", e))?;
        let limits = self.config.limits();
        let input_bytes = input.len() as u64;
        let pipeline = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let variants = make_thumbnails(&input, &spec, &limits)?;
            Ok::<_, MediaError>((probe(&input)?, variants))
        });
        let (info, variants) = match pipeline.await {
            Ok(result) => result.map_err(media_error)?,
            Err(e) => return Err(JobError::retryable_as("pipeline_panic", format!("image pipeline: {e}"))),
        };
        let processed = started.elapsed();

        let (width, height) = info.display_size();
        let source = SourceImage { key: job.key.clone(), bytes: input_bytes, format: info.format.to_string(), width, height };
        let mut stored = Vec::with_capacity(variants.len());
        let mut uploads = JoinSet::new();
        for v in variants {
            let key = variant_key(&self.config.output_prefix, &job.key, v.longest_side, format);
            stored.push(StoredVariant {
                longest_side: v.longest_side,
                key: key.clone(),
                width: v.width,
                height: v.height,
                bytes: v.bytes.len() as u64,
                content_type: v.content_type.to_owned(),
            });
            let (s3, bucket) = (s3.clone(), job.bucket.clone());
            uploads.spawn(async move {
                s3.put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .content_type(v.content_type)
                    .cache_control(CACHE_CONTROL)
                    .body(ByteStream::from(v.bytes))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| s3_error("PutObject", &bucket, &key, e))
            });
        }
        while let Some(upload) = uploads.join_next().await {
            upload.map_err(|e| JobError::retryable_as("s3_unavailable", format!("upload task: {e}")))??;
        }
        tracing::debug!(
            key = %job.key,
            input_bytes,
            fetch_ms = fetched.as_millis() as u64,
            pipeline_ms = (processed - fetched).as_millis() as u64,
            upload_ms = (started.elapsed() - processed).as_millis() as u64,
            "thumbnails written"
        );
        Ok(ThumbnailsMade { bucket: job.bucket, source, variants: stored })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use jobfleet_contract::{Job, Pool, decode_payload};

    #[test]
    fn variant_keys_drop_only_the_last_segments_extension() {
        let key = |source: &str| variant_key("thumbnails/", source, 640, OutputFormat::Jpeg);
        assert_eq!(key("photos/2026/cat.jpg"), "thumbnails/photos/2026/cat/640.jpg");
        assert_eq!(key("a.b/c.tar.gz"), "thumbnails/a.b/c.tar/640.jpg");
        assert_eq!(key("a.b/noext"), "thumbnails/a.b/noext/640.jpg");
        assert_eq!(key("dir/.profile"), "thumbnails/dir/.profile/640.jpg");
        assert_eq!(key("top.png"), "thumbnails/top/640.jpg");
        assert_eq!(variant_key("t/", "x.png", 160, OutputFormat::WebP), "t/x/160.webp");
    }

    #[test]
    fn payload_defaults_and_wire_names() {
        let job: Thumbnail = decode_payload(1, json!({"bucket": "b", "key": "k.jpg"})).expect("minimal payload");
        assert_eq!(job, Thumbnail { bucket: "b".into(), key: "k.jpg".into(), variants: None, format: None, quality: None });
        assert_eq!(serde_json::to_value(&job).expect("serialises"), json!({"bucket": "b", "key": "k.jpg"}));
        let job: Thumbnail =
            decode_payload(1, json!({"bucket": "b", "key": "k", "variants": [320], "format": "webp", "quality": 90})).expect("full");
        assert_eq!(job.format, Some(ThumbnailFormat::Webp));
        let err = decode_payload::<Thumbnail>(1, json!({"bucket": "b", "key": "k", "format": "gif"})).expect_err("bad format");
        assert_eq!(err.class(), "invalid_payload");
        assert_eq!(Thumbnail::TYPE, "media.thumbnail");
        assert_eq!(Thumbnail::POOL, Some(Pool::MEDIA));
    }

    #[test]
    fn plan_dedups_sizes_applies_defaults_and_refuses_bad_specs_before_any_io() {
        let handler = ThumbnailHandler::new(Arc::new(MediaConfig { default_quality: 75, ..MediaConfig::default() }));
        let job = |variants: Option<Vec<u32>>, quality: Option<u8>| Thumbnail {
            bucket: "b".into(),
            key: "k.jpg".into(),
            variants,
            format: None,
            quality,
        };
        let (spec, format) = handler.plan(&job(None, None)).expect("defaults");
        assert_eq!((spec.variants, spec.quality, format), (DEFAULT_VARIANTS.to_vec(), 75, OutputFormat::Jpeg));
        let (spec, _) = handler.plan(&job(Some(vec![160, 640, 160]), Some(90))).expect("dedup");
        assert_eq!((spec.variants, spec.quality), (vec![160, 640], 90));
        for (bad, class) in [
            (job(Some(vec![]), None), "invalid_spec"),
            (job(Some(vec![0]), None), "invalid_spec"),
            (job(Some(vec![9000]), None), "invalid_spec"),
            (job(None, Some(0)), "invalid_spec"),
            (Thumbnail { bucket: String::new(), ..job(None, None) }, "invalid_payload"),
            (Thumbnail { key: String::new(), ..job(None, None) }, "invalid_payload"),
            (Thumbnail { key: "k".repeat(1010), ..job(None, None) }, "invalid_payload"),
        ] {
            let err = handler.plan(&bad).expect_err("refused");
            assert!(err.is_permanent(), "{err}");
            assert_eq!(err.class(), class, "{bad:?}");
        }
    }

    #[test]
    fn media_errors_map_to_permanent_except_internal() {
        let e = media_error(MediaError::TooManyPixels { width: 1, height: 2, max: 1 });
        assert!(e.is_permanent());
        assert_eq!(e.class(), "too_many_pixels");
        let e = media_error(MediaError::Internal("oom".into()));
        assert!(!e.is_permanent());
        assert_eq!(e.class(), "internal_codec_error");
    }

    #[test]
    fn cpu_slots_match_the_cores() {
        assert!(cpu_slots() >= 1);
        assert_eq!(CPU_SLOTS.available_permits(), cpu_slots());
    }
}

//! A team's own job types on jobfleet: the `reports` pool of
//! docs/extending.md, step by step.
//!
//! - [`Digest`] (`reports.digest`) with [`digest`]: a handler as a plain
//!   `async fn`.
//! - [`RenderReport`] (`reports.render`) with [`RenderHandler`]: a handler
//!   that holds a client (S3), so it is a struct implementing
//!   [`Handler`].
//!
//! Both live in the `reports` pool ([`REPORTS`]); the binary (`src/main.rs`)
//! registers them with the runtime. Producers depend on this crate (or copy
//! the payload structs) and [`jobfleet_contract::producer`], nothing else.

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use jobfleet_contract::aws::{LazyClient, s3_client};
use jobfleet_contract::{Handler, Job, JobContext, JobError, Pool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The pool these job types belong to. A compile-time name: an invalid one
/// fails the build. Which queue it reads, its concurrency and routing are
/// configuration (`[pools.reports]` in `reports.toml`).
pub const REPORTS: Pool = Pool::from_static("reports");

/// `reports.digest`, version 1: `{"values": [12.5, 7.5]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Digest {
    /// The figures to summarise; at least one.
    pub values: Vec<f64>,
}

impl Job for Digest {
    const TYPE: &'static str = "reports.digest";
    const POOL: Option<Pool> = Some(REPORTS);
}

/// What a digest records as the job's result in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestResult {
    pub count: usize,
    pub total: f64,
    pub mean: f64,
}

/// Runs `reports.digest`. No state, so a plain `async fn` is the handler.
pub async fn digest(job: Digest, _ctx: JobContext) -> Result<DigestResult, JobError> {
    if job.values.is_empty() {
        // Retrying cannot add values: permanent, straight to the DLQ with this class.
        return Err(JobError::permanent("empty_digest", "`values` is empty: nothing to digest"));
    }
    let total: f64 = job.values.iter().sum();
    let count = job.values.len();
    Ok(DigestResult { count, total, mean: total / count as f64 })
}

/// `reports.render`, version 1: `{"bucket": "b", "key": "sales/2026-11.csv", "title": "November"}`.
/// The source is UTF-8 text of `label,amount` lines; the rendered report is
/// written to `reports/<idempotency key>.txt` in the same bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RenderReport {
    pub bucket: String,
    pub key: String,
    /// Heading of the report; defaults to the source key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl Job for RenderReport {
    const TYPE: &'static str = "reports.render";
    const POOL: Option<Pool> = Some(REPORTS);
}

/// What a rendered report records in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendered {
    pub rows: usize,
    pub total: f64,
    /// Where the report was written, in the source's bucket.
    pub report_key: String,
}

/// Runs `reports.render`. A struct because it holds its S3 client, built
/// from the environment on the first job (so registering stays cheap and
/// synchronous).
#[derive(Debug)]
pub struct RenderHandler {
    s3: LazyClient<aws_sdk_s3::Client>,
}

impl RenderHandler {
    /// The S3 client from the SDK's standard environment (region,
    /// `AWS_ENDPOINT_URL`, IRSA), like the runtime's own.
    pub fn from_env() -> Self {
        Self { s3: LazyClient::from_env(s3_client) }
    }
}

impl Handler<RenderReport> for RenderHandler {
    type Output = Rendered;

    async fn handle(&self, job: RenderReport, ctx: JobContext) -> Result<Rendered, JobError> {
        let s3 = self.s3.get().await;
        let object = s3.get_object().bucket(&job.bucket).key(&job.key).send().await.map_err(|e| source_error(&job, e))?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| JobError::retryable_as("s3_unavailable", format!("reading s3://{}/{}: {e}", job.bucket, job.key)))?
            .into_bytes();
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| JobError::permanent("invalid_source", format!("s3://{}/{} is not UTF-8 text: {e}", job.bucket, job.key)))?;
        let rows = parse_rows(text)?;
        let total: f64 = rows.iter().map(|(_, amount)| amount).sum();
        let title = job.title.as_deref().unwrap_or(&job.key);
        let mut report = format!("{title}\n\n");
        for (label, amount) in &rows {
            report.push_str(&format!("{label:<30} {amount:>12.2}\n"));
        }
        report.push_str(&format!("{:<30} {total:>12.2}\n", "total"));
        // The idempotency key names the output: a redelivery or a DLQ replay
        // of the same job overwrites the same object instead of adding one.
        let report_key = format!("reports/{}.txt", ctx.idempotency_key);
        s3.put_object()
            .bucket(&job.bucket)
            .key(&report_key)
            .content_type("text/plain; charset=utf-8")
            .body(ByteStream::from(report.into_bytes()))
            .send()
            .await
            .map_err(|e| {
                JobError::retryable_as("s3_unavailable", format!("writing s3://{}/{report_key}: {}", job.bucket, DisplayErrorContext(&e)))
            })?;
        Ok(Rendered { rows: rows.len(), total, report_key })
    }
}

/// A missing source is the producer's (or an upload's) problem: permanent,
/// so the job waits in the DLQ until someone uploads it and replays. Any
/// other S3 failure may pass: retryable. Matched on the SDK's typed error,
/// never on its message text.
fn source_error(job: &RenderReport, error: SdkError<GetObjectError>) -> JobError {
    match error.as_service_error() {
        Some(e) if e.is_no_such_key() => JobError::permanent("source_missing", format!("s3://{}/{} does not exist", job.bucket, job.key)),
        _ => JobError::retryable_as("s3_unavailable", format!("reading s3://{}/{}: {}", job.bucket, job.key, DisplayErrorContext(&error))),
    }
}

/// `label,amount` lines; blank lines are skipped. A bad line is permanent
/// `invalid_source`, naming the line.
fn parse_rows(text: &str) -> Result<Vec<(String, f64)>, JobError> {
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let parsed = line.rsplit_once(',').and_then(|(label, amount)| Some((label.trim().to_owned(), amount.trim().parse::<f64>().ok()?)));
        match parsed {
            Some(row) if row.1.is_finite() => rows.push(row),
            _ => return Err(JobError::permanent("invalid_source", format!("line {}: expected `label,amount`, got {line:?}", number + 1))),
        }
    }
    if rows.is_empty() {
        return Err(JobError::permanent("invalid_source", "the source has no rows"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Unit tests call the handler directly: no queue, no database.
    #[tokio::test]
    async fn a_digest_sums_its_values_and_refuses_none() {
        let ctx = JobContext::for_test(REPORTS);
        let result = digest(Digest { values: vec![12.5, 7.5] }, ctx.clone()).await.expect("digests");
        assert_eq!(result, DigestResult { count: 2, total: 20.0, mean: 10.0 });
        let err = digest(Digest { values: vec![] }, ctx).await.expect_err("nothing to digest");
        assert!(err.is_permanent());
        assert_eq!(err.class(), "empty_digest");
    }

    #[test]
    fn rows_are_label_amount_lines_and_a_bad_one_is_named() {
        let rows = parse_rows("north, 10.5\n\nsouth,4\n").expect("parses");
        assert_eq!(rows, [("north".to_owned(), 10.5), ("south".to_owned(), 4.0)]);
        let err = parse_rows("north,10\nsouth\n").expect_err("line 2 has no amount");
        assert_eq!(err.class(), "invalid_source");
        assert!(err.message().contains("line 2"), "{err}");
        assert_eq!(parse_rows("\n").expect_err("empty").class(), "invalid_source");
    }
}

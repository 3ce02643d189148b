//! The worker's side of the claim check: fetch a `payload_ref` before the
//! handler runs, delete it once the job's success is recorded.

use jobfleet_contract::JobError;
use jobfleet_contract::aws::{LazyClient, s3_client};
use jobfleet_contract::claim_check::ClaimCheck;
use serde_json::Value;

#[derive(Debug)]
pub struct ClaimStore {
    s3: LazyClient<aws_sdk_s3::Client>,
    max_bytes: u64,
    delete_after_success: bool,
}

impl ClaimStore {
    /// The S3 client is built on the first claim-checked job, so pools that
    /// never see one never load it. The settings are `claim_check_max_bytes`
    /// and `claim_check_delete_after_success` (passed in, not read from the
    /// config here, so the store does not depend on the config module).
    pub fn new(max_bytes: u64, delete_after_success: bool) -> Self {
        Self { s3: LazyClient::from_env(s3_client), max_bytes, delete_after_success }
    }

    pub async fn fetch(&self, payload_ref: &str) -> Result<Value, JobError> {
        ClaimCheck::new(self.s3.get().await.clone()).fetch(payload_ref, self.max_bytes).await
    }

    /// Best effort: a payload left behind is expired by the bucket's
    /// lifecycle rule, and a redelivery of a succeeded job never reads it.
    pub async fn release(&self, payload_ref: &str) {
        if !self.delete_after_success {
            return;
        }
        if let Err(e) = ClaimCheck::new(self.s3.get().await.clone()).delete(payload_ref).await {
            tracing::warn!(error = %e, "could not delete a claim-checked payload; the bucket lifecycle will expire it");
        }
    }
}

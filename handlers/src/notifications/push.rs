//! `notify.push`: a mobile push (SNS platform endpoint) or a topic fan-out,
//! sent with SNS `Publish`.

use serde_json::Value;

use super::sms::Published;
use super::sns::publish_error;
use crate::aws::sns_client;
pub use crate::payloads::notifications::Push;
use jobfleet_contract::aws::LazyClient;
use jobfleet_contract::{JobContext, JobError};

/// Runs `notify.push`.
#[derive(Debug)]
pub struct PushHandler {
    sns: LazyClient<aws_sdk_sns::Client>,
}

impl Default for PushHandler {
    fn default() -> Self {
        Self::new()
    }
}

impl PushHandler {
    pub fn new() -> Self {
        Self { sns: LazyClient::from_env(sns_client) }
    }

    pub fn with_client(sns: aws_sdk_sns::Client) -> Self {
        Self { sns: LazyClient::ready(sns, sns_client) }
    }
}

fn is_sns_arn(arn: &str) -> bool {
    arn.starts_with("arn:") && arn.split(':').nth(2) == Some("sns") && arn.split(':').count() >= 6
}

/// SNS deduplication ids are 1–128 characters of `[A-Za-z0-9]` and
/// punctuation; anything else in the key is replaced.
fn deduplication_id(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_graphic() { c } else { '_' }).take(128).collect()
}

impl jobfleet_contract::Handler<Push> for PushHandler {
    type Output = Published;

    async fn handle(&self, job: Push, ctx: JobContext) -> Result<Published, JobError> {
        let (target, is_topic) = match (&job.target_arn, &job.topic_arn) {
            (Some(arn), None) => (arn.clone(), false),
            (None, Some(arn)) => (arn.clone(), true),
            _ => return Err(JobError::permanent("invalid_target", "exactly one of target_arn and topic_arn is required")),
        };
        if !is_sns_arn(&target) {
            return Err(JobError::permanent("invalid_target", format!("{target:?} is not an SNS ARN")));
        }
        if job.message.is_empty() {
            return Err(JobError::permanent("invalid_push", "the message is empty"));
        }
        if job.subject.as_ref().is_some_and(|s| s.is_empty() || s.chars().count() > 100 || s.chars().any(char::is_control)) {
            return Err(JobError::permanent("invalid_push", "the subject must be 1 to 100 characters on one line"));
        }
        let client = self.sns.get().await;
        let mut publish = client.publish().set_subject(job.subject.clone());
        publish = if is_topic { publish.topic_arn(&target) } else { publish.target_arn(&target) };
        if job.platform_payloads.is_empty() {
            publish = publish.message(job.message);
        } else {
            let mut structured = serde_json::Map::new();
            structured.insert("default".into(), Value::String(job.message));
            for (platform, payload) in job.platform_payloads {
                // SNS wants each platform's payload as a JSON *string*.
                let text = match payload {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                structured.insert(platform, Value::String(text));
            }
            publish = publish.message_structure("json").message(Value::Object(structured).to_string());
        }
        if is_topic && target.ends_with(".fifo") {
            publish = publish
                .message_group_id(job.message_group_id.unwrap_or_else(|| "default".into()))
                .message_deduplication_id(deduplication_id(&ctx.idempotency_key));
        }
        let out = publish.send().await.map_err(publish_error)?;
        Ok(Published { message_id: out.message_id.unwrap_or_default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_deduplication_ids() {
        assert!(is_sns_arn("arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/0b1c"));
        assert!(is_sns_arn("arn:aws:sns:us-east-1:123456789012:alerts.fifo"));
        assert!(!is_sns_arn("arn:aws:sqs:us-east-1:123456789012:q"));
        assert!(!is_sns_arn("alerts"));
        assert_eq!(deduplication_id("a b\u{e9}c"), "a_b_c");
        assert_eq!(deduplication_id(&"x".repeat(300)).len(), 128);
    }
}

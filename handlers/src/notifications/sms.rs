//! `notify.sms`: a text message sent with SNS `Publish` to a phone number.

use aws_sdk_sns::types::MessageAttributeValue;
use serde::{Deserialize, Serialize};

use super::sns::publish_error;
use crate::aws::sns_client;
pub use crate::payloads::notifications::{Sms, SmsKind};
use jobfleet_contract::aws::LazyClient;
use jobfleet_contract::{JobContext, JobError};

/// SNS's limit on an SMS message (it splits longer texts into parts up to this).
pub const MAX_SMS_BYTES: usize = 1_600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    pub message_id: String,
}

/// Runs `notify.sms`.
#[derive(Debug)]
pub struct SmsHandler {
    sns: LazyClient<aws_sdk_sns::Client>,
}

impl Default for SmsHandler {
    fn default() -> Self {
        Self::new()
    }
}

impl SmsHandler {
    pub fn new() -> Self {
        Self { sns: LazyClient::from_env(sns_client) }
    }

    pub fn with_client(sns: aws_sdk_sns::Client) -> Self {
        Self { sns: LazyClient::ready(sns, sns_client) }
    }
}

pub fn is_e164(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|digits| (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'))
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, JobError> {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().map_err(|e| JobError::permanent("invalid_sms", e))
}

impl jobfleet_contract::Handler<Sms> for SmsHandler {
    type Output = Published;

    async fn handle(&self, job: Sms, _ctx: JobContext) -> Result<Published, JobError> {
        if !is_e164(&job.phone_number) {
            return Err(JobError::permanent(
                "invalid_phone_number",
                format!("{:?} is not an E.164 number (+ and 2–15 digits)", job.phone_number),
            ));
        }
        if job.message.trim().is_empty() || job.message.len() > MAX_SMS_BYTES {
            return Err(JobError::permanent(
                "invalid_sms",
                format!("the message must be 1 to {MAX_SMS_BYTES} bytes, is {}", job.message.len()),
            ));
        }
        let kind = match job.kind {
            SmsKind::Transactional => "Transactional",
            SmsKind::Promotional => "Promotional",
        };
        let mut publish = self
            .sns
            .get()
            .await
            .publish()
            .phone_number(&job.phone_number)
            .message(job.message)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute(kind)?);
        if let Some(sender) = &job.sender_id {
            if !(1..=11).contains(&sender.len()) || !sender.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(JobError::permanent("invalid_sms", "sender_id must be 1 to 11 letters and digits"));
            }
            publish = publish.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender)?);
        }
        let out = publish.send().await.map_err(publish_error)?;
        Ok(Published { message_id: out.message_id.unwrap_or_default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_only() {
        for ok in ["+14155550100", "+447700900123", "+12"] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in ["14155550100", "+", "+1", "+0123456", "+1 415 555 0100", "+1234567890123456", "+1415555010a"] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}

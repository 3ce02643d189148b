//! Sending a message to the pool's dead-letter queue ourselves.
//!
//! The queue's RedrivePolicy would also move a message after
//! maxReceiveCount deliveries, but it cannot say *why*. We send the original
//! body unchanged (so a replay is the same job, same id) with the reason
//! attached as message attributes, and only then delete the original.
//!
//! The message's MessageGroupId goes with it: a FIFO DLQ refuses a message
//! without one, and `worker dlq replay` puts the job back into its group (or
//! its tenant, on a fair queue). A FIFO DLQ also needs a deduplication id:
//! the original's SQS message id, which stays the same across redeliveries,
//! so a worker that dead-letters, dies before the delete, and dead-letters
//! the redelivered copy within SQS's 5-minute window leaves one DLQ copy.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_sqs::types::MessageAttributeValue;
use backon::{ExponentialBuilder, Retryable};
use jobfleet_contract::text::truncate_chars;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::sqs::client::{Outgoing, Sqs, SqsError, is_fifo_queue, number_attribute, string_attribute};
use crate::sqs::message::Received;

/// Attribute names written on dead-lettered messages (operators filter on
/// them; `worker dlq` reads them).
pub mod attr {
    pub const ERROR_CLASS: &str = "error_class";
    pub const ERROR_MESSAGE: &str = "error_message";
    pub const FAILED_AT: &str = "failed_at";
    pub const SOURCE_QUEUE: &str = "source_queue";
    pub const ATTEMPTS: &str = "attempts";
    pub const ORIGINAL_MESSAGE_ID: &str = "original_message_id";
    pub const ALL: [&str; 6] = [ERROR_CLASS, ERROR_MESSAGE, FAILED_AT, SOURCE_QUEUE, ATTEMPTS, ORIGINAL_MESSAGE_ID];
}

/// SQS allows 10 message attributes per message.
const MAX_ATTRIBUTES: usize = 10;
/// Error messages are for humans; keep attributes small.
const MAX_ERROR_MESSAGE_CHARS: usize = 1024;

#[derive(Debug, Clone)]
pub struct DeadLetter {
    sqs: Sqs,
    dlq_url: String,
    source_queue: String,
}

impl DeadLetter {
    pub fn new(sqs: Sqs, dlq_url: String, source_queue: String) -> Self {
        Self { sqs, dlq_url, source_queue }
    }

    /// Sends the message's original body and attributes plus the reason.
    /// Retries transient failures only: a DLQ that does not exist or may not
    /// be written to fails at once (the message is then redelivered and the
    /// error, naming the queue and IAM action, is logged each time).
    pub async fn send(&self, message: &Received, error_class: &str, error_message: &str) -> Result<(), SqsError> {
        let attributes = dead_letter_attributes(message, error_class, error_message, &self.source_queue, SystemTime::now());
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(6)
            .with_jitter();
        let outgoing = dead_letter_message(message, attributes, is_fifo_queue(&self.dlq_url));
        (|| self.sqs.send(&self.dlq_url, &outgoing, None)).retry(backoff).when(SqsError::is_transient).await?;
        Ok(())
    }
}

/// The DLQ copy: body unchanged, the group kept; a deduplication id only
/// for a FIFO DLQ (a standard queue refuses one).
pub fn dead_letter_message(message: &Received, attributes: HashMap<String, MessageAttributeValue>, fifo_dlq: bool) -> Outgoing {
    let group_id = match (&message.group_id, fifo_dlq) {
        (Some(group), _) => Some(group.clone()),
        // A FIFO DLQ needs a group even for a message that had none (one
        // sent by hand to the wrong queue type): it becomes its own group.
        (None, true) => Some(message.message_id.clone()),
        (None, false) => None,
    };
    Outgoing { body: message.body.clone(), attributes, group_id, dedup_id: fifo_dlq.then(|| message.message_id.clone()) }
}

pub fn dead_letter_attributes(
    message: &Received,
    error_class: &str,
    error_message: &str,
    source_queue: &str,
    now: SystemTime,
) -> HashMap<String, MessageAttributeValue> {
    let failed_at = OffsetDateTime::from(now).format(&Rfc3339).unwrap_or_default();
    let mut out: HashMap<String, MessageAttributeValue> = HashMap::from([
        (attr::ERROR_CLASS.to_owned(), string_attribute(error_class)),
        (attr::ERROR_MESSAGE.to_owned(), string_attribute(truncate_chars(error_message, MAX_ERROR_MESSAGE_CHARS))),
        (attr::FAILED_AT.to_owned(), string_attribute(failed_at)),
        (attr::SOURCE_QUEUE.to_owned(), string_attribute(source_queue)),
        (attr::ATTEMPTS.to_owned(), number_attribute(message.receive_count)),
        (attr::ORIGINAL_MESSAGE_ID.to_owned(), string_attribute(&message.message_id)),
    ]);
    // Keep the producer's attributes (job_type, replay counters, …) as far as
    // the limit allows, in a stable order; ours win on a name clash.
    let mut original: Vec<(&String, &MessageAttributeValue)> =
        message.attributes.iter().filter(|(name, _)| !attr::ALL.contains(&name.as_str())).collect();
    original.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in original {
        if out.len() >= MAX_ATTRIBUTES {
            break;
        }
        out.insert(name.clone(), value.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_with(attributes: usize) -> Received {
        Received {
            message_id: "m-1".into(),
            receipt_handle: "r".into(),
            body: "{}".into(),
            receive_count: 3,
            sent_at: None,
            received_at: SystemTime::now(),
            attributes: (0..attributes).map(|i| (format!("a{i}"), string_attribute("v"))).collect(),
            group_id: None,
        }
    }

    #[test]
    fn the_group_goes_to_the_dlq_and_a_fifo_dlq_gets_a_stable_dedup_id() {
        let mut message = message_with(0);
        message.group_id = Some("order-42".into());
        let fifo = dead_letter_message(&message, HashMap::new(), true);
        assert_eq!((fifo.group_id.as_deref(), fifo.dedup_id.as_deref()), (Some("order-42"), Some("m-1")));
        let standard = dead_letter_message(&message, HashMap::new(), false);
        assert_eq!((standard.group_id.as_deref(), standard.dedup_id.as_deref()), (Some("order-42"), None));
        message.group_id = None;
        let orphan = dead_letter_message(&message, HashMap::new(), true);
        assert_eq!(orphan.group_id.as_deref(), Some("m-1"), "a FIFO DLQ refuses a message without a group");
        assert_eq!(dead_letter_message(&message, HashMap::new(), false).group_id, None);
    }

    #[test]
    fn reason_attributes_are_set_and_the_limit_of_ten_is_respected() {
        let long = "é".repeat(5000);
        let attrs = dead_letter_attributes(&message_with(8), "invalid_payload", &long, "local-jobfleet-media", SystemTime::now());
        assert_eq!(attrs.len(), MAX_ATTRIBUTES);
        let text = |k: &str| attrs.get(k).and_then(|v| v.string_value().map(str::to_owned));
        assert_eq!(text(attr::ERROR_CLASS).as_deref(), Some("invalid_payload"));
        assert_eq!(text(attr::ATTEMPTS).as_deref(), Some("3"));
        assert_eq!(text(attr::SOURCE_QUEUE).as_deref(), Some("local-jobfleet-media"));
        assert_eq!(text(attr::ERROR_MESSAGE).map(|m| m.chars().count()), Some(MAX_ERROR_MESSAGE_CHARS + 1));
        assert!(attrs.contains_key("a0") && attrs.contains_key("a3") && !attrs.contains_key("a4"));
    }

    #[test]
    fn a_producer_attribute_cannot_overwrite_the_reason() {
        let mut message = message_with(0);
        message.attributes.insert(attr::ERROR_CLASS.into(), string_attribute("forged"));
        let attrs = dead_letter_attributes(&message, "unknown_type", "x", "q", SystemTime::now());
        assert_eq!(attrs.get(attr::ERROR_CLASS).and_then(|v| v.string_value()), Some("unknown_type"));
    }
}

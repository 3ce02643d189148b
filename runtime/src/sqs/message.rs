//! A message as received, with the system attributes the runtime uses.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};

#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// ApproximateReceiveCount: 1 on first delivery.
    pub receive_count: u32,
    /// SentTimestamp, when SQS reported it.
    pub sent_at: Option<SystemTime>,
    pub received_at: SystemTime,
    /// The producer's message attributes, kept to carry them into the DLQ.
    pub attributes: HashMap<String, MessageAttributeValue>,
    /// MessageGroupId: the ordering group on a FIFO queue, the tenant on a
    /// standard (fair) queue; kept into the DLQ and through replays.
    pub group_id: Option<String>,
}

impl Received {
    /// `None` for a message without id or receipt handle, which SQS never sends.
    pub fn from_sdk(message: Message, received_at: SystemTime) -> Option<Self> {
        let system = message.attributes.unwrap_or_default();
        let receive_count = system.get(&MessageSystemAttributeName::ApproximateReceiveCount).and_then(|v| v.parse().ok()).unwrap_or(1);
        let sent_at = system
            .get(&MessageSystemAttributeName::SentTimestamp)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
        let group_id = system.get(&MessageSystemAttributeName::MessageGroupId).cloned();
        Some(Self {
            group_id,
            message_id: message.message_id?,
            receipt_handle: message.receipt_handle?,
            body: message.body.unwrap_or_default(),
            receive_count,
            sent_at,
            received_at,
            attributes: message.message_attributes.unwrap_or_default(),
        })
    }

    /// Receive time − SentTimestamp: how long the message waited in the queue.
    pub fn queue_wait(&self) -> Option<Duration> {
        self.received_at.duration_since(self.sent_at?).ok()
    }
}

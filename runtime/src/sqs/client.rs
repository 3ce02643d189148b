//! A thin wrapper over the SDK client that counts every request in
//! `jobfleet_sqs_requests_total{operation,result}` (the SQS bill) and sets
//! timeouts suited to long polling.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};

use crate::sqs::message::Received;
use crate::telemetry::SQS_REQUESTS_TOTAL;

pub use crate::sqs::error::{SqsError, SqsErrorKind};

/// Per-entry result of a batch call: ids of entries that failed and whether
/// retrying them can help (`sender_fault` = our request was wrong, e.g. an
/// expired receipt handle).
#[derive(Debug, Clone, Default)]
pub struct BatchFailures {
    pub failed: Vec<(usize, bool, String)>,
}

impl BatchFailures {
    /// Our entry ids are the positions in the request.
    fn from_sdk(failed: Vec<BatchResultErrorEntry>) -> Self {
        Self {
            failed: failed.into_iter().filter_map(|f| Some((f.id.parse().ok()?, f.sender_fault, f.message.unwrap_or(f.code)))).collect(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Sqs {
    client: Client,
}

impl Sqs {
    /// Builds a client from the standard AWS environment (`AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, credentials chain).
    pub async fn from_env() -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            // Long polls last up to 20 s; the receive call overrides nothing,
            // so the per-attempt limit must cover them with margin.
            .operation_attempt_timeout(Duration::from_secs(30))
            .build();
        let config = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).load().await;
        Self { client: Client::new(&config) }
    }

    /// Wraps a client built elsewhere (tests add interceptors to theirs).
    pub fn from_client(client: Client) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn counted<T, E>(
        &self,
        operation: &'static str,
        queue: &str,
        call: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<T, SqsError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let result = call.await;
        Self::count(operation, result.is_ok());
        result.map_err(|e| SqsError::from_sdk(operation, queue, &e))
    }

    pub async fn queue_url(&self, name: &str) -> Result<String, SqsError> {
        let out = self.counted("GetQueueUrl", name, self.client.get_queue_url().queue_name(name).send()).await?;
        out.queue_url.ok_or_else(|| SqsError::new("GetQueueUrl", SqsErrorKind::Transient, name, "no URL in the response"))
    }

    pub async fn receive(
        &self,
        queue_url: &str,
        max_messages: i32,
        wait_secs: i32,
        visibility_secs: i32,
    ) -> Result<Vec<Received>, SqsError> {
        let out = self
            .counted(
                "ReceiveMessage",
                queue_url,
                self.client
                    .receive_message()
                    .queue_url(queue_url)
                    .max_number_of_messages(max_messages.clamp(1, 10))
                    .wait_time_seconds(wait_secs)
                    .visibility_timeout(visibility_secs)
                    // Only what `Received` reads: every other system attribute
                    // would be parsed for nothing on each message.
                    .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                    .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                    .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
                    // All of the producer's: they are carried into the DLQ.
                    .message_attribute_names("All")
                    .send(),
            )
            .await?;
        let received_at = std::time::SystemTime::now();
        Ok(out.messages.unwrap_or_default().into_iter().filter_map(|m| Received::from_sdk(m, received_at)).collect())
    }

    pub async fn delete_batch(&self, queue_url: &str, receipts: &[String]) -> Result<BatchFailures, SqsError> {
        let entries = receipts
            .iter()
            .enumerate()
            .map(|(i, r)| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SqsError::new("DeleteMessageBatch", SqsErrorKind::Invalid, queue_url, e.to_string()))?;
        let out = self
            .counted(
                "DeleteMessageBatch",
                queue_url,
                self.client.delete_message_batch().queue_url(queue_url).set_entries(Some(entries)).send(),
            )
            .await?;
        Ok(BatchFailures::from_sdk(out.failed))
    }

    pub async fn change_visibility_batch(&self, queue_url: &str, entries: &[(String, i32)]) -> Result<BatchFailures, SqsError> {
        let entries = entries
            .iter()
            .enumerate()
            .map(|(i, (r, secs))| {
                ChangeMessageVisibilityBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).visibility_timeout(*secs).build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SqsError::new("ChangeMessageVisibilityBatch", SqsErrorKind::Invalid, queue_url, e.to_string()))?;
        let out = self
            .counted(
                "ChangeMessageVisibilityBatch",
                queue_url,
                self.client.change_message_visibility_batch().queue_url(queue_url).set_entries(Some(entries)).send(),
            )
            .await?;
        Ok(BatchFailures::from_sdk(out.failed))
    }

    /// SendMessage: the body and attributes, the group and deduplication ids
    /// when set (a FIFO queue needs a group, and a deduplication id unless
    /// it has content-based deduplication), and a delay (standard queues
    /// only: a FIFO queue refuses a per-message delay).
    pub async fn send(&self, queue_url: &str, message: &Outgoing, delay_secs: Option<i32>) -> Result<String, SqsError> {
        let out = self
            .counted(
                "SendMessage",
                queue_url,
                self.client
                    .send_message()
                    .queue_url(queue_url)
                    .message_body(&message.body)
                    .set_message_attributes(Some(message.attributes.clone()))
                    .set_message_group_id(message.group_id.clone())
                    .set_message_deduplication_id(message.dedup_id.clone())
                    .set_delay_seconds(delay_secs)
                    .send(),
            )
            .await?;
        Ok(out.message_id.unwrap_or_default())
    }

    /// Approximate counts: (visible, in flight, delayed).
    pub async fn queue_depth(&self, queue_url: &str) -> Result<(u64, u64, u64), SqsError> {
        let out = self
            .counted(
                "GetQueueAttributes",
                queue_url,
                self.client
                    .get_queue_attributes()
                    .queue_url(queue_url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
                    .send(),
            )
            .await?;
        let attrs = out.attributes.unwrap_or_default();
        let get = |name: QueueAttributeName| attrs.get(&name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok((
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        ))
    }
}

/// A string message attribute.
pub fn string_attribute(value: impl Into<String>) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().expect("data_type is set, the only required field")
}

/// A number message attribute.
pub fn number_attribute(value: impl ToString) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("Number")
        .string_value(value.to_string())
        .build()
        .expect("data_type is set, the only required field")
}

/// A message to send with its group and deduplication ids (both `None` for
/// a plain standard-queue message).
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    pub body: String,
    pub attributes: HashMap<String, MessageAttributeValue>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

/// Whether a queue URL (or name) is a FIFO queue's: SQS requires the suffix.
pub fn is_fifo_queue(url_or_name: &str) -> bool {
    url_or_name.ends_with(".fifo")
}

/// Result of a SendMessageBatch, entry by entry (indexes into the request).
/// An entry in neither list was not confirmed either way: treat it as not sent.
#[derive(Debug, Clone, Default)]
pub struct SendBatchResult {
    /// (index, new message id)
    pub sent: Vec<(usize, String)>,
    /// (index, sender_fault, reason)
    pub failed: Vec<(usize, bool, String)>,
}

/// The outcome of asking for a message move task (the native DLQ redrive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveTaskStart {
    Started {
        task_handle: String,
    },
    /// The endpoint does not implement the API (moto, some emulators): the
    /// caller falls back to its own path.
    Unsupported {
        reason: String,
    },
}

/// One entry of ListMessageMoveTasks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MoveTask {
    pub task_handle: Option<String>,
    pub status: Option<String>,
    pub destination_arn: Option<String>,
    pub moved: i64,
    pub to_move: Option<i64>,
    pub failure_reason: Option<String>,
    pub started_at_ms: i64,
}

/// Operator-side calls (queue lookups that tell "missing" apart, batched
/// sends, purge, message move tasks), counted like the runtime's.
impl Sqs {
    fn count(operation: &'static str, ok: bool) {
        let label = if ok { "ok" } else { "error" };
        metrics::counter!(SQS_REQUESTS_TOTAL, "operation" => operation, "result" => label).increment(1);
    }

    /// The queue's URL, or `None` when SQS says the queue does not exist.
    pub async fn find_queue_url(&self, name: &str) -> Result<Option<String>, SqsError> {
        let result = self.client.get_queue_url().queue_name(name).send().await;
        Self::count("GetQueueUrl", result.is_ok());
        match result {
            Ok(out) => Ok(out.queue_url),
            Err(e) => match SqsError::from_sdk("GetQueueUrl", name, &e) {
                missing if missing.kind == SqsErrorKind::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    /// The named attributes, or `None` when the queue does not exist.
    pub async fn queue_attributes(
        &self,
        queue_url: &str,
        names: &[QueueAttributeName],
    ) -> Result<Option<HashMap<QueueAttributeName, String>>, SqsError> {
        let result = self.client.get_queue_attributes().queue_url(queue_url).set_attribute_names(Some(names.to_vec())).send().await;
        Self::count("GetQueueAttributes", result.is_ok());
        match result {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(e) => match SqsError::from_sdk("GetQueueAttributes", queue_url, &e) {
                missing if missing.kind == SqsErrorKind::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Sends up to 10 messages in one call; reports each entry's fate.
    /// SendMessageBatch (≤ 10 messages), each with its attributes and, when
    /// set, its group and deduplication ids.
    pub async fn send_batch(&self, queue_url: &str, messages: &[Outgoing]) -> Result<SendBatchResult, SqsError> {
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&m.body)
                    .set_message_attributes(Some(m.attributes.clone()))
                    .set_message_group_id(m.group_id.clone())
                    .set_message_deduplication_id(m.dedup_id.clone())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SqsError::new("SendMessageBatch", SqsErrorKind::Invalid, queue_url, e.to_string()))?;
        let out = self
            .counted("SendMessageBatch", queue_url, self.client.send_message_batch().queue_url(queue_url).set_entries(Some(entries)).send())
            .await?;
        Ok(SendBatchResult {
            sent: out.successful.into_iter().filter_map(|s| Some((s.id.parse().ok()?, s.message_id))).collect(),
            failed: out
                .failed
                .into_iter()
                .filter_map(|f| Some((f.id.parse().ok()?, f.sender_fault, f.message.unwrap_or(f.code))))
                .collect(),
        })
    }

    pub async fn delete(&self, queue_url: &str, receipt_handle: &str) -> Result<(), SqsError> {
        self.counted("DeleteMessage", queue_url, self.client.delete_message().queue_url(queue_url).receipt_handle(receipt_handle).send())
            .await
            .map(drop)
    }

    pub async fn purge(&self, queue_url: &str) -> Result<(), SqsError> {
        self.counted("PurgeQueue", queue_url, self.client.purge_queue().queue_url(queue_url).send()).await.map(drop)
    }

    /// StartMessageMoveTask from `source_arn` (a DLQ) to `destination_arn`
    /// (or, when `None`, each message's original source queue).
    pub async fn start_message_move_task(
        &self,
        source_arn: &str,
        destination_arn: Option<&str>,
        max_per_second: Option<i32>,
    ) -> Result<MoveTaskStart, SqsError> {
        let result = self
            .client
            .start_message_move_task()
            .source_arn(source_arn)
            .set_destination_arn(destination_arn.map(str::to_owned))
            .set_max_number_of_messages_per_second(max_per_second)
            .send()
            .await;
        Self::count("StartMessageMoveTask", result.is_ok());
        match result {
            Ok(out) => Ok(MoveTaskStart::Started { task_handle: out.task_handle.unwrap_or_default() }),
            Err(e) => match unsupported_reason(&e, e.as_service_error().is_some_and(|s| s.is_unsupported_operation())) {
                Some(reason) => Ok(MoveTaskStart::Unsupported { reason }),
                None => Err(SqsError::from_sdk("StartMessageMoveTask", source_arn, &e)),
            },
        }
    }

    /// The most recent message move tasks of `source_arn`, or `None` when
    /// the endpoint does not implement the API.
    pub async fn list_message_move_tasks(&self, source_arn: &str) -> Result<Option<Vec<MoveTask>>, SqsError> {
        let result = self.client.list_message_move_tasks().source_arn(source_arn).max_results(10).send().await;
        Self::count("ListMessageMoveTasks", result.is_ok());
        match result {
            Ok(out) => Ok(Some(
                out.results
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| MoveTask {
                        moved: t.approximate_number_of_messages_moved(),
                        to_move: t.approximate_number_of_messages_to_move(),
                        started_at_ms: t.started_timestamp(),
                        task_handle: t.task_handle,
                        status: t.status,
                        destination_arn: t.destination_arn,
                        failure_reason: t.failure_reason,
                    })
                    .collect(),
            )),
            Err(e) => match unsupported_reason(&e, e.as_service_error().is_some_and(|s| s.is_unsupported_operation())) {
                Some(_) => Ok(None),
                None => Err(SqsError::from_sdk("ListMessageMoveTasks", source_arn, &e)),
            },
        }
    }
}

/// Decides by the *kind* of response (SQS's modeled UnsupportedOperation,
/// or an HTTP status that means "no such API here": 404, 405, 501, or the
/// 500 an emulator answers with for an unimplemented action) whether an
/// API is missing at this endpoint. Throttling, access denied and unknown
/// resources are real errors, not a reason to fall back.
fn unsupported_reason<E>(
    error: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
    modeled_unsupported: bool,
) -> Option<String>
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    use aws_sdk_sqs::error::SdkError;
    if modeled_unsupported {
        return Some("the endpoint answered UnsupportedOperation".to_owned());
    }
    match error {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or_default();
            let known = matches!(code, "AccessDenied" | "AccessDeniedException" | "ResourceNotFoundException" | "RequestThrottled")
                || code.starts_with("AWS.SimpleQueueService.")
                || code.starts_with("KMS.");
            (!known && matches!(status, 404 | 405 | 500 | 501)).then(|| format!("the endpoint answered HTTP {status} (not implemented)"))
        }
        _ => None,
    }
}

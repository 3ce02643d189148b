//! Why an SQS call failed, as a kind callers match on.
//!
//! The kind is decided once, here, from the SDK's typed error (which
//! `SdkError` variant, the AWS error code in its metadata, the HTTP status),
//! never from message text. Callers retry only [`SqsErrorKind::is_transient`]
//! kinds: retrying a missing queue or a missing IAM permission only hides the
//! misconfiguration behind an endless loop.

use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use jobfleet_contract::error::error_chain;

/// SQS's code for an unknown queue (the awsQueryCompatible code the SDK
/// reports; the modeled shape is `QueueDoesNotExist`).
const NON_EXISTENT_QUEUE: &str = "AWS.SimpleQueueService.NonExistentQueue";
/// The credentials are valid but not allowed to do this.
const DENIED: &[&str] = &["AccessDenied", "AccessDeniedException", "KmsAccessDenied", "KMS.AccessDeniedException"];
/// The request is not signed by usable credentials.
const BAD_CREDENTIALS: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "ExpiredToken",
    "ExpiredTokenException",
    "MissingAuthenticationToken",
    "InvalidSecurity",
];
/// Throttling codes SQS uses besides the SDK's common list (one purge per
/// queue per 60 s is a rate limit too).
const SQS_THROTTLED: &[&str] = &["KmsThrottled", "KMS.ThrottlingException", "OverLimit", "AWS.SimpleQueueService.PurgeQueueInProgress"];
/// Server-side failures worth a retry besides the SDK's common list.
const SQS_TRANSIENT: &[&str] = &["InternalError", "InternalFailure", "ServiceUnavailable", "KmsInvalidState"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqsErrorKind {
    /// SQS (or KMS behind it) asks us to slow down.
    Throttled,
    /// SQS answered with a server-side failure (5xx, request timeout) or an
    /// unreadable response.
    Transient,
    /// No response at all: connection refused or reset, DNS, timeout.
    Unreachable,
    /// The queue does not exist (wrong name, env, region or account).
    NotFound,
    /// The credentials work but lack the IAM permission for this call.
    Denied,
    /// No usable credentials: none found, expired, or a bad signature.
    Credentials,
    /// SQS refused the request itself (a parameter, a receipt handle, a
    /// request we could not build): the same request fails the same way.
    Invalid,
}

impl SqsErrorKind {
    /// Whether the same call can succeed later without anyone changing anything.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient | Self::Unreachable)
    }
}

/// An SQS call failed. `kind` is for decisions; `message` (the SDK's error
/// chain) is for humans only.
#[derive(Debug, Clone, thiserror::Error)]
pub struct SqsError {
    pub operation: &'static str,
    pub kind: SqsErrorKind,
    /// The queue's URL or name, for messages.
    pub queue: String,
    pub message: String,
}

impl fmt::Display for SqsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (operation, queue, message) = (self.operation, &self.queue, &self.message);
        match self.kind {
            SqsErrorKind::NotFound => write!(f, "SQS {operation}: queue {queue} does not exist: {message}"),
            SqsErrorKind::Denied => {
                write!(f, "SQS {operation} on {queue} denied: the credentials lack IAM action {}: {message}", self.iam_action())
            }
            _ => write!(f, "SQS {operation} on {queue} failed: {message}"),
        }
    }
}

impl SqsError {
    pub fn new(operation: &'static str, kind: SqsErrorKind, queue: impl Into<String>, message: impl Into<String>) -> Self {
        Self { operation, kind, queue: queue.into(), message: message.into() }
    }

    /// Classifies an SDK error.
    pub fn from_sdk<E>(operation: &'static str, queue: &str, error: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self::new(operation, classify(error), queue, error_chain(error))
    }

    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }

    /// The IAM action the failed call needs (batch calls are authorised
    /// by their single-message action).
    pub fn iam_action(&self) -> String {
        format!("sqs:{}", self.operation.strip_suffix("Batch").unwrap_or(self.operation))
    }
}

/// The kind of an SDK error, from its variant, its AWS error code and its
/// HTTP status.
pub(crate) fn classify<E>(error: &SdkError<E, HttpResponse>) -> SqsErrorKind
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if caused_by_credentials(error) {
        return SqsErrorKind::Credentials;
    }
    match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            match context.err().code() {
                Some(NON_EXISTENT_QUEUE | "QueueDoesNotExist") => SqsErrorKind::NotFound,
                Some(code) if DENIED.contains(&code) => SqsErrorKind::Denied,
                Some(code) if BAD_CREDENTIALS.contains(&code) => SqsErrorKind::Credentials,
                Some(code) if THROTTLING_ERRORS.contains(&code) || SQS_THROTTLED.contains(&code) => SqsErrorKind::Throttled,
                Some(code) if TRANSIENT_ERRORS.contains(&code) || SQS_TRANSIENT.contains(&code) => SqsErrorKind::Transient,
                _ if status == 429 => SqsErrorKind::Throttled,
                _ if status >= 500 => SqsErrorKind::Transient,
                _ if status == 403 => SqsErrorKind::Denied,
                _ => SqsErrorKind::Invalid,
            }
        }
        SdkError::DispatchFailure(failure) if failure.is_user() => SqsErrorKind::Invalid,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => SqsErrorKind::Unreachable,
        SdkError::ResponseError(_) => SqsErrorKind::Transient,
        // Building the request failed: our input, or (handled above) credentials.
        SdkError::ConstructionFailure(_) => SqsErrorKind::Invalid,
        _ => SqsErrorKind::Transient,
    }
}

/// Credential resolution fails before anything is sent; the SDK wraps the
/// provider's typed error somewhere in the chain.
fn caused_by_credentials(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(cause) = next {
        if cause.downcast_ref::<CredentialsError>().is_some() {
            return true;
        }
        next = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_sqs::operation::send_message::SendMessageError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn service(status: u16, code: &str) -> SdkError<SendMessageError, HttpResponse> {
        let err = SendMessageError::generic(ErrorMetadata::builder().code(code).message("from SQS").build());
        let raw = HttpResponse::new(StatusCode::try_from(status).expect("status"), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    fn kind(error: &SdkError<SendMessageError, HttpResponse>) -> SqsErrorKind {
        SqsError::from_sdk("SendMessage", "q", error).kind
    }

    #[test]
    fn service_codes_map_to_kinds() {
        assert_eq!(kind(&service(400, NON_EXISTENT_QUEUE)), SqsErrorKind::NotFound);
        assert_eq!(kind(&service(403, "AccessDenied")), SqsErrorKind::Denied);
        assert_eq!(kind(&service(400, "KmsAccessDenied")), SqsErrorKind::Denied);
        assert_eq!(kind(&service(403, "InvalidClientTokenId")), SqsErrorKind::Credentials);
        assert_eq!(kind(&service(403, "SignatureDoesNotMatch")), SqsErrorKind::Credentials);
        assert_eq!(kind(&service(400, "RequestThrottled")), SqsErrorKind::Throttled);
        assert_eq!(kind(&service(400, "ThrottlingException")), SqsErrorKind::Throttled);
        assert_eq!(kind(&service(400, "AWS.SimpleQueueService.PurgeQueueInProgress")), SqsErrorKind::Throttled);
        assert_eq!(kind(&service(500, "InternalError")), SqsErrorKind::Transient);
        assert_eq!(kind(&service(503, "Whatever")), SqsErrorKind::Transient);
        assert_eq!(kind(&service(429, "Whatever")), SqsErrorKind::Throttled);
        assert_eq!(kind(&service(400, "InvalidParameterValue")), SqsErrorKind::Invalid);
        assert_eq!(kind(&service(400, "ReceiptHandleIsInvalid")), SqsErrorKind::Invalid);
    }

    #[test]
    fn no_response_is_unreachable_and_retried() {
        let refused = SdkError::dispatch_failure(ConnectorError::io(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))));
        assert_eq!(kind(&refused), SqsErrorKind::Unreachable);
        assert_eq!(kind(&SdkError::timeout_error("no answer in 30 s")), SqsErrorKind::Unreachable);
        assert_eq!(
            kind(&SdkError::response_error(
                "truncated body",
                HttpResponse::new(StatusCode::try_from(200).expect("status"), SdkBody::empty())
            )),
            SqsErrorKind::Transient
        );
        assert_eq!(kind(&SdkError::construction_failure("bad input")), SqsErrorKind::Invalid);
        assert!(SqsErrorKind::Unreachable.is_transient() && SqsErrorKind::Throttled.is_transient());
        for kind in [SqsErrorKind::NotFound, SqsErrorKind::Denied, SqsErrorKind::Credentials, SqsErrorKind::Invalid] {
            assert!(!kind.is_transient(), "{kind:?} must fail fast");
        }
    }

    #[test]
    fn missing_credentials_are_found_in_the_chain() {
        let missing = SdkError::dispatch_failure(ConnectorError::other(Box::new(CredentialsError::not_loaded("no providers")), None));
        assert_eq!(kind(&missing), SqsErrorKind::Credentials);
        assert_eq!(
            kind(&SdkError::construction_failure(CredentialsError::provider_timed_out(std::time::Duration::from_secs(5)))),
            SqsErrorKind::Credentials
        );
    }

    #[test]
    fn denied_names_the_queue_and_the_iam_action() {
        let error = SqsError::from_sdk("DeleteMessageBatch", "https://sqs/000/local-jobfleet-media", &service(403, "AccessDenied"));
        let text = error.to_string();
        assert!(text.contains("IAM action sqs:DeleteMessage:") && text.contains("local-jobfleet-media"), "{text}");
        let missing = SqsError::from_sdk("SendMessage", "local-jobfleet-media-dlq", &service(400, NON_EXISTENT_QUEUE));
        assert!(missing.to_string().contains("queue local-jobfleet-media-dlq does not exist"), "{missing}");
    }
}

//! What `notify.sms` and `notify.push` share: the SNS client and how its
//! errors are classified.

use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::operation::publish::PublishError;

use jobfleet_contract::JobError;

/// Maps an SNS `Publish` failure to a retry decision. Errors that the same
/// request will meet again (disabled endpoint, bad parameter, unknown
/// topic, missing permission) are permanent; throttling and service or
/// network trouble are retried.
pub fn publish_error<R: std::fmt::Debug>(err: SdkError<PublishError, R>) -> JobError {
    let message = format!("SNS Publish: {}", DisplayErrorContext(&err));
    match err.code() {
        Some("EndpointDisabled") => JobError::permanent("push_endpoint_disabled", message),
        Some("InvalidParameter" | "InvalidParameterValue" | "ParameterValueInvalid" | "ValidationError") => {
            JobError::permanent("sns_invalid_parameter", message)
        }
        Some("NotFound" | "NotFoundException") => JobError::permanent("sns_not_found", message),
        Some("AuthorizationError" | "AccessDenied" | "AccessDeniedException") => JobError::permanent("sns_not_authorized", message),
        Some("PlatformApplicationDisabled") => JobError::permanent("push_platform_disabled", message),
        Some("Throttled" | "ThrottlingException" | "Throttling" | "KMSThrottling") => JobError::retryable_as("sns_throttled", message),
        Some(_) => JobError::retryable_as("sns_error", message),
        None => JobError::retryable_as("sns_unavailable", message),
    }
}

//! SDK clients only the notification handlers use (the S3 client and the
//! lazily loaded SDK configuration are the contract's: [`jobfleet_contract::aws`]).

#[cfg(feature = "notifications")]
use aws_config::SdkConfig;

#[cfg(feature = "notifications")]
pub fn ses_client(sdk: &SdkConfig) -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(sdk)
}

#[cfg(feature = "notifications")]
pub fn sns_client(sdk: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(sdk)
}

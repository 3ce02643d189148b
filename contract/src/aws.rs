//! The AWS SDK configuration the producer, the runtime and the handlers share.
//!
//! Region, endpoint and credentials come from the SDK's standard chain:
//! `AWS_REGION`, `AWS_ENDPOINT_URL` (the local stack points it at moto on
//! 127.0.0.1:4566) and, in EKS, IRSA. Handlers are built synchronously when
//! the router is, so the configuration is loaded lazily, once, on first use
//! ([`LazyClient`]); tests pass a ready client instead.

use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

/// Loads the SDK configuration from the environment.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An S3 client. Path-style addressing (`endpoint/bucket/key`) is forced
/// when a custom endpoint is set: moto (and most S3-compatible stores)
/// cannot serve virtual-hosted `bucket.endpoint` names. Against AWS itself
/// the SDK's default (virtual-hosted) is kept.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A client made from the environment's SDK configuration on first use.
#[derive(Debug)]
pub struct LazyClient<C> {
    cell: OnceCell<C>,
    make: fn(&SdkConfig) -> C,
}

impl<C> LazyClient<C> {
    /// Built from [`load_sdk_config`] the first time [`LazyClient::get`] runs.
    pub fn from_env(make: fn(&SdkConfig) -> C) -> Self {
        Self { cell: OnceCell::new(), make }
    }

    /// Already built (tests, or a caller that loaded the config itself).
    pub fn ready(client: C, make: fn(&SdkConfig) -> C) -> Self {
        Self { cell: OnceCell::new_with(Some(client)), make }
    }

    pub async fn get(&self) -> &C {
        self.cell.get_or_init(|| async { (self.make)(&load_sdk_config().await) }).await
    }
}

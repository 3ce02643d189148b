//! KEDA's external scaler API (externalscaler.proto) over the fleet state.
//!
//! A ScaledObject trigger `type: external` with metadata `scalerAddress`,
//! `pool` and `targetDrainSeconds` (optional `concurrency`,
//! `coldStartJobSeconds`) asks about one pool. The metric is the desired
//! replica count itself with an `AverageValue` target of 1, so the HPA's
//! `ceil(metric ÷ target)` (before tolerance, stabilisation and policies)
//! is exactly our recommendation.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use jobfleet_runtime::sqs::error::SqsErrorKind;
use tokio_stream::Stream;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status};

use crate::proto::external_scaler_server::{ExternalScaler, ExternalScalerServer};
use crate::proto::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec, MetricValue, ScaledObjectRef,
};
use crate::settings::ControlSettings;
use crate::state::{Fleet, LookupError, Overrides, PoolQueues};
use crate::{ControlError, tls};

/// The metric name KEDA registers for a pool (unique per pool, so several
/// triggers in one cluster never share a series).
pub fn metric_name(pool: &str) -> String {
    format!("jobfleet-drain-{pool}")
}

#[derive(Debug, Clone)]
pub struct Scaler {
    fleet: Arc<Fleet>,
}

impl Scaler {
    pub fn new(fleet: Arc<Fleet>) -> Self {
        Self { fleet }
    }

    /// The pool and sizing a ScaledObject asks about; a clear
    /// `InvalidArgument` naming the metadata key otherwise.
    fn target<'a>(&'a self, object: &ScaledObjectRef) -> Result<(&'a PoolQueues, Overrides), Status> {
        let meta = &object.scaler_metadata;
        let pool = meta.get("pool").map(String::as_str).filter(|p| !p.is_empty()).ok_or_else(|| {
            Status::invalid_argument(format!("ScaledObject {}/{}: trigger metadata `pool` is required", object.namespace, object.name))
        })?;
        let queues = self.fleet.queues(pool).ok_or_else(|| {
            let known: Vec<String> = self.fleet.pools().iter().map(ToString::to_string).collect();
            Status::invalid_argument(format!("trigger metadata `pool`: no pool {pool:?} is configured (pools: {})", known.join(", ")))
        })?;
        let positive = |key: &str| -> Result<Option<f64>, Status> {
            match meta.get(key) {
                None => Ok(None),
                Some(text) => match text.trim().parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
                    _ => Err(Status::invalid_argument(format!("trigger metadata `{key}`: {text:?} is not a positive number of seconds"))),
                },
            }
        };
        let concurrency = match meta.get("concurrency") {
            None => None,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(v) if v > 0 => Some(v),
                _ => return Err(Status::invalid_argument(format!("trigger metadata `concurrency`: {text:?} is not a positive integer"))),
            },
        };
        let overrides = Overrides {
            target_drain_secs: positive("targetDrainSeconds")?,
            concurrency,
            cold_start_job_secs: positive("coldStartJobSeconds")?,
        };
        Ok((queues, overrides))
    }
}

/// The status KEDA logs for a failed lookup. Its code says whether waiting
/// helps: a queue that does not exist or a missing IAM permission needs the
/// deployment fixed; throttling, an unreachable SQS or the ledger down pass.
fn status(e: LookupError) -> Status {
    let code = match &e {
        LookupError::Sqs(sqs) => match sqs.kind {
            SqsErrorKind::NotFound => Code::NotFound,
            SqsErrorKind::Denied => Code::PermissionDenied,
            SqsErrorKind::Credentials => Code::Unauthenticated,
            SqsErrorKind::Invalid => Code::Internal,
            SqsErrorKind::Throttled | SqsErrorKind::Transient | SqsErrorKind::Unreachable => Code::Unavailable,
        },
        LookupError::Ledger(_) => Code::Unavailable,
    };
    Status::new(code, e.to_string())
}

type ActiveStream = Pin<Box<dyn Stream<Item = Result<IsActiveResponse, Status>> + Send>>;
type SpecStream = Pin<Box<dyn Stream<Item = Result<GetMetricSpecResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalScaler for Scaler {
    async fn is_active(&self, request: Request<ScaledObjectRef>) -> Result<Response<IsActiveResponse>, Status> {
        let (queues, _) = self.target(request.get_ref())?;
        let demand = self.fleet.demand(queues).await.map_err(status)?;
        Ok(Response::new(IsActiveResponse { result: demand.is_active() }))
    }

    type StreamIsActiveStream = ActiveStream;

    /// Pushes the pool's activity at once and then whenever it changes
    /// (checked every sample interval), so KEDA wakes a pool without
    /// waiting for its polling interval.
    async fn stream_is_active(&self, request: Request<ScaledObjectRef>) -> Result<Response<Self::StreamIsActiveStream>, Status> {
        let (queues, _) = self.target(request.get_ref())?;
        let queues = queues.clone();
        let fleet = self.fleet.clone();
        let interval = fleet.settings().sample_interval;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut last = None;
            let mut ticker = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    () = tx.closed() => return,
                    _ = ticker.tick() => {}
                }
                let item = fleet.demand(&queues).await.map(|d| d.is_active());
                match item {
                    Ok(active) if last == Some(active) => {}
                    Ok(active) => {
                        last = Some(active);
                        if tx.send(Ok(IsActiveResponse { result: active })).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(pool = %queues.pool, error = %e, "StreamIsActive: lookup failed"),
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_metric_spec(&self, request: Request<ScaledObjectRef>) -> Result<Response<GetMetricSpecResponse>, Status> {
        let (queues, _) = self.target(request.get_ref())?;
        Ok(Response::new(spec(queues)))
    }

    type StreamMetricSpecStream = SpecStream;

    /// The target never changes (it is 1 replica per replica), so there is
    /// nothing to push; KEDA falls back to GetMetricSpec.
    async fn stream_metric_spec(&self, _request: Request<ScaledObjectRef>) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        Err(Status::unimplemented("the metric target is constant; use GetMetricSpec"))
    }

    async fn get_metrics(&self, request: Request<GetMetricsRequest>) -> Result<Response<GetMetricsResponse>, Status> {
        let request = request.into_inner();
        let object = request.scaled_object_ref.unwrap_or_default();
        let (queues, overrides) = self.target(&object)?;
        let (_, desired) = self.fleet.recommend(queues, &overrides).await.map_err(status)?;
        let name = if request.metric_name.is_empty() { metric_name(queues.pool.as_str()) } else { request.metric_name };
        Ok(Response::new(GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: name,
                metric_value: i64::from(desired),
                metric_value_float: f64::from(desired),
            }],
        }))
    }
}

fn spec(queues: &PoolQueues) -> GetMetricSpecResponse {
    GetMetricSpecResponse {
        metric_specs: vec![MetricSpec { metric_name: metric_name(queues.pool.as_str()), target_size: 1, target_size_float: 1.0 }],
    }
}

/// Binds the gRPC port and returns the server future (runs until `stop`).
pub(crate) async fn serve(
    settings: &ControlSettings,
    scaler: Scaler,
    stop: CancellationToken,
) -> Result<(SocketAddr, impl Future<Output = Result<(), ControlError>> + Send + 'static), ControlError> {
    let listener = tokio::net::TcpListener::bind(settings.grpc_addr).await.map_err(|source| ControlError::Bind {
        what: "gRPC",
        addr: settings.grpc_addr,
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| ControlError::Bind { what: "gRPC", addr: settings.grpc_addr, source })?;
    let mut builder = tonic::transport::Server::builder();
    if let Some(files) = &settings.tls {
        builder = builder.tls_config(tls::server_config(files)?)?;
    }
    let router = builder.add_service(ExternalScalerServer::new(scaler));
    let incoming = TcpListenerStream::new(listener);
    let server = async move {
        router.serve_with_incoming_shutdown(incoming, stop.cancelled_owned()).await?;
        Ok(())
    };
    Ok((addr, server))
}

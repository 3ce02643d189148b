//! The `Job` and `Handler` traits.

use std::future::Future;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::envelope::DecodeErrorClass;
use crate::{JobContext, JobError, Pool};

/// A typed job: its payload type, wire name, payload version and pool.
///
/// The payload *is* the implementing type, so a producer builds a value of it
/// and a handler receives one; the wire format is its serde JSON.
pub trait Job: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// Wire name (`"media.thumbnail"`): `<area>.<verb>`, lower snake case.
    const TYPE: &'static str;
    /// The payload version producers send now. Bump it on any change a
    /// consumer of the previous version could not read, and teach
    /// [`Job::upcast`] to read the old one.
    const VERSION: u32 = 1;
    /// The pool whose queue carries this type; `None` for the `diag.*` types,
    /// which every pool accepts.
    const POOL: Option<Pool>;

    /// Rewrites a payload of an older `version` into the current shape.
    /// The default knows no older versions.
    fn upcast(version: u32, payload: Value) -> Result<Value, JobError> {
        let _ = payload;
        Err(unknown_version(Self::TYPE, version, Self::VERSION))
    }
}

fn unknown_version(job_type: &str, version: u32, current: u32) -> JobError {
    JobError::permanent(
        DecodeErrorClass::UnknownVersion.as_str(),
        format!("{job_type} version {version} is not supported (this worker reads versions up to {current})"),
    )
}

/// Turns an envelope's payload into the typed job, upcasting older versions.
/// Errors are permanent: `unknown_version` or `invalid_payload`.
pub fn decode_payload<J: Job>(version: u32, payload: Value) -> Result<J, JobError> {
    let current = match version {
        v if v == J::VERSION => payload,
        v if v < J::VERSION && v > 0 => J::upcast(v, payload)?,
        v => return Err(unknown_version(J::TYPE, v, J::VERSION)),
    };
    // serde_path_to_error names the offending field (`items[2].url`), which
    // plain serde_json does not when deserializing from a Value.
    serde_path_to_error::deserialize(current).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { String::new() } else { format!(" at `{path}`") };
        JobError::permanent(DecodeErrorClass::InvalidPayload.as_str(), format!("{} payload{at}: {}", J::TYPE, e.inner()))
    })
}

/// Runs one type of job. Implement it on a small struct holding the handler's
/// clients and config, or pass a plain `async fn(J, JobContext)`.
///
/// Cross-cutting behaviour (timeout, panics, tracing, metrics, retries,
/// heartbeats) is the runtime's job: a handler only does the work and says
/// how it failed.
pub trait Handler<J: Job>: Send + Sync + 'static {
    /// Stored as the job's result in the ledger.
    type Output: Serialize + Send;

    fn handle(&self, job: J, ctx: JobContext) -> impl Future<Output = Result<Self::Output, JobError>> + Send;
}

impl<J, F, Fut, O> Handler<J> for F
where
    J: Job,
    F: Fn(J, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, JobError>> + Send,
    O: Serialize + Send,
{
    type Output = O;

    fn handle(&self, job: J, ctx: JobContext) -> impl Future<Output = Result<O, JobError>> + Send {
        self(job, ctx)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    /// v1 had `name`; v2 renamed it to `full_name`.
    #[derive(Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
    struct Greet {
        full_name: String,
    }

    impl Job for Greet {
        const TYPE: &'static str = "test.greet";
        const VERSION: u32 = 2;
        const POOL: Option<Pool> = None;

        fn upcast(version: u32, mut payload: Value) -> Result<Value, JobError> {
            match version {
                1 => {
                    let name = payload.get_mut("name").map(Value::take).unwrap_or(Value::Null);
                    Ok(json!({ "full_name": name }))
                }
                v => Err(unknown_version(Self::TYPE, v, Self::VERSION)),
            }
        }
    }

    #[test]
    fn current_and_upcast_versions_decode_newer_and_zero_do_not() {
        let v2: Greet = decode_payload(2, json!({"full_name": "Ada"})).expect("v2");
        let v1: Greet = decode_payload(1, json!({"name": "Ada"})).expect("v1 upcast");
        assert_eq!(v1, v2);
        for version in [0, 3] {
            let err = decode_payload::<Greet>(version, json!({})).expect_err("unsupported");
            assert_eq!(err.class(), "unknown_version");
            assert!(err.message().contains(&format!("test.greet version {version}")), "{err}");
        }
    }

    #[test]
    fn a_payload_of_the_wrong_shape_is_invalid_payload_naming_the_field() {
        let err = decode_payload::<Greet>(2, json!({"full_name": 7})).expect_err("wrong type");
        assert_eq!(err.class(), "invalid_payload");
        assert!(err.is_permanent());
        assert!(err.message().contains("test.greet payload at `full_name`"), "{err}");
    }
}

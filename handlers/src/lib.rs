//! The job types jobfleet ships, one module each, behind cargo features so a
//! custom worker compiles only what it runs:
//!
//! | feature | module | job types |
//! |---|---|---|
//! | `diag` | [`diag`] | `diag.noop`, `diag.sleep`, `diag.fail` (every pool, when enabled) |
//! | `media` | `media` | `media.thumbnail` (libjpeg-turbo, SIMD resize, PNG/WebP) |
//! | `notifications` | `notifications` | `notify.email` (SES), `notify.sms`, `notify.push` (SNS), `notify.webhook` |
//! | `inference` | `inference` | `ai.inference` (an OpenAI-compatible server) |
//!
//! Each handler is a plain async function or a small struct implementing
//! [`jobfleet_contract::Handler`]; cross-cutting behaviour (timeouts,
//! retries, metrics, tracing, heartbeats) is the runtime's. Handlers report
//! failures only as [`jobfleet_contract::JobError`] variants.

#[cfg(any(feature = "notifications", feature = "inference"))]
pub mod aws;
#[cfg(feature = "diag")]
pub mod diag;
#[cfg(feature = "inference")]
pub mod inference;
#[cfg(feature = "media")]
pub mod media;
#[cfg(any(feature = "notifications", feature = "inference"))]
pub mod net;
#[cfg(feature = "notifications")]
pub mod notifications;
pub mod payloads;
pub mod schema;

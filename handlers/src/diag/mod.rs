//! Diagnostic job types, accepted by every pool when `diag_enabled` is set:
//! they exercise the runtime's paths (success, slow work, every failure kind)
//! without touching any external system, for tests, demos and load tests.

mod fail;
mod noop;
mod sleep;

pub use crate::payloads::diag::{Fail, FailMode, Noop, Sleep};
pub use fail::fail;
pub use noop::noop;
pub use sleep::sleep;

//! The bundled job types' payloads, with no feature: what a producer of
//! bundled jobs needs (the types, their `Job` impls, their JSON Schema) and
//! nothing of the handlers, so `jobfleet-handlers` with
//! `default-features = false` compiles serde, schemars and the contract
//! only — no image codecs, mail, templating or HTTP clients.
//!
//! ```
//! use jobfleet_contract::Job;
//! use jobfleet_handlers::payloads::Thumbnail;
//!
//! let job = Thumbnail { bucket: "uploads".into(), key: "cat.jpg".into(), variants: None, format: None, quality: None };
//! assert_eq!(Thumbnail::TYPE, "media.thumbnail");
//! assert_eq!(serde_json::to_value(&job).unwrap(), serde_json::json!({"bucket": "uploads", "key": "cat.jpg"}));
//! ```
//!
//! The handler modules (`media`, `notifications`, `inference`, `diag`, each
//! behind its feature) re-export these types where they always were.

pub mod diag;
pub mod inference;
pub mod media;
pub mod notifications;

pub use diag::{Fail, FailMode, Noop, Sleep};
pub use inference::{ChatMessage, ChatRequest, EmbeddingsRequest, Inference};
pub use media::{Thumbnail, ThumbnailFormat};
pub use notifications::{Email, Push, Sms, SmsKind, Webhook};

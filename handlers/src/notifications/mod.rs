//! The `notifications` pool's handlers: `notify.email` (SES v2),
//! `notify.sms` and `notify.push` (SNS), `notify.webhook` (signed HTTPS
//! POST behind the SSRF guard and a per-destination rate limit).
//! Payloads, configuration and the webhook verification recipe are in
//! docs/handlers.md.

mod config;
pub mod email;
pub mod push;
pub mod sms;
mod sns;
pub mod webhook;

pub use config::{MIN_SIGNING_SECRET_LEN, NotificationsConfig};
pub use email::{Email, EmailHandler, EmailSent};
pub use push::{Push, PushHandler};
pub use sms::{Published, Sms, SmsHandler, SmsKind};
pub use webhook::{Webhook, WebhookDelivered, WebhookHandler, signature_header};

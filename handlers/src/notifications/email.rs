//! `notify.email`: a templated email sent with SES v2 `SendEmail`.

use std::sync::Arc;

use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use super::NotificationsConfig;
use crate::aws::ses_client;
pub use crate::payloads::notifications::Email;
use jobfleet_contract::aws::LazyClient;
use jobfleet_contract::error::error_chain;
use jobfleet_contract::{JobContext, JobError};

/// SES's limit on recipients (to + cc + bcc) of one message.
pub const MAX_RECIPIENTS: usize = 50;
/// Template instructions one email may spend (minijinja "fuel"): ample for
/// real templates, bounded for a template that loops forever.
const TEMPLATE_FUEL: u64 = 200_000;

/// What a sent email records in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailSent {
    pub message_id: String,
    pub recipients: usize,
}

/// Runs `notify.email`.
#[derive(Debug)]
pub struct EmailHandler {
    config: Arc<NotificationsConfig>,
    ses: LazyClient<aws_sdk_sesv2::Client>,
}

impl EmailHandler {
    /// With an SES client built from the environment on first use.
    pub fn new(config: Arc<NotificationsConfig>) -> Self {
        Self { config, ses: LazyClient::from_env(ses_client) }
    }

    pub fn with_client(config: Arc<NotificationsConfig>, ses: aws_sdk_sesv2::Client) -> Self {
        Self { config, ses: LazyClient::ready(ses, ses_client) }
    }

    /// The sender to use, if it is allowed.
    fn sender(&self, requested: Option<&str>) -> Result<String, JobError> {
        let default = self.config.email_from.as_deref();
        let Some(from) = requested.or(default) else {
            return Err(JobError::permanent("sender_not_configured", "no `from` in the job and no notifications.email_from configured"));
        };
        let address = address_of(from).to_ascii_lowercase();
        let is_default = default.is_some_and(|d| address_of(d).eq_ignore_ascii_case(&address));
        let listed = self.config.email_allowed_senders.iter().any(|allowed| match allowed.strip_prefix('@') {
            Some(domain) => address.rsplit_once('@').is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain)),
            None => allowed.eq_ignore_ascii_case(&address),
        });
        if !(is_default || listed) {
            return Err(JobError::permanent(
                "sender_not_allowed",
                format!("sender {address} is not notifications.email_from nor in notifications.email_allowed_senders"),
            ));
        }
        if has_control_chars(from) {
            return Err(JobError::permanent("sender_not_allowed", "the sender contains control characters"));
        }
        Ok(from.to_owned())
    }
}

impl jobfleet_contract::Handler<Email> for EmailHandler {
    type Output = EmailSent;

    async fn handle(&self, job: Email, ctx: JobContext) -> Result<EmailSent, JobError> {
        let recipients = job.to.len() + job.cc.len() + job.bcc.len();
        if job.to.is_empty() {
            return Err(JobError::permanent("invalid_recipient", "`to` is empty"));
        }
        if recipients > MAX_RECIPIENTS {
            return Err(JobError::permanent("invalid_recipient", format!("{recipients} recipients; SES allows {MAX_RECIPIENTS}")));
        }
        if let Some(bad) = job.to.iter().chain(&job.cc).chain(&job.bcc).chain(&job.reply_to).find(|a| !is_email_address(a)) {
            return Err(JobError::permanent("invalid_recipient", format!("{bad:?} is not an email address")));
        }
        if job.text.is_none() && job.html.is_none() {
            return Err(JobError::permanent("invalid_email", "one of `text` and `html` is required"));
        }
        let from = self.sender(job.from.as_deref())?;
        let rendered = render(&job)?;

        let mut body = Body::builder();
        if let Some(text) = rendered.text {
            body = body.text(utf8(text)?);
        }
        if let Some(html) = rendered.html {
            body = body.html(utf8(html)?);
        }
        let message = Message::builder().subject(utf8(rendered.subject)?).body(body.build()).build();
        let tag = MessageTag::builder()
            .name("jobfleet_job_id")
            .value(ctx.id.to_string())
            .build()
            .map_err(|e| JobError::permanent("invalid_email", e))?;
        let destination = Destination::builder()
            .set_to_addresses(Some(job.to))
            .set_cc_addresses((!job.cc.is_empty()).then_some(job.cc))
            .set_bcc_addresses((!job.bcc.is_empty()).then_some(job.bcc))
            .build();
        let sent = self
            .ses
            .get()
            .await
            .send_email()
            .from_email_address(from)
            .destination(destination)
            .set_reply_to_addresses((!job.reply_to.is_empty()).then_some(job.reply_to))
            .content(EmailContent::builder().simple(message).build())
            .email_tags(tag)
            .set_configuration_set_name(self.config.email_configuration_set.clone())
            .send()
            .await
            .map_err(ses_error)?;
        Ok(EmailSent { message_id: sent.message_id.unwrap_or_default(), recipients })
    }
}

struct Rendered {
    subject: String,
    text: Option<String>,
    html: Option<String>,
}

fn render(job: &Email) -> Result<Rendered, JobError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    let vars = minijinja::Value::from(Serde(&job.vars));
    // The default auto-escape callback escapes `*.html` templates only.
    let one = |name: &str, source: &str| {
        env.render_named_str(name, source, vars.clone())
            .map_err(|e| JobError::permanent("template_error", format!("{name}: {}", error_chain(&e))))
    };
    let subject = one("subject.txt", &job.subject)?;
    // A subject is one line; SES would reject (or mangle) a multi-line one.
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    if subject.is_empty() {
        return Err(JobError::permanent("template_error", "subject.txt: the subject renders empty"));
    }
    let text = job.text.as_deref().map(|t| one("body.txt", t)).transpose()?;
    let html = job.html.as_deref().map(|t| one("body.html", t)).transpose()?;
    Ok(Rendered { subject, text, html })
}

fn utf8(data: String) -> Result<Content, JobError> {
    Content::builder().data(data).charset("UTF-8").build().map_err(|e| JobError::permanent("invalid_email", e))
}

fn ses_error<R: std::fmt::Debug>(err: SdkError<aws_sdk_sesv2::operation::send_email::SendEmailError, R>) -> JobError {
    let message = format!("SES SendEmail: {}", DisplayErrorContext(&err));
    match err.code() {
        Some("MessageRejected") => JobError::permanent("email_rejected", message),
        Some("MailFromDomainNotVerifiedException") => JobError::permanent("sender_not_verified", message),
        Some("NotFoundException") => JobError::permanent("ses_not_found", message),
        Some("BadRequestException" | "InvalidParameterValue") => JobError::permanent("ses_bad_request", message),
        Some("TooManyRequestsException" | "LimitExceededException" | "Throttling") => JobError::retryable_as("ses_throttled", message),
        Some("AccountSuspendedException" | "SendingPausedException") => JobError::retryable_as("ses_sending_paused", message),
        Some(_) => JobError::retryable_as("ses_error", message),
        None => JobError::retryable_as("ses_unavailable", message),
    }
}

/// The address part of `"Name <addr@example.com>"` (or the whole string).
pub fn address_of(mailbox: &str) -> &str {
    let mailbox = mailbox.trim();
    match (mailbox.rfind('<'), mailbox.ends_with('>')) {
        (Some(open), true) => mailbox[open + 1..mailbox.len() - 1].trim(),
        _ => mailbox,
    }
}

/// A plausible `local@domain` address: what SES would accept, roughly, and
/// nothing that could smuggle a header (no whitespace or control characters).
pub fn is_email_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else { return false };
    !local.is_empty()
        && local.len() <= 64
        && domain.len() <= 253
        && address.len() <= 320
        && !address.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
        && domain.split('.').count() >= 2
        && domain.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
}

fn has_control_chars(text: &str) -> bool {
    text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn job(subject: &str, text: Option<&str>, html: Option<&str>, vars: Value) -> Email {
        Email {
            to: vec!["ada@example.com".into()],
            cc: vec![],
            bcc: vec![],
            from: None,
            reply_to: vec![],
            subject: subject.into(),
            text: text.map(Into::into),
            html: html.map(Into::into),
            vars: vars.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn renders_text_plainly_and_html_escaped() {
        let vars = json!({ "name": "Ada <script>", "items": [1, 2] });
        let r = render(&job("Hi {{ name }}\n!", Some("{{ name }}: {{ items|length }}"), Some("<p>{{ name }}</p>"), vars))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.subject, "Hi Ada <script> !");
        assert_eq!(r.text.as_deref(), Some("Ada <script>: 2"));
        assert_eq!(r.html.as_deref(), Some("<p>Ada &lt;script&gt;</p>"));
    }

    #[test]
    fn template_mistakes_are_permanent_template_errors() {
        for (subject, text) in [("{{ missing }}", "x"), ("ok", "{% for %}"), ("ok", "{% for i in range(1000000) %}{{ i }}{% endfor %}")] {
            let err = render(&job(subject, Some(text), None, json!({}))).err().expect("fails");
            assert_eq!(err.class(), "template_error", "{subject} / {text}: {err}");
        }
    }

    #[test]
    fn addresses_are_checked() {
        assert_eq!(address_of("Jobfleet <no-reply@example.com>"), "no-reply@example.com");
        assert_eq!(address_of(" a@b.co "), "a@b.co");
        for ok in ["a@b.co", "first.last+tag@sub.example.org", "o'brien@example.ie"] {
            assert!(is_email_address(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.co", "a@.co", "a b@c.co", "a@b.co\r\nBcc: x@y.z", "a@b..co", "<a@b.co>"] {
            assert!(!is_email_address(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_the_default_and_allow_listed_senders_may_send() {
        let config = NotificationsConfig {
            email_from: Some("Jobfleet <no-reply@example.com>".into()),
            email_allowed_senders: vec!["@billing.example.com".into(), "ceo@example.org".into()],
            ..NotificationsConfig::default()
        };
        let handler = EmailHandler::new(Arc::new(config));
        assert_eq!(handler.sender(None).ok().as_deref(), Some("Jobfleet <no-reply@example.com>"));
        assert!(handler.sender(Some("NO-REPLY@example.com")).is_ok());
        assert!(handler.sender(Some("Invoices <x@Billing.Example.com>")).is_ok());
        assert!(handler.sender(Some("ceo@example.org")).is_ok());
        for bad in ["evil@example.com", "x@evil-billing.example.com", "ceo@example.org.evil"] {
            assert_eq!(handler.sender(Some(bad)).map_err(|e| e.class()), Err("sender_not_allowed"), "{bad}");
        }
        let unconfigured = EmailHandler::new(Arc::new(NotificationsConfig::default()));
        assert_eq!(unconfigured.sender(None).map_err(|e| e.class()), Err("sender_not_configured"));
    }
}

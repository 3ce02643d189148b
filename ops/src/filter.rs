//! Which dead-lettered messages an operator command acts on: the filter
//! (`--type`, `--error-class`, `--since`, `--id`) as a pure function of a
//! message's facts, and the parsers for its arguments.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// A resolved filter: every given criterion must hold (AND); within `ids`,
/// any one (OR). The empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    /// Exact job type, or a prefix ending in `*` (`media.*`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    /// Failed at or after this instant.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// Job ids (envelope `id`) or SQS message ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

/// What the filter looks at, extracted from one DLQ message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// The envelope's `type`, else the `job_type` attribute.
    pub job_type: Option<&'a str>,
    pub error_class: Option<&'a str>,
    /// The `failed_at` attribute, else SentTimestamp (a lower bound).
    pub failed_at: Option<OffsetDateTime>,
    pub job_id: Option<Uuid>,
    pub message_id: &'a str,
    /// The message id the job had in its source queue.
    pub original_message_id: Option<&'a str>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The one place that decides whether a message is acted on.
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        if let Some(wanted) = &self.job_type {
            let Some(actual) = facts.job_type else { return false };
            let hit = match wanted.strip_suffix('*') {
                Some(prefix) => actual.starts_with(prefix),
                None => actual == wanted,
            };
            if !hit {
                return false;
            }
        }
        if let Some(wanted) = &self.error_class
            && facts.error_class != Some(wanted.as_str())
        {
            return false;
        }
        if let Some(since) = self.since {
            // Undated messages never match a time filter: replaying what
            // cannot be dated is never the safe default.
            match facts.failed_at {
                Some(at) if at >= since => {}
                _ => return false,
            }
        }
        if !self.ids.is_empty() {
            let job_id = facts.job_id.map(|id| id.to_string());
            let hit = self.ids.iter().any(|wanted| {
                let wanted = wanted.trim();
                job_id.as_deref().is_some_and(|id| id.eq_ignore_ascii_case(wanted))
                    || facts.message_id == wanted
                    || facts.original_message_id == Some(wanted)
            });
            if !hit {
                return false;
            }
        }
        true
    }

    /// A short human description: `type=diag.fail error_class=x since=…`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.job_type {
            parts.push(format!("type={t}"));
        }
        if let Some(c) = &self.error_class {
            parts.push(format!("error_class={c}"));
        }
        if let Some(s) = self.since {
            parts.push(format!("since={}", s.format(&Rfc3339).unwrap_or_default()));
        }
        if !self.ids.is_empty() {
            parts.push(format!("id={}", self.ids.join(",")));
        }
        if parts.is_empty() { "all messages".to_owned() } else { parts.join(" ") }
    }
}

/// `--since`: a duration back from `now` (`90s`, `30m`, `2h`, `1d`, `1w`,
/// combinations like `1h30m`) or an RFC 3339 instant.
pub fn parse_since(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let duration = parse_duration(text).map_err(|reason| {
        format!("--since {text:?}: {reason}; expected a duration like 30m, 2h, 1d, 1h30m or an RFC 3339 time like 2026-11-23T03:00:00Z")
    })?;
    let duration = time::Duration::try_from(duration).map_err(|_| format!("--since {text:?} is too far back"))?;
    now.checked_sub(duration).ok_or_else(|| format!("--since {text:?} is too far back"))
}

/// `90s`, `30m`, `2h`, `1d`, `1w`, concatenations (`1h30m`, `1h 30m`) and
/// the long unit names humantime accepts (`2hours`). A bare number is
/// refused: no unit is obvious enough to assume.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

/// `--rate`: messages per second as `10`, `10/s`, `600/m` or `3600/h`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, per) = match text.split_once('/') {
        Some((n, unit)) => {
            let per = match unit.trim() {
                "s" | "sec" | "second" => 1.0,
                "m" | "min" | "minute" => 60.0,
                "h" | "hour" => 3_600.0,
                other => return Err(format!("--rate {text:?}: unknown unit {other:?} (use /s, /m or /h)")),
            };
            (n.trim(), per)
        }
        None => (text, 1.0),
    };
    let value: f64 = number.parse().map_err(|_| format!("--rate {text:?}: expected a number of messages like 50/s or 600/m"))?;
    let rate = value / per;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(format!("--rate {text:?} must be more than 0"));
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 03:00 UTC);

    fn facts<'a>(job_type: Option<&'a str>, error_class: Option<&'a str>, failed_at: Option<OffsetDateTime>) -> Facts<'a> {
        Facts { job_type, error_class, failed_at, job_id: Some(Uuid::from_u128(7)), message_id: "m-1", original_message_id: Some("orig-1") }
    }

    #[test]
    fn the_empty_filter_matches_everything_even_undecodable_messages() {
        assert!(Filter::default().matches(&Facts::default()));
        assert!(Filter::default().is_empty());
    }

    #[test]
    fn type_matches_exactly_or_by_prefix_and_never_an_unknown_type() {
        let exact = Filter { job_type: Some("diag.fail".into()), ..Filter::default() };
        assert!(exact.matches(&facts(Some("diag.fail"), None, None)));
        assert!(!exact.matches(&facts(Some("diag.failure"), None, None)));
        assert!(!exact.matches(&facts(None, None, None)), "a message without a type does not match a type filter");
        let prefix = Filter { job_type: Some("media.*".into()), ..Filter::default() };
        assert!(prefix.matches(&facts(Some("media.thumbnail"), None, None)));
        assert!(!prefix.matches(&facts(Some("ai.embed"), None, None)));
    }

    #[test]
    fn every_criterion_must_hold() {
        let filter = Filter {
            job_type: Some("diag.fail".into()),
            error_class: Some("diag_permanent".into()),
            since: Some(NOW - time::Duration::hours(2)),
            ids: vec![],
        };
        let recent = Some(NOW - time::Duration::minutes(5));
        assert!(filter.matches(&facts(Some("diag.fail"), Some("diag_permanent"), recent)));
        assert!(!filter.matches(&facts(Some("diag.fail"), Some("invalid_payload"), recent)));
        assert!(!filter.matches(&facts(Some("diag.fail"), None, recent)), "no error class does not match");
        assert!(!filter.matches(&facts(Some("diag.fail"), Some("diag_permanent"), Some(NOW - time::Duration::hours(3)))));
        assert!(!filter.matches(&facts(Some("diag.fail"), Some("diag_permanent"), None)), "undated never matches --since");
        let boundary = Some(NOW - time::Duration::hours(2));
        assert!(filter.matches(&facts(Some("diag.fail"), Some("diag_permanent"), boundary)), "since is inclusive");
    }

    #[test]
    fn ids_match_the_job_id_or_either_message_id() {
        let by = |id: &str| Filter { ids: vec![id.into()], ..Filter::default() };
        let f = facts(None, None, None);
        assert!(by(&Uuid::from_u128(7).to_string()).matches(&f));
        assert!(by(&Uuid::from_u128(7).to_string().to_uppercase()).matches(&f));
        assert!(by("m-1").matches(&f));
        assert!(by("orig-1").matches(&f));
        assert!(!by("m-2").matches(&f));
        let several = Filter { ids: vec!["x".into(), "m-1".into()], ..Filter::default() };
        assert!(several.matches(&f));
    }

    #[test]
    fn since_accepts_durations_and_rfc3339() {
        assert_eq!(parse_since("30m", NOW), Ok(NOW - time::Duration::minutes(30)));
        assert_eq!(parse_since("2h", NOW), Ok(NOW - time::Duration::hours(2)));
        assert_eq!(parse_since("1d", NOW), Ok(NOW - time::Duration::days(1)));
        assert_eq!(parse_since("1h30m", NOW), Ok(NOW - time::Duration::minutes(90)));
        assert_eq!(parse_since("2026-11-22T23:00:00Z", NOW), Ok(datetime!(2026-11-22 23:00 UTC)));
        assert_eq!(parse_since("2026-11-23T01:00:00+01:00", NOW), Ok(datetime!(2026-11-23 00:00 UTC)));
        assert_eq!(parse_since("1h 30m", NOW), Ok(NOW - time::Duration::minutes(90)));
        assert_eq!(parse_since("1w", NOW), Ok(NOW - time::Duration::weeks(1)));
        for bad in ["", "yesterday", "5", "h", "3x", "2026-11-23"] {
            let err = parse_since(bad, NOW).expect_err(bad);
            assert!(err.contains("--since"), "{err}");
        }
    }

    #[test]
    fn rates_are_per_second() {
        assert_eq!(parse_rate("10"), Ok(10.0));
        assert_eq!(parse_rate("10/s"), Ok(10.0));
        assert_eq!(parse_rate("600/m"), Ok(10.0));
        assert_eq!(parse_rate("1800/h"), Ok(0.5));
        assert_eq!(parse_rate("2.5/s"), Ok(2.5));
        for bad in ["0", "-1", "fast", "10/d", "1/0"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn describe_names_each_criterion() {
        assert_eq!(Filter::default().describe(), "all messages");
        let f = Filter { job_type: Some("diag.fail".into()), error_class: Some("x".into()), since: Some(NOW), ids: vec!["a".into()] };
        assert_eq!(f.describe(), "type=diag.fail error_class=x since=2026-11-23T03:00:00Z id=a");
    }
}

//! Payload redaction: values of configured field names (at any depth,
//! case-insensitive) are replaced before a payload is rendered or returned.

use serde_json::Value;

pub const REDACTED: &str = "[redacted]";

pub fn redact(value: &Value, fields: &[String]) -> Value {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let hidden = fields.iter().any(|f| f.eq_ignore_ascii_case(k));
                (k.clone(), if hidden { Value::String(REDACTED.to_owned()) } else { redact(v, fields) })
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact(v, fields)).collect()),
        other => other.clone(),
    }
}

/// A message body for display: pretty JSON with redaction, or, when it is
/// not JSON, a note instead of raw bytes (which could hold anything).
pub fn redact_body(body: &str, fields: &[String]) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(value) => serde_json::to_string_pretty(&redact(&value, fields)).unwrap_or_default(),
        Err(_) => format!("(not JSON: {} bytes, not shown)", body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_hidden_at_any_depth() {
        let fields = vec!["to".to_owned(), "api_key".to_owned()];
        let v = json!({"payload": {"To": "a@b.c", "cc": [{"to": "x"}], "subject": "hi"}, "api_key": {"nested": 1}});
        let r = redact(&v, &fields);
        assert_eq!(r, json!({"payload": {"To": REDACTED, "cc": [{"to": REDACTED}], "subject": "hi"}, "api_key": REDACTED}));
        assert!(redact_body("not json with secret", &fields).starts_with("(not JSON"));
    }
}

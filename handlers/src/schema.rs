//! The JSON Schema of every bundled job type, for the committed files under
//! `contract/schema/` (generated per type by [`jobfleet_contract::schema`]).
//! The payload types need no feature ([`crate::payloads`]), so every build
//! of this crate generates the same set.

use jobfleet_contract::schema::{SchemaFile, envelope, payload};

use crate::payloads;

/// The envelope, then each bundled job type's payload.
pub fn all() -> Vec<SchemaFile> {
    vec![
        envelope(),
        payload::<payloads::Noop>(),
        payload::<payloads::Sleep>(),
        payload::<payloads::Fail>(),
        payload::<payloads::Thumbnail>(),
        payload::<payloads::Email>(),
        payload::<payloads::Sms>(),
        payload::<payloads::Push>(),
        payload::<payloads::Webhook>(),
        payload::<payloads::Inference>(),
    ]
}

/// The job types whose payload schemas [`all`] generates.
pub fn job_types() -> Vec<&'static str> {
    all().into_iter().filter_map(|file| file.job_type).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn paths_are_unique_and_every_payload_is_labelled_with_its_type() {
        let files = all();
        let mut paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), files.len(), "duplicate schema paths");
        for file in files.iter().filter(|f| f.job_type.is_some()) {
            assert_eq!(file.schema["x-jobfleet-type"], json!(file.job_type), "{}", file.path);
            assert_eq!(file.schema["$schema"], json!("https://json-schema.org/draft/2020-12/schema"), "{}", file.path);
        }
    }

    #[test]
    fn no_schema_uses_a_rust_specific_format() {
        fn formats(value: &Value, found: &mut Vec<String>) {
            match value {
                Value::Object(o) => {
                    if let Some(f) = o.get("format").and_then(Value::as_str) {
                        found.push(f.to_owned());
                    }
                    o.values().for_each(|v| formats(v, found));
                }
                Value::Array(a) => a.iter().for_each(|v| formats(v, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        all().iter().for_each(|f| formats(&f.schema, &mut found));
        found.sort();
        found.dedup();
        assert!(found.iter().all(|f| ["uuid", "date-time", "uri", "email"].contains(&f.as_str())), "{found:?}");
    }
}

//! The wire contract as JSON Schema (draft 2020-12), generated from the Rust
//! types so it cannot drift from what the worker accepts.
//!
//! Producers in other languages (the API is Node.js) validate against the
//! files committed under `contract/schema/`: `envelope.v1.json` for the
//! message body and `payloads/<type>.v<version>.json` for each job type's
//! payload. This module generates one file per type ([`payload`]); the
//! bundled handlers' list is `jobfleet_handlers::schema::all`, and
//! `handlers/tests/schema.rs` fails when the committed files differ from
//! what is generated (`make schema` rewrites them). A custom job type gets
//! its schema the same way: `schema::payload::<MyJob>()`.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::{Envelope, Job};

/// One generated schema and where it lives under `contract/schema/`.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaFile {
    /// Relative path, also the schema's `$id`.
    pub path: String,
    /// `None` for the envelope.
    pub job_type: Option<&'static str>,
    pub schema: Value,
}

impl SchemaFile {
    /// The committed form: pretty-printed with a trailing newline, so diffs
    /// of the folder read well in review.
    pub fn to_pretty_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.schema).unwrap_or_default();
        text.push('\n');
        text
    }
}

pub fn envelope() -> SchemaFile {
    let path = "envelope.v1.json".to_owned();
    let mut schema = root_schema::<Envelope>();
    set(&mut schema, "$id", json!(path));
    SchemaFile { path, job_type: None, schema }
}

pub fn payload<J: Job>() -> SchemaFile {
    let path = format!("payloads/{}.v{}.json", J::TYPE, J::VERSION);
    let mut schema = root_schema::<J>();
    set(&mut schema, "$id", json!(path));
    set(&mut schema, "title", json!(format!("{} payload, version {}", J::TYPE, J::VERSION)));
    // Not validation keywords: what a producer needs to fill in the envelope
    // and pick the queue, next to the shape it validates against.
    set(&mut schema, "x-jobfleet-type", json!(J::TYPE));
    set(&mut schema, "x-jobfleet-version", json!(J::VERSION));
    set(&mut schema, "x-jobfleet-pool", json!(J::POOL.map(|pool| pool.as_str())));
    SchemaFile { path, job_type: Some(J::TYPE), schema }
}

fn root_schema<T: JsonSchema>() -> Value {
    let mut schema = SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>().to_value();
    portable_numbers(&mut schema);
    schema
}

/// schemars marks Rust integer widths as `"format": "uint32"` and the like,
/// which are not JSON Schema formats: Ajv (what a Node.js producer uses)
/// rejects unknown formats in strict mode. They become plain bounds.
fn portable_numbers(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            let bounds = match object.get("format").and_then(Value::as_str) {
                Some("uint8") => Some((0, Some(u64::from(u8::MAX)))),
                Some("uint16") => Some((0, Some(u64::from(u16::MAX)))),
                Some("uint32") => Some((0, Some(u64::from(u32::MAX)))),
                Some("uint64" | "uint") => Some((0, None)),
                Some("int8" | "int16" | "int32" | "int64" | "int" | "float" | "double") => Some((i64::MIN, None)),
                _ => None,
            };
            if let Some((min, max)) = bounds {
                object.remove("format");
                if min == 0 {
                    object.entry("minimum").or_insert(json!(0));
                }
                if let Some(max) = max {
                    object.entry("maximum").or_insert(json!(max));
                }
            }
            object.values_mut().for_each(portable_numbers);
        }
        Value::Array(items) => items.iter_mut().for_each(portable_numbers),
        _ => {}
    }
}

fn set(schema: &mut Value, key: &str, value: Value) {
    if let Some(object) = schema.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_requires_its_fields_and_exactly_one_payload_form() {
        let schema = envelope().schema;
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        for field in ["id", "type", "version", "created_at"] {
            assert!(required.contains(&json!(field)), "{field} not required: {required:?}");
        }
        assert_eq!(schema["oneOf"].as_array().map(Vec::len), Some(2));
        assert_eq!(schema["properties"]["created_at"]["format"], json!("date-time"));
        assert_eq!(schema["properties"]["id"]["format"], json!("uuid"));
        assert_eq!(
            schema["properties"]["version"],
            json!({
                "description": schema["properties"]["version"]["description"],
                "type": "integer", "minimum": 1, "maximum": u32::MAX
            })
        );
    }
}

//! The committed JSON Schema (`contract/schema/`) is what non-Rust producers
//! validate against, so it must be exactly what the Rust types generate, and
//! a payload the schema accepts must be one the worker decodes (and the
//! reverse for the samples below).
//!
//! `JOBFLEET_BLESS_SCHEMA=1 cargo test -p jobfleet-handlers --all-features --test schema` (or
//! `make schema`) rewrites the committed files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jobfleet_contract::schema::{self, SchemaFile};
use jobfleet_contract::{Envelope, Job, decode_payload};
use jobfleet_handlers::diag;
use jobfleet_handlers::inference::Inference;
use jobfleet_handlers::media::thumbnail::Thumbnail;
use jobfleet_handlers::notifications::{Email, Push, Sms, Webhook};
use serde_json::{Value, json};

fn schema_dir() -> PathBuf {
    // The schema is part of the contract; this crate holds the types.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contract/schema")
}

fn committed_files(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let relative = path.strip_prefix(dir).expect("under dir").to_string_lossy().replace('\\', "/");
                found.insert(relative);
            }
        }
    }
    found
}

#[test]
fn committed_schema_matches_the_rust_types() {
    let dir = schema_dir();
    let files = jobfleet_handlers::schema::all();
    if std::env::var_os("JOBFLEET_BLESS_SCHEMA").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        for file in &files {
            let path = dir.join(&file.path);
            std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create schema dir");
            std::fs::write(&path, file.to_pretty_json()).expect("write schema");
        }
    }
    let mut stale = Vec::new();
    for file in &files {
        match std::fs::read_to_string(dir.join(&file.path)) {
            Ok(text) if text == file.to_pretty_json() => {}
            Ok(_) => stale.push(format!("{} differs", file.path)),
            Err(_) => stale.push(format!("{} is missing", file.path)),
        }
    }
    let generated: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
    for extra in committed_files(&dir).difference(&generated) {
        stale.push(format!("{extra} is committed but no type generates it"));
    }
    assert!(stale.is_empty(), "jobs/schema is stale (run `make schema`): {stale:#?}");
}

fn validator(file: &SchemaFile) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&file.schema)
        .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", file.path))
}

/// Checks that the schema and the worker's decoder agree on `payload`.
fn agree<J: Job>(payload: Value, valid: bool) {
    let file = schema::payload::<J>();
    let by_schema = validator(&file).is_valid(&payload);
    let decoded = decode_payload::<J>(J::VERSION, payload.clone());
    assert_eq!(by_schema, valid, "{}: schema verdict on {payload}", J::TYPE);
    assert_eq!(decoded.is_ok(), valid, "{}: decoder verdict on {payload}: {:?}", J::TYPE, decoded.err());
    if let Ok(job) = decoded {
        // Round trip: what the worker would re-serialize is still valid.
        let again = serde_json::to_value(&job).expect("serialize");
        assert!(validator(&file).is_valid(&again), "{}: re-serialized {again} fails its schema", J::TYPE);
        let twice: J = decode_payload(J::VERSION, again.clone()).expect("decode the round trip");
        assert_eq!(serde_json::to_value(&twice).expect("serialize"), again, "{}", J::TYPE);
    }
}

#[test]
fn every_job_type_round_trips_through_its_schema() {
    let mut covered = BTreeSet::new();
    let mut check = |job_type: &'static str| {
        covered.insert(job_type);
    };

    agree::<diag::Noop>(json!({}), true);
    check(diag::Noop::TYPE);
    agree::<diag::Sleep>(json!({"ms": 5}), true);
    agree::<diag::Sleep>(json!({"ms": "5"}), false);
    check(diag::Sleep::TYPE);
    agree::<diag::Fail>(json!({"mode": "retryable", "times": 2}), true);
    agree::<diag::Fail>(json!({"mode": "sometimes"}), false);
    check(diag::Fail::TYPE);

    agree::<Thumbnail>(json!({"bucket": "b", "key": "in/cat.jpg", "variants": [640, 160], "format": "webp", "quality": 80}), true);
    agree::<Thumbnail>(json!({"bucket": "b", "key": "in/cat.jpg"}), true);
    agree::<Thumbnail>(json!({"bucket": "b"}), false);
    agree::<Thumbnail>(json!({"bucket": "b", "key": "k", "format": "gif"}), false);
    check(Thumbnail::TYPE);

    agree::<Email>(json!({"to": ["ada@example.com"], "subject": "Hi {{ name }}", "text": "Hello", "vars": {"name": "Ada"}}), true);
    agree::<Email>(json!({"to": "ada@example.com", "subject": "Hi"}), false);
    check(Email::TYPE);
    agree::<Sms>(json!({"phone_number": "+14155550100", "message": "Your code is 123456"}), true);
    agree::<Sms>(json!({"phone_number": 14155550100_u64, "message": "x"}), false);
    check(Sms::TYPE);
    agree::<Push>(json!({"target_arn": "arn:aws:sns:us-east-1:123456789012:endpoint/APNS/app/1", "message": "ping"}), true);
    check(Push::TYPE);
    agree::<Webhook>(json!({"url": "https://hooks.example.com/in", "body": {"event": "done"}}), true);
    agree::<Webhook>(json!({"body": {}}), false);
    check(Webhook::TYPE);

    agree::<Inference>(json!({"operation": "chat", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 16}), true);
    agree::<Inference>(json!({"operation": "embeddings", "input": ["a", "b"]}), true);
    agree::<Inference>(json!({"operation": "translate", "text": "x"}), false);
    check(Inference::TYPE);

    let all: BTreeSet<&str> = jobfleet_handlers::schema::job_types().into_iter().collect();
    assert_eq!(covered, all, "every generated payload schema needs samples here");
}

#[test]
fn the_envelope_schema_agrees_with_the_decoder() {
    let validator = validator(&schema::envelope());
    let good = json!({
        "id": "0192f0c4-8a2e-7cc1-9f51-2d7e4e0b8a11", "type": "diag.noop", "version": 1,
        "created_at": "2026-11-23T08:00:00Z", "payload": {}
    });
    let mut by_ref = good.clone();
    by_ref.as_object_mut().expect("object").remove("payload");
    by_ref["payload_ref"] = json!("s3://bucket/claims/0192f0c4.json");
    let mut both = good.clone();
    both["payload_ref"] = json!("s3://bucket/k");
    let mut neither = good.clone();
    neither.as_object_mut().expect("object").remove("payload");
    let mut bad_time = good.clone();
    bad_time["created_at"] = json!("yesterday");
    let mut bad_id = good.clone();
    bad_id["id"] = json!("42");
    let mut zero_version = good.clone();
    zero_version["version"] = json!(0);
    for (body, valid) in [(&good, true), (&by_ref, true), (&both, false), (&neither, false), (&bad_time, false), (&bad_id, false)] {
        assert_eq!(validator.is_valid(body), valid, "schema verdict on {body}");
        let decoded = Envelope::decode(body.to_string().as_bytes());
        assert_eq!(decoded.is_ok(), valid, "decoder verdict on {body}: {:?}", decoded.err());
    }
    // The schema is stricter here: version 0 never names a real payload
    // version; the decoder lets it through to the handler, which rejects it
    // as `unknown_version` with the type named.
    assert!(!validator.is_valid(&zero_version));
}

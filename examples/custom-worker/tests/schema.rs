//! The JSON Schema of this crate's job types, committed under `schema/` for
//! producers in other languages, must be what the Rust types generate.
//! `JOBFLEET_BLESS_SCHEMA=1 cargo test -p custom-worker --test schema`
//! rewrites it after a payload change (docs/extending.md, "Regenerate the
//! schema").

use std::path::Path;

use custom_worker::{Digest, RenderReport};
use jobfleet_contract::schema::payload;

#[test]
fn committed_schema_matches_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let bless = std::env::var_os("JOBFLEET_BLESS_SCHEMA").is_some();
    for file in [payload::<Digest>(), payload::<RenderReport>()] {
        let path = dir.join(&file.path);
        if bless {
            std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create schema dir");
            std::fs::write(&path, file.to_pretty_json()).expect("write schema");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == file.to_pretty_json(),
            "{} is missing or stale: run JOBFLEET_BLESS_SCHEMA=1 cargo test -p custom-worker --test schema",
            path.display()
        );
        assert_eq!(file.schema["x-jobfleet-pool"], "reports", "{}", file.path);
    }
}

//! The hostile media corpus (`reliability/corpus/media/`, made by
//! `examples/gen_media_corpus.rs`): through a running media worker and real S3 (moto), every
//! file the manifest expects to fail is dead-lettered with its own `error_class` and a reason,
//! recorded `failed` in the ledger and writes no thumbnail; the hostile-but-tolerated files and
//! a good photo sent after all of them succeed. Bad input never stalls the pool.

#[path = "../../worker/tests/common/mod.rs"]
mod common;

// The generator's `main` is not used here, only its case list.
#[path = "../examples/gen_media_corpus.rs"]
#[allow(dead_code)]
mod generator;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::{Running, TestQueues, await_status, db, envelope};
use generator::{DEAD_LETTER, Entry, Manifest, SUCCEEDED};
use jobfleet_contract::Pool;
use jobfleet_handlers::media::OutputFormat;
use jobfleet_handlers::media::synth;
use jobfleet_handlers::media::thumbnail::variant_key;
use jobfleet_runtime::dispatch::catalog::router_for;
use serde_json::{Value, json};
use uuid::Uuid;

/// Small variants keep the succeeding jobs to milliseconds.
const VARIANTS: [u32; 2] = [64, 16];
const KEY_PREFIX: &str = "hostile/";
/// The corpus is committed: it must stay small.
const MAX_CORPUS_BYTES: u64 = 300 * 1024;

fn committed_manifest() -> Manifest {
    let path = generator::corpus_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("manifest.json matches the generator's Manifest")
}

fn committed_bytes(entry: &Entry) -> Vec<u8> {
    let path = generator::corpus_dir().join(&entry.file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{} ({}): {e}", entry.name, path.display()))
}

#[test]
fn manifest_and_directory_agree() {
    let manifest = committed_manifest();
    let listed: BTreeSet<&str> = manifest.files.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(listed.len(), manifest.files.len(), "a file is listed twice");
    let names: BTreeSet<&str> = manifest.files.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.len(), manifest.files.len(), "a case name repeats");

    let mut present = BTreeSet::new();
    let mut total = 0;
    for file in std::fs::read_dir(generator::corpus_dir()).expect("list corpus/media") {
        let file = file.expect("directory entry");
        total += file.metadata().expect("metadata").len();
        let name = file.file_name().into_string().expect("UTF-8 file name");
        if name != "manifest.json" {
            present.insert(name);
        }
    }
    let present: BTreeSet<&str> = present.iter().map(String::as_str).collect();
    assert_eq!(present.difference(&listed).collect::<Vec<_>>(), Vec::<&&str>::new(), "files in corpus/media missing from the manifest");
    assert_eq!(listed.difference(&present).collect::<Vec<_>>(), Vec::<&&str>::new(), "manifest entries without their file");
    assert!(total < MAX_CORPUS_BYTES, "corpus/media is {total} bytes; keep it under {MAX_CORPUS_BYTES}");

    for e in &manifest.files {
        match (e.expect.as_str(), &e.error_class) {
            (DEAD_LETTER, Some(class)) => assert!(!class.is_empty(), "{}: empty error_class", e.name),
            (SUCCEEDED, None) => {}
            other => panic!("{}: expect/error_class {other:?}: want dead_letter with a class, or succeeded without", e.name),
        }
        assert!(!e.why.is_empty(), "{}: say why the file is hostile", e.name);
    }
    let classes: BTreeSet<&str> = manifest.files.iter().filter_map(|e| e.error_class.as_deref()).collect();
    let want = ["too_many_pixels", "truncated_image", "corrupt_image", "unsupported_format", "empty_input", "too_large"];
    assert!(want.iter().all(|c| classes.contains(c)), "classes covered {classes:?}, want at least {want:?}");
    assert!(manifest.files.iter().filter(|e| e.expect == DEAD_LETTER).count() >= 12, "at least 12 dead-letter cases");
}

/// Editing the generator (or `jobfleet_handlers::media::synth`) without regenerating fails here, so the
/// committed files never drift from the code that documents them.
#[test]
fn committed_files_are_what_the_generator_makes() {
    let generated = generator::generate();
    let stale: Vec<&str> = generated
        .iter()
        .filter(|g| std::fs::read(generator::corpus_dir().join(&g.entry.file)).ok().as_ref() != Some(&g.bytes))
        .map(|g| g.entry.file.as_str())
        .collect();
    let regenerate = "regenerate with `cargo run -p reliability --example gen_media_corpus`";
    assert!(stale.is_empty(), "committed files differ from the generator's: {stale:?}; {regenerate}");
    let manifest = std::fs::read_to_string(generator::corpus_dir().join("manifest.json")).expect("read manifest.json");
    assert_eq!(manifest, generator::manifest_json(&generator::manifest(&generated)), "manifest.json is stale; {regenerate}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_file_is_dead_lettered_with_its_class_and_the_worker_keeps_going() {
    let manifest = committed_manifest();
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let s3 = jobfleet_contract::aws::s3_client(&jobfleet_contract::aws::load_sdk_config().await);
    let bucket = format!("{}-media", queues.env);
    s3.create_bucket().bucket(&bucket).send().await.unwrap_or_else(|e| panic!("create bucket: {e:?}; {}", common::STACK_HINT));
    for entry in &manifest.files {
        let key = format!("{KEY_PREFIX}{}", entry.file);
        s3.put_object().bucket(&bucket).key(&key).body(committed_bytes(entry).into()).send().await.expect("upload a corpus file");
    }
    let good_key = format!("{KEY_PREFIX}good-photo.jpg");
    let good = synth::encode_jpeg(&synth::photo(320, 240, 42), 320, 240, 90, false);
    s3.put_object().bucket(&bucket).key(&good_key).body(good.into()).send().await.expect("upload the good photo");

    let mut config = queues.config();
    config.media.max_input_bytes = manifest.max_input_bytes;
    let worker = Running::start(config.clone(), router_for(&config, queues.pool).expect("router")).await;

    let job = |key: &str| envelope("media.thumbnail", 1, json!({"bucket": bucket, "key": key, "variants": VARIANTS}));
    let mut by_id: HashMap<Uuid, &Entry> = HashMap::new();
    for entry in &manifest.files {
        by_id.insert(queues.send(&job(&format!("{KEY_PREFIX}{}", entry.file))).await, entry);
    }
    // A good job after all the hostile ones: the worker is still consuming.
    let good_id = queues.send(&job(&good_key)).await;
    await_status(&db, good_id, "succeeded").await;

    // Every job settles as the manifest says, in the ledger first: a misclassified file is
    // named here with what it got, rather than as a DLQ that never fills up.
    let mut wrong = Vec::new();
    let mut want_thumbnails = BTreeSet::new();
    for (&id, entry) in &by_id {
        let row = common::eventually(&format!("{} to settle", entry.name), Duration::from_secs(30), || async {
            common::job_row(&db, id).await.filter(|row| !matches!(row.status.as_str(), "queued" | "running"))
        })
        .await;
        let want = match &entry.error_class {
            Some(class) => ("failed", Some(class.as_str()), 1),
            None => ("succeeded", None, 1),
        };
        let got = (row.status.as_str(), row.last_error_class.as_deref(), row.attempts);
        if got != want {
            wrong.push(format!("{} ({}: {}): expected {want:?}, got {got:?}", entry.name, entry.file, entry.why));
        }
        if entry.error_class.is_none() {
            let key = format!("{KEY_PREFIX}{}", entry.file);
            want_thumbnails.extend(VARIANTS.map(|v| variant_key("thumbnails/", &key, v, OutputFormat::Jpeg)));
        }
    }
    assert!(wrong.is_empty(), "ledger (status, error class, attempts) not as the manifest says:\n{}", wrong.join("\n"));

    // Permanent failures are dead-lettered with their class and a reason.
    let expected_dead = manifest.files.iter().filter(|e| e.expect == DEAD_LETTER).count();
    let dead = queues.dead_letters(expected_dead).await;
    let mut seen = BTreeSet::new();
    for letter in &dead {
        let body: Value = serde_json::from_str(&letter.body).expect("a DLQ body is the envelope sent");
        let id: Uuid = body["id"].as_str().and_then(|s| s.parse().ok()).expect("the envelope has its id");
        let entry = by_id.get(&id).unwrap_or_else(|| panic!("a DLQ message matches no corpus job: {}", letter.body));
        assert!(seen.insert(id), "{} dead-lettered twice", entry.name);
        let want = entry.error_class.as_deref().unwrap_or("(none: expected to succeed)");
        if letter.attr("error_class") != want || letter.attr("error_message").is_empty() {
            wrong.push(format!(
                "{} ({}): expected {want}, got {:?} / {:?}",
                entry.name,
                entry.file,
                letter.attr("error_class"),
                letter.attr("error_message")
            ));
        }
    }
    assert!(wrong.is_empty(), "dead-lettered with the wrong attributes:\n{}", wrong.join("\n"));
    assert_eq!(dead.len(), expected_dead, "each hostile file dead-lettered once");

    // Only the good photo and the tolerated files produced thumbnails.
    want_thumbnails.extend(VARIANTS.map(|v| variant_key("thumbnails/", &good_key, v, OutputFormat::Jpeg)));
    let listed = s3.list_objects_v2().bucket(&bucket).prefix("thumbnails/").send().await.expect("list thumbnails");
    let written: BTreeSet<String> = listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
    assert_eq!(written, want_thumbnails, "thumbnails exactly for the good photo and the tolerated files");

    // Dead-lettered messages are deleted from the queue once the DLQ has them.
    common::eventually("the queue to be empty", Duration::from_secs(15), || async {
        let (visible, in_flight) = queues.counts(&queues.queue_url).await;
        (visible + in_flight == 0).then_some(())
    })
    .await;
    let report = worker.stop().await;
    assert!(!report.aborted, "the worker drained: no job was left running");
}

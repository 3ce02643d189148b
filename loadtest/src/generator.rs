//! The load generator: jobs onto a queue at a target rate (open loop) or as
//! fast as the endpoint takes them (closed loop), in SendMessageBatch calls
//! of up to 10. Each message's `created_at` is stamped (µs) just before the
//! call that carries it, so handler start − created_at is the enqueue→start
//! latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

/// Message body format: jobfleet's envelope (ours and sqs-consumer) or a
/// Celery protocol-2 task message as kombu's SQS transport sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Format {
    Envelope,
    Celery,
}

/// Job mix: weights of `diag.noop` and `diag.sleep`, the sleep length, and
/// payload padding sizes (bytes, picked uniformly per job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    pub noop_weight: u32,
    pub sleep_weight: u32,
    pub sleep_ms: u64,
    pub pad_bytes: Vec<usize>,
}

impl Mix {
    pub fn noop() -> Self {
        Self { noop_weight: 1, sleep_weight: 0, sleep_ms: 0, pad_bytes: vec![0] }
    }

    pub fn sleep(ms: u64) -> Self {
        Self { noop_weight: 0, sleep_weight: 1, sleep_ms: ms, pad_bytes: vec![0] }
    }

    /// e.g. "noop=8,sleep=2,sleep_ms=20,pad=0|1024|4096"
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut mix = Self { noop_weight: 0, sleep_weight: 0, sleep_ms: 10, pad_bytes: vec![0] };
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').context("mix entries are key=value")?;
            match key {
                "noop" => mix.noop_weight = value.parse()?,
                "sleep" => mix.sleep_weight = value.parse()?,
                "sleep_ms" => mix.sleep_ms = value.parse()?,
                "pad" => mix.pad_bytes = value.split('|').map(str::parse).collect::<Result<_, _>>()?,
                other => anyhow::bail!("unknown mix key {other:?}"),
            }
        }
        anyhow::ensure!(mix.noop_weight + mix.sleep_weight > 0, "mix has no job types");
        Ok(mix)
    }
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub queue_url: String,
    pub count: u64,
    /// Jobs per second (open loop); `None` sends as fast as possible.
    pub rate: Option<f64>,
    /// Closed loop: concurrent senders. Open loop: most sends in flight.
    pub concurrency: usize,
    pub format: Format,
    pub mix: Mix,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sent {
    #[serde(skip)]
    pub ids: Vec<Uuid>,
    pub sent: u64,
    pub failed: u64,
    pub secs: f64,
    pub rate: f64,
    /// Bytes of the message bodies sent.
    pub body_bytes: u64,
}

/// RFC 3339, UTC, microseconds.
pub fn rfc3339_micros(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (kombu's SQS bodies are base64).
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One message: (id, body, job type).
pub fn message(format: Format, mix: &Mix, now: OffsetDateTime) -> (Uuid, String, &'static str) {
    let total = mix.noop_weight + mix.sleep_weight;
    let is_sleep = fastrand::u32(0..total) >= mix.noop_weight;
    let pad = mix.pad_bytes[fastrand::usize(0..mix.pad_bytes.len())];
    match format {
        Format::Envelope => {
            let id = Uuid::now_v7();
            let (job_type, mut payload) =
                if is_sleep { ("diag.sleep", serde_json::json!({ "ms": mix.sleep_ms })) } else { ("diag.noop", serde_json::json!({})) };
            if pad > 0 {
                payload["pad"] = serde_json::Value::String("x".repeat(pad));
            }
            let body = serde_json::json!({
                "id": id, "type": job_type, "version": 1,
                "created_at": rfc3339_micros(now), "payload": payload,
            });
            (id, body.to_string(), job_type)
        }
        Format::Celery => {
            let id = Uuid::new_v4();
            let created = now.unix_timestamp_nanos() as f64 / 1e9;
            let task_body = serde_json::json!([[created], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]);
            let message = serde_json::json!({
                "body": base64(task_body.to_string().as_bytes()),
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": {
                    "lang": "py", "task": "bench.noop", "id": id, "shadow": null, "eta": null, "expires": null,
                    "group": null, "group_index": null, "retries": 0, "timelimit": [null, null], "root_id": id,
                    "parent_id": null, "argsrepr": format!("[{created}]"), "kwargsrepr": "{}", "origin": "loadtest",
                    "ignore_result": null, "replaced_task_nesting": 0, "stamped_headers": null, "stamps": {}
                },
                "properties": {
                    "correlation_id": id, "reply_to": Uuid::new_v4(), "delivery_mode": 2,
                    "delivery_info": {"exchange": "", "routing_key": "bench"}, "priority": 0,
                    "body_encoding": "base64", "delivery_tag": Uuid::new_v4()
                }
            });
            (id, base64(message.to_string().as_bytes()), "bench.noop")
        }
    }
}

struct Shared {
    client: Client,
    spec: Spec,
    ids: Mutex<Vec<Uuid>>,
    sent: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
}

async fn send_batch(shared: &Shared, n: usize) {
    let now = OffsetDateTime::now_utc();
    let mut entries = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut bytes = 0u64;
    for i in 0..n {
        let (id, body, job_type) = message(shared.spec.format, &shared.spec.mix, now);
        bytes += body.len() as u64;
        let mut entry = SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(body);
        if shared.spec.format == Format::Envelope
            && let Ok(attr) = MessageAttributeValue::builder().data_type("String").string_value(job_type).build()
        {
            entry = entry.message_attributes("job_type", attr);
        }
        if let Ok(entry) = entry.build() {
            entries.push(entry);
            ids.push(id);
        }
    }
    let result = shared.client.send_message_batch().queue_url(&shared.spec.queue_url).set_entries(Some(entries)).send().await;
    match result {
        Ok(out) => {
            let failed: std::collections::HashSet<usize> = out.failed.iter().filter_map(|f| f.id.parse().ok()).collect();
            let ok: Vec<Uuid> = ids.iter().enumerate().filter(|(i, _)| !failed.contains(i)).map(|(_, id)| *id).collect();
            shared.sent.fetch_add(ok.len() as u64, Ordering::Relaxed);
            shared.failed.fetch_add(failed.len() as u64, Ordering::Relaxed);
            shared.bytes.fetch_add(bytes, Ordering::Relaxed);
            shared.ids.lock().await.extend(ok);
        }
        Err(e) => {
            shared.failed.fetch_add(n as u64, Ordering::Relaxed);
            eprintln!("loadtest: SendMessageBatch failed: {}", aws_sdk_sqs::error::DisplayErrorContext(&e));
        }
    }
}

/// Sends `spec.count` jobs; returns what was sent.
pub async fn run(client: Client, spec: Spec) -> Sent {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        client,
        spec: spec.clone(),
        ids: Mutex::new(Vec::with_capacity(spec.count as usize)),
        sent: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    });
    match spec.rate {
        None => {
            let next = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for _ in 0..spec.concurrency.max(1) {
                let (shared, next) = (shared.clone(), next.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        let from = next.fetch_add(10, Ordering::Relaxed);
                        if from >= shared.spec.count {
                            return;
                        }
                        send_batch(&shared, (shared.spec.count - from).min(10) as usize).await;
                    }
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
        }
        Some(rate) => {
            let in_flight = Arc::new(Semaphore::new(spec.concurrency.max(1)));
            let mut tasks = Vec::new();
            let mut issued = 0u64;
            let start = tokio::time::Instant::now();
            while issued < spec.count {
                let due = ((start.elapsed().as_secs_f64() * rate).floor() as u64 + 1).min(spec.count);
                while issued < due {
                    let n = (due - issued).min(10);
                    issued += n;
                    let Ok(permit) = in_flight.clone().acquire_owned().await else { break };
                    let shared = shared.clone();
                    tasks.push(tokio::spawn(async move {
                        send_batch(&shared, n as usize).await;
                        drop(permit);
                    }));
                }
                let next_due = start + Duration::from_secs_f64(issued as f64 / rate);
                tokio::time::sleep_until(next_due.max(tokio::time::Instant::now() + Duration::from_micros(500))).await;
            }
            for task in tasks {
                let _ = task.await;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let sent = shared.sent.load(Ordering::Relaxed);
    let ids = std::mem::take(&mut *shared.ids.lock().await);
    Sent {
        ids,
        sent,
        failed: shared.failed.load(Ordering::Relaxed),
        secs,
        rate: sent as f64 / secs.max(1e-9),
        body_bytes: shared.bytes.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, want) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn envelopes_carry_microsecond_timestamps_and_padding() {
        let now = time::macros::datetime!(2026-11-23 08:41:00.123456789 UTC);
        let mix = Mix { noop_weight: 1, sleep_weight: 0, sleep_ms: 0, pad_bytes: vec![100] };
        let (id, body, job_type) = message(Format::Envelope, &mix, now);
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(job_type, "diag.noop");
        assert_eq!(v["created_at"], "2026-11-23T08:41:00.123456Z");
        assert_eq!(v["id"], id.to_string());
        assert_eq!(v["payload"]["pad"].as_str().map(str::len), Some(100));
    }

    #[test]
    fn mixes_parse_and_weights_pick_types() {
        let mix = Mix::parse("noop=0,sleep=1,sleep_ms=20,pad=0|10").expect("parse");
        assert_eq!(mix.pad_bytes, vec![0, 10]);
        let (_, body, job_type) = message(Format::Envelope, &mix, OffsetDateTime::now_utc());
        assert_eq!(job_type, "diag.sleep");
        assert!(body.contains(r#""ms":20"#));
        assert!(Mix::parse("noop=0").is_err());
        assert!(Mix::parse("bogus=1").is_err());
    }
}

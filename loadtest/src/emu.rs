//! The SQS endpoint the benchmarks run against (fauxqs, started by
//! loadtest/bench.sh with loadtest/peers/fauxqs/server.mjs): SDK client,
//! queue set-up, and the emulator's own views — queue depth (not an SQS
//! request, so it does not disturb the request counts) and the request
//! counts by operation and queue.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use aws_config::BehaviorVersion;
use aws_sdk_sqs::Client;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Emulator {
    pub endpoint: String,
    pub sqs: Client,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct RequestCount {
    operation: String,
    queue: String,
    count: u64,
}

/// SQS requests served, by (operation, queue name).
pub type Requests = BTreeMap<(String, String), u64>;

/// Operations a producer makes; everything else on a consumer's queues is
/// the consumer's bill.
pub const PRODUCER_OPERATIONS: [&str; 2] = ["SendMessage", "SendMessageBatch"];

impl Emulator {
    pub async fn new(endpoint: &str) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest()).endpoint_url(endpoint).load().await;
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            sqs: Client::new(&config),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default(),
        }
    }

    /// Creates the queue and returns its URL on this endpoint
    /// (`<endpoint>/000000000000/<name>`, which every client here accepts).
    pub async fn create_queue(&self, name: &str) -> anyhow::Result<String> {
        let out = self.sqs.create_queue().queue_name(name).send().await.with_context(|| format!("CreateQueue {name}"))?;
        let url = out.queue_url.context("CreateQueue returned no URL")?;
        let path = url.rsplitn(3, '/').take(2).collect::<Vec<_>>();
        Ok(format!("{}/{}/{}", self.endpoint, path.get(1).copied().unwrap_or("000000000000"), name))
    }

    /// (visible, in flight) from fauxqs's inspection endpoint.
    pub async fn depth(&self, name: &str) -> anyhow::Result<(u64, u64)> {
        let v: serde_json::Value =
            self.http.get(format!("{}/_fauxqs/queues/{name}", self.endpoint)).send().await?.error_for_status()?.json().await?;
        let attr = |key: &str| v["attributes"][key].as_str().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        Ok((attr("ApproximateNumberOfMessages"), attr("ApproximateNumberOfMessagesNotVisible")))
    }

    pub async fn requests(&self) -> anyhow::Result<Requests> {
        let rows: Vec<RequestCount> =
            self.http.get(format!("{}/_loadtest/requests", self.endpoint)).send().await?.error_for_status()?.json().await?;
        Ok(rows.into_iter().map(|r| ((r.operation, r.queue), r.count)).collect())
    }
}

/// Requests made between two snapshots against the given queues, by
/// operation, leaving out the producer's sends.
pub fn consumer_requests(before: &Requests, after: &Requests, queues: &[&str]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for ((op, queue), &count) in after {
        if !queues.contains(&queue.as_str()) || PRODUCER_OPERATIONS.contains(&op.as_str()) {
            continue;
        }
        let delta = count - before.get(&(op.clone(), queue.clone())).copied().unwrap_or(0).min(count);
        if delta > 0 {
            *out.entry(op.clone()).or_default() += delta;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_requests_skip_sends_and_other_queues() {
        let key = |op: &str, q: &str| (op.to_owned(), q.to_owned());
        let before: Requests = [(key("ReceiveMessage", "a"), 5)].into();
        let after: Requests = [
            (key("ReceiveMessage", "a"), 15),
            (key("DeleteMessageBatch", "a"), 10),
            (key("SendMessageBatch", "a"), 100),
            (key("ReceiveMessage", "b"), 7),
            (key("GetQueueAttributes", "a-dlq"), 2),
        ]
        .into();
        let got = consumer_requests(&before, &after, &["a", "a-dlq"]);
        assert_eq!(
            got,
            [("DeleteMessageBatch".to_owned(), 10), ("GetQueueAttributes".to_owned(), 2), ("ReceiveMessage".to_owned(), 10)].into()
        );
    }
}

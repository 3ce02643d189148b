//! A console on an ephemeral port over real moto and Postgres, with its own
//! environment name (so its queues, audit rows and jobs are its own), and
//! helpers to seed dead letters as the worker leaves them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use clap::Parser;
use jobfleet_console::{Console, ConsoleArgs};
use jobfleet_contract::Pool;
use std::num::NonZeroU32;

use jobfleet_runtime::config::{Config, PriorityQueueConfig};
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const STACK_HINT: &str = "is the local stack up? run `make stack-up`";
pub const TOKEN: &str = "test-token-0123456789";

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: ConsoleArgs,
}

#[derive(Debug)]
pub struct TestConsole {
    pub base: String,
    pub env: String,
    pub sqs: Client,
    pub db: PgPool,
    pub queue_url: String,
    pub dlq_url: String,
    pub http: reqwest::Client,
    stop: CancellationToken,
}

impl Drop for TestConsole {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn sqs() -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    Client::new(&config)
}

/// Creates a DLQ and a queue that dead-letters to it, as Terraform does;
/// returns (queue URL, DLQ URL).
pub async fn create_pair(sqs: &Client, queue: &str, dlq: &str) -> (String, String) {
    create_pair_of(sqs, queue, dlq, false).await
}

/// [`create_pair`] for a FIFO pool: both FIFO queues (the names must end
/// in `.fifo`).
pub async fn create_fifo_pair(sqs: &Client, queue: &str, dlq: &str) -> (String, String) {
    create_pair_of(sqs, queue, dlq, true).await
}

async fn create_pair_of(sqs: &Client, queue: &str, dlq: &str, fifo: bool) -> (String, String) {
    let fifo_attribute = fifo.then(|| (QueueAttributeName::FifoQueue, "true".to_owned()));
    let dlq_url = sqs
        .create_queue()
        .queue_name(dlq)
        .set_attributes(fifo_attribute.clone().map(|a| HashMap::from([a])))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create DLQ: {e:?}; {STACK_HINT}"))
        .queue_url
        .expect("url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("arn")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("arn");
    let redrive = json!({ "deadLetterTargetArn": arn, "maxReceiveCount": "10" }).to_string();
    let mut attributes: HashMap<QueueAttributeName, String> = fifo_attribute.into_iter().collect();
    attributes.insert(QueueAttributeName::RedrivePolicy, redrive);
    let queue_url =
        sqs.create_queue().queue_name(queue).set_attributes(Some(attributes)).send().await.expect("create queue").queue_url.expect("url");
    (queue_url, dlq_url)
}

/// Where seeded dead letters go, and what they say they came from.
struct SeedTarget<'a> {
    dlq_url: &'a str,
    source_queue: &'a str,
    /// The MessageGroupId of a FIFO pool's dead letters.
    group: Option<&'a str>,
}

/// Settings as flags; the defaults of every test: proxy from 127.0.0.1 and
/// the token, alice operator, everyone else a viewer.
pub const DEFAULT_ARGS: &[&str] = &[
    "--auth",
    "proxy,token",
    "--token",
    TOKEN,
    "--trusted-proxies",
    "127.0.0.1/32",
    "--operators",
    "alice",
    "--viewers",
    "*",
    "--confirm-above",
    "5",
    "--visibility-secs",
    "10",
];

impl TestConsole {
    pub async fn start() -> Self {
        Self::start_with(DEFAULT_ARGS).await
    }

    pub async fn start_with(args: &[&str]) -> Self {
        Self::start_configured(args, |_| {}).await
    }

    /// A console whose media pool also consumes priority queue `name`
    /// (weight 4); returns it with that queue's and its DLQ's URLs.
    pub async fn start_with_priority_queue(name: &str) -> (Self, String, String) {
        let queue = PriorityQueueConfig { weight: NonZeroU32::new(4).expect("4"), queue_url: None, dlq_url: None };
        let console = Self::start_configured(DEFAULT_ARGS, |config| {
            config.pools.entry(Pool::MEDIA).or_default().priority_queues.insert(name.to_owned(), queue);
        })
        .await;
        let base = format!("{}-{name}", Pool::MEDIA.queue_name(&console.env));
        let (queue_url, dlq_url) = create_pair(&console.sqs, &base, &format!("{base}-dlq")).await;
        (console, queue_url, dlq_url)
    }

    /// A console whose media pool is a FIFO pool; its `queue_url` and
    /// `dlq_url` are the FIFO queues.
    pub async fn start_fifo() -> Self {
        let mut console = Self::start_configured(DEFAULT_ARGS, |config| {
            config.pools.entry(Pool::MEDIA).or_default().fifo = Some(true);
        })
        .await;
        let (queue, dlq) = (Pool::MEDIA.queue_name(&console.env), Pool::MEDIA.dlq_name(&console.env));
        (console.queue_url, console.dlq_url) = create_fifo_pair(&console.sqs, &format!("{queue}.fifo"), &format!("{dlq}.fifo")).await;
        console
    }

    /// A console over the media pool's queues in a new environment, with
    /// `configure` applied to its configuration.
    pub async fn start_configured(args: &[&str], configure: impl FnOnce(&mut Config)) -> Self {
        let sqs = sqs().await;
        let env = format!("c-{}", &Uuid::new_v4().simple().to_string()[..10]);
        let pool = Pool::MEDIA;
        let (queue_url, dlq_url) = create_pair(&sqs, &pool.queue_name(&env), &pool.dlq_name(&env)).await;
        let database_url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
        let db = PgPool::connect(&database_url).await.unwrap_or_else(|e| panic!("Postgres: {e}; {STACK_HINT}"));
        jobfleet_runtime::store::migrate(&db).await.expect("migrations");
        let mut config = Config { env: env.clone(), database_url, migrate_on_start: false, ..Config::default() };
        configure(&mut config);
        let mut all = vec!["console"];
        all.extend_from_slice(args);
        let settings = Cli::try_parse_from(all).expect("flags").args.validate().expect("valid settings");
        let console = Console::new(config, settings).await.expect("console starts");
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        tokio::spawn(console.serve(listener, stop.clone()));
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { base, env, sqs, db, queue_url, dlq_url, http, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET as a proxy-authenticated user.
    pub async fn get_as(&self, user: &str, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).header("X-Forwarded-User", user).send().await.expect("GET")
    }

    /// The user's CSRF token, as the API hands it out.
    pub async fn csrf(&self, user: &str) -> String {
        let session: Value = self.get_as(user, "/api/session").await.json().await.expect("session JSON");
        session["csrf_token"].as_str().expect("token").to_owned()
    }

    /// A JSON POST as `user` with a valid CSRF token.
    pub async fn post_json(&self, user: &str, path: &str, body: Value) -> reqwest::Response {
        let token = self.csrf(user).await;
        self.http
            .post(self.url(path))
            .header("X-Forwarded-User", user)
            .header("X-CSRF-Token", token)
            .json(&body)
            .send()
            .await
            .expect("POST")
    }

    /// Sends dead letters as the worker leaves them: envelope body and the
    /// dead-letter attributes.
    pub async fn seed(&self, job_type: &str, error_class: &str, n: usize, payload: Value) -> Vec<(Uuid, String)> {
        self.seed_into(&self.dlq_url, &Pool::MEDIA.queue_name(&self.env), job_type, error_class, n, payload).await
    }

    /// [`Self::seed`] into another DLQ, as dead-lettered from `source_queue`.
    pub async fn seed_into(
        &self,
        dlq_url: &str,
        source_queue: &str,
        job_type: &str,
        error_class: &str,
        n: usize,
        payload: Value,
    ) -> Vec<(Uuid, String)> {
        self.seed_dead_letters(SeedTarget { dlq_url, source_queue, group: None }, job_type, error_class, n, payload).await
    }

    /// [`Self::seed`] into a FIFO pool's DLQ ([`Self::start_fifo`]) as the
    /// worker leaves them there: with their message group and a
    /// deduplication id.
    pub async fn seed_grouped(&self, group: &str, job_type: &str, error_class: &str, n: usize, payload: Value) -> Vec<(Uuid, String)> {
        let source = format!("{}.fifo", Pool::MEDIA.queue_name(&self.env));
        self.seed_dead_letters(
            SeedTarget { dlq_url: &self.dlq_url, source_queue: &source, group: Some(group) },
            job_type,
            error_class,
            n,
            payload,
        )
        .await
    }

    async fn seed_dead_letters(
        &self,
        SeedTarget { dlq_url, source_queue, group }: SeedTarget<'_>,
        job_type: &str,
        error_class: &str,
        n: usize,
        payload: Value,
    ) -> Vec<(Uuid, String)> {
        let failed_at = OffsetDateTime::now_utc().format(&Rfc3339).expect("time");
        let mut out = Vec::new();
        for _ in 0..n {
            let id = Uuid::now_v7();
            let body = json!({ "id": id, "type": job_type, "version": 1, "created_at": failed_at, "payload": payload }).to_string();
            let attrs: HashMap<String, MessageAttributeValue> = [
                ("job_type", job_type.to_owned()),
                ("error_class", error_class.to_owned()),
                ("error_message", format!("{error_class} happened")),
                ("failed_at", failed_at.clone()),
                ("source_queue", source_queue.to_owned()),
                ("attempts", "3".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| {
                let data_type = if k == "attempts" { "Number" } else { "String" };
                (k.to_owned(), MessageAttributeValue::builder().data_type(data_type).string_value(v).build().expect("attr"))
            })
            .collect();
            let sent = self
                .sqs
                .send_message()
                .queue_url(dlq_url)
                .message_body(body)
                .set_message_attributes(Some(attrs))
                .set_message_group_id(group.map(str::to_owned))
                .set_message_deduplication_id(group.map(|_| id.to_string()))
                .send()
                .await
                .expect("seed");
            out.push((id, sent.message_id.expect("message id")));
        }
        out
    }

    /// (visible + in flight) of a queue.
    pub async fn depth(&self, url: &str) -> u64 {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("attrs")
            .attributes
            .unwrap_or_default();
        let get = |n: QueueAttributeName| attrs.get(&n).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        get(QueueAttributeName::ApproximateNumberOfMessages) + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
    }

    /// This console's audit rows, oldest first.
    pub async fn audit_rows(&self) -> Vec<(String, String, bool, i64, i64, bool, String)> {
        sqlx::query_as("SELECT action, actor, dry_run, matched, moved, finished, origin FROM dlq_audit WHERE env = $1 ORDER BY id")
            .bind(&self.env)
            .fetch_all(&self.db)
            .await
            .expect("audit rows")
    }

    /// Polls a replay's status until it is finished.
    pub async fn wait_finished(&self, user: &str, audit_id: i64) -> Value {
        for _ in 0..600 {
            let status: Value = self.get_as(user, &format!("/api/replays/{audit_id}")).await.json().await.expect("status");
            if status["record"]["finished"] == json!(true) && status["running_here"] == json!(false) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("replay #{audit_id} did not finish within 60 s");
    }
}

//! Publishes `job_outbox` rows to their pool's queue.
//!
//! Each round claims up to `batch_size` pending rows with
//! `FOR UPDATE SKIP LOCKED` inside one transaction, sends them with
//! SendMessageBatch (10 per call), marks the sent ones and commits. Replicas
//! therefore never claim the same row at once. A crash after sending and
//! before the commit releases the rows unmarked: they are sent again —
//! at-least-once — and the worker's ledger turns the duplicate into a no-op
//! (a second copy of a running job is put back; of a succeeded one, deleted).

use std::collections::HashMap;
use std::time::Duration;

use jobfleet_contract::Pool;
use jobfleet_contract::envelope::JOB_TYPE_ATTRIBUTE;
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::sqs::Sqs;
use crate::sqs::client::{Outgoing, is_fifo_queue, string_attribute};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("queue for pool {pool} not found: {message}")]
    Queue { pool: Pool, message: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// `worker relay`'s whole life: connect (and migrate if configured), relay
/// until SIGTERM/SIGINT. A round in progress completes (its commit marks
/// what it sent) before this returns. The reliability suite kills this
/// loop with SIGKILL between send and commit.
pub async fn run_until_signalled(config: &crate::Config, batch_size: u32, idle: Duration) -> Result<(), RelayError> {
    let db = crate::store::open(config, 4).await?;
    let relay = Relay::new(db, Sqs::from_env().await, config, batch_size).await?;
    let shutdown = crate::Shutdown::new();
    shutdown.listen_for_signals().map_err(RelayError::Signals)?;
    tracing::info!(env = %config.env, batch_size, "outbox relay started");
    relay.run(idle, shutdown.stop).await;
    Ok(())
}

/// One claimed outbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub seq: i64,
    pub job_id: Uuid,
    pub pool: String,
    pub job_type: String,
    pub body: String,
    pub message_group_id: Option<String>,
}

/// Rows claimed and sent in an open transaction; [`Claimed::commit`] marks them.
#[derive(Debug)]
pub struct Claimed {
    tx: Transaction<'static, Postgres>,
    sent: Vec<i64>,
    failed: Vec<(i64, String)>,
}

impl Claimed {
    pub fn sent(&self) -> usize {
        self.sent.len()
    }

    /// Marks sent rows (and counts failed attempts) and commits.
    pub async fn commit(mut self) -> Result<usize, RelayError> {
        sqlx::query("UPDATE job_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE seq = ANY($1)")
            .bind(&self.sent)
            .execute(&mut *self.tx)
            .await?;
        for (seq, error) in &self.failed {
            sqlx::query("UPDATE job_outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = $1")
                .bind(seq)
                .bind(error)
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        Ok(self.sent.len())
    }

    /// Gives the claim up without marking the rows, so they are pending
    /// again, as the server does when a killed relay's connection closes.
    /// Dropping a `Claimed` ends the same way, but only once the pool gets
    /// round to the rollback; until then the rows stay locked.
    pub async fn abandon(self) -> Result<(), RelayError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Relay {
    db: PgPool,
    sqs: Sqs,
    env: String,
    batch_size: i64,
    queue_urls: HashMap<Pool, String>,
}

impl Relay {
    /// Resolves every configured pool's queue URL up front so a missing
    /// queue fails at start; rows of pools not configured stay pending.
    pub async fn new(db: PgPool, sqs: Sqs, config: &crate::Config, batch_size: u32) -> Result<Self, RelayError> {
        let env = &config.env;
        let mut queue_urls = HashMap::new();
        for (&pool, pool_config) in &config.pools {
            let url = match &pool_config.queue_url {
                Some(url) => url.clone(),
                None => {
                    let name = config.queue_names(pool).map(|(main, _)| main).unwrap_or_else(|_| pool.queue_name(env));
                    sqs.queue_url(&name).await.map_err(|e| RelayError::Queue { pool, message: e.to_string() })?
                }
            };
            queue_urls.insert(pool, url);
        }
        Ok(Self { db, sqs, env: env.to_owned(), batch_size: i64::from(batch_size.max(1)), queue_urls })
    }

    /// A relay with known queue URLs; rows of other pools are left pending.
    pub fn with_queue_urls(db: PgPool, sqs: Sqs, queue_urls: HashMap<Pool, String>, batch_size: u32) -> Self {
        Self { db, sqs, env: String::new(), batch_size: i64::from(batch_size.max(1)), queue_urls }
    }

    pub fn env(&self) -> &str {
        &self.env
    }

    /// Claims pending rows and sends them, without marking them yet.
    pub async fn claim_and_send(&self) -> Result<Claimed, RelayError> {
        let mut tx = self.db.begin().await?;
        let pools: Vec<&str> = self.queue_urls.keys().map(|p| p.as_str()).collect();
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT seq, job_id, pool, job_type, body::text AS body, message_group_id FROM job_outbox
             WHERE sent_at IS NULL AND not_before <= now() AND pool = ANY($2)
             ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(self.batch_size)
        .bind(&pools)
        .fetch_all(&mut *tx)
        .await?;
        let mut sent = Vec::with_capacity(rows.len());
        let mut failed = Vec::new();
        let mut by_pool: HashMap<Pool, Vec<&OutboxRow>> = HashMap::new();
        for row in &rows {
            match row.pool.parse::<Pool>() {
                Ok(pool) => by_pool.entry(pool).or_default().push(row),
                Err(e) => failed.push((row.seq, e.to_string())),
            }
        }
        for (pool, rows) in by_pool {
            let url = &self.queue_urls[&pool];
            let fifo = is_fifo_queue(url);
            for chunk in rows.chunks(10) {
                let messages: Vec<Outgoing> = chunk
                    .iter()
                    .map(|r| Outgoing {
                        body: r.body.clone(),
                        attributes: HashMap::from([(JOB_TYPE_ATTRIBUTE.to_owned(), string_attribute(&r.job_type))]),
                        // A FIFO queue needs a group; without one each job is its own.
                        group_id: r.message_group_id.clone().or_else(|| fifo.then(|| r.job_id.to_string())),
                        // The job id: a row sent twice (a crash before it was marked) within 5 minutes is sent once.
                        dedup_id: fifo.then(|| r.job_id.to_string()),
                    })
                    .collect();
                match self.sqs.send_batch(url, &messages).await {
                    Ok(result) => {
                        sent.extend(result.sent.iter().map(|(i, _)| chunk[*i].seq));
                        failed.extend(result.failed.into_iter().map(|(i, _, message)| (chunk[i].seq, message)));
                    }
                    Err(e) => failed.extend(chunk.iter().map(|r| (r.seq, e.to_string()))),
                }
            }
        }
        Ok(Claimed { tx, sent, failed })
    }

    /// One round: claim, send, mark. Returns how many rows were sent.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        self.claim_and_send().await?.commit().await
    }

    /// Relays until `stop`, polling every `idle` when there is nothing to send.
    pub async fn run(self, idle: Duration, stop: CancellationToken) {
        // The pollers' policy: a failed round is retried sooner than `idle`
        // at first, then backs off to at most 10 s.
        let mut backoff = crate::sqs::poller::poll_backoff();
        while !stop.is_cancelled() {
            let wait = match self.relay_once().await {
                Ok(sent) if sent > 0 => {
                    backoff = crate::sqs::poller::poll_backoff();
                    tracing::debug!(sent, "outbox rows relayed");
                    continue;
                }
                Ok(_) => {
                    backoff = crate::sqs::poller::poll_backoff();
                    idle
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay round failed");
                    backoff.next().unwrap_or(crate::sqs::poller::POLL_BACKOFF_MAX)
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

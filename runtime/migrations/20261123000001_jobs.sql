-- The job ledger: one row per job id, the latest state of that job.
-- Status values are text (not an enum type) so producers in any language
-- can read them without knowing a custom type; the CHECK keeps them honest.
CREATE TABLE IF NOT EXISTS jobs (
    id                   uuid        PRIMARY KEY,
    job_type             text        NOT NULL,
    pool                 text        NOT NULL,
    status               text        NOT NULL CHECK (status IN ('queued', 'running', 'retrying', 'succeeded', 'failed', 'dead')),
    attempts             integer     NOT NULL DEFAULT 0,
    idempotency_key      text        NOT NULL,
    enqueued_at          timestamptz,
    started_at           timestamptz,
    finished_at          timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    last_error_class     text,
    last_error_message   text,
    result               jsonb,
    last_message_id      text,
    duplicate_deliveries integer     NOT NULL DEFAULT 0
);

-- Operators and the API list jobs by status and recency, and by type.
CREATE INDEX IF NOT EXISTS jobs_status_updated_idx ON jobs (status, updated_at DESC);
CREATE INDEX IF NOT EXISTS jobs_type_enqueued_idx ON jobs (job_type, enqueued_at DESC);
-- Retention deletes finished jobs by age.
CREATE INDEX IF NOT EXISTS jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;

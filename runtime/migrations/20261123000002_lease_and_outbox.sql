-- Lease: at most one attempt of a job runs at a time. A delivery that finds
-- the job `running` under an unexpired lease is put back instead of run.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz;

-- Transactional outbox: producers that share this database insert here in
-- their own transaction; `worker relay` publishes the rows to SQS.
-- The SQL contract (usable from any language) is in docs/producers.md.
CREATE TABLE IF NOT EXISTS job_outbox (
    seq         bigserial   PRIMARY KEY,
    job_id      uuid        NOT NULL UNIQUE,
    pool        text        NOT NULL CHECK (pool IN ('media', 'notifications', 'ai')),
    job_type    text        NOT NULL,
    -- The complete envelope v1, exactly as it will be sent.
    body        jsonb       NOT NULL,
    -- Earliest publish time: delays beyond SQS's 15 minutes.
    not_before  timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    CHECK (body ? 'id' AND body->>'id' = job_id::text AND body->>'type' = job_type),
    -- The relay sends the body as one SQS message: refuse at insert (in the
    -- producer's transaction, with this constraint's name) what SQS would
    -- refuse later. Larger payloads go to S3 first, as `payload_ref`.
    CONSTRAINT job_outbox_body_fits_sqs CHECK (octet_length(body::text) <= 245760)
);

CREATE INDEX IF NOT EXISTS job_outbox_pending_idx ON job_outbox (not_before, seq) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS job_outbox_sent_idx ON job_outbox (sent_at) WHERE sent_at IS NOT NULL;

-- An outboxed job is visible in the ledger as `queued` from the moment the
-- producer's transaction commits, so the API can read its status at once.
CREATE OR REPLACE FUNCTION job_outbox_record_queued() RETURNS trigger AS $$
BEGIN
    INSERT INTO jobs (id, job_type, pool, status, attempts, idempotency_key, enqueued_at)
    VALUES (NEW.job_id, NEW.job_type, NEW.pool, 'queued', 0,
            COALESCE(NEW.body->>'idempotency_key', NEW.job_id::text),
            COALESCE((NEW.body->>'created_at')::timestamptz, now()))
    ON CONFLICT (id) DO NOTHING;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS job_outbox_record_queued ON job_outbox;
CREATE TRIGGER job_outbox_record_queued AFTER INSERT ON job_outbox
    FOR EACH ROW EXECUTE FUNCTION job_outbox_record_queued();

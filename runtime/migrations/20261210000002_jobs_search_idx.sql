-- The console's job search (ops::ledger::search): newest first by
-- (updated_at, id) with keyset pagination, optionally narrowed by pool,
-- status, error class or idempotency key. Each index serves one narrowing
-- as an ordered index scan that stops after a page, so a page costs the
-- same on a ledger of any size (measured by `make bench-console`).
CREATE INDEX IF NOT EXISTS jobs_updated_id_idx ON jobs (updated_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_pool_updated_id_idx ON jobs (pool, updated_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_status_updated_id_idx ON jobs (status, updated_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_error_class_updated_id_idx ON jobs (last_error_class, updated_at DESC, id DESC)
    WHERE last_error_class IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_idempotency_key_idx ON jobs (idempotency_key);
-- Type prefixes (`media.`): a range on job_type, then newest first.
CREATE INDEX IF NOT EXISTS jobs_type_pattern_updated_idx ON jobs (job_type text_pattern_ops, updated_at DESC, id DESC);

-- The web console's actions go to the same audit table as the CLI's.
-- `origin` tells them apart; a replay started in the console can be stopped
-- from any console replica (or after a reload) by setting stop_requested_at,
-- which the running replay reads when it writes its progress.
ALTER TABLE dlq_audit ADD COLUMN IF NOT EXISTS origin text NOT NULL DEFAULT 'cli';
ALTER TABLE dlq_audit DROP CONSTRAINT IF EXISTS dlq_audit_origin_check;
ALTER TABLE dlq_audit ADD CONSTRAINT dlq_audit_origin_check CHECK (origin IN ('cli', 'console'));
ALTER TABLE dlq_audit ADD COLUMN IF NOT EXISTS stop_requested_at timestamptz;
ALTER TABLE dlq_audit ADD COLUMN IF NOT EXISTS stop_requested_by text;
-- The console's audit page lists one environment, newest first, by keyset.
CREATE INDEX IF NOT EXISTS dlq_audit_env_id_idx ON dlq_audit (env, id DESC);

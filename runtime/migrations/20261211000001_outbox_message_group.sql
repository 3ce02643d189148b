-- The MessageGroupId an outbox row is published with: the ordering group of
-- a FIFO pool, or the tenant on a standard (fair) queue. NULL: none (a FIFO
-- pool's relay then uses the job id, one group per job).
ALTER TABLE job_outbox ADD COLUMN IF NOT EXISTS message_group_id text;

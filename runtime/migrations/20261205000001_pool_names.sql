-- Pools are configuration now: any valid pool name (the same pattern as
-- jobfleet_contract::Pool), not only the three bundled pools.
ALTER TABLE job_outbox DROP CONSTRAINT IF EXISTS job_outbox_pool_check;
ALTER TABLE job_outbox ADD CONSTRAINT job_outbox_pool_name CHECK (pool ~ '^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$');

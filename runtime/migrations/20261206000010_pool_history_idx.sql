-- The fleet service (`worker control`) reads, per pool and at zero pods, the
-- latest finished jobs (their mean run time sizes the pool by drain time)
-- and the latest job start (jobfleet_pool_idle_seconds). Both are ranges on
-- one pool ordered by time: these indexes make them index scans instead of
-- sorts of the whole table.
CREATE INDEX IF NOT EXISTS jobs_pool_finished_idx ON jobs (pool, finished_at DESC)
    INCLUDE (job_type, started_at) WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_pool_started_idx ON jobs (pool, started_at DESC) WHERE started_at IS NOT NULL;

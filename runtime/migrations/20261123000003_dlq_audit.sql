-- Audit trail of operator actions on dead-letter queues: every
-- `worker dlq replay | redrive | purge`, dry runs included. A row is written
-- when the action starts (finished = false) and updated as it progresses and
-- when it ends, so a run that crashed or was killed stays visible as
-- unfinished, with the counts it had reached.
CREATE TABLE IF NOT EXISTS dlq_audit (
    id          bigserial   PRIMARY KEY,
    action      text        NOT NULL CHECK (action IN ('replay', 'redrive', 'purge')),
    -- --actor, else $USER, else 'unknown'.
    actor       text        NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    -- Environments may share a database; `worker dlq history` shows its own.
    env         text        NOT NULL,
    pool        text        NOT NULL,
    -- The dead-letter queue acted on.
    queue       text        NOT NULL,
    -- The filters and options as given (type, error_class, since, ids,
    -- limit, rate, to_queue, ...).
    filters     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    dry_run     boolean     NOT NULL DEFAULT false,
    matched     bigint      NOT NULL DEFAULT 0,
    moved       bigint      NOT NULL DEFAULT 0,
    skipped     bigint      NOT NULL DEFAULT 0,
    failed      bigint      NOT NULL DEFAULT 0,
    finished    boolean     NOT NULL DEFAULT false,
    finished_at timestamptz,
    -- How it ended: exhausted | limit | interrupted | stalled | error: … |
    -- purged | move task … ; NULL while running (or after a crash).
    outcome     text
);

CREATE INDEX IF NOT EXISTS dlq_audit_env_pool_at_idx ON dlq_audit (env, pool, at DESC);

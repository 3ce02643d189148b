# Every queue of every pool, by key: `<pool>` for the pool's main queue, `<pool>/<q>` for its
# priority queue `q` (a `/` never occurs in a pool or queue name, so keys cannot collide).
# Names (CONTRACTS.md): `<env>-jobfleet-<pool>` + DLQ `<env>-jobfleet-<pool>-dlq`; priority queue
# `<env>-jobfleet-<pool>-<q>` + DLQ `<env>-jobfleet-<pool>-<q>-dlq`; `.fifo` appended to both for a
# FIFO pool (a FIFO queue needs a FIFO dead-letter queue).
locals {
  queues = merge([
    for pool, p in var.pools : {
      for q in concat([""], p.priority_queues) : (q == "" ? pool : "${pool}/${q}") => {
        pool                             = pool
        queue                            = q == "" ? "main" : q
        base                             = q == "" ? "${var.env}-jobfleet-${pool}" : "${var.env}-jobfleet-${pool}-${q}"
        name                             = "${q == "" ? "${var.env}-jobfleet-${pool}" : "${var.env}-jobfleet-${pool}-${q}"}${p.fifo != null ? ".fifo" : ""}"
        dlq_name                         = "${q == "" ? "${var.env}-jobfleet-${pool}" : "${var.env}-jobfleet-${pool}-${q}"}-dlq${p.fifo != null ? ".fifo" : ""}"
        fifo                             = p.fifo != null
        content_based_deduplication      = p.fifo != null ? p.fifo.content_based_deduplication : null
        high_throughput                  = p.fifo != null ? p.fifo.high_throughput : false
        visibility_timeout_seconds       = coalesce(p.visibility_timeout_seconds, p.max_job_seconds + 60)
        max_receive_count                = p.max_receive_count
        message_retention_seconds        = p.message_retention_seconds
        delay_seconds                    = p.delay_seconds
        oldest_message_age_alarm_seconds = p.oldest_message_age_alarm_seconds
      }
    }
  ]...)
}

# Which queue ARNs each IAM grant covers: a pool's role consumes from every queue of the pool (main
# and priority queues) and dead-letters into every one of their DLQs; the KEDA operator and
# `worker control` read the attributes of all of them.
locals {
  consume = {
    for pool in var.pools : pool => concat(
      [var.queues[pool].arn],
      [for q in sort(keys(var.queues[pool].priority_queues)) : var.queues[pool].priority_queues[q].arn],
    )
  }
  dead_letter = {
    for pool in var.pools : pool => concat(
      [var.queues[pool].dlq_arn],
      [for q in sort(keys(var.queues[pool].priority_queues)) : var.queues[pool].priority_queues[q].dlq_arn],
    )
  }
}

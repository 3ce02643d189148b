output "queues" {
  description = "Queue key (`<pool>` or `<pool>/<priority queue>`) => pool, queue (`main` or the priority queue), name, dlq_name, fifo settings and the queue settings."
  value       = local.queues
}

output "pool_queue_keys" {
  description = "Pool => the keys of all its queues (main first): what the pool's IAM role and alarms cover."
  value       = { for pool, p in var.pools : pool => concat([pool], [for q in p.priority_queues : "${pool}/${q}"]) }
}

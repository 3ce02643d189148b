output "consume_arns" {
  description = "Pool => ARNs of all its source queues (main first, then priority queues by name)."
  value       = local.consume
}

output "dead_letter_arns" {
  description = "Pool => ARNs of all its dead-letter queues, in the same order."
  value       = local.dead_letter
}

output "all_queue_arns" {
  description = "Every source queue of every pool, sorted (KEDA operator, worker control)."
  value       = sort(flatten(values(local.consume)))
}

output "all_dlq_arns" {
  description = "Every dead-letter queue of every pool, sorted (worker control)."
  value       = sort(flatten(values(local.dead_letter)))
}

output "queues" {
  description = "Per pool: name, arn and url of its main queue and dead-letter queue, the visibility timeout, whether it is FIFO, and `priority_queues` (priority queue name => name, arn, url, dlq_name, dlq_arn, dlq_url)."
  value = {
    for pool, keys in module.topology.pool_queue_keys : pool => {
      name                       = try(aws_sqs_queue.this[pool].name, null)
      arn                        = try(aws_sqs_queue.this[pool].arn, null)
      url                        = try(aws_sqs_queue.this[pool].url, null)
      dlq_name                   = try(aws_sqs_queue.dlq[pool].name, null)
      dlq_arn                    = try(aws_sqs_queue.dlq[pool].arn, null)
      dlq_url                    = try(aws_sqs_queue.dlq[pool].url, null)
      visibility_timeout_seconds = try(aws_sqs_queue.this[pool].visibility_timeout_seconds, null)
      fifo                       = local.queues[pool].fifo
      priority_queues = {
        for key in slice(keys, 1, length(keys)) : local.queues[key].queue => {
          name     = try(aws_sqs_queue.this[key].name, null)
          arn      = try(aws_sqs_queue.this[key].arn, null)
          url      = try(aws_sqs_queue.this[key].url, null)
          dlq_name = try(aws_sqs_queue.dlq[key].name, null)
          dlq_arn  = try(aws_sqs_queue.dlq[key].arn, null)
          dlq_url  = try(aws_sqs_queue.dlq[key].url, null)
        }
      }
    }
  }
}

output "queue_arns" {
  description = "Map of queue key (`<pool>`, `<pool>/<priority queue>`) to queue ARN."
  value       = { for key, q in aws_sqs_queue.this : key => try(q.arn, null) }
}

output "dlq_arns" {
  description = "Map of queue key to dead-letter queue ARN."
  value       = { for key, q in aws_sqs_queue.dlq : key => try(q.arn, null) }
}

output "queue_urls" {
  description = "Map of queue key to queue URL."
  value       = { for key, q in aws_sqs_queue.this : key => try(q.url, null) }
}

output "dlq_urls" {
  description = "Map of queue key to dead-letter queue URL."
  value       = { for key, q in aws_sqs_queue.dlq : key => try(q.url, null) }
}

output "alarm_arns" {
  description = "ARNs of the CloudWatch alarms (DLQ depth and oldest message age), keyed `<queue key>-dlq-depth` / `<queue key>-oldest-age`."
  value = merge(
    { for key, a in aws_cloudwatch_metric_alarm.dlq_depth : "${key}-dlq-depth" => try(a.arn, null) },
    { for key, a in aws_cloudwatch_metric_alarm.oldest_message_age : "${key}-oldest-age" => try(a.arn, null) },
  )
}

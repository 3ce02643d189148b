output "queues" {
  description = "Per pool: name, arn and url of the queue and of its dead-letter queue, and the visibility timeout."
  value = {
    for pool, _ in local.pools : pool => {
      name                       = try(aws_sqs_queue.this[pool].name, null)
      arn                        = try(aws_sqs_queue.this[pool].arn, null)
      url                        = try(aws_sqs_queue.this[pool].url, null)
      dlq_name                   = try(aws_sqs_queue.dlq[pool].name, null)
      dlq_arn                    = try(aws_sqs_queue.dlq[pool].arn, null)
      dlq_url                    = try(aws_sqs_queue.dlq[pool].url, null)
      visibility_timeout_seconds = try(aws_sqs_queue.this[pool].visibility_timeout_seconds, null)
    }
  }
}

output "queue_arns" {
  description = "Map of pool name to queue ARN."
  value       = { for pool, q in aws_sqs_queue.this : pool => try(q.arn, null) }
}

output "dlq_arns" {
  description = "Map of pool name to dead-letter queue ARN."
  value       = { for pool, q in aws_sqs_queue.dlq : pool => try(q.arn, null) }
}

output "queue_urls" {
  description = "Map of pool name to queue URL."
  value       = { for pool, q in aws_sqs_queue.this : pool => try(q.url, null) }
}

output "dlq_urls" {
  description = "Map of pool name to dead-letter queue URL."
  value       = { for pool, q in aws_sqs_queue.dlq : pool => try(q.url, null) }
}

output "alarm_arns" {
  description = "ARNs of the CloudWatch alarms (DLQ depth and oldest message age), keyed `<pool>-dlq-depth` / `<pool>-oldest-age`."
  value = merge(
    { for pool, a in aws_cloudwatch_metric_alarm.dlq_depth : "${pool}-dlq-depth" => try(a.arn, null) },
    { for pool, a in aws_cloudwatch_metric_alarm.oldest_message_age : "${pool}-oldest-age" => try(a.arn, null) },
  )
}

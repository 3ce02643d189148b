locals {
  pools = var.create ? var.pools : {}

  sse_sqs = var.kms_master_key_id == null
}

# Every queue (main and priority) of every pool, named by CONTRACTS.md; provider-free so its
# naming is tested offline (modules/topology/tests).
module "topology" {
  source = "./modules/topology"

  env   = var.env
  pools = local.pools
}

locals {
  queues = module.topology.queues
}

################################################################################
# Dead-letter queues
################################################################################

resource "aws_sqs_queue" "dlq" {
  for_each = local.queues

  name                        = each.value.dlq_name
  fifo_queue                  = each.value.fifo ? true : null
  content_based_deduplication = each.value.fifo ? each.value.content_based_deduplication : null

  message_retention_seconds  = var.dlq_message_retention_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  visibility_timeout_seconds = each.value.visibility_timeout_seconds

  sqs_managed_sse_enabled           = local.sse_sqs ? true : null
  kms_master_key_id                 = var.kms_master_key_id
  kms_data_key_reuse_period_seconds = local.sse_sqs ? null : var.kms_data_key_reuse_period_seconds

  tags = merge(var.tags, { "jobfleet.io/pool" = each.value.pool, "jobfleet.io/queue" = each.value.queue, "jobfleet.io/queue-role" = "dlq" })
}

# Only the queue's own source may redrive into its DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = local.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[each.key].arn]
  })
}

################################################################################
# Pool queues
################################################################################

resource "aws_sqs_queue" "this" {
  for_each = local.queues

  name                        = each.value.name
  fifo_queue                  = each.value.fifo ? true : null
  content_based_deduplication = each.value.fifo ? each.value.content_based_deduplication : null
  # High-throughput FIFO: deduplication and the throughput limit per message group.
  deduplication_scope   = each.value.fifo && each.value.high_throughput ? "messageGroup" : null
  fifo_throughput_limit = each.value.fifo && each.value.high_throughput ? "perMessageGroupId" : null

  visibility_timeout_seconds = each.value.visibility_timeout_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  message_retention_seconds  = each.value.message_retention_seconds
  delay_seconds              = each.value.delay_seconds

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive_count
  })

  sqs_managed_sse_enabled           = local.sse_sqs ? true : null
  kms_master_key_id                 = var.kms_master_key_id
  kms_data_key_reuse_period_seconds = local.sse_sqs ? null : var.kms_data_key_reuse_period_seconds

  tags = merge(var.tags, { "jobfleet.io/pool" = each.value.pool, "jobfleet.io/queue" = each.value.queue, "jobfleet.io/queue-role" = "source" })
}

################################################################################
# Queue policies: TLS only (identity policies grant access; see worker-iam)
################################################################################

data "aws_iam_policy_document" "tls_only" {
  for_each = local.queues

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["sqs:*"]
    resources = [
      aws_sqs_queue.this[each.key].arn,
      aws_sqs_queue.dlq[each.key].arn,
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  for_each = local.queues

  queue_url = aws_sqs_queue.this[each.key].id
  policy    = data.aws_iam_policy_document.tls_only[each.key].json
}

resource "aws_sqs_queue_policy" "dlq" {
  for_each = local.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  policy    = data.aws_iam_policy_document.tls_only[each.key].json
}

################################################################################
# Alarms
################################################################################

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each = var.create_alarms ? local.queues : {}

  alarm_name          = "${aws_sqs_queue.dlq[each.key].name}-not-empty"
  alarm_description   = "Dead-lettered jobs in ${aws_sqs_queue.dlq[each.key].name}: inspect with `worker dlq list` and replay or purge."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[each.key].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  for_each = var.create_alarms ? local.queues : {}

  alarm_name          = "${aws_sqs_queue.this[each.key].name}-oldest-message-age"
  alarm_description   = "Oldest message in ${aws_sqs_queue.this[each.key].name} is older than ${each.value.oldest_message_age_alarm_seconds}s: the pool is not keeping up (check KEDA/Karpenter scale-out)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.this[each.key].name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.oldest_message_age_alarm_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  tags = var.tags
}

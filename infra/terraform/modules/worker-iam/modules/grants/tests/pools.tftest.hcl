# `terraform test` (offline: no provider) — run by tests/infra/test_topology.py. A fourth pool,
# `reports`, with a priority queue: its role covers both queues and both DLQs; the operators see all.

variables {
  pools = ["media", "notifications", "ai", "reports"]
  queues = {
    media         = { arn = "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-media", dlq_arn = "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-media-dlq" }
    notifications = { arn = "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-notifications", dlq_arn = "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-notifications-dlq" }
    ai            = { arn = "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-ai", dlq_arn = "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-ai-dlq" }
    reports = {
      arn     = "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-reports"
      dlq_arn = "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-reports-dlq"
      priority_queues = {
        urgent = { arn = "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-reports-urgent", dlq_arn = "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-reports-urgent-dlq" }
      }
    }
  }
}

run "fourth_pool_role_covers_all_its_queues" {
  command = plan

  assert {
    condition = output.consume_arns["reports"] == [
      "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-reports",
      "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-reports-urgent",
    ]
    error_message = "reports consume: ${jsonencode(output.consume_arns["reports"])}"
  }

  assert {
    condition = output.dead_letter_arns["reports"] == [
      "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-reports-dlq",
      "arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-reports-urgent-dlq",
    ]
    error_message = "reports dead letters: ${jsonencode(output.dead_letter_arns["reports"])}"
  }

  assert {
    condition     = output.consume_arns["media"] == ["arn:aws:sqs:eu-west-1:111111111111:dev-jobfleet-media"]
    error_message = "media consumes its own queue only"
  }

  assert {
    condition     = length(output.all_queue_arns) == 5 && length(output.all_dlq_arns) == 5
    error_message = "operators must see the 5 queues and 5 DLQs"
  }
}

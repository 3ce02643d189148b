# `terraform test` (offline: no provider) — run by tests/infra/test_topology.py.
# The bundled three pools, `notifications` with a priority queue `high`, plus a fourth, `reports`,
# that is FIFO with high throughput: every queue and DLQ is named by CONTRACTS.md. A FIFO pool with
# a priority queue is refused.

variables {
  env = "dev"
  pools = {
    media         = { max_job_seconds = 300 }
    notifications = { max_job_seconds = 60, priority_queues = ["high"] }
    ai            = { max_job_seconds = 900 }
    reports = {
      max_job_seconds = 600
      fifo            = { content_based_deduplication = true, high_throughput = true }
    }
  }
}

run "standard_pools" {
  command = plan

  assert {
    condition     = output.queues["media"].name == "dev-jobfleet-media" && output.queues["media"].dlq_name == "dev-jobfleet-media-dlq"
    error_message = "media: ${output.queues["media"].name} / ${output.queues["media"].dlq_name}"
  }

  assert {
    condition     = !output.queues["ai"].fifo && output.queues["ai"].visibility_timeout_seconds == 960
    error_message = "ai must be standard with visibility max_job_seconds + 60"
  }
}

run "fourth_pool_fifo" {
  command = plan

  assert {
    condition     = output.queues["reports"].name == "dev-jobfleet-reports.fifo" && output.queues["reports"].dlq_name == "dev-jobfleet-reports-dlq.fifo"
    error_message = "reports: ${output.queues["reports"].name} / ${output.queues["reports"].dlq_name}"
  }

  assert {
    condition     = output.queues["reports"].fifo && output.queues["reports"].content_based_deduplication && output.queues["reports"].high_throughput
    error_message = "reports must be FIFO with content-based deduplication and high throughput"
  }
}

run "priority_queue" {
  command = plan

  assert {
    condition     = output.queues["notifications/high"].name == "dev-jobfleet-notifications-high" && output.queues["notifications/high"].dlq_name == "dev-jobfleet-notifications-high-dlq"
    error_message = "notifications/high: ${output.queues["notifications/high"].name} / ${output.queues["notifications/high"].dlq_name}"
  }

  assert {
    condition     = output.queues["notifications/high"].pool == "notifications" && output.queues["notifications/high"].queue == "high"
    error_message = "the priority queue belongs to its pool"
  }

  assert {
    condition     = output.pool_queue_keys["notifications"] == ["notifications", "notifications/high"] && output.pool_queue_keys["media"] == ["media"]
    error_message = "pool_queue_keys: ${jsonencode(output.pool_queue_keys)}"
  }

  assert {
    condition     = length(output.queues) == 5
    error_message = "4 main queues + 1 priority queue, got ${length(output.queues)}"
  }
}

# The worker would refuse this pool at start-up: Terraform refuses it first.
run "fifo_pool_with_a_priority_queue_is_refused" {
  command = plan

  variables {
    pools = {
      reports = {
        max_job_seconds = 600
        fifo            = {}
        priority_queues = ["urgent"]
      }
    }
  }

  expect_failures = [var.pools]
}

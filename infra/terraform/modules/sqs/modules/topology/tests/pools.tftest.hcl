# `terraform test` (offline: no provider) — run by tests/infra/test_topology.py.
# The bundled three pools plus a fourth, `reports`, that is FIFO with high throughput and has a
# priority queue: every queue and DLQ is named by CONTRACTS.md.

variables {
  env = "dev"
  pools = {
    media         = { max_job_seconds = 300 }
    notifications = { max_job_seconds = 60 }
    ai            = { max_job_seconds = 900 }
    reports = {
      max_job_seconds = 600
      fifo            = { content_based_deduplication = true, high_throughput = true }
      priority_queues = ["urgent"]
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

run "fourth_pool_fifo_and_priority" {
  command = plan

  assert {
    condition     = output.queues["reports"].name == "dev-jobfleet-reports.fifo" && output.queues["reports"].dlq_name == "dev-jobfleet-reports-dlq.fifo"
    error_message = "reports: ${output.queues["reports"].name} / ${output.queues["reports"].dlq_name}"
  }

  assert {
    condition     = output.queues["reports/urgent"].name == "dev-jobfleet-reports-urgent.fifo" && output.queues["reports/urgent"].dlq_name == "dev-jobfleet-reports-urgent-dlq.fifo"
    error_message = "reports/urgent: ${output.queues["reports/urgent"].name}"
  }

  assert {
    condition     = output.queues["reports"].fifo && output.queues["reports"].content_based_deduplication && output.queues["reports"].high_throughput
    error_message = "reports must be FIFO with content-based deduplication and high throughput"
  }

  assert {
    condition     = output.queues["reports/urgent"].pool == "reports" && output.queues["reports/urgent"].queue == "urgent"
    error_message = "the priority queue belongs to its pool"
  }

  assert {
    condition     = output.pool_queue_keys["reports"] == ["reports", "reports/urgent"] && output.pool_queue_keys["media"] == ["media"]
    error_message = "pool_queue_keys: ${jsonencode(output.pool_queue_keys)}"
  }

  assert {
    condition     = length(output.queues) == 5
    error_message = "4 main queues + 1 priority queue, got ${length(output.queues)}"
  }
}

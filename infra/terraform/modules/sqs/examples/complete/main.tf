# Example: queues for all three pools in dev, FIFO off, SSE-SQS, alarms to an existing SNS topic.
provider "aws" {
  region = "eu-west-1"
}

module "sqs" {
  source = "../.."

  env = "dev"
  pools = {
    # notifications has a priority queue for one-time passwords: dev-jobfleet-notifications-high (+ -dlq).
    media         = { max_job_seconds = 300 }
    notifications = { max_job_seconds = 60, max_receive_count = 5, priority_queues = ["high"] }
    ai            = { max_job_seconds = 900, visibility_timeout_seconds = 1200 }
  }
  alarm_actions = ["arn:aws:sns:eu-west-1:123456789012:dev-jobfleet-alarms"]

  tags = { Example = "sqs" }
}

# A fourth pool: FIFO with high throughput -> dev-jobfleet-reports.fifo and dev-jobfleet-reports-dlq.fifo
# (a FIFO pool consumes its one queue: priority queues are refused on it).
module "sqs_reports" {
  source = "../.."

  env = "dev"
  pools = {
    reports = {
      max_job_seconds = 600
      fifo            = { content_based_deduplication = true, high_throughput = true }
    }
  }
  create_alarms = false
}

output "queues" {
  description = "Queues created by the example."
  value       = module.sqs.queues
}

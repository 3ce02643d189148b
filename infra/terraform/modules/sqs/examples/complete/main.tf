# Example: queues for all three pools in dev, FIFO off, SSE-SQS, alarms to an existing SNS topic.
provider "aws" {
  region = "eu-west-1"
}

module "sqs" {
  source = "../.."

  env = "dev"
  pools = {
    media         = { max_job_seconds = 300 }
    notifications = { max_job_seconds = 60, max_receive_count = 5 }
    ai            = { max_job_seconds = 900, visibility_timeout_seconds = 1200 }
  }
  alarm_actions = ["arn:aws:sns:eu-west-1:123456789012:dev-jobfleet-alarms"]

  tags = { Example = "sqs" }
}

# A fourth pool: FIFO with high throughput and a priority queue -> dev-jobfleet-reports.fifo,
# dev-jobfleet-reports-dlq.fifo, dev-jobfleet-reports-urgent.fifo, dev-jobfleet-reports-urgent-dlq.fifo.
module "sqs_reports" {
  source = "../.."

  env = "dev"
  pools = {
    reports = {
      max_job_seconds = 600
      fifo            = { content_based_deduplication = true, high_throughput = true }
      priority_queues = ["urgent"]
    }
  }
  create_alarms = false
}

output "queues" {
  description = "Queues created by the example."
  value       = module.sqs.queues
}

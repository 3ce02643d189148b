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

# FIFO variant: names end with .fifo (dev-jobfleet-media.fifo, dev-jobfleet-media-dlq.fifo).
module "sqs_fifo" {
  source = "../.."

  env           = "dev"
  fifo          = true
  pools         = { media = { max_job_seconds = 300 } }
  create_alarms = false
}

output "queues" {
  description = "Queues created by the example."
  value       = module.sqs.queues
}

variable "pools" {
  description = "Pools that get an IRSA role."
  type        = set(string)
}

variable "queues" {
  description = "The sqs module's `queues` output: per pool its queue and DLQ ARNs and `priority_queues` (name => arn, dlq_arn)."
  type = map(object({
    arn             = string
    dlq_arn         = string
    priority_queues = optional(map(object({ arn = string, dlq_arn = string })), {})
  }))
}

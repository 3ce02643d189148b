variable "env" {
  description = "Environment name: the `<env>` of `<env>-jobfleet-<pool>`."
  type        = string
}

variable "pools" {
  description = "The sqs module's `pools` (already validated there): per pool its settings, optional `fifo` and `priority_queues`."
  type = map(object({
    max_job_seconds                  = number
    visibility_timeout_seconds       = optional(number)
    max_receive_count                = optional(number, 10)
    message_retention_seconds        = optional(number, 345600)
    delay_seconds                    = optional(number, 0)
    oldest_message_age_alarm_seconds = optional(number, 900)
    fifo = optional(object({
      content_based_deduplication = optional(bool, false)
      high_throughput             = optional(bool, false)
    }))
    priority_queues = optional(list(string), [])
  }))
}

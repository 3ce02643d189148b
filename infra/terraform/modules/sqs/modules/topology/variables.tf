variable "env" {
  description = "Environment name: the `<env>` of `<env>-jobfleet-<pool>`."
  type        = string
}

variable "pools" {
  description = "The sqs module's `pools` (validated there, but for the rule below, which `terraform test` checks offline here): per pool its settings, optional `fifo` and `priority_queues`."
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

  # The worker refuses the two together (pools.<pool>.priority_queues): a FIFO
  # pool is one queue whose groups keep their order, so queues made for it
  # would never be consumed.
  validation {
    condition     = alltrue([for p in values(var.pools) : p.fifo == null || length(p.priority_queues) == 0])
    error_message = "priority_queues are for standard pools: the worker refuses them on a FIFO pool, whose one queue keeps each group's order."
  }
}

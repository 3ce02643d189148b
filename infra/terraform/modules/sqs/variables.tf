variable "create" {
  description = "Whether to create any resource in this module."
  type        = bool
  default     = true
}

variable "env" {
  description = "Environment name; queue names are `<env>-jobfleet-<pool>` and `<env>-jobfleet-<pool>-dlq`."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.env)
    error_message = "env must be one of dev, staging, prod."
  }
}

variable "pools" {
  description = <<-EOT
    Worker pools, each with its own queue and dead-letter queue. Keys are pool names: any name
    matching ^[a-z][a-z0-9-]{0,30}[a-z0-9]$ (CONTRACTS.md; valid in SQS, Kubernetes and Prometheus),
    not only the bundled media, notifications, ai.
    - max_job_seconds: the longest a job of this pool may run (its handler timeout).
    - visibility_timeout_seconds: initial visibility; must be >= max_job_seconds (the worker
      extends it with heartbeats, this is the floor if a heartbeat is missed). Defaults to
      max_job_seconds + 60.
    - max_receive_count: RedrivePolicy backstop. The worker dead-letters by itself after its
      own max_attempts (default 5); this only catches crash loops and poison messages.
    - message_retention_seconds: retention of the source queue.
    - oldest_message_age_alarm_seconds: alarm threshold on ApproximateAgeOfOldestMessage.
    - fifo: make the pool's queues FIFO (`.fifo`, FIFO DLQ): `content_based_deduplication`
      (dedup on a body hash instead of MessageDeduplicationId), `high_throughput`
      (deduplication_scope messageGroup + fifo_throughput_limit perMessageGroupId).
    - priority_queues: names `q` of extra queues of the pool, `<env>-jobfleet-<pool>-<q>` each with
      its own DLQ `<env>-jobfleet-<pool>-<q>-dlq`; the pool's role covers them all. Standard pools
      only (the worker refuses them on a FIFO pool); not `dlq` or `main`.
  EOT
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
  default = {
    media         = { max_job_seconds = 300 }
    notifications = { max_job_seconds = 60 }
    ai            = { max_job_seconds = 900 }
  }

  validation {
    condition     = alltrue([for k in keys(var.pools) : can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$", k))])
    error_message = "Pool names must match ^[a-z][a-z0-9-]{0,30}[a-z0-9]$ (CONTRACTS.md)."
  }

  validation {
    condition = alltrue(flatten([for p in values(var.pools) : [
      for q in p.priority_queues : can(regex("^[a-z][a-z0-9-]{0,14}[a-z0-9]$", q)) && !contains(["dlq", "main"], q)
    ]]))
    error_message = "priority_queues names must match ^[a-z][a-z0-9-]{0,14}[a-z0-9]$ and not be dlq or main (the label of the pool's own queue in the worker's metrics)."
  }

  validation {
    condition = alltrue([for pool, p in var.pools : alltrue([
      for q in p.priority_queues : length("${pool}-${q}") <= 59 && !contains(keys(var.pools), "${pool}-${q}")
    ])])
    error_message = "A priority queue <pool>-<q> must not collide with another pool's name, and queue names must fit SQS's 80 characters."
  }

  validation {
    condition     = alltrue([for p in values(var.pools) : p.max_job_seconds >= 1 && p.max_job_seconds <= 43140])
    error_message = "max_job_seconds must be between 1 and 43140 (SQS visibility timeout maximum is 12 h)."
  }

  validation {
    condition = alltrue([
      for p in values(var.pools) : p.visibility_timeout_seconds == null ? true : (
        p.visibility_timeout_seconds >= p.max_job_seconds && p.visibility_timeout_seconds <= 43200
      )
    ])
    error_message = "visibility_timeout_seconds must be >= the pool's max_job_seconds and <= 43200."
  }

  validation {
    condition     = alltrue([for p in values(var.pools) : p.max_receive_count >= 1 && p.max_receive_count <= 1000])
    error_message = "max_receive_count must be between 1 and 1000."
  }

  validation {
    condition     = alltrue([for p in values(var.pools) : p.message_retention_seconds >= 60 && p.message_retention_seconds <= 1209600])
    error_message = "message_retention_seconds must be between 60 and 1209600 (14 days)."
  }

  validation {
    condition     = alltrue([for p in values(var.pools) : p.delay_seconds >= 0 && p.delay_seconds <= 900])
    error_message = "delay_seconds must be between 0 and 900."
  }
}

variable "receive_wait_time_seconds" {
  description = "Long-poll wait of ReceiveMessage (0-20). 20 keeps empty receives, and the SQS bill, low."
  type        = number
  default     = 20

  validation {
    condition     = var.receive_wait_time_seconds >= 0 && var.receive_wait_time_seconds <= 20
    error_message = "receive_wait_time_seconds must be between 0 and 20."
  }
}

variable "dlq_message_retention_seconds" {
  description = "Retention of the dead-letter queues; the maximum (14 days) leaves time to inspect and replay."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 86400 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be between 1 day and 14 days."
  }
}

variable "kms_master_key_id" {
  description = "KMS key id/ARN for SSE-KMS. null (default) uses SQS-managed SSE (SSE-SQS)."
  type        = string
  default     = null
}

variable "kms_data_key_reuse_period_seconds" {
  description = "SSE-KMS only: seconds SQS reuses a data key (60-86400)."
  type        = number
  default     = 300

  validation {
    condition     = var.kms_data_key_reuse_period_seconds >= 60 && var.kms_data_key_reuse_period_seconds <= 86400
    error_message = "kms_data_key_reuse_period_seconds must be between 60 and 86400."
  }
}

variable "create_alarms" {
  description = "Create CloudWatch alarms on DLQ depth (> 0) and on the age of the oldest message."
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires or recovers (e.g. an SNS topic)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

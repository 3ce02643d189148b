variable "create" {
  description = "Whether to create any resource in this module."
  type        = bool
  default     = true
}

variable "env" {
  description = "Environment name (dev, staging, prod); role names are `<env>-jobfleet-<pool>`."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.env)
    error_message = "env must be one of dev, staging, prod."
  }
}

variable "pools" {
  description = "Pools to create an IRSA role for (`<env>-jobfleet-<pool>`): any name matching ^[a-z][a-z0-9-]{0,30}[a-z0-9]$ (CONTRACTS.md), the keys of the sqs module's `pools`."
  type        = set(string)
  default     = ["media", "notifications", "ai"]

  validation {
    condition     = alltrue([for p in var.pools : can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$", p))])
    error_message = "Pool names must match ^[a-z][a-z0-9-]{0,30}[a-z0-9]$ (CONTRACTS.md)."
  }

  # The operators' roles share the trust-subject map with the pools and are named <env>-jobfleet-<key>.
  validation {
    condition     = length(setintersection(var.pools, ["external-secrets", "keda-operator", "control", "console"])) == 0
    error_message = "external-secrets, keda-operator, control and console name operator roles, not pools."
  }
}

variable "namespace" {
  description = "Kubernetes namespace of the worker service accounts (`jobfleet-<pool>`)."
  type        = string
  default     = "jobfleet"
}

variable "oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider (IRSA)."
  type        = string
}

variable "oidc_provider" {
  description = "The EKS OIDC issuer without `https://` (e.g. oidc.eks.eu-west-1.amazonaws.com/id/ABC); used as the condition key prefix."
  type        = string

  validation {
    condition     = !startswith(var.oidc_provider, "https://")
    error_message = "oidc_provider must not include the https:// scheme."
  }
}

variable "queues" {
  description = "Per pool: ARN of its queue and of its dead-letter queue, and of each priority queue and its DLQ (sqs module output `queues`)."
  type = map(object({
    arn             = string
    dlq_arn         = string
    priority_queues = optional(map(object({ arn = string, dlq_arn = string })), {})
  }))
}

variable "sqs_kms_key_arn" {
  description = "KMS key used for SSE-KMS on the queues; null when the queues use SSE-SQS."
  type        = string
  default     = null
}

variable "media_bucket_arn" {
  description = "ARN of the media bucket (`<env>-jobfleet-media`)."
  type        = string
}

variable "s3_kms_key_arn" {
  description = "KMS key used for SSE-KMS on the media bucket; null when it uses SSE-S3."
  type        = string
  default     = null
}

variable "ses_identity_arns" {
  description = "SES identity ARNs (domains or addresses) the notifications pool may send from."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.ses_identity_arns : can(regex("^arn:aws[a-z-]*:ses:", a))])
    error_message = "ses_identity_arns must be SES identity ARNs."
  }
}

variable "sns_topic_arns" {
  description = "SNS topic ARNs the notifications pool may publish to."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.sns_topic_arns : can(regex("^arn:aws[a-z-]*:sns:", a))])
    error_message = "sns_topic_arns must be SNS topic ARNs."
  }
}

variable "sns_allow_sms" {
  description = "Allow the notifications pool to send SMS with sns:Publish to phone numbers (IAM needs Resource `*` for that)."
  type        = bool
  default     = false
}

variable "database_secret_arn" {
  description = "Secrets Manager secret holding the database credentials (RDS-managed secret); null to grant none."
  type        = string
  default     = null
}

variable "ssm_parameter_prefix" {
  description = "SSM Parameter Store path prefix for worker parameters; each pool may read `<prefix>/<pool>/*` and `<prefix>/shared/*`. Defaults to `/<env>/jobfleet`."
  type        = string
  default     = null

  validation {
    condition     = var.ssm_parameter_prefix == null || can(regex("^/[A-Za-z0-9_./-]+[^/]$", var.ssm_parameter_prefix))
    error_message = "ssm_parameter_prefix must start with / and not end with /."
  }
}

variable "secrets_kms_key_arns" {
  description = "Customer-managed KMS keys protecting the SecureString parameters / secrets (decrypt only via SSM and Secrets Manager). Empty when AWS-managed keys are used."
  type        = list(string)
  default     = []
}

variable "create_external_secrets_role" {
  description = "Create the IRSA role of External Secrets Operator, which syncs `<ssm_parameter_prefix>/*` SecureStrings (e.g. database-url) into Kubernetes Secrets for the worker releases."
  type        = bool
  default     = true
}

variable "external_secrets_service_account" {
  description = "`<namespace>/<name>` of the External Secrets Operator controller service account."
  type        = string
  default     = "external-secrets/external-secrets"

  validation {
    condition     = can(regex("^[a-z0-9-]+/[a-z0-9-]+$", var.external_secrets_service_account))
    error_message = "external_secrets_service_account must be <namespace>/<name>."
  }
}

variable "create_keda_operator_role" {
  description = "Create the IRSA role of the KEDA operator, which the worker chart's aws-sqs-queue scaler uses (`identityOwner: keda`) to read the pools' queue depths."
  type        = bool
  default     = true
}

variable "keda_service_account" {
  description = "`<namespace>/<name>` of the KEDA operator service account."
  type        = string
  default     = "keda/keda-operator"

  validation {
    condition     = can(regex("^[a-z0-9-]+/[a-z0-9-]+$", var.keda_service_account))
    error_message = "keda_service_account must be <namespace>/<name>."
  }
}

variable "create_control_role" {
  description = "Create the IRSA role `<env>-jobfleet-control` of `worker control` (charts/fleet): GetQueueAttributes and GetQueueUrl on every pool queue and DLQ."
  type        = bool
  default     = true
}

variable "control_service_account" {
  description = "`<namespace>/<name>` of the `worker control` service account."
  type        = string
  default     = "jobfleet/jobfleet-control"

  validation {
    condition     = can(regex("^[a-z0-9-]+/[a-z0-9-]+$", var.control_service_account))
    error_message = "control_service_account must be <namespace>/<name>."
  }
}

variable "create_console_role" {
  description = "Create the IRSA role `<env>-jobfleet-console` of the web console (charts/fleet `console`): queue attributes everywhere; receive, delete, purge and redrive on the DLQs; send to the pool queues (replay)."
  type        = bool
  default     = true
}

variable "console_service_account" {
  description = "`<namespace>/<name>` of the web console's service account."
  type        = string
  default     = "jobfleet/jobfleet-console"

  validation {
    condition     = can(regex("^[a-z0-9-]+/[a-z0-9-]+$", var.console_service_account))
    error_message = "console_service_account must be <namespace>/<name>."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary (IAM policy ARN) set on every role this module creates (pool roles, External Secrets, KEDA operator); null for none. Use it when the account is shared, or when the CI apply role is only allowed to create roles carrying this boundary."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be null or an IAM policy ARN."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

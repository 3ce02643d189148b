################################################################################
# Identity of the environment
################################################################################

variable "env" {
  description = "Environment name; must match this directory (dev, staging, prod)."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.env)
    error_message = "env must be one of dev, staging, prod."
  }
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "aws_account_id" {
  description = "AWS account the environment lives in (the provider refuses any other)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id must be 12 digits."
  }
}

variable "github_repository" {
  description = "GitHub repository (`<org>/<repo>`) whose workflows may assume the CI roles."
  type        = string
}

variable "state_bucket_name" {
  description = "Terraform state bucket (created by infra/terraform/bootstrap); must match backend.tf."
  type        = string
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider here (false if the account already has one)."
  type        = bool
  default     = true
}

variable "github_oidc_provider_arn" {
  description = "Existing GitHub OIDC provider ARN when create_github_oidc_provider is false."
  type        = string
  default     = null
}

variable "permissions_boundary_arn" {
  description = "IAM policy ARN set as permissions boundary on the roles this stack creates for its own identities (worker pools, External Secrets, KEDA operator, GitHub CI roles); null for none. Created by the account administrator, not by this stack (see docs/infra.md, \"Least privilege\")."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/.+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be null or a customer-managed IAM policy ARN."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

################################################################################
# Network and cluster
################################################################################

variable "vpc_cidr" {
  description = "VPC CIDR (/16)."
  type        = string
}

variable "azs" {
  description = "Availability zones (2-3), explicit so the subnet layout is stable."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (dev/staging) instead of one per AZ (prod)."
  type        = bool
  default     = true
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.33"
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the EKS public endpoint; empty = private endpoint only."
  type        = list(string)
  default     = []
}

variable "cluster_admin_principal_arns" {
  description = "IAM roles granted cluster admin (EKS access entries)."
  type        = list(string)
  default     = []
}

variable "system_node_group" {
  description = "Baseline managed node group for system pods."
  type = object({
    instance_types = optional(list(string), ["m6i.large"])
    min_size       = optional(number, 2)
    max_size       = optional(number, 4)
    desired_size   = optional(number, 2)
    disk_size_gib  = optional(number, 50)
  })
  default = {}
}

variable "karpenter_ami_alias" {
  description = "EC2NodeClass AMI alias (pin a dated alias in prod). One decision with kubernetes_version: a dated release must list that version (modules/karpenter `local.ami_releases`)."
  type        = string
  default     = "al2023@latest"
}

variable "gpu_vcpu_quota" {
  description = "vCPU quota to request for On-Demand G instances (the ai NodePool's GPU nodes); null leaves the account's quota alone."
  type        = number
  default     = null
}

variable "karpenter_general" {
  description = "Overrides for the `general` NodePool (see modules/karpenter)."
  type        = any
  default     = {}
}

variable "karpenter_ai" {
  description = "Overrides for the isolated `ai` NodePool (see modules/karpenter)."
  type        = any
  default     = {}
}

################################################################################
# Database
################################################################################

variable "rds_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "rds_allocated_storage" {
  description = "Initial storage (GiB)."
  type        = number
  default     = 20
}

variable "rds_max_allocated_storage" {
  description = "Storage autoscaling ceiling (GiB)."
  type        = number
  default     = 200
}

variable "rds_multi_az" {
  description = "Multi-AZ standby (true in prod)."
  type        = bool
  default     = false
}

variable "rds_deletion_protection" {
  description = "Deletion protection of the instance."
  type        = bool
  default     = true
}

variable "rds_max_connections" {
  description = "Postgres max_connections of the instance: the budget charts/pgbouncer divides (deploy/environments/<env>/pgbouncer.yaml pools.rdsMaxConnections must equal it)."
  type        = number
  default     = 200
}

variable "rds_backup_retention_period" {
  description = "Days of automated backups."
  type        = number
  default     = 7
}

################################################################################
# Queues, bucket, notifications
################################################################################

variable "pools" {
  description = "Worker pools and their queues (see modules/sqs `pools`): any pool name matching the contract pattern, optional `fifo` and `priority_queues`. The IRSA roles (modules/worker-iam) follow the same keys."
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
}

variable "sqs_kms_key_arn" {
  description = "KMS key for SSE-KMS on the queues (null: SSE-SQS)."
  type        = string
  default     = null
}

variable "alarm_actions" {
  description = "ARNs notified by the queue alarms (e.g. the on-call SNS topic)."
  type        = list(string)
  default     = []
}

variable "claim_check_expiry_days" {
  description = "Days after which claim-check/ objects expire."
  type        = number
  default     = 7
}

variable "media_bucket_access_log_bucket" {
  description = "Bucket for S3 server access logs of the media bucket (null: none)."
  type        = string
  default     = null
}

variable "media_bucket_cors_allowed_origins" {
  description = "Browser origins allowed to use presigned upload URLs."
  type        = list(string)
  default     = []
}

variable "ses_identity_arns" {
  description = "SES identities the notifications pool may send from."
  type        = list(string)
  default     = []
}

variable "sns_topic_arns" {
  description = "SNS topics the notifications pool may publish to."
  type        = list(string)
  default     = []
}

variable "sns_allow_sms" {
  description = "Allow SMS (sns:Publish to phone numbers) from the notifications pool."
  type        = bool
  default     = false
}

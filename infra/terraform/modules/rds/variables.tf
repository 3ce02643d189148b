variable "create" {
  description = "Whether to create any resource in this module."
  type        = bool
  default     = true
}

variable "env" {
  description = "Environment name (dev, staging, prod); the instance is `<env>-jobfleet`."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.env)
    error_message = "env must be one of dev, staging, prod."
  }
}

variable "vpc_id" {
  description = "VPC of the database security group."
  type        = string
}

variable "subnet_ids" {
  description = "Private database subnets (at least two AZs)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "At least two subnets (two AZs) are required."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on the Postgres port (EKS node security group, PgBouncer)."
  type        = list(string)
  default     = []
}

variable "engine_version" {
  description = "Postgres major version (minor versions are applied by auto_minor_version_upgrade)."
  type        = string
  default     = "15"

  validation {
    condition     = can(regex("^15(\\.[0-9]+)?$", var.engine_version))
    error_message = "The contract is Postgres 15: engine_version must be 15 or 15.x."
  }
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage" {
  description = "Initial storage in GiB (gp3)."
  type        = number
  default     = 20

  validation {
    condition     = var.allocated_storage >= 20 && var.allocated_storage <= 65536
    error_message = "allocated_storage must be between 20 and 65536 GiB."
  }
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB (must be >= allocated_storage)."
  type        = number
  default     = 200
}

variable "multi_az" {
  description = "Standby in a second AZ with automatic failover (required in prod)."
  type        = bool
  default     = false
}

variable "database_name" {
  description = "Name of the initial database."
  type        = string
  default     = "jobfleet"
}

variable "master_username" {
  description = "Master user name; its password is generated and rotated by RDS in Secrets Manager (never in Terraform state or tfvars)."
  type        = string
  default     = "jobfleet_admin"
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and the master secret; null uses the AWS-managed keys."
  type        = string
  default     = null
}

variable "backup_retention_period" {
  description = "Days of automated backups (1-35)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_period >= 1 && var.backup_retention_period <= 35
    error_message = "backup_retention_period must be between 1 and 35."
  }
}

variable "deletion_protection" {
  description = "Refuse deletion of the instance."
  type        = bool
  default     = true
}

variable "max_connections" {
  description = "Postgres max_connections (a static parameter: applied at the next reboot). Set it explicitly so PgBouncer's pool sizes (charts/pgbouncer) are derived from a known budget; keep it within the instance class's memory (RDS default LEAST(DBInstanceClassMemory/9531392, 5000))."
  type        = number
  default     = 200

  validation {
    condition     = var.max_connections >= 20 && var.max_connections <= 5000
    error_message = "max_connections must be between 20 and 5000."
  }
}

variable "log_min_duration_statement_ms" {
  description = "Log statements slower than this many milliseconds (-1 disables)."
  type        = number
  default     = 500

  validation {
    condition     = var.log_min_duration_statement_ms >= -1
    error_message = "log_min_duration_statement_ms must be >= -1."
  }
}

variable "extra_parameters" {
  description = "Additional DB parameter group parameters."
  type = list(object({
    name         = string
    value        = string
    apply_method = optional(string, "pending-reboot")
  }))
  default = []
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (0 disables; 1, 5, 10, 15, 30, 60)."
  type        = number
  default     = 60

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "performance_insights_retention_period" {
  description = "Days of Performance Insights retention (7 is free)."
  type        = number
  default     = 7
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary (IAM policy ARN) set on the IAM roles this module creates (Enhanced Monitoring role); null for none."
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

variable "create" {
  description = "Whether to create any resource in this module."
  type        = bool
  default     = true
}

variable "bucket_name" {
  description = "Bucket name, e.g. `<env>-jobfleet-media` (or the Terraform state bucket)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 chars, lowercase, digits, dots, hyphens)."
  }
}

variable "prefixes" {
  description = "Key prefixes the bucket is organised in (documented in outputs as ARNs for IAM). The media bucket uses uploads/, thumbnails/, claim-check/, ai-results/."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.prefixes : endswith(p, "/") && !startswith(p, "/")])
    error_message = "Prefixes must end with / and not start with /."
  }
}

variable "expire_prefixes" {
  description = "Map of key prefix to the number of days after which current objects under it expire (e.g. { \"claim-check/\" = 7 })."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for d in values(var.expire_prefixes) : d >= 1 && d <= 3650])
    error_message = "Expiration days must be between 1 and 3650."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions are deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be >= 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which incomplete multipart uploads are aborted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1
    error_message = "abort_incomplete_multipart_upload_days must be >= 1."
  }
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS (with S3 Bucket Keys). null (default) uses SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "access_log_bucket" {
  description = "Bucket receiving S3 server access logs; null disables access logging."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a non-empty bucket (never in prod)."
  type        = bool
  default     = false
}

variable "cors_allowed_origins" {
  description = "Origins allowed to PUT/GET with presigned URLs from a browser (empty: no CORS rule)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

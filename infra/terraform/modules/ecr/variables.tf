variable "create" {
  description = "Whether to create any resource in this module."
  type        = bool
  default     = true
}

variable "repository_name" {
  description = "ECR repository name of the worker image (one image for daemon and ops)."
  type        = string
  default     = "jobfleet/worker"

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.repository_name))
    error_message = "repository_name must be a valid ECR repository name."
  }
}

variable "kms_key_arn" {
  description = "KMS key for repository encryption; null uses the AWS-managed ECR key (encryption_type KMS)."
  type        = string
  default     = null
}

variable "keep_sha_images" {
  description = "Number of `sha-*` tagged images (built from main) to keep; release tags `v*` are never expired."
  type        = number
  default     = 50

  validation {
    condition     = var.keep_sha_images >= 1 && var.keep_sha_images <= 1000
    error_message = "keep_sha_images must be between 1 and 1000."
  }
}

variable "untagged_expiry_days" {
  description = "Days after which untagged images (e.g. orphaned layers of rebuilt manifests) are expired."
  type        = number
  default     = 7

  validation {
    condition     = var.untagged_expiry_days >= 1
    error_message = "untagged_expiry_days must be >= 1."
  }
}

variable "pull_principal_arns" {
  description = "IAM principals (e.g. other accounts' node roles) allowed to pull; empty means same-account IAM only."
  type        = list(string)
  default     = []
}

variable "force_delete" {
  description = "Allow deleting the repository with images in it (never in prod)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

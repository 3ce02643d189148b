variable "create" {
  description = "Whether to create any resource in this module."
  type        = bool
  default     = true
}

variable "env" {
  description = "Environment name (dev, staging, prod); the cluster is `<env>-jobfleet`."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.env)
    error_message = "env must be one of dev, staging, prod."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (upgrade one minor at a time)."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "vpc_id" {
  description = "VPC id."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the nodes."
  type        = list(string)
}

variable "control_plane_subnet_ids" {
  description = "Subnets for the control plane ENIs (intra subnets)."
  type        = list(string)
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint; empty keeps the endpoint private only."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.endpoint_public_access_cidrs, "0.0.0.0/0")
    error_message = "Do not open the API endpoint to 0.0.0.0/0."
  }
}

variable "admin_principal_arns" {
  description = "IAM principals (roles) granted cluster admin through EKS access entries."
  type        = list(string)
  default     = []
}

variable "system_node_group" {
  description = "Managed baseline node group for system pods (CoreDNS, Karpenter, KEDA, observability). Everything else runs on Karpenter nodes."
  type = object({
    instance_types = optional(list(string), ["m6i.large"])
    min_size       = optional(number, 2)
    max_size       = optional(number, 4)
    desired_size   = optional(number, 2)
    disk_size_gib  = optional(number, 50)
  })
  default = {}

  validation {
    condition     = var.system_node_group.min_size >= 1 && var.system_node_group.min_size <= var.system_node_group.desired_size && var.system_node_group.desired_size <= var.system_node_group.max_size
    error_message = "system_node_group must satisfy 1 <= min_size <= desired_size <= max_size."
  }
}

variable "log_retention_days" {
  description = "Retention of the control plane log group."
  type        = number
  default     = 90
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary (IAM policy ARN) set on the IAM roles this module creates (cluster role, `system` node group role); null for none."
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

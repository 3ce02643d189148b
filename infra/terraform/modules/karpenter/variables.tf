variable "create" {
  description = "Whether to create any resource in this module."
  type        = bool
  default     = true
}

variable "env" {
  description = "Environment name (dev, staging, prod)."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.env)
    error_message = "env must be one of dev, staging, prod."
  }
}

variable "cluster_name" {
  description = "EKS cluster name (also the karpenter.sh/discovery tag value of subnets and the node security group)."
  type        = string
}

variable "namespace" {
  description = "Namespace of the Karpenter controller (Pod Identity association)."
  type        = string
  default     = "kube-system"
}

variable "service_account" {
  description = "Service account of the Karpenter controller."
  type        = string
  default     = "karpenter"
}

variable "ami_alias" {
  description = "EC2NodeClass amiSelectorTerms alias. Pin a dated release (e.g. al2023@v20250505) in prod so nodes only change when you bump it."
  type        = string
  default     = "al2023@latest"

  validation {
    condition     = can(regex("^(al2023|bottlerocket)@", var.ami_alias))
    error_message = "ami_alias must be an al2023@... or bottlerocket@... alias."
  }
}

variable "general" {
  description = "NodePool `general`: spot + on-demand, consolidation, for media and notifications workers and other workloads."
  type = object({
    capacity_types      = optional(list(string), ["spot", "on-demand"])
    instance_categories = optional(list(string), ["c", "m", "r"])
    generation_gt       = optional(number, 5)
    cpu_limit           = optional(number, 256)
    memory_limit_gib    = optional(number, 1024)
    consolidate_after   = optional(string, "1m")
    disruption_budget   = optional(string, "10%")
    expire_after        = optional(string, "720h")
    volume_size_gib     = optional(number, 50)
  })
  default = {}

  validation {
    condition     = alltrue([for c in var.general.capacity_types : contains(["spot", "on-demand"], c)])
    error_message = "general.capacity_types must be among spot, on-demand."
  }
}

variable "ai" {
  description = "Isolated NodePool `ai` (taint and label jobfleet.io/pool=ai, NoSchedule): accelerated instances, on-demand by default, never consolidated while occupied."
  type = object({
    capacity_types    = optional(list(string), ["on-demand"])
    instance_families = optional(list(string), ["g5", "g6", "inf2"])
    cpu_limit         = optional(number, 192)
    memory_limit_gib  = optional(number, 768)
    gpu_limit         = optional(number, 16)
    consolidate_after = optional(string, "10m")
    expire_after      = optional(string, "720h")
    termination_grace = optional(string, "1h")
    volume_size_gib   = optional(number, 200)
  })
  default = {}

  validation {
    condition     = alltrue([for c in var.ai.capacity_types : contains(["spot", "on-demand"], c)])
    error_message = "ai.capacity_types must be among spot, on-demand."
  }
}

variable "node_iam_role_additional_policies" {
  description = "Extra managed policies for the Karpenter node role (SSM is attached by default)."
  type        = map(string)
  default     = {}
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary (IAM policy ARN) set on the IAM roles this module creates (controller role, node role); null for none."
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

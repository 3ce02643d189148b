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

variable "kubernetes_version" {
  description = "Kubernetes version of the cluster (the eks module's). A pinned `ami_alias` must be an AMI release built for it: the alias and the version are one decision."
  type        = string

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "ami_alias" {
  description = "EC2NodeClass amiSelectorTerms alias: `al2023@latest` (follows the cluster version), or a dated release pinned in prod so nodes only change when you bump it. A dated release must be listed in `local.ami_releases` (main.tf) with the cluster's `kubernetes_version`: an AMI release only ships the Kubernetes versions that existed when it was built, and Karpenter cannot launch nodes from a release without the cluster's version."
  type        = string
  default     = "al2023@latest"

  validation {
    condition     = can(regex("^(al2023|bottlerocket)@(latest|v[0-9]{8})$", var.ami_alias))
    error_message = "ami_alias must be al2023@latest, bottlerocket@latest or a dated release such as al2023@v20250715."
  }

  validation {
    condition     = endswith(var.ami_alias, "@latest") || contains(lookup(local.ami_releases, split("@", var.ami_alias)[1], []), var.kubernetes_version)
    error_message = "ami_alias names an AMI release that was not built for kubernetes_version (see local.ami_releases in modules/karpenter/main.tf, from the amazon-eks-ami release notes): pick a release that lists the cluster's version, or al2023@latest."
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
    # One model-server replica never spans nodes: instances with more GPUs than a replica uses
    # would idle the rest (a g6.48xlarge has 8). charts/inference `gpus` must not exceed it.
    max_gpus_per_instance = optional(number, 1)
  })
  default = {}

  validation {
    condition     = alltrue([for c in var.ai.capacity_types : contains(["spot", "on-demand"], c)])
    error_message = "ai.capacity_types must be among spot, on-demand."
  }

  validation {
    condition     = var.ai.max_gpus_per_instance >= 1 && var.ai.max_gpus_per_instance <= 8
    error_message = "ai.max_gpus_per_instance must be between 1 and 8."
  }
}

variable "create_spot_service_linked_role" {
  description = "Create the account's EC2 Spot service-linked role (once per account; set false where it already exists, e.g. a second environment in the same account)."
  type        = bool
  default     = true
}

variable "gpu_vcpu_quota" {
  description = "Request this vCPU quota for On-Demand G and VT instances (Service Quotas L-DB2E81BA) so the ai NodePool can launch GPU nodes; null to leave the quota alone. Large increases go to AWS for approval (hours to days)."
  type        = number
  default     = null
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

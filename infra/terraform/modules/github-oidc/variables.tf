variable "create" {
  description = "Whether to create any resource in this module."
  type        = bool
  default     = true
}

variable "env" {
  description = "Environment name (dev, staging, prod): the apply role trusts the GitHub environment of that name."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.env)
    error_message = "env must be one of dev, staging, prod."
  }
}

variable "github_repository" {
  description = "GitHub repository allowed to assume the roles, as `<org>/<repo>`."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be <org>/<repo>."
  }
}

variable "main_branch" {
  description = "Branch whose pushes may push images (and run post-merge plans)."
  type        = string
  default     = "main"
}

variable "release_tag_pattern" {
  description = "Git tag pattern (StringLike) allowed to push release images."
  type        = string
  default     = "v*"
}

variable "create_oidc_provider" {
  description = "Create the GitHub OIDC provider (one per AWS account). Set false and pass oidc_provider_arn when it already exists."
  type        = bool
  default     = true
}

variable "oidc_provider_arn" {
  description = "Existing GitHub OIDC provider ARN (when create_oidc_provider = false)."
  type        = string
  default     = null
}

variable "state_bucket_arn" {
  description = "ARN of the Terraform state bucket."
  type        = string
}

variable "state_key_prefix" {
  description = "Key prefix of this environment's state objects in the state bucket (e.g. `jobfleet/dev/`)."
  type        = string

  validation {
    condition     = endswith(var.state_key_prefix, "/")
    error_message = "state_key_prefix must end with /."
  }
}

variable "ecr_repository_arns" {
  description = "ECR repositories the image push role may push to."
  type        = list(string)
  default     = []
}

variable "apply_managed_policy_arns" {
  description = "Managed policies of the apply role. The default PowerUserAccess excludes IAM; the IAM this stack needs is granted separately, scoped to `<env>-jobfleet-*` names."
  type        = list(string)
  default     = ["arn:aws:iam::aws:policy/PowerUserAccess"]
}

variable "apply_service_linked_role_services" {
  description = "Services (`iam:AWSServiceName`) for which the apply role may create service-linked roles on first use."
  type        = list(string)
  default = [
    "autoscaling.amazonaws.com",
    "eks-nodegroup.amazonaws.com",
    "eks.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "rds.amazonaws.com",
    "spot.amazonaws.com",
  ]

  validation {
    condition     = alltrue([for s in var.apply_service_linked_role_services : endswith(s, ".amazonaws.com")])
    error_message = "apply_service_linked_role_services must be AWS service principals (*.amazonaws.com)."
  }
}

variable "apply_pass_role_services" {
  description = "Services (`iam:PassedToService`) the apply role may pass the stack's `<env>-jobfleet-*` roles to."
  type        = list(string)
  default = [
    "ec2.amazonaws.com",
    "eks.amazonaws.com",
    "monitoring.rds.amazonaws.com",
    "vpc-flow-logs.amazonaws.com",
  ]

  validation {
    condition     = alltrue([for s in var.apply_pass_role_services : endswith(s, ".amazonaws.com")])
    error_message = "apply_pass_role_services must be AWS service principals (*.amazonaws.com)."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary (IAM policy ARN) set on the CI roles (plan, apply, image push); null for none. Caps what the apply role can ever do, whatever managed policies it carries."
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

# One environment of jobfleet. environments/{dev,staging,prod} share this file
# verbatim (tests/infra checks that they instantiate the same modules); they
# differ only in backend.tf and terraform.tfvars.

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = local.tags
  }
}

locals {
  name = "${var.env}-jobfleet"

  tags = merge(var.tags, {
    Project     = "jobfleet"
    Environment = var.env
    ManagedBy   = "terraform"
    Repository  = var.github_repository
  })
}

################################################################################
# Network and cluster
################################################################################

module "vpc" {
  source = "../../modules/vpc"

  env                = var.env
  cluster_name       = local.name
  cidr               = var.vpc_cidr
  azs                = var.azs
  single_nat_gateway = var.single_nat_gateway

  permissions_boundary_arn = var.permissions_boundary_arn
}

module "eks" {
  source = "../../modules/eks"

  env                          = var.env
  kubernetes_version           = var.kubernetes_version
  vpc_id                       = module.vpc.vpc_id
  subnet_ids                   = module.vpc.private_subnets
  control_plane_subnet_ids     = module.vpc.intra_subnets
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  admin_principal_arns         = var.cluster_admin_principal_arns
  system_node_group            = var.system_node_group

  permissions_boundary_arn = var.permissions_boundary_arn
}

module "karpenter" {
  source = "../../modules/karpenter"

  env                = var.env
  cluster_name       = module.eks.cluster_name
  kubernetes_version = var.kubernetes_version
  ami_alias          = var.karpenter_ami_alias
  gpu_vcpu_quota     = var.gpu_vcpu_quota
  general            = var.karpenter_general
  ai                 = var.karpenter_ai

  permissions_boundary_arn = var.permissions_boundary_arn
}

################################################################################
# Data
################################################################################

module "rds" {
  source = "../../modules/rds"

  env                        = var.env
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.database_subnets
  allowed_security_group_ids = [module.eks.node_security_group_id]
  instance_class             = var.rds_instance_class
  allocated_storage          = var.rds_allocated_storage
  max_allocated_storage      = var.rds_max_allocated_storage
  multi_az                   = var.rds_multi_az
  deletion_protection        = var.rds_deletion_protection
  backup_retention_period    = var.rds_backup_retention_period
  max_connections            = var.rds_max_connections

  permissions_boundary_arn = var.permissions_boundary_arn
}

module "sqs" {
  source = "../../modules/sqs"

  env               = var.env
  pools             = var.pools
  kms_master_key_id = var.sqs_kms_key_arn
  alarm_actions     = var.alarm_actions
}

module "s3" {
  source = "../../modules/s3"

  bucket_name          = "${local.name}-media"
  prefixes             = ["uploads/", "thumbnails/", "claim-check/", "ai-results/"]
  expire_prefixes      = { "claim-check/" = var.claim_check_expiry_days }
  access_log_bucket    = var.media_bucket_access_log_bucket
  cors_allowed_origins = var.media_bucket_cors_allowed_origins
  force_destroy        = false
}

module "ecr" {
  source = "../../modules/ecr"

  repository_name = "jobfleet/worker"
}

################################################################################
# Identity: worker pools (IRSA) and CI (GitHub OIDC)
################################################################################

module "worker_iam" {
  source = "../../modules/worker-iam"

  env               = var.env
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_provider     = module.eks.oidc_provider

  # The same pool list as the queues: every pool gets its role, whatever its name.
  pools            = keys(var.pools)
  queues           = module.sqs.queues
  sqs_kms_key_arn  = var.sqs_kms_key_arn
  media_bucket_arn = module.s3.bucket_arn

  ses_identity_arns = var.ses_identity_arns
  sns_topic_arns    = var.sns_topic_arns
  sns_allow_sms     = var.sns_allow_sms

  # Workers get JOBFLEET_DATABASE_URL from a Kubernetes Secret that External
  # Secrets Operator syncs from the SecureString <prefix>/database-url (role
  # below); they get no access to the RDS-managed master secret.
  database_secret_arn          = null
  create_external_secrets_role = true

  permissions_boundary_arn = var.permissions_boundary_arn
}

module "github_oidc" {
  source = "../../modules/github-oidc"

  env                  = var.env
  github_repository    = var.github_repository
  create_oidc_provider = var.create_github_oidc_provider
  oidc_provider_arn    = var.github_oidc_provider_arn
  state_bucket_arn     = "arn:aws:s3:::${var.state_bucket_name}"
  state_key_prefix     = "jobfleet/${var.env}/"
  ecr_repository_arns  = [module.ecr.repository_arn]

  permissions_boundary_arn = var.permissions_boundary_arn
}

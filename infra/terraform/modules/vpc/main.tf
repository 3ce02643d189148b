locals {
  name = "${var.env}-jobfleet"
  azs  = var.azs
}

module "vpc" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (no range); upgrades are reviewed PRs (Dependabot/Renovate understand registry versions, not commit-hash git sources).
  source  = "terraform-aws-modules/vpc/aws"
  version = "6.6.1"

  create_vpc = var.create

  name = local.name
  cidr = var.cidr
  azs  = local.azs

  # /20 per AZ for pods (VPC CNI gives pods VPC addresses), /24 for the rest.
  private_subnets  = [for i, _ in local.azs : cidrsubnet(var.cidr, 4, i)]
  public_subnets   = [for i, _ in local.azs : cidrsubnet(var.cidr, 8, 48 + i)]
  database_subnets = [for i, _ in local.azs : cidrsubnet(var.cidr, 8, 52 + i)]
  intra_subnets    = [for i, _ in local.azs : cidrsubnet(var.cidr, 8, 56 + i)]

  create_database_subnet_group       = true
  create_database_subnet_route_table = true

  enable_nat_gateway     = true
  single_nat_gateway     = var.single_nat_gateway
  one_nat_gateway_per_az = !var.single_nat_gateway

  enable_dns_hostnames = true
  enable_dns_support   = true

  # Lock down the default security group (no rules).
  manage_default_security_group  = true
  default_security_group_ingress = []
  default_security_group_egress  = []

  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_max_aggregation_interval               = 60
  flow_log_cloudwatch_log_group_retention_in_days = var.flow_log_retention_days
  vpc_flow_log_iam_role_name                      = "${local.name}-vpc-flow-log"
  vpc_flow_log_iam_role_use_name_prefix           = false
  vpc_flow_log_permissions_boundary               = var.permissions_boundary_arn

  public_subnet_tags = {
    "kubernetes.io/role/elb" = "1"
  }

  private_subnet_tags = {
    "kubernetes.io/role/internal-elb" = "1"
    "karpenter.sh/discovery"          = var.cluster_name
  }

  tags = var.tags
}

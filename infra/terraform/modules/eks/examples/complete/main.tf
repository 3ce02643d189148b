provider "aws" {
  region = "eu-west-1"
}

module "vpc" {
  source = "../../../vpc"

  env          = "dev"
  cluster_name = "dev-jobfleet"
  cidr         = "10.10.0.0/16"
  azs          = ["eu-west-1a", "eu-west-1b"]
}

module "eks" {
  source = "../.."

  env                      = "dev"
  vpc_id                   = module.vpc.vpc_id
  subnet_ids               = module.vpc.private_subnets
  control_plane_subnet_ids = module.vpc.intra_subnets
  admin_principal_arns     = ["arn:aws:iam::123456789012:role/platform-admin"]
  system_node_group        = { instance_types = ["t3.large"], min_size = 1, desired_size = 2 }
}

output "cluster_name" {
  description = "Cluster name."
  value       = module.eks.cluster_name
}

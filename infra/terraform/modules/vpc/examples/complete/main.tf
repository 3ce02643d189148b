provider "aws" {
  region = "eu-west-1"
}

module "vpc" {
  source = "../.."

  env                = "dev"
  cluster_name       = "dev-jobfleet"
  cidr               = "10.10.0.0/16"
  azs                = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  single_nat_gateway = true
}

output "private_subnets" {
  description = "Private subnets."
  value       = module.vpc.private_subnets
}

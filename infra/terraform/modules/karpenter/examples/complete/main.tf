provider "aws" {
  region = "eu-west-1"
}

module "karpenter" {
  source = "../.."

  env          = "dev"
  cluster_name = "dev-jobfleet"
  ai           = { capacity_types = ["on-demand"], instance_families = ["g6"], gpu_limit = 4 }
}

output "nodepools" {
  description = "NodePool / EC2NodeClass specs for the platform chart."
  value       = module.karpenter.nodepools
}

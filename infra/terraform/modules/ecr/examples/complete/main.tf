provider "aws" {
  region = "eu-west-1"
}

module "ecr" {
  source = "../.."

  repository_name = "jobfleet/worker"
  keep_sha_images = 30
}

output "repository_url" {
  description = "Where CI pushes the worker image."
  value       = module.ecr.repository_url
}

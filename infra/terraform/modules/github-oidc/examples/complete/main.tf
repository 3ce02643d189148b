provider "aws" {
  region = "eu-west-1"
}

module "github_oidc" {
  source = "../.."

  env                 = "staging"
  github_repository   = "example-org/jobfleet"
  state_bucket_arn    = "arn:aws:s3:::jobfleet-tfstate-staging"
  state_key_prefix    = "jobfleet/staging/"
  ecr_repository_arns = ["arn:aws:ecr:eu-west-1:123456789012:repository/jobfleet/worker"]
}

output "roles" {
  description = "CI role ARNs."
  value = {
    plan  = module.github_oidc.plan_role_arn
    apply = module.github_oidc.apply_role_arn
    push  = module.github_oidc.push_role_arn
  }
}

# Example: a Terraform state bucket (see infra/terraform/bootstrap for the real one).
# The S3 backend's native lock file (<key>.tflock) lives next to the state object.
provider "aws" {
  region = "eu-west-1"
}

module "state" {
  source = "../.."

  bucket_name                        = "example-jobfleet-tfstate"
  noncurrent_version_expiration_days = 90
}

output "bucket" {
  description = "State bucket name."
  value       = module.state.bucket_id
}

# Bootstrap: the Terraform state bucket of one account, applied once with local
# state by an administrator (see docs/infra.md). Versioned, encrypted, private,
# TLS-only; old state versions expire after 90 days. Locking uses S3 native
# lock files (use_lockfile), so there is no DynamoDB table.

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = merge(var.tags, { Project = "jobfleet", ManagedBy = "terraform", Component = "tfstate" })
  }
}

module "state_bucket" {
  source = "../modules/s3"

  bucket_name                        = var.state_bucket_name
  noncurrent_version_expiration_days = 90
  force_destroy                      = false
}

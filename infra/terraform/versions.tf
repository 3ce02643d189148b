# Reference pins for every root configuration under infra/terraform
# (environments/*, bootstrap). Each root and each module repeats its own
# `terraform` block (Terraform reads only the files of one directory); this file
# is the single place to read the supported versions from, and
# tests/infra checks that the roots agree with it.
#
# Terraform >= 1.10: the S3 backend's native lock file (`use_lockfile = true`)
# replaces the DynamoDB lock table. AWS provider 6.x: required by
# terraform-aws-modules/eks 21.x and vpc 6.x.
terraform {
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.28.0, < 7.0.0"
    }
  }
}

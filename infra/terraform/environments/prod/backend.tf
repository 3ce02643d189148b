# State in S3 with S3-native locking (<key>.tflock, Terraform >= 1.10); the
# bucket is created by infra/terraform/bootstrap. Override the bucket per
# account at init: terraform init -backend-config="bucket=<name>".
terraform {
  backend "s3" {
    bucket       = "jobfleet-tfstate-prod"
    key          = "jobfleet/prod/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}

# Example: the three pool roles wired to the sqs module, with SES/SNS for notifications.
provider "aws" {
  region = "eu-west-1"
}

module "sqs" {
  source = "../../../sqs"

  env = "dev"
}

module "worker_iam" {
  source = "../.."

  env               = "dev"
  oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"
  oidc_provider     = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"

  queues           = module.sqs.queues
  media_bucket_arn = "arn:aws:s3:::dev-jobfleet-media"

  ses_identity_arns = ["arn:aws:ses:eu-west-1:123456789012:identity/example.com"]
  sns_topic_arns    = ["arn:aws:sns:eu-west-1:123456789012:dev-jobfleet-notifications"]
  sns_allow_sms     = true

  database_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-EXAMPLE"
}

output "role_arns" {
  description = "IRSA role ARNs per pool."
  value       = module.worker_iam.role_arns
}

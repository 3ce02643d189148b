output "oidc_provider_arn" {
  description = "GitHub OIDC provider ARN."
  value       = local.provider_arn
}

output "plan_role_arn" {
  description = "Role for `terraform plan` (read-only + state lock); trusted from pull requests and the main branch."
  value       = try(aws_iam_role.plan[0].arn, null)
}

output "apply_role_arn" {
  description = "Role for `terraform apply`; trusted only from the GitHub environment named like the env."
  value       = try(aws_iam_role.apply[0].arn, null)
}

output "push_role_arn" {
  description = "Role for pushing the worker image to ECR; trusted from the main branch and release tags."
  value       = try(aws_iam_role.push[0].arn, null)
}

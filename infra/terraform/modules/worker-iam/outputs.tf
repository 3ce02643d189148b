output "role_arns" {
  description = "Map of pool name to IRSA role ARN (annotate ServiceAccount jobfleet-<pool> with eks.amazonaws.com/role-arn)."
  value       = { for pool, r in aws_iam_role.this : pool => try(r.arn, null) }
}

output "role_names" {
  description = "Map of pool name to IAM role name."
  value       = { for pool, r in aws_iam_role.this : pool => try(r.name, null) }
}

output "policy_arns" {
  description = "Map of pool name to the ARN of its IAM policy."
  value       = { for pool, p in aws_iam_policy.this : pool => try(p.arn, null) }
}

output "service_accounts" {
  description = "Map of pool name to the Kubernetes service account (namespace/name) each role trusts."
  value       = { for pool in local.pools : pool => "${var.namespace}/jobfleet-${pool}" }
}

output "ssm_parameter_prefix" {
  description = "SSM Parameter Store prefix the pools read from (`<prefix>/<pool>/*`, `<prefix>/shared/*`)."
  value       = local.ssm_prefix
}

output "external_secrets_role_arn" {
  description = "IRSA role of External Secrets Operator (annotate its service account with it)."
  value       = try(aws_iam_role.external_secrets[0].arn, null)
}

output "control_role_arn" {
  description = "IRSA role of `worker control` (charts/fleet `control.roleArn`; by default the chart builds the same ARN)."
  value       = try(aws_iam_role.control[0].arn, null)
}

output "keda_operator_role_arn" {
  description = "IRSA role of the KEDA operator (annotate its service account with it): GetQueueAttributes on the pools' queues."
  value       = try(aws_iam_role.keda_operator[0].arn, null)
}

output "console_role_arn" {
  description = "IRSA role of the web console (charts/fleet `console.roleArn`; by default the chart builds the same ARN)."
  value       = try(aws_iam_role.console[0].arn, null)
}

output "repository_name" {
  description = "Repository name."
  value       = try(aws_ecr_repository.this[0].name, null)
}

output "repository_arn" {
  description = "Repository ARN (the image push role is scoped to it)."
  value       = try(aws_ecr_repository.this[0].arn, null)
}

output "repository_url" {
  description = "Repository URL (<account>.dkr.ecr.<region>.amazonaws.com/<name>)."
  value       = try(aws_ecr_repository.this[0].repository_url, null)
}

output "registry_id" {
  description = "Registry (account) id."
  value       = try(aws_ecr_repository.this[0].registry_id, null)
}

output "state_bucket" {
  description = "State bucket name for environments/<env>/backend.tf."
  value       = module.state_bucket.bucket_id
}

output "state_bucket_arn" {
  description = "State bucket ARN."
  value       = module.state_bucket.bucket_arn
}

output "bucket_id" {
  description = "Bucket name."
  value       = try(aws_s3_bucket.this[0].id, null)
}

output "bucket_arn" {
  description = "Bucket ARN."
  value       = try(aws_s3_bucket.this[0].arn, null)
}

output "bucket_regional_domain_name" {
  description = "Regional domain name of the bucket."
  value       = try(aws_s3_bucket.this[0].bucket_regional_domain_name, null)
}

output "prefix_arns" {
  description = "Map of prefix to the ARN pattern of the objects under it (`<bucket-arn>/<prefix>*`)."
  value       = { for p in var.prefixes : p => try("${aws_s3_bucket.this[0].arn}/${p}*", null) }
}

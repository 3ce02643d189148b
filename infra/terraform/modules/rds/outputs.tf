output "db_instance_identifier" {
  description = "RDS instance identifier."
  value       = try(aws_db_instance.this[0].identifier, null)
}

output "db_instance_arn" {
  description = "RDS instance ARN."
  value       = try(aws_db_instance.this[0].arn, null)
}

output "db_instance_address" {
  description = "Hostname of the instance (PgBouncer's upstream)."
  value       = try(aws_db_instance.this[0].address, null)
}

output "db_instance_port" {
  description = "Postgres port."
  value       = try(aws_db_instance.this[0].port, null)
}

output "db_name" {
  description = "Initial database name."
  value       = try(aws_db_instance.this[0].db_name, null)
}

output "master_user_secret_arn" {
  description = "ARN of the RDS-managed Secrets Manager secret with the master credentials."
  value       = try(aws_db_instance.this[0].master_user_secret[0].secret_arn, null)
}

output "security_group_id" {
  description = "Security group of the database."
  value       = try(aws_security_group.this[0].id, null)
}

output "parameter_group_name" {
  description = "DB parameter group name."
  value       = try(aws_db_parameter_group.this[0].name, null)
}

output "multi_az" {
  description = "Whether the instance is Multi-AZ."
  value       = try(aws_db_instance.this[0].multi_az, null)
}

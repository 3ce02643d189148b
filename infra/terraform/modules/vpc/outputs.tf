output "vpc_id" {
  description = "VPC id."
  value       = try(module.vpc.vpc_id, null)
}

output "vpc_cidr_block" {
  description = "VPC CIDR."
  value       = try(module.vpc.vpc_cidr_block, null)
}

output "azs" {
  description = "Availability zones used."
  value       = local.azs
}

output "private_subnets" {
  description = "Private subnet ids (nodes and pods)."
  value       = try(module.vpc.private_subnets, [])
}

output "public_subnets" {
  description = "Public subnet ids (NAT gateways, internet-facing load balancers)."
  value       = try(module.vpc.public_subnets, [])
}

output "database_subnets" {
  description = "Database subnet ids."
  value       = try(module.vpc.database_subnets, [])
}

output "intra_subnets" {
  description = "Intra subnet ids (EKS control plane ENIs; no internet route)."
  value       = try(module.vpc.intra_subnets, [])
}

output "nat_public_ips" {
  description = "Elastic IPs of the NAT gateways (egress addresses of the workers)."
  value       = try(module.vpc.nat_public_ips, [])
}

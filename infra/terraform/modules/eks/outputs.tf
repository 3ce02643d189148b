output "cluster_name" {
  description = "EKS cluster name."
  value       = try(module.eks.cluster_name, null)
}

output "cluster_arn" {
  description = "EKS cluster ARN."
  value       = try(module.eks.cluster_arn, null)
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = try(module.eks.cluster_endpoint, null)
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA bundle of the API endpoint."
  value       = try(module.eks.cluster_certificate_authority_data, null)
}

output "cluster_version" {
  description = "Kubernetes version."
  value       = try(module.eks.cluster_version, null)
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider (IRSA)."
  value       = try(module.eks.oidc_provider_arn, null)
}

output "oidc_provider" {
  description = "OIDC issuer without scheme (IRSA condition key prefix)."
  value       = try(module.eks.oidc_provider, null)
}

output "node_security_group_id" {
  description = "Shared node security group (system nodes and Karpenter nodes)."
  value       = try(module.eks.node_security_group_id, null)
}

output "cluster_security_group_id" {
  description = "Cluster security group."
  value       = try(module.eks.cluster_security_group_id, null)
}

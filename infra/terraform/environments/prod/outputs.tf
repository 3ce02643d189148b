output "region" {
  description = "AWS region."
  value       = var.region
}

output "vpc_id" {
  description = "VPC id."
  value       = module.vpc.vpc_id
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API endpoint."
  value       = module.eks.cluster_endpoint
}

output "queues" {
  description = "Queues and DLQs per pool."
  value       = module.sqs.queues
}

output "media_bucket" {
  description = "Media bucket name."
  value       = module.s3.bucket_id
}

output "ecr_repository_url" {
  description = "Worker image repository."
  value       = module.ecr.repository_url
}

output "database_address" {
  description = "Postgres host (PgBouncer upstream)."
  value       = module.rds.db_instance_address
}

output "database_secret_arn" {
  description = "Secrets Manager secret with the database credentials (RDS-managed)."
  value       = module.rds.master_user_secret_arn
}

output "worker_role_arns" {
  description = "IRSA role per pool (ServiceAccount jobfleet-<pool> annotation)."
  value       = module.worker_iam.role_arns
}

output "external_secrets_role_arn" {
  description = "IRSA role for External Secrets Operator (ClusterSecretStore aws-parameter-store)."
  value       = module.worker_iam.external_secrets_role_arn
}

output "ssm_parameter_prefix" {
  description = "SSM prefix of the environment's SecureStrings (<prefix>/database-url, <prefix>/ai/inference-api-key)."
  value       = module.worker_iam.ssm_parameter_prefix
}

output "nodepools" {
  description = "Karpenter NodePool / EC2NodeClass specs (general, ai) for the platform chart."
  value       = module.karpenter.nodepools
}

output "platform_values" {
  description = "Values for charts/platform (Karpenter NodePools/EC2NodeClasses of this cluster)."
  value       = module.karpenter.platform_values
}

output "karpenter" {
  description = "Karpenter controller settings for its Helm release."
  value = {
    controller_role_arn = module.karpenter.controller_role_arn
    node_iam_role_name  = module.karpenter.node_iam_role_name
    interruption_queue  = module.karpenter.interruption_queue_name
  }
}

output "worker_values" {
  description = "Per-pool values for charts/worker (one release per pool)."
  value = {
    for pool, q in module.sqs.queues : pool => {
      serviceAccount = { name = "jobfleet-${pool}", roleArn = try(module.worker_iam.role_arns[pool], null) }
      env = {
        JOBFLEET_POOL = pool
        JOBFLEET_ENV  = var.env
        AWS_REGION    = var.region
      }
      queueUrl    = q.url
      dlqUrl      = q.dlq_url
      mediaBucket = module.s3.bucket_id
      # Every pool runs on general; the ai NodePool holds only the model server (charts/inference).
      nodePool = "general"
    }
  }
}

output "ci_role_arns" {
  description = "GitHub Actions roles (set as repository/environment variables)."
  value = {
    plan  = module.github_oidc.plan_role_arn
    apply = module.github_oidc.apply_role_arn
    push  = module.github_oidc.push_role_arn
  }
}

output "control_role_arn" {
  description = "IRSA role of worker control (charts/fleet)."
  value       = module.worker_iam.control_role_arn
}

output "keda_operator_role_arn" {
  description = "IRSA role for the KEDA operator's service account (the worker chart's aws-sqs-queue scaler reads queue depth with it)."
  value       = module.worker_iam.keda_operator_role_arn
}

output "argocd_cluster_annotations" {
  description = "Annotations of this cluster's Argo CD cluster secret, read by deploy/argocd (applicationset.yaml, addons.yaml); infra writes them with the secret."
  value = {
    "jobfleet.io/image-repository"             = module.ecr.repository_url
    "jobfleet.io/aws-region"                   = var.region
    "jobfleet.io/cluster-name"                 = module.eks.cluster_name
    "jobfleet.io/karpenter-interruption-queue" = module.karpenter.interruption_queue_name
    "jobfleet.io/keda-operator-role-arn"       = module.worker_iam.keda_operator_role_arn
    "jobfleet.io/external-secrets-role-arn"    = module.worker_iam.external_secrets_role_arn
  }
}

output "console_role_arn" {
  description = "IRSA role of the web console (charts/fleet)."
  value       = module.worker_iam.console_role_arn
}

output "nodepools" {
  description = "NodePool (karpenter.sh/v1) and EC2NodeClass (karpenter.k8s.aws/v1) specs per pool (`general`, `ai`), for the platform chart: { <name> = { node_pool = <spec>, ec2_node_class = <spec> } }."
  value = {
    for name, spec in local.node_pools : name => {
      node_pool      = spec
      ec2_node_class = local.ec2_node_classes[name]
    }
  }
}

output "nodepools_values_yaml" {
  description = "The same specs as Helm values (`karpenter.nodePools` / `karpenter.ec2NodeClasses`)."
  value = yamlencode({
    karpenter = {
      nodePools      = local.node_pools
      ec2NodeClasses = local.ec2_node_classes
    }
  })
}

output "platform_values" {
  description = "Values for charts/platform (clusterName, nodeRole, amiAlias, general, ai), rendered into the same NodePools/EC2NodeClasses as `nodepools`."
  value = {
    clusterName       = var.cluster_name
    nodeRole          = try(module.karpenter.node_iam_role_name, null)
    amiAlias          = var.ami_alias
    kubernetesVersion = var.kubernetes_version
    tags              = var.tags
    general = {
      enabled               = true
      capacityTypes         = var.general.capacity_types
      instanceCategories    = var.general.instance_categories
      minGeneration         = var.general.generation_gt
      architectures         = ["amd64"]
      volumeSize            = "${var.general.volume_size_gib}Gi"
      limits                = local.node_pools.general.limits
      consolidationPolicy   = local.node_pools.general.disruption.consolidationPolicy
      consolidateAfter      = var.general.consolidate_after
      expireAfter           = var.general.expire_after
      disruptionBudgetNodes = var.general.disruption_budget
      weight                = local.node_pools.general.weight
    }
    ai = {
      enabled                = true
      capacityTypes          = var.ai.capacity_types
      instanceFamilies       = var.ai.instance_families
      architectures          = ["amd64"]
      volumeSize             = "${var.ai.volume_size_gib}Gi"
      limits                 = local.node_pools.ai.limits
      consolidationPolicy    = local.node_pools.ai.disruption.consolidationPolicy
      consolidateAfter       = var.ai.consolidate_after
      expireAfter            = var.ai.expire_after
      budgets                = local.node_pools.ai.disruption.budgets
      isolationValue         = "ai"
      weight                 = local.node_pools.ai.weight
      terminationGracePeriod = var.ai.termination_grace
      maxGpusPerInstance     = var.ai.max_gpus_per_instance
    }
  }
}

output "controller_role_arn" {
  description = "IAM role of the Karpenter controller (Pod Identity)."
  value       = try(module.karpenter.iam_role_arn, null)
}

output "node_iam_role_name" {
  description = "IAM role of Karpenter-launched nodes (EC2NodeClass spec.role)."
  value       = try(module.karpenter.node_iam_role_name, null)
}

output "node_iam_role_arn" {
  description = "ARN of the Karpenter node role."
  value       = try(module.karpenter.node_iam_role_arn, null)
}

output "interruption_queue_name" {
  description = "SQS interruption queue (Helm value settings.interruptionQueue)."
  value       = try(module.karpenter.queue_name, null)
}

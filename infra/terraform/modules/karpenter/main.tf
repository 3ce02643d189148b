data "aws_partition" "current" {}

locals {
  pool_label     = "jobfleet.io/pool"
  nodepool_label = "jobfleet.io/nodepool"

  node_class_common = {
    role                       = try(module.karpenter.node_iam_role_name, null)
    amiSelectorTerms           = [{ alias = var.ami_alias }]
    subnetSelectorTerms        = [{ tags = { "karpenter.sh/discovery" = var.cluster_name } }]
    securityGroupSelectorTerms = [{ tags = { "karpenter.sh/discovery" = var.cluster_name } }]
    metadataOptions = {
      httpEndpoint            = "enabled"
      httpProtocolIPv6        = "disabled"
      httpPutResponseHopLimit = 1
      httpTokens              = "required"
    }
  }
}

################################################################################
# AWS side: controller role (Pod Identity), node role + access entry,
# interruption queue (SQS) fed by EventBridge rules.
################################################################################

module "karpenter" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (no range); upgrades are reviewed PRs (Dependabot/Renovate understand registry versions, not commit-hash git sources).
  source  = "terraform-aws-modules/eks/aws//modules/karpenter"
  version = "21.15.1"

  create = var.create

  cluster_name = var.cluster_name

  namespace       = var.namespace
  service_account = var.service_account

  iam_role_name                     = "${var.cluster_name}-karpenter-controller"
  iam_role_use_name_prefix          = false
  iam_role_permissions_boundary_arn = var.permissions_boundary_arn
  iam_policy_name                   = "${var.cluster_name}-karpenter-controller"
  iam_policy_use_name_prefix        = false

  node_iam_role_name                 = "${var.cluster_name}-karpenter-node"
  node_iam_role_use_name_prefix      = false
  node_iam_role_permissions_boundary = var.permissions_boundary_arn
  node_iam_role_additional_policies = merge(
    { AmazonSSMManagedInstanceCore = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore" },
    var.node_iam_role_additional_policies,
  )

  queue_name = "${var.cluster_name}-karpenter-interruption"

  tags = var.tags
}

################################################################################
# Kubernetes side, as data: NodePool / EC2NodeClass specs rendered by the
# platform chart (karpenter.sh/v1, karpenter.k8s.aws/v1).
################################################################################

locals {
  ec2_node_classes = {
    general = merge(local.node_class_common, {
      blockDeviceMappings = [{
        deviceName = "/dev/xvda"
        ebs = {
          volumeSize          = "${var.general.volume_size_gib}Gi"
          volumeType          = "gp3"
          encrypted           = true
          deleteOnTermination = true
        }
      }]
      tags = merge(var.tags, { (local.pool_label) = "general", "jobfleet.io/env" = var.env })
    })

    ai = merge(local.node_class_common, {
      blockDeviceMappings = [{
        deviceName = "/dev/xvda"
        ebs = {
          volumeSize          = "${var.ai.volume_size_gib}Gi"
          volumeType          = "gp3"
          encrypted           = true
          deleteOnTermination = true
        }
      }]
      tags = merge(var.tags, { (local.pool_label) = "ai", "jobfleet.io/env" = var.env })
    })
  }

  node_pools = {
    general = {
      weight = 10
      template = {
        metadata = { labels = { (local.pool_label) = "general", (local.nodepool_label) = "general" } }
        spec = {
          nodeClassRef = { group = "karpenter.k8s.aws", kind = "EC2NodeClass", name = "general" }
          expireAfter  = var.general.expire_after
          requirements = [
            { key = "karpenter.sh/capacity-type", operator = "In", values = var.general.capacity_types },
            { key = "kubernetes.io/arch", operator = "In", values = ["amd64"] },
            { key = "kubernetes.io/os", operator = "In", values = ["linux"] },
            { key = "karpenter.k8s.aws/instance-category", operator = "In", values = var.general.instance_categories },
            { key = "karpenter.k8s.aws/instance-generation", operator = "Gt", values = [tostring(var.general.generation_gt)] },
          ]
        }
      }
      limits = {
        cpu    = tostring(var.general.cpu_limit)
        memory = "${var.general.memory_limit_gib}Gi"
      }
      disruption = {
        consolidationPolicy = "WhenEmptyOrUnderutilized"
        consolidateAfter    = var.general.consolidate_after
        budgets             = [{ nodes = var.general.disruption_budget }]
      }
    }

    ai = {
      weight = 50
      template = {
        metadata = { labels = { (local.pool_label) = "ai", (local.nodepool_label) = "ai" } }
        spec = {
          nodeClassRef = { group = "karpenter.k8s.aws", kind = "EC2NodeClass", name = "ai" }
          taints       = [{ key = local.pool_label, value = "ai", effect = "NoSchedule" }]
          expireAfter  = var.ai.expire_after
          # Running inference gets this long to finish once a node is being drained.
          terminationGracePeriod = var.ai.termination_grace
          requirements = [
            { key = "karpenter.sh/capacity-type", operator = "In", values = var.ai.capacity_types },
            { key = "kubernetes.io/arch", operator = "In", values = ["amd64"] },
            { key = "kubernetes.io/os", operator = "In", values = ["linux"] },
            { key = "karpenter.k8s.aws/instance-family", operator = "In", values = var.ai.instance_families },
          ]
        }
      }
      limits = {
        cpu              = tostring(var.ai.cpu_limit)
        memory           = "${var.ai.memory_limit_gib}Gi"
        "nvidia.com/gpu" = tostring(var.ai.gpu_limit)
      }
      # Protect running inference: an occupied node is never consolidated
      # (WhenEmpty, and a zero budget for Underutilized); empty and drifted
      # nodes go one at a time, drained within terminationGracePeriod.
      disruption = {
        consolidationPolicy = "WhenEmpty"
        consolidateAfter    = var.ai.consolidate_after
        budgets = [
          { nodes = "0", reasons = ["Underutilized"] },
          { nodes = "1", reasons = ["Empty", "Drifted"] },
        ]
      }
    }
  }
}

data "aws_partition" "current" {}

locals {
  pool_label     = "jobfleet.io/pool"
  nodepool_label = "jobfleet.io/nodepool"

  # EKS-optimised AMI releases (amazon-eks-ami release notes) a pinned `ami_alias` may name, with the
  # Kubernetes versions each one shipped. A release only contains the versions that existed when it
  # was built: al2023@v20250505 predates EKS 1.33. Add a release here before pinning it;
  # tests/infra/test_sync.py checks every environment's (ami_alias, kubernetes_version) against it.
  ami_releases = {
    "v20250505" = ["1.29", "1.30", "1.31", "1.32"]
    "v20250715" = ["1.30", "1.31", "1.32", "1.33"]
  }

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
            { key = "karpenter.k8s.aws/instance-gpu-count", operator = "Lt", values = [tostring(var.ai.max_gpus_per_instance + 1)] },
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

################################################################################
# Account prerequisites of the NodePools, automated instead of documented:
# the EC2 Spot service-linked role (Karpenter's first spot launch fails without
# it in a fresh account) and the vCPU quota of G instances (0 or a few vCPUs in
# a new account: the ai NodePool could launch nothing).
################################################################################

resource "aws_iam_service_linked_role" "spot" {
  count = var.create && var.create_spot_service_linked_role ? 1 : 0

  aws_service_name = "spot.amazonaws.com"
  description      = "EC2 Spot (Karpenter spot capacity of the general NodePool)"
}

resource "aws_servicequotas_service_quota" "gpu_vcpus" {
  count = var.create && var.gpu_vcpu_quota != null ? 1 : 0

  # "Running On-Demand G and VT instances" (vCPUs): the g5/g6 instances of the ai NodePool.
  service_code = "ec2"
  quota_code   = "L-DB2E81BA"
  value        = var.gpu_vcpu_quota
}

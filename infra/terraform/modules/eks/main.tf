data "aws_partition" "current" {}

locals {
  name = "${var.env}-jobfleet"
}

module "eks" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (no range); upgrades are reviewed PRs (Dependabot/Renovate understand registry versions, not commit-hash git sources).
  source  = "terraform-aws-modules/eks/aws"
  version = "21.15.1"

  create = var.create

  name               = local.name
  kubernetes_version = var.kubernetes_version

  endpoint_private_access      = true
  endpoint_public_access       = length(var.endpoint_public_access_cidrs) > 0
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs

  # Access entries, not the aws-auth ConfigMap.
  authentication_mode                      = "API"
  enable_cluster_creator_admin_permissions = false
  access_entries = {
    for i, arn in var.admin_principal_arns : "admin-${i}" => {
      principal_arn = arn
      policy_associations = {
        admin = {
          policy_arn   = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
          access_scope = { type = "cluster" }
        }
      }
    }
  }

  # IRSA (worker pools) + Pod Identity (Karpenter controller).
  enable_irsa = true

  iam_role_permissions_boundary = var.permissions_boundary_arn

  addons = {
    # enableNetworkPolicy: the VPC CNI's network policy agent enforces the charts' NetworkPolicies
    # (without it they are accepted and ignored).
    vpc-cni = {
      before_compute       = true
      configuration_values = jsonencode({ enableNetworkPolicy = "true" })
    }
    eks-pod-identity-agent = { before_compute = true }
    kube-proxy             = {}
    coredns                = {}
    # EBS volumes for Prometheus (kube-prometheus-stack storageSpec, StorageClass gp3 of charts/platform),
    # so its retention survives a pod move.
    aws-ebs-csi-driver = {
      pod_identity_association = [{
        role_arn        = try(aws_iam_role.ebs_csi[0].arn, null)
        service_account = "ebs-csi-controller-sa"
      }]
    }
  }

  vpc_id                   = var.vpc_id
  subnet_ids               = var.subnet_ids
  control_plane_subnet_ids = var.control_plane_subnet_ids

  enabled_log_types                      = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  cloudwatch_log_group_retention_in_days = var.log_retention_days

  eks_managed_node_groups = {
    system = {
      name            = "${local.name}-system"
      use_name_prefix = false

      ami_type       = "AL2023_x86_64_STANDARD"
      capacity_type  = "ON_DEMAND"
      instance_types = var.system_node_group.instance_types
      min_size       = var.system_node_group.min_size
      max_size       = var.system_node_group.max_size
      desired_size   = var.system_node_group.desired_size

      iam_role_name                 = "${local.name}-system-node"
      iam_role_use_name_prefix      = false
      iam_role_permissions_boundary = var.permissions_boundary_arn

      block_device_mappings = {
        root = {
          device_name = "/dev/xvda"
          ebs = {
            volume_size           = var.system_node_group.disk_size_gib
            volume_type           = "gp3"
            encrypted             = true
            delete_on_termination = true
          }
        }
      }

      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }

      labels = {
        "jobfleet.io/role"        = "system"
        "karpenter.sh/controller" = "true"
      }

      # The add-ons' home: only pods tolerating CriticalAddonsOnly (Karpenter, CoreDNS, KEDA, External
      # Secrets, kube-prometheus-stack, Reloader: deploy/argocd/addons.yaml) land here; worker pools
      # never do, and the add-ons never ride on spot `general` nodes.
      taints = {
        addons = {
          key    = "CriticalAddonsOnly"
          value  = "true"
          effect = "NO_SCHEDULE"
        }
      }
    }
  }

  # Karpenter discovers the node security group by this tag.
  node_security_group_tags = {
    "karpenter.sh/discovery" = local.name
  }

  tags = var.tags
}

################################################################################
# EBS CSI driver: controller role through EKS Pod Identity
################################################################################

data "aws_iam_policy_document" "ebs_csi_trust" {
  statement {
    sid     = "EksPodIdentity"
    effect  = "Allow"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ebs_csi" {
  count = var.create ? 1 : 0

  name                 = "${local.name}-ebs-csi"
  description          = "EBS CSI controller (${var.env}); EKS Pod Identity for kube-system/ebs-csi-controller-sa"
  assume_role_policy   = data.aws_iam_policy_document.ebs_csi_trust.json
  permissions_boundary = var.permissions_boundary_arn

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  count = var.create ? 1 : 0

  role       = aws_iam_role.ebs_csi[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  create     = var.create
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  prefix     = "${var.env}-jobfleet"

  issuer       = "token.actions.githubusercontent.com"
  provider_arn = var.create_oidc_provider ? try(aws_iam_openid_connect_provider.github[0].arn, null) : var.oidc_provider_arn

  repo = "repo:${var.github_repository}"
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.create && var.create_oidc_provider ? 1 : 0

  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]

  tags = var.tags
}

################################################################################
# plan: read-only, from pull requests and the main branch
################################################################################

data "aws_iam_policy_document" "plan_trust" {
  count = local.create ? 1 : 0

  statement {
    sid     = "GitHubActionsPlan"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values = [
        "${local.repo}:pull_request",
        "${local.repo}:ref:refs/heads/${var.main_branch}",
      ]
    }
  }
}

resource "aws_iam_role" "plan" {
  count = local.create ? 1 : 0

  name                 = "${local.prefix}-gha-plan"
  description          = "GitHub Actions: terraform plan (read-only) for ${var.github_repository}"
  assume_role_policy   = data.aws_iam_policy_document.plan_trust[0].json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "plan_read_only" {
  count = local.create ? 1 : 0

  role       = aws_iam_role.plan[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

# plan takes the state lock (a <key>.tflock object next to the state).
data "aws_iam_policy_document" "state_lock" {
  count = local.create ? 1 : 0

  statement {
    sid       = "ListStatePrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.state_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.state_key_prefix}*"]
    }
  }

  statement {
    sid       = "ReadState"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${var.state_bucket_arn}/${var.state_key_prefix}*"]
  }

  statement {
    sid       = "LockState"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.state_bucket_arn}/${var.state_key_prefix}*.tflock"]
  }
}

resource "aws_iam_role_policy" "plan_state" {
  count = local.create ? 1 : 0

  name   = "terraform-state-lock"
  role   = aws_iam_role.plan[0].id
  policy = data.aws_iam_policy_document.state_lock[0].json
}

# Same-repository pull requests can assume the plan role, and a pull request
# can change the workflow it runs: whoever can push a branch holds this role.
# ReadOnlyAccess also reads data, which `terraform plan` never needs (it reads
# resource metadata and its own state), so data-plane reads are denied here.
data "aws_iam_policy_document" "plan_deny_data" {
  count = local.create ? 1 : 0

  statement {
    sid           = "DenyObjectReadsOutsideState"
    effect        = "Deny"
    actions       = ["s3:GetObject", "s3:GetObjectVersion"]
    not_resources = ["${var.state_bucket_arn}/${var.state_key_prefix}*"]
  }

  # Account parameters hold the SecureStrings (database URL, API keys); public
  # AWS parameters (/aws/service/..., e.g. EKS AMI ids) have no account id in
  # their ARN and stay readable.
  statement {
    sid    = "DenyAccountParameters"
    effect = "Deny"
    actions = [
      "ssm:GetParameter",
      "ssm:GetParameterHistory",
      "ssm:GetParameters",
      "ssm:GetParametersByPath",
    ]
    resources = ["arn:${local.partition}:ssm:*:${local.account_id}:parameter/*"]
  }

  statement {
    sid    = "DenyDataPlaneReads"
    effect = "Deny"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:GetItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "ec2:GetPasswordData",
      "logs:FilterLogEvents",
      "logs:GetLogEvents",
      "logs:StartQuery",
      "rds:DownloadCompleteDBLogFile",
      "rds:DownloadDBLogFilePortion",
      "secretsmanager:GetSecretValue",
      "sqs:ReceiveMessage",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "plan_deny_data" {
  count = local.create ? 1 : 0

  name   = "deny-data-plane-reads"
  role   = aws_iam_role.plan[0].id
  policy = data.aws_iam_policy_document.plan_deny_data[0].json
}

################################################################################
# apply: only from the GitHub environment `<env>` (required reviewers there)
################################################################################

data "aws_iam_policy_document" "apply_trust" {
  count = local.create ? 1 : 0

  statement {
    sid     = "GitHubActionsApply"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["${local.repo}:environment:${var.env}"]
    }
  }
}

resource "aws_iam_role" "apply" {
  count = local.create ? 1 : 0

  name                 = "${local.prefix}-gha-apply"
  description          = "GitHub Actions: terraform apply of ${var.env} for ${var.github_repository} (environment ${var.env})"
  assume_role_policy   = data.aws_iam_policy_document.apply_trust[0].json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 7200

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "apply_managed" {
  for_each = local.create ? toset(var.apply_managed_policy_arns) : toset([])

  role       = aws_iam_role.apply[0].name
  policy_arn = each.value
}

data "aws_iam_policy_document" "apply_iam" {
  count = local.create ? 1 : 0

  source_policy_documents = [data.aws_iam_policy_document.state_lock[0].json]

  statement {
    sid       = "WriteState"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${var.state_bucket_arn}/${var.state_key_prefix}*"]
  }

  statement {
    sid    = "ManageStackRolesAndPolicies"
    effect = "Allow"
    actions = [
      "iam:AttachRolePolicy",
      "iam:CreatePolicy",
      "iam:CreatePolicyVersion",
      "iam:CreateRole",
      "iam:DeletePolicy",
      "iam:DeletePolicyVersion",
      "iam:DeleteRole",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:GetPolicy",
      "iam:GetPolicyVersion",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole",
      "iam:ListPolicyVersions",
      "iam:ListRolePolicies",
      "iam:PutRolePolicy",
      "iam:TagPolicy",
      "iam:TagRole",
      "iam:UntagPolicy",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
    ]
    resources = [
      "arn:${local.partition}:iam::${local.account_id}:role/${local.prefix}-*",
      "arn:${local.partition}:iam::${local.account_id}:policy/${local.prefix}-*",
    ]
  }

  statement {
    sid    = "ManageInstanceProfiles"
    effect = "Allow"
    actions = [
      "iam:AddRoleToInstanceProfile",
      "iam:CreateInstanceProfile",
      "iam:DeleteInstanceProfile",
      "iam:GetInstanceProfile",
      "iam:RemoveRoleFromInstanceProfile",
      "iam:TagInstanceProfile",
    ]
    # Karpenter and EKS create their nodes' instance profiles themselves; the
    # stack only ever names its own.
    resources = ["arn:${local.partition}:iam::${local.account_id}:instance-profile/${local.prefix}-*"]
  }

  statement {
    sid    = "ManageOidcProviders"
    effect = "Allow"
    actions = [
      "iam:AddClientIDToOpenIDConnectProvider",
      "iam:CreateOpenIDConnectProvider",
      "iam:DeleteOpenIDConnectProvider",
      "iam:GetOpenIDConnectProvider",
      "iam:RemoveClientIDFromOpenIDConnectProvider",
      "iam:TagOpenIDConnectProvider",
      "iam:UntagOpenIDConnectProvider",
      "iam:UpdateOpenIDConnectProviderThumbprint",
    ]
    # The cluster's IRSA issuer (EKS, this region) and GitHub's; no other provider.
    resources = [
      "arn:${local.partition}:iam::${local.account_id}:oidc-provider/oidc.eks.${local.region}.amazonaws.com/id/*",
      "arn:${local.partition}:iam::${local.account_id}:oidc-provider/${local.issuer}",
    ]
  }

  statement {
    sid       = "CreateServiceLinkedRoles"
    effect    = "Allow"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/*"]

    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = var.apply_service_linked_role_services
    }
  }

  # The stack's roles are passed only to the services that run them (EKS
  # cluster and node groups, EC2 nodes, RDS Enhanced Monitoring, VPC flow logs).
  statement {
    sid       = "PassStackRolesToTheirServices"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${local.prefix}-*"]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = var.apply_pass_role_services
    }
  }

  # The CI roles are the trust anchors of the environment: the apply role must
  # not widen its own (or the plan/push roles') permissions or trust. Changes
  # to them are applied by an administrator, like the first apply.
  statement {
    sid    = "DenyCiRoleChanges"
    effect = "Deny"
    actions = [
      "iam:AttachRolePolicy",
      "iam:DeleteRole",
      "iam:DeleteRolePermissionsBoundary",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:PutRolePermissionsBoundary",
      "iam:PutRolePolicy",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
    ]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${local.prefix}-gha-*"]
  }

  # No role of the stack needs administrator-level managed policies.
  statement {
    sid       = "DenyAdminPolicyAttachment"
    effect    = "Deny"
    actions   = ["iam:AttachRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/*"]

    condition {
      test     = "ArnLike"
      variable = "iam:PolicyARN"
      values = [
        "arn:${local.partition}:iam::aws:policy/AdministratorAccess",
        "arn:${local.partition}:iam::aws:policy/IAMFullAccess",
        "arn:${local.partition}:iam::aws:policy/PowerUserAccess",
      ]
    }
  }

  # A boundary, once set on a role, stays.
  statement {
    sid       = "DenyBoundaryRemoval"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/*"]
  }

  # With a boundary configured, every role the apply role creates (or re-bounds)
  # must carry exactly that boundary: whatever policies it then attaches, no role
  # of the stack (nor the apply role itself) can exceed the boundary. Every module
  # of the stack sets it on its roles (environments pass permissions_boundary_arn).
  dynamic "statement" {
    for_each = var.permissions_boundary_arn == null ? [] : [var.permissions_boundary_arn]

    content {
      sid       = "DenyRolesWithoutTheBoundary"
      effect    = "Deny"
      actions   = ["iam:CreateRole", "iam:PutRolePermissionsBoundary"]
      resources = ["arn:${local.partition}:iam::${local.account_id}:role/*"]

      condition {
        test     = "StringNotEquals"
        variable = "iam:PermissionsBoundary"
        values   = [statement.value]
      }
    }
  }

  # ... and the boundary policy itself is not the apply role's to change.
  dynamic "statement" {
    for_each = var.permissions_boundary_arn == null ? [] : [var.permissions_boundary_arn]

    content {
      sid    = "DenyBoundaryPolicyChanges"
      effect = "Deny"
      actions = [
        "iam:CreatePolicyVersion",
        "iam:DeletePolicy",
        "iam:DeletePolicyVersion",
        "iam:SetDefaultPolicyVersion",
      ]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "apply_iam" {
  count = local.create ? 1 : 0

  name   = "terraform-apply-iam"
  role   = aws_iam_role.apply[0].id
  policy = data.aws_iam_policy_document.apply_iam[0].json
}

################################################################################
# image push: ECR only, from main and release tags
################################################################################

data "aws_iam_policy_document" "push_trust" {
  count = local.create ? 1 : 0

  statement {
    sid     = "GitHubActionsImagePush"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "${local.issuer}:sub"
      values = [
        "${local.repo}:ref:refs/heads/${var.main_branch}",
        "${local.repo}:ref:refs/tags/${var.release_tag_pattern}",
      ]
    }
  }
}

resource "aws_iam_role" "push" {
  count = local.create ? 1 : 0

  name                 = "${local.prefix}-gha-ecr-push"
  description          = "GitHub Actions: push the worker image to ECR for ${var.github_repository}"
  assume_role_policy   = data.aws_iam_policy_document.push_trust[0].json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600

  tags = var.tags
}

# GetAuthorizationToken has no resource-level permissions (Resource "*" is the
# only accepted form); kept in its own document, scoped to that single action.
data "aws_iam_policy_document" "ecr_login" {
  count = local.create ? 1 : 0

  statement {
    sid       = "EcrLogin"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "push" {
  count = local.create ? 1 : 0

  source_policy_documents = [data.aws_iam_policy_document.ecr_login[0].json]

  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) == 0 ? [] : [var.ecr_repository_arns]

    content {
      sid    = "PushWorkerImage"
      effect = "Allow"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:DescribeImages",
        "ecr:DescribeRepositories",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
      ]
      resources = statement.value
    }
  }
}

resource "aws_iam_role_policy" "push" {
  count = local.create ? 1 : 0

  name   = "ecr-push"
  role   = aws_iam_role.push[0].id
  policy = data.aws_iam_policy_document.push[0].json
}

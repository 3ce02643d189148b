data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  pools = var.create ? var.pools : toset([])

  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id

  ssm_prefix = coalesce(var.ssm_parameter_prefix, "/${var.env}/jobfleet")
  ssm_arn    = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.ssm_prefix}"

  bucket = var.media_bucket_arn
}

# Which queues each grant covers (provider-free, tested offline: modules/grants/tests).
module "grants" {
  source = "./modules/grants"

  pools  = local.pools
  queues = var.queues
}

################################################################################
# Trust (IRSA): one document per role, each assumable only by its own
# `system:serviceaccount:<namespace>:<name>` through the cluster's OIDC
# provider. Pool roles, External Secrets Operator and the KEDA operator share
# this single data source, so a trust change cannot drift between them.
################################################################################

locals {
  eso_sa     = split("/", var.external_secrets_service_account)
  keda_sa    = split("/", var.keda_service_account)
  control_sa = split("/", var.control_service_account)
  console_sa = split("/", var.console_service_account)
  eso        = var.create && var.create_external_secrets_role ? 1 : 0
  keda       = var.create && var.create_keda_operator_role ? 1 : 0
  control    = var.create && var.create_control_role ? 1 : 0
  console    = var.create && var.create_console_role ? 1 : 0

  # role key => service account subject it trusts. Pool keys are the pool
  # names; the operators use keys that can never be a pool name.
  irsa_subjects = merge(
    { for pool in local.pools : pool => "system:serviceaccount:${var.namespace}:jobfleet-${pool}" },
    { for k, sa in {
      "external-secrets" = local.eso == 1 ? "system:serviceaccount:${local.eso_sa[0]}:${local.eso_sa[1]}" : null
      "keda-operator"    = local.keda == 1 ? "system:serviceaccount:${local.keda_sa[0]}:${local.keda_sa[1]}" : null
      "control"          = local.control == 1 ? "system:serviceaccount:${local.control_sa[0]}:${local.control_sa[1]}" : null
      "console"          = local.console == 1 ? "system:serviceaccount:${local.console_sa[0]}:${local.console_sa[1]}" : null
    } : k => sa if sa != null },
  )
}

data "aws_iam_policy_document" "assume" {
  for_each = local.irsa_subjects

  statement {
    sid     = "IRSA"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_provider}:sub"
      values   = [each.value]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_provider}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

################################################################################
# Permissions every pool has (on its own resources only)
################################################################################

data "aws_iam_policy_document" "common" {
  for_each = local.pools

  # Long-poll, ack (batch delete), heartbeat/backoff (visibility), lag metrics, on every queue of
  # the pool (main and priority queues). DeleteMessageBatch / ChangeMessageVisibilityBatch are
  # authorised by these actions.
  statement {
    sid    = "ConsumeOwnQueue"
    effect = "Allow"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = module.grants.consume_arns[each.key]
  }

  # The worker dead-letters permanent failures itself (SendMessage with error
  # attributes, then deletes the original) and reports DLQ depth.
  statement {
    sid    = "DeadLetterToOwnDlq"
    effect = "Allow"
    actions = [
      "sqs:SendMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = module.grants.dead_letter_arns[each.key]
  }

  # Payloads too large for SQS arrive as s3://<bucket>/claim-check/... references.
  statement {
    sid       = "ReadClaimChecks"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket}/claim-check/*"]
  }

  statement {
    sid     = "ReadOwnParameters"
    effect  = "Allow"
    actions = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    resources = [
      "${local.ssm_arn}/${each.key}",
      "${local.ssm_arn}/${each.key}/*",
      "${local.ssm_arn}/shared/*",
    ]
  }

  dynamic "statement" {
    for_each = var.database_secret_arn == null ? [] : [var.database_secret_arn]

    content {
      sid       = "ReadDatabaseSecret"
      effect    = "Allow"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = length(var.secrets_kms_key_arns) == 0 ? [] : [var.secrets_kms_key_arns]

    content {
      sid       = "DecryptSecretsViaService"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = statement.value

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values = [
          "ssm.${local.region}.amazonaws.com",
          "secretsmanager.${local.region}.amazonaws.com",
        ]
      }
    }
  }

  dynamic "statement" {
    for_each = var.sqs_kms_key_arn == null ? [] : [var.sqs_kms_key_arn]

    content {
      sid       = "UseQueueKey"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.s3_kms_key_arn == null ? [] : [var.s3_kms_key_arn]

    content {
      sid       = "UseBucketKey"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

################################################################################
# media: read uploads/, write thumbnails/, read+delete claim-check/
################################################################################

data "aws_iam_policy_document" "media" {
  count = contains(local.pools, "media") ? 1 : 0

  source_policy_documents = [data.aws_iam_policy_document.common["media"].json]

  statement {
    sid       = "ReadUploads"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket}/uploads/*"]
  }

  statement {
    sid       = "WriteThumbnails"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket}/thumbnails/*"]
  }

  # The media pool owns the claim checks of its jobs and removes them once done.
  statement {
    sid       = "DeleteClaimChecks"
    effect    = "Allow"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.bucket}/claim-check/*"]
  }
}

################################################################################
# notifications: SES on given identities, SNS on given topics (+ SMS if enabled)
################################################################################

# SMS is kept in its own document so that its exception is scoped to it.
data "aws_iam_policy_document" "notifications_sms" {
  #checkov:skip=CKV_AWS_356:sns:Publish to a phone number (SMS) has no resource ARN; AWS only accepts Resource "*" for it. Only created when var.sns_allow_sms is true.
  #checkov:skip=CKV_AWS_111:Same statement: SMS publishing cannot be constrained by resource; the action list is sns:Publish only.
  count = contains(local.pools, "notifications") && var.sns_allow_sms ? 1 : 0

  statement {
    sid       = "PublishSms"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "notifications" {
  count = contains(local.pools, "notifications") ? 1 : 0

  source_policy_documents = concat(
    [data.aws_iam_policy_document.common["notifications"].json],
    [for d in data.aws_iam_policy_document.notifications_sms : d.json],
  )

  dynamic "statement" {
    for_each = length(var.ses_identity_arns) == 0 ? [] : [var.ses_identity_arns]

    content {
      sid       = "SendEmailFromIdentities"
      effect    = "Allow"
      actions   = ["ses:SendEmail", "ses:SendRawEmail"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(var.sns_topic_arns) == 0 ? [] : [var.sns_topic_arns]

    content {
      sid       = "PublishToTopics"
      effect    = "Allow"
      actions   = ["sns:Publish"]
      resources = statement.value
    }
  }
}

################################################################################
# ai: write ai-results/ (claim-check read and its API key parameter come from common)
################################################################################

data "aws_iam_policy_document" "ai" {
  count = contains(local.pools, "ai") ? 1 : 0

  source_policy_documents = [data.aws_iam_policy_document.common["ai"].json]

  statement {
    sid       = "WriteResults"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket}/ai-results/*"]
  }
}

################################################################################
# Roles
################################################################################

locals {
  # The bundled pools add their handlers' permissions; any other pool (user-defined, e.g.
  # `reports`) gets the common set: its queues, claim checks and its own SSM parameters.
  bundled_policy_json = {
    media         = try(data.aws_iam_policy_document.media[0].json, null)
    notifications = try(data.aws_iam_policy_document.notifications[0].json, null)
    ai            = try(data.aws_iam_policy_document.ai[0].json, null)
  }
  policy_json = {
    for pool in local.pools : pool => coalesce(lookup(local.bundled_policy_json, pool, null), data.aws_iam_policy_document.common[pool].json)
  }
}

resource "aws_iam_role" "this" {
  for_each = local.pools

  name                 = "${var.env}-jobfleet-${each.key}"
  description          = "jobfleet ${each.key} workers (${var.env}); IRSA for ${var.namespace}/jobfleet-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.assume[each.key].json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600

  tags = merge(var.tags, { "jobfleet.io/pool" = each.key })
}

resource "aws_iam_policy" "this" {
  for_each = local.pools

  name        = "${var.env}-jobfleet-${each.key}"
  description = "jobfleet ${each.key} workers (${var.env}): own queues + DLQs and the bucket prefixes of the pool"
  policy      = local.policy_json[each.key]

  tags = merge(var.tags, { "jobfleet.io/pool" = each.key })
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = local.pools

  role       = aws_iam_role.this[each.key].name
  policy_arn = aws_iam_policy.this[each.key].arn
}

################################################################################
# External Secrets Operator: reads the environment's SecureStrings
# (`<prefix>/database-url`, `<prefix>/<pool>/...`) for the ClusterSecretStore
# the worker chart references. Read-only, this prefix only.
################################################################################

data "aws_iam_policy_document" "eso" {
  count = local.eso

  statement {
    sid       = "ReadEnvironmentParameters"
    effect    = "Allow"
    actions   = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    resources = [local.ssm_arn, "${local.ssm_arn}/*"]
  }

  dynamic "statement" {
    for_each = length(var.secrets_kms_key_arns) == 0 ? [] : [var.secrets_kms_key_arns]

    content {
      sid       = "DecryptViaSsm"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = statement.value

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "external_secrets" {
  count = local.eso

  name                 = "${var.env}-jobfleet-external-secrets"
  description          = "External Secrets Operator (${var.env}); IRSA for ${var.external_secrets_service_account}; reads ${local.ssm_prefix}/*"
  assume_role_policy   = data.aws_iam_policy_document.assume["external-secrets"].json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "external_secrets" {
  count = local.eso

  name   = "read-ssm-parameters"
  role   = aws_iam_role.external_secrets[0].id
  policy = data.aws_iam_policy_document.eso[0].json
}

################################################################################
# KEDA operator: reads the pools' queue depths for the aws-sqs-queue scaler
# (TriggerAuthentication `identityOwner: keda`). GetQueueAttributes only, on
# the pools' queues: it never sees a message.
################################################################################

data "aws_iam_policy_document" "keda" {
  count = local.keda

  statement {
    sid       = "ReadQueueDepth"
    effect    = "Allow"
    actions   = ["sqs:GetQueueAttributes"]
    resources = module.grants.all_queue_arns
  }
}

resource "aws_iam_role" "keda_operator" {
  count = local.keda

  name                 = "${var.env}-jobfleet-keda-operator"
  description          = "KEDA operator (${var.env}); IRSA for ${var.keda_service_account}; reads the jobfleet pools' queue depths"
  assume_role_policy   = data.aws_iam_policy_document.assume["keda-operator"].json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "keda_operator" {
  count = local.keda

  name   = "read-queue-depth"
  role   = aws_iam_role.keda_operator[0].id
  policy = data.aws_iam_policy_document.keda[0].json
}

################################################################################
# worker control (charts/fleet): queue gauges of every pool, also at zero pods,
# and the KEDA external scaler. Reads queue attributes and resolves queue URLs
# of every pool queue and DLQ; never sees a message.
################################################################################

data "aws_iam_policy_document" "control" {
  count = local.control

  statement {
    sid       = "ReadQueueAttributes"
    effect    = "Allow"
    actions   = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = concat(module.grants.all_queue_arns, module.grants.all_dlq_arns)
  }
}

resource "aws_iam_role" "control" {
  count = local.control

  name                 = "${var.env}-jobfleet-control"
  description          = "jobfleet worker control (${var.env}); IRSA for ${var.control_service_account}; reads the attributes of every pool queue and DLQ"
  assume_role_policy   = data.aws_iam_policy_document.assume["control"].json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "control" {
  count = local.control

  name   = "read-queue-attributes"
  role   = aws_iam_role.control[0].id
  policy = data.aws_iam_policy_document.control[0].json
}

################################################################################
# worker console (charts/fleet `console`): the operator web console. Reads the
# depth of every queue; moves dead letters back (receive/delete on the DLQs,
# send to the pool queues) and starts/cancels SQS redrive tasks; purges DLQs.
# It never reads or writes the media bucket, SSM or any other data.
################################################################################

data "aws_iam_policy_document" "console" {
  count = local.console

  statement {
    sid       = "ReadQueueAttributes"
    effect    = "Allow"
    actions   = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListDeadLetterSourceQueues"]
    resources = concat(module.grants.all_queue_arns, module.grants.all_dlq_arns)
  }

  statement {
    sid    = "TriageAndReplayDeadLetters"
    effect = "Allow"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:PurgeQueue",
      "sqs:StartMessageMoveTask",
      "sqs:ListMessageMoveTasks",
      "sqs:CancelMessageMoveTask",
    ]
    resources = module.grants.all_dlq_arns
  }

  statement {
    sid       = "ReplayToPoolQueues"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = module.grants.all_queue_arns
  }
}

resource "aws_iam_role" "console" {
  count = local.console

  name                 = "${var.env}-jobfleet-console"
  description          = "jobfleet web console (${var.env}); IRSA for ${var.console_service_account}; DLQ triage, replay, redrive and purge"
  assume_role_policy   = data.aws_iam_policy_document.assume["console"].json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "console" {
  count = local.console

  name   = "dead-letter-operations"
  role   = aws_iam_role.console[0].id
  policy = data.aws_iam_policy_document.console[0].json
}

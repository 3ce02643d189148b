locals {
  create     = var.create
  identifier = "${var.env}-jobfleet"
  port       = 5432
}

resource "aws_db_subnet_group" "this" {
  count = local.create ? 1 : 0

  name        = local.identifier
  description = "jobfleet ${var.env} database subnets"
  subnet_ids  = var.subnet_ids

  tags = var.tags
}

resource "aws_security_group" "this" {
  count = local.create ? 1 : 0

  name        = "${local.identifier}-db"
  description = "jobfleet ${var.env} Postgres: ingress from workers and PgBouncer only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${local.identifier}-db" })
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  for_each = local.create ? toset(var.allowed_security_group_ids) : toset([])

  security_group_id            = aws_security_group.this[0].id
  description                  = "Postgres from ${each.value}"
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
  referenced_security_group_id = each.value

  tags = var.tags
}

resource "aws_db_parameter_group" "this" {
  count = local.create ? 1 : 0

  name        = "${local.identifier}-pg15"
  family      = "postgres15"
  description = "jobfleet ${var.env} Postgres 15"

  # TLS only.
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Explicit connection budget: charts/pgbouncer divides it among its replicas
  # (deploy/environments/<env>/pgbouncer.yaml `pools.rdsMaxConnections`, tests/infra/test_sync.py).
  parameter {
    name         = "max_connections"
    value        = tostring(var.max_connections)
    apply_method = "pending-reboot"
  }

  # Slow query log (shipped to CloudWatch Logs via enabled_cloudwatch_logs_exports).
  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.log_min_duration_statement_ms)
  }

  # DDL is logged (migrations); the job ledger's DML is not, to keep logs small.
  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_lock_waits"
    value = "1"
  }

  # A crashed worker must not hold row locks on the ledger forever.
  parameter {
    name  = "idle_in_transaction_session_timeout"
    value = "60000"
  }

  parameter {
    name         = "shared_preload_libraries"
    value        = "pg_stat_statements"
    apply_method = "pending-reboot"
  }

  dynamic "parameter" {
    for_each = var.extra_parameters

    content {
      name         = parameter.value.name
      value        = parameter.value.value
      apply_method = parameter.value.apply_method
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  count = local.create && var.monitoring_interval > 0 ? 1 : 0

  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  count = local.create && var.monitoring_interval > 0 ? 1 : 0

  name                 = "${local.identifier}-rds-monitoring"
  description          = "RDS Enhanced Monitoring for ${local.identifier}"
  assume_role_policy   = data.aws_iam_policy_document.monitoring_assume[0].json
  permissions_boundary = var.permissions_boundary_arn

  tags = var.tags
}

data "aws_partition" "current" {}

resource "aws_iam_role_policy_attachment" "monitoring" {
  count = local.create && var.monitoring_interval > 0 ? 1 : 0

  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is per environment (var.multi_az): on in prod (asserted by tests/infra), off in dev/staging to halve cost.
  #checkov:skip=CKV_AWS_293:Deletion protection is per environment (var.deletion_protection, default true); only dev turns it off so it can be torn down.
  count = local.create ? 1 : 0

  identifier     = local.identifier
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  port           = local.port

  db_name                       = var.database_name
  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  multi_az               = var.multi_az
  db_subnet_group_name   = aws_db_subnet_group.this[0].name
  vpc_security_group_ids = [aws_security_group.this[0].id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this[0].name

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  apply_immediately                   = false

  backup_retention_period   = var.backup_retention_period
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.identifier}-final"

  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = var.monitoring_interval
  monitoring_role_arn                   = try(aws_iam_role.monitoring[0].arn, null)
  performance_insights_enabled          = true
  performance_insights_retention_period = var.performance_insights_retention_period
  performance_insights_kms_key_id       = var.kms_key_arn

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.monitoring]
}

# prod: one NAT gateway per AZ, Multi-AZ database, pinned node AMI.
# No secrets here (see docs/infra.md).
env               = "prod"
region            = "eu-west-1"
aws_account_id    = "333333333333"
github_repository = "jobfleet/jobfleet"
state_bucket_name = "jobfleet-tfstate-prod"

vpc_cidr           = "10.30.0.0/16"
azs                = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
single_nat_gateway = false

system_node_group = {
  instance_types = ["m6i.large"]
  min_size       = 3
  desired_size   = 3
  max_size       = 6
}

# One decision with kubernetes_version (1.33 by default): v20250505 predates EKS 1.33 and could
# launch no node; modules/karpenter `local.ami_releases` lists what each release ships.
karpenter_ami_alias = "al2023@v20250715"
karpenter_general   = { cpu_limit = 512, memory_limit_gib = 2048 }
karpenter_ai        = { cpu_limit = 192, memory_limit_gib = 768, gpu_limit = 16, capacity_types = ["on-demand"] }
# vCPUs of On-Demand G instances the account may run (ai NodePool cpu limit); requested by Terraform.
gpu_vcpu_quota = 192

rds_instance_class          = "db.r6g.large"
rds_allocated_storage       = 100
rds_max_allocated_storage   = 1000
rds_multi_az                = true
rds_deletion_protection     = true
rds_backup_retention_period = 30
# PgBouncer divides this budget (deploy/environments/prod/pgbouncer.yaml, docs/infra.md "PgBouncer").
rds_max_connections = 1600

pools = {
  media         = { max_job_seconds = 300 }
  notifications = { max_job_seconds = 60 }
  ai            = { max_job_seconds = 900, oldest_message_age_alarm_seconds = 600 }
}

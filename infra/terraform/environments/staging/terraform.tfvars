# staging: prod-shaped, smaller. No secrets here (see docs/infra.md).
env               = "staging"
region            = "eu-west-1"
aws_account_id    = "222222222222"
github_repository = "jobfleet/jobfleet"
state_bucket_name = "jobfleet-tfstate-staging"

vpc_cidr           = "10.20.0.0/16"
azs                = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
single_nat_gateway = true

system_node_group = {
  instance_types = ["m6i.large"]
  min_size       = 2
  desired_size   = 2
  max_size       = 4
}

karpenter_general = { cpu_limit = 128, memory_limit_gib = 512 }
karpenter_ai      = { cpu_limit = 64, memory_limit_gib = 256, gpu_limit = 4 }
# vCPUs of On-Demand G instances the account may run (ai NodePool cpu limit); requested by Terraform.
gpu_vcpu_quota = 64

rds_instance_class          = "db.t4g.medium"
rds_multi_az                = false
rds_deletion_protection     = true
rds_backup_retention_period = 7
# PgBouncer divides this budget (deploy/environments/staging/pgbouncer.yaml, docs/infra.md "PgBouncer").
rds_max_connections = 400

pools = {
  media         = { max_job_seconds = 300 }
  notifications = { max_job_seconds = 60 }
  ai            = { max_job_seconds = 900 }
}

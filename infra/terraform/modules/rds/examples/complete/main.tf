provider "aws" {
  region = "eu-west-1"
}

module "rds" {
  source = "../.."

  env                        = "prod"
  vpc_id                     = "vpc-0123456789abcdef0"
  subnet_ids                 = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  allowed_security_group_ids = ["sg-0123456789abcdef0"]
  instance_class             = "db.r6g.large"
  multi_az                   = true
}

output "endpoint" {
  description = "Database host."
  value       = module.rds.db_instance_address
}

variable "region" {
  description = "Region of the state bucket (same as the environment's)."
  type        = string
}

variable "aws_account_id" {
  description = "Account the state bucket is created in."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id must be 12 digits."
  }
}

variable "state_bucket_name" {
  description = "Name of the state bucket (the `bucket` of environments/<env>/backend.tf)."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

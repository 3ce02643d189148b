# Example: the dev media bucket with the prefixes of the contract.
provider "aws" {
  region = "eu-west-1"
}

module "media" {
  source = "../.."

  bucket_name     = "dev-jobfleet-media"
  prefixes        = ["uploads/", "thumbnails/", "claim-check/", "ai-results/"]
  expire_prefixes = { "claim-check/" = 7 }
}

output "prefix_arns" {
  description = "Object ARN patterns per prefix."
  value       = module.media.prefix_arns
}

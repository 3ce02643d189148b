# No provider: pure expressions, so `terraform test` runs offline (tests/infra/test_topology.py).
terraform {
  required_version = ">= 1.6.0"
}

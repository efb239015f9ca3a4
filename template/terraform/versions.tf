terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x names a stack set instance's region `region` (6.x renamed it).
      version = ">= 5.40, < 6.0"
    }
  }
}

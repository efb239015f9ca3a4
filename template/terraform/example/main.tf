# crossvault for a whole organization, from the management account.
#
#   crossvault build && crossvault publish -o json > published.json
#   terraform init
#   terraform apply -var "artifact_key=$(jq -r .artifact_key published.json)" \
#     -var "template_key=$(jq -r .template_key published.json)"

variable "artifact_key" {
  type = string
}

# The template goes by URL: it is larger than CloudFormation's 51,200-byte TemplateBody limit.
variable "template_key" {
  type = string
}

provider "aws" {
  region = "eu-west-1" # where the StackSet lives
}

module "crossvault" {
  source = "../"

  permission_model        = "SERVICE_MANAGED"
  organizational_unit_ids = ["r-abcd"] # the root
  regions                 = ["eu-west-1", "eu-central-1"]

  artifact_bucket_prefix = "crossvault-artifacts-o-exampleorgid"
  artifact_key           = var.artifact_key
  template_url           = "https://crossvault-artifacts-o-exampleorgid-eu-west-1.s3.eu-west-1.amazonaws.com/${var.template_key}"

  parameters = {
    BackupAccountId       = "222222222222"
    BackupRegion          = "eu-central-1"
    BackupRegionAlternate = "eu-west-1"
    PreProdAccountIds     = "333333333333"
    ManagementAccountId   = "999999999999"
  }
}

output "stack_set_id" {
  value = module.crossvault.stack_set_id
}

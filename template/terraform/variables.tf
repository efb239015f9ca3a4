variable "stack_set_name" {
  description = "Name of the StackSet (and prefix of the management account's stack)."
  type        = string
  default     = "crossvault"
}

variable "template_body" {
  description = "The template; defaults to the one beside this module. Only for templates of at most 51,200 bytes: crossvault's own is larger, so use template_url."
  type        = string
  default     = null
}

variable "template_url" {
  description = "HTTPS URL of the template in S3 (the copy `crossvault publish` uploads to the artifact bucket: https://<prefix>-<region>.s3.<region>.amazonaws.com/<template_key>). Takes precedence over template_body."
  type        = string
  default     = null
}

variable "permission_model" {
  description = "SERVICE_MANAGED (targets are OUs, never the management account) or SELF_MANAGED (targets are accounts)."
  type        = string
  default     = "SERVICE_MANAGED"
  validation {
    condition     = contains(["SERVICE_MANAGED", "SELF_MANAGED"], var.permission_model)
    error_message = "permission_model must be SERVICE_MANAGED or SELF_MANAGED."
  }
}

variable "call_as" {
  description = "DELEGATED_ADMIN when Terraform runs as the StackSets delegated administrator, else SELF."
  type        = string
  default     = "SELF"
  validation {
    condition     = contains(["SELF", "DELEGATED_ADMIN"], var.call_as)
    error_message = "call_as must be SELF or DELEGATED_ADMIN."
  }
}

variable "organizational_unit_ids" {
  description = "SERVICE_MANAGED: the OUs (or the root) to deploy to."
  type        = list(string)
  default     = []
}

variable "accounts" {
  description = "SELF_MANAGED: the account ids to deploy to."
  type        = list(string)
  default     = []
}

variable "regions" {
  description = "Every region with resources to back up; must include BackupRegion and BackupRegionAlternate."
  type        = list(string)
}

variable "artifact_bucket_prefix" {
  description = "ArtifactBucketPrefix: `crossvault publish` created <prefix>-<region> in every region."
  type        = string
}

variable "artifact_key" {
  description = "ArtifactKey: `crossvault publish -o json | jq -r .artifact_key` (a new build changes it)."
  type        = string
}

variable "parameters" {
  description = "The other stack parameters, e.g. BackupAccountId, BackupRegion, BackupRegionAlternate, ManagementAccountId."
  type        = map(string)
  validation {
    condition = alltrue([
      for name in ["BackupAccountId", "BackupRegion", "BackupRegionAlternate"] : contains(keys(var.parameters), name)
    ])
    error_message = "parameters must set BackupAccountId, BackupRegion and BackupRegionAlternate (the template has no defaults for them)."
  }
  validation {
    condition     = !contains(keys(var.parameters), "ArtifactKey") && !contains(keys(var.parameters), "ArtifactBucketPrefix")
    error_message = "set the artifact with artifact_bucket_prefix and artifact_key, not in parameters."
  }
}

variable "administration_role_arn" {
  description = "SELF_MANAGED only: the StackSet administration role (default: AWSCloudFormationStackSetAdministrationRole)."
  type        = string
  default     = null
}

variable "execution_role_name" {
  description = "SELF_MANAGED only: the execution role in each target account."
  type        = string
  default     = null
}

variable "retain_stacks_on_account_removal" {
  description = "SERVICE_MANAGED: an account that leaves the OUs keeps its stack (and its vaults)."
  type        = bool
  default     = true
}

variable "operation_preferences" {
  description = "How CloudFormation rolls out a change."
  type = object({
    region_concurrency_type      = optional(string, "PARALLEL")
    max_concurrent_percentage    = optional(number, 25)
    failure_tolerance_percentage = optional(number, 10)
  })
  default = {}
}

variable "deploy_management_stack" {
  description = "Deploy the plain stack in the management account (service-managed StackSets never reach it). Terraform must run there for it."
  type        = bool
  default     = true
}

variable "timeout" {
  description = "How long Terraform waits for a StackSet operation (a whole organization takes long)."
  type        = string
  default     = "4h"
}

# crossvault as a Terraform StackSet: the template beside this module, every parameter set
# explicitly, and the settings that avoid aws_cloudformation_stack_set's known drift loops.

locals {
  service_managed = var.permission_model == "SERVICE_MANAGED"
  # CloudFormation takes a TemplateBody of at most 51,200 bytes; crossvault's template is
  # larger, so in AWS it goes by TemplateURL (the copy `crossvault publish` uploads). The body
  # is used only when no URL is given (and then must fit).
  template_body = var.template_url == null ? coalesce(var.template_body, file("${path.module}/../crossvault.yaml")) : null

  # Every template parameter, defaults included: CloudFormation reports defaults back, so a
  # parameter left out would show as a change on every plan. parameter-defaults.json is checked
  # against the template by crossvault's tests.
  parameters = merge(
    jsondecode(file("${path.module}/parameter-defaults.json")),
    var.parameters,
    {
      ArtifactBucketPrefix = var.artifact_bucket_prefix
      ArtifactKey          = var.artifact_key
    },
  )
}

resource "aws_cloudformation_stack_set" "crossvault" {
  name             = var.stack_set_name
  description      = "crossvault: AWS Backup copies across the organization"
  template_body    = local.template_body
  template_url     = var.template_url
  permission_model = var.permission_model
  call_as          = var.call_as
  capabilities     = ["CAPABILITY_NAMED_IAM"]
  parameters       = local.parameters

  # Service-managed only; self-managed takes roles instead.
  administration_role_arn = local.service_managed ? null : var.administration_role_arn
  execution_role_name     = local.service_managed ? null : var.execution_role_name

  dynamic "auto_deployment" {
    for_each = local.service_managed ? [1] : []
    content {
      enabled                          = true
      retain_stacks_on_account_removal = var.retain_stacks_on_account_removal
    }
  }

  # A second operation queues instead of failing with OperationInProgressException.
  managed_execution {
    active = true
  }

  operation_preferences {
    region_concurrency_type      = var.operation_preferences.region_concurrency_type
    max_concurrent_percentage    = var.operation_preferences.max_concurrent_percentage
    failure_tolerance_percentage = var.operation_preferences.failure_tolerance_percentage
  }

  lifecycle {
    precondition {
      condition     = local.template_body == null || length(local.template_body) <= 51200
      error_message = "The template is larger than CloudFormation's 51,200-byte TemplateBody limit: set template_url to the copy `crossvault publish` uploaded (https://<bucket>.s3.<region>.amazonaws.com/<template_key>)."
    }
    # CloudFormation reports an administration role for service-managed StackSets too, and
    # the provider plans to remove it on every run (hashicorp/terraform-provider-aws#23464);
    # operation_preferences are per operation, not stored, and read back empty (#33170).
    ignore_changes = [administration_role_arn, operation_preferences]
  }

  timeouts {
    update = var.timeout
  }
}

# Service-managed: one instance resource per region, targeting the OUs (auto-deployment adds
# accounts that join later).
resource "aws_cloudformation_stack_set_instance" "ous" {
  for_each = local.service_managed ? toset(var.regions) : toset([])

  stack_set_name = aws_cloudformation_stack_set.crossvault.name
  call_as        = var.call_as
  region         = each.value

  deployment_targets {
    organizational_unit_ids = var.organizational_unit_ids
  }

  operation_preferences {
    region_concurrency_type      = var.operation_preferences.region_concurrency_type
    max_concurrent_percentage    = var.operation_preferences.max_concurrent_percentage
    failure_tolerance_percentage = var.operation_preferences.failure_tolerance_percentage
  }

  # Removing the instances deletes their stacks; the vaults and keys are retained by the
  # template either way.
  retain_stack = false

  timeouts {
    create = var.timeout
    update = var.timeout
    delete = var.timeout
  }
}

# Self-managed: one instance per account and region.
resource "aws_cloudformation_stack_set_instance" "accounts" {
  for_each = local.service_managed ? {} : {
    for pair in setproduct(var.accounts, var.regions) : "${pair[0]}/${pair[1]}" => {
      account = pair[0]
      region  = pair[1]
    }
  }

  stack_set_name = aws_cloudformation_stack_set.crossvault.name
  call_as        = var.call_as
  account_id     = each.value.account
  region         = each.value.region
  retain_stack   = false

  timeouts {
    create = var.timeout
    update = var.timeout
    delete = var.timeout
  }
}

# The management account's plain stack (turns cross-account backup on). Run Terraform with
# the management account's credentials for it, or set deploy_management_stack = false.
resource "aws_cloudformation_stack" "management" {
  count = var.deploy_management_stack ? 1 : 0

  name          = "${var.stack_set_name}-management"
  template_body = local.template_body
  template_url  = var.template_url
  parameters    = local.parameters
  capabilities  = ["CAPABILITY_NAMED_IAM"]

  timeouts {
    create = "60m"
    update = "60m"
    delete = "60m"
  }
}

output "stack_set_id" {
  description = "The StackSet's id."
  value       = aws_cloudformation_stack_set.crossvault.stack_set_id
}

output "parameters" {
  description = "Every parameter the instances get."
  value       = local.parameters
}

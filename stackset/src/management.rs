//! The management account's plain stack: service-managed StackSets never deploy to the
//! Organizations management account, yet its instance is the one that turns cross-account
//! backup on. Same template, same parameters.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use serde::Serialize;

use crate::aws::Clients;
use crate::deployment::CAPABILITIES;
use crate::error::{CliError, aws, error_code};
use crate::output::Progress;
use crate::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrentStack {
    pub stack_id: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub parameters: BTreeMap<String, String>,
    #[serde(skip)]
    pub template_body: String,
}

/// What deploying does to the management stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum StackChange {
    Create,
    Update {
        reasons: Vec<String>,
    },
    Unchanged,
    /// Not deployed by crossvault (disabled, or the StackSet covers the account).
    Skipped {
        reason: String,
    },
    /// In a state CloudFormation cannot update from (e.g. ROLLBACK_COMPLETE).
    Blocked {
        reason: String,
    },
}

pub async fn describe(clients: &Clients, name: &str) -> Result<Option<CurrentStack>, CliError> {
    let out = clients
        .cfn_management
        .describe_stacks()
        .stack_name(name)
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        // CloudFormation answers a missing stack with a ValidationError "does not exist".
        Err(e)
            if error_code(&e) == Some("ValidationError")
                && format!("{:?}", e).contains("does not exist") =>
        {
            return Ok(None);
        }
        Err(e) => return Err(aws(format!("cloudformation:DescribeStacks {name}"))(e)),
    };
    let Some(stack) = out.stacks.unwrap_or_default().into_iter().next() else {
        return Ok(None);
    };
    let status = stack
        .stack_status
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    if status == "DELETE_COMPLETE" {
        return Ok(None);
    }
    let template = clients
        .cfn_management
        .get_template()
        .stack_name(name)
        .send()
        .await
        .map_err(aws(format!("cloudformation:GetTemplate {name}")))?;
    Ok(Some(CurrentStack {
        stack_id: stack.stack_id.unwrap_or_default(),
        status,
        status_reason: stack.stack_status_reason,
        parameters: stack
            .parameters
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| Some((p.parameter_key?, p.parameter_value.unwrap_or_default())))
            .collect(),
        template_body: template.template_body.unwrap_or_default(),
    }))
}

/// Compares the stack with what crossvault would deploy (defaults count as given).
pub fn change(
    current: Option<&CurrentStack>,
    template_body: &str,
    template: &Template,
    parameters: &BTreeMap<String, String>,
) -> StackChange {
    let Some(current) = current else {
        return StackChange::Create;
    };
    if matches!(
        current.status.as_str(),
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "DELETE_FAILED" | "UPDATE_ROLLBACK_FAILED"
    ) {
        return StackChange::Blocked {
            reason: format!(
                "the stack is {}{}; CloudFormation cannot update it from there",
                current.status,
                current
                    .status_reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        };
    }
    let mut reasons = Vec::new();
    if current.template_body.trim_end() != template_body.trim_end() {
        reasons.push("template".to_owned());
    }
    let current_template = Template::parse(&current.template_body).ok();
    let defaults = |t: &Template| -> BTreeMap<String, String> {
        t.parameters()
            .iter()
            .filter_map(|(k, p)| p.default.clone().map(|d| (k.clone(), d)))
            .collect()
    };
    let mut want = defaults(template);
    want.extend(parameters.clone());
    let mut have = defaults(current_template.as_ref().unwrap_or(template));
    have.extend(current.parameters.clone());
    for (k, v) in &want {
        if have.get(k) != Some(v) {
            reasons.push(format!(
                "parameter {k}: {:?} -> {v:?}",
                have.get(k).cloned().unwrap_or_default()
            ));
        }
    }
    if reasons.is_empty() {
        StackChange::Unchanged
    } else {
        StackChange::Update { reasons }
    }
}

fn cfn_parameters(params: &BTreeMap<String, String>) -> Vec<Parameter> {
    params
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        })
        .collect()
}

/// Creates or updates the stack; returns the stack id.
pub async fn apply(
    clients: &Clients,
    name: &str,
    create: bool,
    template_body: &str,
    template_url: Option<&str>,
    parameters: &BTreeMap<String, String>,
) -> Result<String, CliError> {
    let caps: Vec<Capability> = CAPABILITIES.iter().map(|c| Capability::from(*c)).collect();
    let (body, url) = match template_url {
        Some(url) => (None, Some(url.to_owned())),
        None => (Some(template_body.to_owned()), None),
    };
    if create {
        let out = clients
            .cfn_management
            .create_stack()
            .stack_name(name)
            .set_template_body(body)
            .set_template_url(url)
            .set_parameters(Some(cfn_parameters(parameters)))
            .set_capabilities(Some(caps))
            // A failed first create is kept for inspection (ROLLBACK_COMPLETE) rather than
            // deleted: nothing in it holds data yet, and its events say what went wrong.
            .send()
            .await
            .map_err(aws(format!("cloudformation:CreateStack {name}")))?;
        Ok(out.stack_id.unwrap_or_default())
    } else {
        let out = clients
            .cfn_management
            .update_stack()
            .stack_name(name)
            .set_template_body(body)
            .set_template_url(url)
            .set_parameters(Some(cfn_parameters(parameters)))
            .set_capabilities(Some(caps))
            .send()
            .await
            .map_err(aws(format!("cloudformation:UpdateStack {name}")))?;
        Ok(out.stack_id.unwrap_or_default())
    }
}

/// How the wait for the stack ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackOutcome {
    pub stack_name: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// The first resource that failed, with CloudFormation's reason.
    pub failed_resource: Option<String>,
    pub finished: bool,
}

impl StackOutcome {
    pub fn succeeded(&self) -> bool {
        self.finished
            && (self.status == "CREATE_COMPLETE"
                || self.status == "UPDATE_COMPLETE"
                || self.status == "DELETE_COMPLETE")
    }
}

/// Waits until the stack leaves every `*_IN_PROGRESS` state (at most `timeout`).
pub async fn wait(
    clients: &Clients,
    name: &str,
    timeout: Duration,
    progress: &Progress,
) -> Result<StackOutcome, CliError> {
    let started = Instant::now();
    let mut delay = clients.timing.first_poll;
    loop {
        let out = clients
            .cfn_management
            .describe_stacks()
            .stack_name(name)
            .send()
            .await;
        let stack = match out {
            Ok(out) => out.stacks.unwrap_or_default().into_iter().next(),
            Err(e)
                if error_code(&e) == Some("ValidationError")
                    && format!("{:?}", e).contains("does not exist") =>
            {
                None
            }
            Err(e) => return Err(aws(format!("cloudformation:DescribeStacks {name}"))(e)),
        };
        let Some(stack) = stack else {
            return Ok(StackOutcome {
                stack_name: name.to_owned(),
                status: "DELETE_COMPLETE".into(),
                status_reason: None,
                failed_resource: None,
                finished: true,
            });
        };
        let status = stack
            .stack_status
            .clone()
            .unwrap_or(StackStatus::CreateInProgress);
        let in_progress = status.as_str().ends_with("_IN_PROGRESS");
        if !in_progress || started.elapsed() >= timeout {
            let failed_resource = if in_progress
                || status.as_str().ends_with("_COMPLETE") && !status.as_str().contains("ROLLBACK")
            {
                None
            } else {
                first_failure(clients, name).await
            };
            return Ok(StackOutcome {
                stack_name: name.to_owned(),
                status: status.as_str().to_owned(),
                status_reason: stack.stack_status_reason.filter(|r| !r.is_empty()),
                failed_resource,
                finished: !in_progress,
            });
        }
        progress.step(format!(
            "stack {name}: {} ({} s)",
            status.as_str(),
            started.elapsed().as_secs()
        ));
        tokio::time::sleep(delay.min(timeout.saturating_sub(started.elapsed()))).await;
        delay = (delay * 3 / 2).min(clients.timing.max_poll);
    }
}

/// The oldest `*_FAILED` event of the stack: the cause, not the rollback that followed.
async fn first_failure(clients: &Clients, name: &str) -> Option<String> {
    let out = clients
        .cfn_management
        .describe_stack_events()
        .stack_name(name)
        .send()
        .await
        .ok()?;
    out.stack_events
        .unwrap_or_default()
        .into_iter()
        .rev()
        .find(|e| {
            e.resource_status
                .as_ref()
                .is_some_and(|s| s.as_str().ends_with("_FAILED"))
        })
        .map(|e| {
            format!(
                "{} ({}): {}",
                e.logical_resource_id.unwrap_or_default(),
                e.resource_type.unwrap_or_default(),
                e.resource_status_reason.unwrap_or_default()
            )
        })
}

pub async fn delete(clients: &Clients, name: &str) -> Result<(), CliError> {
    clients
        .cfn_management
        .delete_stack()
        .stack_name(name)
        .send()
        .await
        .map_err(aws(format!("cloudformation:DeleteStack {name}")))?;
    Ok(())
}

//! The StackSet as CloudFormation reports it, what deploying would change, and the operations
//! that change it (each waited for, with its per-account/region outcome).
//!
//! Every StackSet call passes `CallAs` when crossvault runs as the delegated administrator.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{
    AccountFilterType, AutoDeployment, Capability, ConcurrencyMode as CfnConcurrencyMode,
    DeploymentTargets, ManagedExecution, Parameter, PermissionModels, RegionConcurrencyType,
    StackSetOperationPreferences, StackSetOperationStatus, Tag,
};
use serde::Serialize;

use crate::aws::Clients;
use crate::config::{
    Amount, ConcurrencyMode, Config, OperationPreferences, Permission, RegionConcurrency,
};
use crate::deployment::{CAPABILITIES, TEMPLATE_BODY_LIMIT};
use crate::error::{CliError, aws, error_code};
use crate::output::Progress;
use crate::retry::{operation_id, retrying};
use crate::template::Template;

/// The StackSet as `DescribeStackSet` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrentStackSet {
    pub id: String,
    pub status: String,
    pub permission_model: String,
    pub description: String,
    #[serde(skip)]
    pub template_body: String,
    pub parameters: BTreeMap<String, String>,
    pub capabilities: BTreeSet<String>,
    /// (enabled, retain stacks on account removal), when reported.
    pub auto_deployment: Option<(bool, bool)>,
    pub managed_execution: Option<bool>,
    pub administration_role_arn: Option<String>,
    pub execution_role_name: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// One stack instance as `ListStackInstances` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub account: String,
    pub region: String,
    /// CURRENT, OUTDATED or INOPERABLE.
    pub status: String,
    /// PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, INOPERABLE, SKIPPED_SUSPENDED_ACCOUNT...
    pub detailed_status: Option<String>,
    pub status_reason: Option<String>,
    pub drift_status: Option<String>,
    pub organizational_unit_id: Option<String>,
}

impl Instance {
    pub fn healthy(&self) -> bool {
        self.status == "CURRENT"
    }
}

/// Reads the StackSet (`None` when it does not exist).
pub async fn describe(clients: &Clients, name: &str) -> Result<Option<CurrentStackSet>, CliError> {
    let out = clients
        .cfn
        .describe_stack_set()
        .stack_set_name(name)
        .set_call_as(clients.call_as.clone())
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some("StackSetNotFoundException") => return Ok(None),
        Err(e) => return Err(aws(format!("cloudformation:DescribeStackSet {name}"))(e)),
    };
    let Some(s) = out.stack_set else {
        return Ok(None);
    };
    if s.status.as_ref().map(|s| s.as_str()) == Some("DELETED") {
        return Ok(None);
    }
    Ok(Some(CurrentStackSet {
        id: s.stack_set_id.unwrap_or_default(),
        status: s.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        permission_model: s
            .permission_model
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "SELF_MANAGED".to_owned()),
        description: s.description.unwrap_or_default(),
        template_body: s.template_body.unwrap_or_default(),
        parameters: s
            .parameters
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| Some((p.parameter_key?, p.parameter_value.unwrap_or_default())))
            .collect(),
        capabilities: s
            .capabilities
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        auto_deployment: s.auto_deployment.map(|a| {
            (
                a.enabled.unwrap_or(false),
                a.retain_stacks_on_account_removal.unwrap_or(false),
            )
        }),
        managed_execution: s.managed_execution.and_then(|m| m.active),
        administration_role_arn: s.administration_role_arn,
        execution_role_name: s.execution_role_name,
        tags: s
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value?)))
            .collect(),
    }))
}

/// Every instance (pages of 100).
pub async fn instances(clients: &Clients, name: &str) -> Result<Vec<Instance>, CliError> {
    let mut out = Vec::new();
    let mut pages = clients
        .cfn
        .list_stack_instances()
        .stack_set_name(name)
        .set_call_as(clients.call_as.clone())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws(format!("cloudformation:ListStackInstances {name}")))?;
        for s in page.summaries.unwrap_or_default() {
            out.push(Instance {
                account: s.account.unwrap_or_default(),
                region: s.region.unwrap_or_default(),
                status: s.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                detailed_status: s
                    .stack_instance_status
                    .and_then(|d| d.detailed_status)
                    .map(|d| d.as_str().to_owned()),
                status_reason: s.status_reason.filter(|r| !r.is_empty()),
                drift_status: s.drift_status.map(|d| d.as_str().to_owned()),
                organizational_unit_id: s.organizational_unit_id,
            });
        }
    }
    out.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
    Ok(out)
}

/// The StackSet crossvault wants.
#[derive(Debug, Clone)]
pub struct DesiredStackSet {
    pub name: String,
    pub description: String,
    pub template_body: String,
    /// Used instead of the body when the body exceeds CloudFormation's limit.
    pub template_url: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub permission: Permission,
    pub tags: BTreeMap<String, String>,
}

impl DesiredStackSet {
    pub fn new(config: &Config, template_body: &str, parameters: BTreeMap<String, String>) -> Self {
        Self {
            name: config.stack_set_name.clone(),
            description: config.description.clone(),
            template_body: template_body.to_owned(),
            template_url: None,
            parameters,
            permission: config.permission.clone(),
            tags: config.tags.clone(),
        }
    }
}

/// What deploying does to the StackSet itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum StackSetChange {
    Create,
    /// Each reason names what differs.
    Update {
        reasons: Vec<String>,
    },
    Unchanged,
}

/// Every parameter's value as an instance gets it: given, else the template's default.
fn effective(
    template: Option<&Template>,
    given: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(t) = template {
        for (name, p) in t.parameters() {
            if let Some(default) = &p.default {
                out.insert(name.clone(), default.clone());
            }
        }
    }
    for (k, v) in given {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// Compares desired and current. Defaults count as given on both sides (CloudFormation may or
/// may not report them back), so a deploy never loops on them.
pub fn stack_set_change(
    desired: &DesiredStackSet,
    desired_template: &Template,
    current: Option<&CurrentStackSet>,
) -> Result<StackSetChange, CliError> {
    let Some(current) = current else {
        return Ok(StackSetChange::Create);
    };
    if current.permission_model != desired.permission.name() {
        return Err(CliError::Refused {
            message: format!(
                "StackSet {} exists with permission model {}, the config asks for {}",
                desired.name,
                current.permission_model,
                desired.permission.name()
            ),
            help: "CloudFormation cannot switch a StackSet's permission model in place; set \
                   permission_model to match, or deploy under another stack_set_name"
                .into(),
        });
    }
    let mut reasons = Vec::new();
    if current.template_body != desired.template_body {
        reasons.push("template".to_owned());
    }
    let current_template = Template::parse(&current.template_body).ok();
    let want = effective(Some(desired_template), &desired.parameters);
    let have = effective(
        current_template.as_ref().or(Some(desired_template)),
        &current.parameters,
    );
    for (name, value) in &want {
        match have.get(name) {
            Some(old) if old == value => {}
            Some(old) => reasons.push(format!("parameter {name}: {old:?} -> {value:?}")),
            None => reasons.push(format!("parameter {name}: (none) -> {value:?}")),
        }
    }
    for name in have.keys().filter(|k| !want.contains_key(*k)) {
        reasons.push(format!("parameter {name} removed"));
    }
    let want_caps: BTreeSet<String> = CAPABILITIES.iter().map(|c| c.to_string()).collect();
    if current.capabilities != want_caps {
        reasons.push(format!(
            "capabilities: {:?} -> {:?}",
            current.capabilities, want_caps
        ));
    }
    if current.description != desired.description {
        reasons.push("description".to_owned());
    }
    if current.managed_execution != Some(true) {
        reasons.push("managed execution (queue operations instead of failing them)".to_owned());
    }
    if current.tags != desired.tags {
        reasons.push("tags".to_owned());
    }
    match &desired.permission {
        Permission::ServiceManaged {
            auto_deployment,
            retain_stacks_on_account_removal,
            ..
        } => {
            let want = (*auto_deployment, *retain_stacks_on_account_removal);
            if current.auto_deployment != Some(want) {
                reasons.push(format!(
                    "auto-deployment: {} -> enabled {}, retain stacks {}",
                    match current.auto_deployment {
                        Some((e, r)) => format!("enabled {e}, retain stacks {r}"),
                        None => "not reported".to_owned(),
                    },
                    want.0,
                    want.1
                ));
            }
        }
        Permission::SelfManaged {
            administration_role_arn,
            execution_role_name,
            ..
        } => {
            if let Some(arn) = administration_role_arn
                && current.administration_role_arn.as_ref() != Some(arn)
            {
                reasons.push("administration role".to_owned());
            }
            if let Some(name) = execution_role_name
                && current.execution_role_name.as_ref() != Some(name)
            {
                reasons.push("execution role".to_owned());
            }
        }
    }
    Ok(if reasons.is_empty() {
        StackSetChange::Unchanged
    } else {
        StackSetChange::Update { reasons }
    })
}

fn parameters(params: &BTreeMap<String, String>) -> Vec<Parameter> {
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

fn capabilities() -> Vec<Capability> {
    CAPABILITIES.iter().map(|c| Capability::from(*c)).collect()
}

fn tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, CliError> {
    Ok(tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect())
}

/// The operation preferences CloudFormation takes.
pub fn preferences(p: &OperationPreferences) -> StackSetOperationPreferences {
    let mut b = StackSetOperationPreferences::builder()
        .region_concurrency_type(match p.region_concurrency {
            RegionConcurrency::Parallel => RegionConcurrencyType::Parallel,
            RegionConcurrency::Sequential => RegionConcurrencyType::Sequential,
        })
        .concurrency_mode(match p.concurrency_mode {
            ConcurrencyMode::StrictFailureTolerance => CfnConcurrencyMode::StrictFailureTolerance,
            ConcurrencyMode::SoftFailureTolerance => CfnConcurrencyMode::SoftFailureTolerance,
        })
        .set_region_order((!p.region_order.is_empty()).then(|| p.region_order.clone()));
    b = match p.max_concurrent {
        Amount::Count(n) => b.max_concurrent_count(n as i32),
        Amount::Percentage(n) => b.max_concurrent_percentage(n as i32),
    };
    b = match p.failure_tolerance {
        Amount::Count(n) => b.failure_tolerance_count(n as i32),
        Amount::Percentage(n) => b.failure_tolerance_percentage(n as i32),
    };
    b.build()
}

fn auto_deployment(permission: &Permission) -> Option<AutoDeployment> {
    match permission {
        Permission::ServiceManaged {
            auto_deployment,
            retain_stacks_on_account_removal,
            ..
        } => Some(
            AutoDeployment::builder()
                .enabled(*auto_deployment)
                .retain_stacks_on_account_removal(*retain_stacks_on_account_removal)
                .build(),
        ),
        Permission::SelfManaged { .. } => None,
    }
}

/// `CreateStackSet` (no operation to wait for).
pub async fn create(
    clients: &Clients,
    desired: &DesiredStackSet,
    progress: &Progress,
) -> Result<(), CliError> {
    let (admin, exec) = match &desired.permission {
        Permission::SelfManaged {
            administration_role_arn,
            execution_role_name,
            ..
        } => (administration_role_arn.clone(), execution_role_name.clone()),
        Permission::ServiceManaged { .. } => (None, None),
    };
    let tags = tags(&desired.tags)?;
    let (body, url) = body_or_url(desired)?;
    let token = operation_id("create");
    retrying(&clients.timing, "CreateStackSet", progress, || {
        clients
            .cfn
            .create_stack_set()
            .stack_set_name(&desired.name)
            .description(&desired.description)
            .set_template_body(body.clone())
            .set_template_url(url.clone())
            .set_parameters(Some(parameters(&desired.parameters)))
            .set_capabilities(Some(capabilities()))
            .permission_model(PermissionModels::from(desired.permission.name()))
            .set_auto_deployment(auto_deployment(&desired.permission))
            .managed_execution(ManagedExecution::builder().active(true).build())
            .set_administration_role_arn(admin.clone())
            .set_execution_role_name(exec.clone())
            .set_tags((!tags.is_empty()).then(|| tags.clone()))
            .client_request_token(&token)
            .set_call_as(clients.call_as.clone())
            .send()
    })
    .await
    .map_err(aws(format!(
        "cloudformation:CreateStackSet {}",
        desired.name
    )))?;
    Ok(())
}

fn body_or_url(desired: &DesiredStackSet) -> Result<(Option<String>, Option<String>), CliError> {
    if desired.template_body.len() <= TEMPLATE_BODY_LIMIT {
        return Ok((Some(desired.template_body.clone()), None));
    }
    match &desired.template_url {
        Some(url) => Ok((None, Some(url.clone()))),
        None => Err(CliError::Internal(
            "a template over the TemplateBody limit has no published URL".into(),
        )),
    }
}

/// `UpdateStackSet` for every instance; returns the operation id.
pub async fn update(
    clients: &Clients,
    desired: &DesiredStackSet,
    prefs: &OperationPreferences,
    progress: &Progress,
) -> Result<String, CliError> {
    let (admin, exec) = match &desired.permission {
        Permission::SelfManaged {
            administration_role_arn,
            execution_role_name,
            ..
        } => (administration_role_arn.clone(), execution_role_name.clone()),
        Permission::ServiceManaged { .. } => (None, None),
    };
    let tags = tags(&desired.tags)?;
    let (body, url) = body_or_url(desired)?;
    let op = operation_id("update");
    let out = retrying(&clients.timing, "UpdateStackSet", progress, || {
        clients
            .cfn
            .update_stack_set()
            .stack_set_name(&desired.name)
            .description(&desired.description)
            .set_template_body(body.clone())
            .set_template_url(url.clone())
            .set_parameters(Some(parameters(&desired.parameters)))
            .set_capabilities(Some(capabilities()))
            .permission_model(PermissionModels::from(desired.permission.name()))
            .set_auto_deployment(auto_deployment(&desired.permission))
            .managed_execution(ManagedExecution::builder().active(true).build())
            .set_administration_role_arn(admin.clone())
            .set_execution_role_name(exec.clone())
            // An empty list removes every tag, which is what an empty `tags:` means.
            .set_tags(Some(tags.clone()))
            .operation_preferences(preferences(prefs))
            .operation_id(&op)
            .set_call_as(clients.call_as.clone())
            .send()
    })
    .await
    .map_err(aws(format!(
        "cloudformation:UpdateStackSet {}",
        desired.name
    )))?;
    Ok(out.operation_id.unwrap_or(op))
}

/// A group of instances created (or redeployed) by one call: the same accounts in each region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceBatch {
    pub regions: Vec<String>,
    pub accounts: Vec<String>,
    /// Service-managed: the whole OUs (every account under them in these regions is new), or
    /// just `accounts` within them.
    pub whole_ous: bool,
}

/// Groups (account, region) pairs into as few calls as possible: regions that need the same
/// accounts share a call. The number of calls grows with distinct region sets, not accounts.
pub fn batches(
    pairs: &BTreeSet<(String, String)>,
    all_targets: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<InstanceBatch> {
    let mut by_region: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (account, region) in pairs {
        by_region.entry(region).or_default().insert(account);
    }
    let mut by_accounts: BTreeMap<Vec<&str>, Vec<String>> = BTreeMap::new();
    for (region, accounts) in by_region {
        by_accounts
            .entry(accounts.into_iter().collect())
            .or_default()
            .push(region.to_owned());
    }
    by_accounts
        .into_iter()
        .map(|(accounts, regions)| {
            let whole_ous = regions.iter().all(|r| {
                all_targets
                    .get(r)
                    .is_some_and(|all| all.len() == accounts.len())
            });
            InstanceBatch {
                regions,
                accounts: accounts.into_iter().map(str::to_owned).collect(),
                whole_ous,
            }
        })
        .collect()
}

fn targets(
    permission: &Permission,
    batch: &InstanceBatch,
) -> (Option<Vec<String>>, Option<DeploymentTargets>) {
    match permission {
        Permission::SelfManaged { .. } => (Some(batch.accounts.clone()), None),
        Permission::ServiceManaged {
            organizational_unit_ids,
            ..
        } => {
            let mut t = DeploymentTargets::builder()
                .set_organizational_unit_ids(Some(organizational_unit_ids.clone()));
            if !batch.whole_ous {
                t = t
                    .set_accounts(Some(batch.accounts.clone()))
                    .account_filter_type(AccountFilterType::Intersection);
            }
            (None, Some(t.build()))
        }
    }
}

/// `CreateStackInstances` for one batch; returns the operation id.
pub async fn create_instances(
    clients: &Clients,
    config: &Config,
    batch: &InstanceBatch,
    progress: &Progress,
) -> Result<String, CliError> {
    let (accounts, deployment_targets) = targets(&config.permission, batch);
    let op = operation_id("instances");
    let out = retrying(&clients.timing, "CreateStackInstances", progress, || {
        clients
            .cfn
            .create_stack_instances()
            .stack_set_name(&config.stack_set_name)
            .set_accounts(accounts.clone())
            .set_deployment_targets(deployment_targets.clone())
            .set_regions(Some(batch.regions.clone()))
            .operation_preferences(preferences(&config.operation_preferences))
            .operation_id(&op)
            .set_call_as(clients.call_as.clone())
            .send()
    })
    .await
    .map_err(aws(format!(
        "cloudformation:CreateStackInstances {} in {}",
        config.stack_set_name,
        batch.regions.join(", ")
    )))?;
    Ok(out.operation_id.unwrap_or(op))
}

/// `UpdateStackInstances` (no overrides): redeploys instances left OUTDATED by an earlier
/// failure with the StackSet's current template and parameters.
pub async fn redeploy_instances(
    clients: &Clients,
    config: &Config,
    batch: &InstanceBatch,
    progress: &Progress,
) -> Result<String, CliError> {
    let mut batch = batch.clone();
    batch.whole_ous = false;
    let (accounts, deployment_targets) = targets(&config.permission, &batch);
    let op = operation_id("redeploy");
    let out = retrying(&clients.timing, "UpdateStackInstances", progress, || {
        clients
            .cfn
            .update_stack_instances()
            .stack_set_name(&config.stack_set_name)
            .set_accounts(accounts.clone())
            .set_deployment_targets(deployment_targets.clone())
            .set_regions(Some(batch.regions.clone()))
            .operation_preferences(preferences(&config.operation_preferences))
            .operation_id(&op)
            .set_call_as(clients.call_as.clone())
            .send()
    })
    .await
    .map_err(aws(format!(
        "cloudformation:UpdateStackInstances {}",
        config.stack_set_name
    )))?;
    Ok(out.operation_id.unwrap_or(op))
}

/// `DeleteStackInstances` for one batch (stacks deleted, not retained); returns the operation.
pub async fn delete_instances(
    clients: &Clients,
    config: &Config,
    batch: &InstanceBatch,
    progress: &Progress,
) -> Result<String, CliError> {
    let (accounts, deployment_targets) = targets(&config.permission, batch);
    let op = operation_id("delete");
    let out = retrying(&clients.timing, "DeleteStackInstances", progress, || {
        clients
            .cfn
            .delete_stack_instances()
            .stack_set_name(&config.stack_set_name)
            .set_accounts(accounts.clone())
            .set_deployment_targets(deployment_targets.clone())
            .set_regions(Some(batch.regions.clone()))
            .retain_stacks(false)
            .operation_preferences(preferences(&config.operation_preferences))
            .operation_id(&op)
            .set_call_as(clients.call_as.clone())
            .send()
    })
    .await
    .map_err(aws(format!(
        "cloudformation:DeleteStackInstances {}",
        config.stack_set_name
    )))?;
    Ok(out.operation_id.unwrap_or(op))
}

/// `DeleteStackSet`.
pub async fn delete(clients: &Clients, name: &str, progress: &Progress) -> Result<(), CliError> {
    retrying(&clients.timing, "DeleteStackSet", progress, || {
        clients
            .cfn
            .delete_stack_set()
            .stack_set_name(name)
            .set_call_as(clients.call_as.clone())
            .send()
    })
    .await
    .map_err(aws(format!("cloudformation:DeleteStackSet {name}")))?;
    Ok(())
}

/// How an operation ended, with each account/region's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationOutcome {
    pub operation_id: String,
    pub action: String,
    /// SUCCEEDED, FAILED, STOPPED; or the last status seen (RUNNING, QUEUED) when the wait
    /// ran out.
    pub status: String,
    pub status_reason: Option<String>,
    pub finished: bool,
    pub results: Vec<OperationResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationResult {
    pub account: String,
    pub region: String,
    pub status: String,
    pub status_reason: Option<String>,
}

impl OperationOutcome {
    pub fn succeeded(&self) -> bool {
        self.finished && self.status == "SUCCEEDED"
    }
}

/// Waits for `operation_id` to finish (at most `timeout`), then reads its results.
pub async fn wait(
    clients: &Clients,
    name: &str,
    action: &str,
    operation_id: &str,
    timeout: Duration,
    progress: &Progress,
) -> Result<OperationOutcome, CliError> {
    let started = Instant::now();
    let mut delay = clients.timing.first_poll;
    let (status, reason) = loop {
        let out = clients
            .cfn
            .describe_stack_set_operation()
            .stack_set_name(name)
            .operation_id(operation_id)
            .set_call_as(clients.call_as.clone())
            .send()
            .await
            .map_err(aws(format!(
                "cloudformation:DescribeStackSetOperation {operation_id}"
            )))?;
        let op = out
            .stack_set_operation
            .unwrap_or_else(|| aws_sdk_cloudformation::types::StackSetOperation::builder().build());
        let status = op
            .status
            .clone()
            .unwrap_or(StackSetOperationStatus::Running);
        let finished = matches!(
            status,
            StackSetOperationStatus::Succeeded
                | StackSetOperationStatus::Failed
                | StackSetOperationStatus::Stopped
        );
        if finished || started.elapsed() >= timeout {
            break (status, op.status_reason);
        }
        progress.step(format!(
            "{action} {operation_id}: {} ({} s)",
            status.as_str(),
            started.elapsed().as_secs()
        ));
        tokio::time::sleep(delay.min(timeout.saturating_sub(started.elapsed()))).await;
        delay = (delay * 3 / 2).min(clients.timing.max_poll);
    };
    let finished = matches!(
        status,
        StackSetOperationStatus::Succeeded
            | StackSetOperationStatus::Failed
            | StackSetOperationStatus::Stopped
    );
    let mut results = Vec::new();
    if finished {
        let mut pages = clients
            .cfn
            .list_stack_set_operation_results()
            .stack_set_name(name)
            .operation_id(operation_id)
            .set_call_as(clients.call_as.clone())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws(format!(
                "cloudformation:ListStackSetOperationResults {operation_id}"
            )))?;
            for r in page.summaries.unwrap_or_default() {
                results.push(OperationResult {
                    account: r.account.unwrap_or_default(),
                    region: r.region.unwrap_or_default(),
                    status: r.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    status_reason: r.status_reason.filter(|s| !s.is_empty()),
                });
            }
        }
    }
    Ok(OperationOutcome {
        operation_id: operation_id.to_owned(),
        action: action.to_owned(),
        status: status.as_str().to_owned(),
        status_reason: reason.filter(|s| !s.is_empty()),
        finished,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(a, r)| (a.to_string(), r.to_string()))
            .collect()
    }

    #[test]
    fn batches_group_regions_that_need_the_same_accounts() {
        let mut all = BTreeMap::new();
        all.insert(
            "eu-west-1".to_string(),
            ["1", "2"].iter().map(|s| s.to_string()).collect(),
        );
        all.insert(
            "eu-central-1".to_string(),
            ["1", "2"].iter().map(|s| s.to_string()).collect(),
        );
        all.insert(
            "us-east-1".to_string(),
            ["1", "2"].iter().map(|s| s.to_string()).collect(),
        );
        let pairs = set(&[
            ("1", "eu-west-1"),
            ("2", "eu-west-1"),
            ("1", "eu-central-1"),
            ("2", "eu-central-1"),
            ("2", "us-east-1"),
        ]);
        let b = batches(&pairs, &all);
        assert_eq!(
            b,
            vec![
                InstanceBatch {
                    regions: vec!["eu-central-1".into(), "eu-west-1".into()],
                    accounts: vec!["1".into(), "2".into()],
                    whole_ous: true
                },
                InstanceBatch {
                    regions: vec!["us-east-1".into()],
                    accounts: vec!["2".into()],
                    whole_ous: false
                },
            ]
        );
    }
}

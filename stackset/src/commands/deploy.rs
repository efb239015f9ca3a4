//! `crossvault deploy`: publish to every region first, then create or update the StackSet,
//! create the missing instances, redeploy outdated ones, then the management account's plain
//! stack. Each operation is waited for; the result names every failure's reason.
//!
//! Nothing is written when the plan holds an error, and nothing in CloudFormation is written
//! when nothing differs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::aws::{Clients, Environment};
use crate::cli::Global;
use crate::commands::setup::{ConfigArgs, Prepared, clients, prepare};
use crate::deployment::{TEMPLATE_BODY_LIMIT, role_name};
use crate::error::{CliError, exit};
use crate::management::{self, StackChange, StackOutcome};
use crate::output::{Progress, Report, Table};
use crate::plan::{Plan, PlanInputs, Severity, make_plan, survey};
use crate::publish::{self, PublishReport};
use crate::stackset::{self, Instance, OperationOutcome, StackSetChange, batches};

#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// How long to wait for each StackSet operation and for the management stack (e.g. 90s,
    /// 30m, 2h). An operation still running then is reported as such (exit 3), not cancelled.
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// `90s`, `30m`, `2h`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("expected a duration such as 90s, 30m or 2h, got {s:?}"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}: use s, m or h")),
    };
    Ok(Duration::from_secs(seconds))
}

/// One instance's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceResult {
    pub account: String,
    pub region: String,
    pub role: String,
    pub status: String,
    pub detailed_status: Option<String>,
    pub reason: Option<String>,
}

impl InstanceResult {
    fn ok(&self) -> bool {
        self.status == "CURRENT"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ManagementResult {
    pub stack_name: String,
    pub region: String,
    pub change: StackChange,
    pub outcome: Option<StackOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    pub stack_set_name: String,
    /// False when nothing differed: no CloudFormation write call was made.
    pub changed: bool,
    pub artifact_key: String,
    pub publish: PublishReport,
    pub stack_set: StackSetChange,
    pub operations: Vec<OperationOutcome>,
    pub management_stack: ManagementResult,
    pub instances: Vec<InstanceResult>,
    /// Steps not attempted because an earlier one did not succeed.
    pub not_attempted: Vec<String>,
    pub warnings: Vec<String>,
}

impl DeployReport {
    fn failed(&self) -> bool {
        self.operations.iter().any(|o| !o.succeeded())
            || self.instances.iter().any(|i| !i.ok())
            || self
                .management_stack
                .outcome
                .as_ref()
                .is_some_and(|o| !o.succeeded())
            || !self.not_attempted.is_empty()
    }
}

impl Report for DeployReport {
    fn exit_code(&self) -> i32 {
        if self.failed() {
            exit::OUTCOME_FAILED
        } else {
            exit::OK
        }
    }
}

/// Above this many instances the text table lists only those that are not CURRENT.
const FULL_TABLE_LIMIT: usize = 100;

impl std::fmt::Display for DeployReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.changed {
            writeln!(
                f,
                "Nothing to change: StackSet {}, its {} instance(s) and the management stack are \
                 as configured; no CloudFormation write call was made.",
                self.stack_set_name,
                self.instances.len()
            )?;
        }
        let uploads = self.publish.uploads();
        writeln!(
            f,
            "published  {} in {} region(s): {}",
            self.artifact_key,
            self.publish.regions.len(),
            if uploads == 0 {
                "already there, nothing uploaded".to_owned()
            } else {
                format!("{uploads} upload(s)")
            }
        )?;
        match &self.stack_set {
            StackSetChange::Create => writeln!(f, "StackSet   {}: created", self.stack_set_name)?,
            StackSetChange::Unchanged => {
                writeln!(f, "StackSet   {}: unchanged", self.stack_set_name)?
            }
            StackSetChange::Update { reasons } => writeln!(
                f,
                "StackSet   {}: updated ({})",
                self.stack_set_name,
                reasons.join("; ")
            )?,
        }
        for op in &self.operations {
            writeln!(
                f,
                "operation  {} {}: {}{}{}",
                op.action,
                op.operation_id,
                op.status,
                if op.finished {
                    ""
                } else {
                    " (still running; not waited for longer)"
                },
                op.status_reason
                    .as_ref()
                    .map(|r| format!(" - {r}"))
                    .unwrap_or_default()
            )?;
        }
        let m = &self.management_stack;
        match (&m.change, &m.outcome) {
            (StackChange::Skipped { reason }, _) => {
                writeln!(f, "management stack: skipped ({reason})")?
            }
            (_, Some(o)) => writeln!(
                f,
                "management stack {} ({}): {}{}{}{}",
                m.stack_name,
                m.region,
                o.status,
                if o.finished {
                    ""
                } else {
                    " (still in progress; not waited for longer)"
                },
                o.status_reason
                    .as_ref()
                    .map(|r| format!(" - {r}"))
                    .unwrap_or_default(),
                o.failed_resource
                    .as_ref()
                    .map(|r| format!("\n  first failure: {r}"))
                    .unwrap_or_default()
            )?,
            (StackChange::Unchanged, None) => writeln!(
                f,
                "management stack {} ({}): unchanged",
                m.stack_name, m.region
            )?,
            (_, None) => writeln!(
                f,
                "management stack {} ({}): not deployed",
                m.stack_name, m.region
            )?,
        }
        for step in &self.not_attempted {
            writeln!(f, "not attempted: {step}")?;
        }
        writeln!(f)?;
        let shown: Vec<&InstanceResult> = if self.instances.len() > FULL_TABLE_LIMIT {
            self.instances.iter().filter(|i| !i.ok()).collect()
        } else {
            self.instances.iter().collect()
        };
        let mut t = Table::new(["account", "region", "role", "status", "reason"]);
        for i in &shown {
            let status = match &i.detailed_status {
                Some(d) if d != "SUCCEEDED" => format!("{} ({d})", i.status),
                _ => i.status.clone(),
            };
            t.row([
                i.account.clone(),
                i.region.clone(),
                i.role.clone(),
                status,
                i.reason.clone().unwrap_or_default(),
            ]);
        }
        if !t.is_empty() {
            write!(f, "{t}")?;
        }
        let current = self.instances.iter().filter(|i| i.ok()).count();
        write!(
            f,
            "{} instance(s): {current} current, {} not",
            self.instances.len(),
            self.instances.len() - current
        )?;
        if shown.len() < self.instances.len() {
            write!(f, " (the {current} current ones are in --output json)")?;
        }
        for w in &self.warnings {
            write!(f, "\nwarning: {w}")?;
        }
        Ok(())
    }
}

pub async fn run(
    args: &DeployArgs,
    global: &Global,
    env: &Environment,
    progress: &Progress,
) -> Result<DeployReport, CliError> {
    let prepared = prepare(&args.config)?;
    let clients = clients(&prepared.config, global, env).await?;
    deploy(&clients, prepared, args.timeout, progress).await
}

fn refuse(plan: &Plan) -> CliError {
    let lines: Vec<String> = plan.errors().map(|f| format!("- {}", f.message)).collect();
    CliError::Refused {
        message: format!(
            "crossvault deploy stopped before changing anything:\n{}",
            lines.join("\n")
        ),
        help: "fix the configuration; `crossvault plan` shows every target and finding".into(),
    }
}

/// The deployment itself, for embedding (the demo, tests): `prepared` from
/// [`crate::commands::setup::prepare`], `clients` from [`crate::commands::setup::clients`].
pub async fn deploy(
    clients: &Clients,
    mut prepared: Prepared,
    timeout: Duration,
    progress: &Progress,
) -> Result<DeployReport, CliError> {
    let config = &prepared.config;
    progress.step("reading Organizations, the StackSet and its instances");
    let survey = survey(clients, config).await?;
    let plan = make_plan(
        &PlanInputs {
            config,
            template: &prepared.template.model,
            desired: &prepared.desired,
            artifact_key: &prepared.artifact.key,
        },
        &survey,
    )?;
    if plan.has_errors() {
        progress.finish();
        return Err(refuse(&plan));
    }
    let warnings: Vec<String> = plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| f.message.clone())
        .collect();

    // Every region's bucket holds the new code before any StackSet change refers to it.
    let publish = publish::publish(
        clients,
        config,
        &prepared.artifact,
        &prepared.template,
        &survey.organization.id,
        &survey.caller_account,
        progress,
    )
    .await?;
    if prepared.template.text.len() > TEMPLATE_BODY_LIMIT {
        let region = if config.regions.contains(&config.stack_set_region) {
            config.stack_set_region.clone()
        } else {
            config.regions[0].clone()
        };
        let bucket = publish::bucket_name(&config.artifact_bucket_prefix, &region);
        prepared.desired.template_url = Some(publish::object_url(
            clients,
            &bucket,
            &region,
            &prepared.template.key,
        ));
    }
    let desired = &prepared.desired;

    let mut operations = Vec::new();
    let mut not_attempted = Vec::new();
    let mut blocked = false;
    let name = &config.stack_set_name;

    match &plan.stack_set {
        StackSetChange::Create => {
            progress.step(format!("creating StackSet {name}"));
            stackset::create(clients, desired, progress).await?;
        }
        StackSetChange::Update { .. } => {
            progress.step(format!("updating StackSet {name}"));
            let op =
                stackset::update(clients, desired, &config.operation_preferences, progress).await?;
            let outcome = stackset::wait(clients, name, "UPDATE", &op, timeout, progress).await?;
            blocked = !outcome.succeeded();
            operations.push(outcome);
        }
        StackSetChange::Unchanged => {}
    }

    let create_batches = batches(&plan.new_instances, &plan.targets_by_region);
    for batch in &create_batches {
        let what = format!(
            "create {} instance(s) in {}",
            batch.accounts.len() * batch.regions.len(),
            batch.regions.join(", ")
        );
        if blocked {
            not_attempted.push(what);
            continue;
        }
        progress.step(what);
        let op = stackset::create_instances(clients, config, batch, progress).await?;
        let outcome = stackset::wait(clients, name, "CREATE", &op, timeout, progress).await?;
        blocked = !outcome.succeeded();
        operations.push(outcome);
    }
    for batch in &batches(&plan.redeploy, &BTreeMap::new()) {
        let what = format!(
            "redeploy {} outdated instance(s) in {}",
            batch.accounts.len() * batch.regions.len(),
            batch.regions.join(", ")
        );
        if blocked {
            not_attempted.push(what);
            continue;
        }
        progress.step(what);
        let op = stackset::redeploy_instances(clients, config, batch, progress).await?;
        let outcome = stackset::wait(clients, name, "UPDATE", &op, timeout, progress).await?;
        blocked = !outcome.succeeded();
        operations.push(outcome);
    }

    let ms = &config.management_stack;
    let management_outcome = match &plan.management_stack {
        StackChange::Create | StackChange::Update { .. } if blocked => {
            not_attempted.push(format!("management stack {}", ms.stack_name));
            None
        }
        change @ (StackChange::Create | StackChange::Update { .. }) => {
            progress.step(format!("deploying the management stack {}", ms.stack_name));
            management::apply(
                clients,
                &ms.stack_name,
                matches!(change, StackChange::Create),
                &desired.template_body,
                desired.template_url.as_deref(),
                &desired.parameters,
            )
            .await?;
            Some(management::wait(clients, &ms.stack_name, timeout, progress).await?)
        }
        _ => None,
    };

    // The final word on every instance.
    let instances: Vec<Instance> = if plan.changes_anything() {
        stackset::instances(clients, name).await?
    } else {
        survey.instances.clone()
    };
    progress.finish();
    let reasons: BTreeMap<(String, String), String> = operations
        .iter()
        .flat_map(|o| o.results.iter())
        .filter_map(|r| {
            r.status_reason
                .clone()
                .map(|reason| ((r.account.clone(), r.region.clone()), reason))
        })
        .collect();
    let role_of = |account: &str, region: &str| {
        plan.rows
            .iter()
            .find(|r| r.account == account && r.region == region)
            .map(|r| r.role.clone())
            .unwrap_or_else(|| {
                crate::deployment::role_of(
                    &prepared.template.model,
                    &desired.parameters,
                    account,
                    region,
                )
                .map(|r| role_name(r).to_owned())
                .unwrap_or_default()
            })
    };
    let instances = instances
        .into_iter()
        .map(|i| {
            let key = (i.account.clone(), i.region.clone());
            InstanceResult {
                role: role_of(&i.account, &i.region),
                reason: i.status_reason.clone().or_else(|| {
                    (i.status != "CURRENT")
                        .then(|| reasons.get(&key).cloned())
                        .flatten()
                }),
                account: i.account,
                region: i.region,
                status: i.status,
                detailed_status: i.detailed_status,
            }
        })
        .collect();
    Ok(DeployReport {
        stack_set_name: name.clone(),
        changed: plan.changes_anything(),
        artifact_key: prepared.artifact.key.clone(),
        publish,
        stack_set: plan.stack_set.clone(),
        operations,
        management_stack: ManagementResult {
            stack_name: ms.stack_name.clone(),
            region: ms.region.clone(),
            change: plan.management_stack.clone(),
            outcome: management_outcome,
        },
        instances,
        not_attempted,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert!(parse_duration("2d").is_err());
        assert!(parse_duration("soon").is_err());
    }
}

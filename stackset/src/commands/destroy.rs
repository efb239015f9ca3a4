//! `crossvault destroy`: the instances, then the StackSet, then the management stack; the
//! artifact buckets only with `--purge-artifacts`. Asks on a terminal, needs `--yes` elsewhere.
//! Vaults, their recovery points and keys are retained by the template and stay.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use serde::Serialize;

use crate::aws::Environment;
use crate::cli::Global;
use crate::commands::deploy::parse_duration;
use crate::commands::setup::{ConfigArgs, clients};
use crate::config::Permission;
use crate::error::{CliError, exit};
use crate::management::{self, StackOutcome};
use crate::output::{Progress, Report};
use crate::publish;
use crate::stackset::{self, InstanceBatch, OperationOutcome};

#[derive(Debug, Clone, clap::Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Do not ask (required when not on a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Also empty and delete the artifact buckets (every version of every object).
    #[arg(long)]
    pub purge_artifacts: bool,
    /// How long to wait for each operation (e.g. 30m, 2h).
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    pub timeout: Duration,
}

pub const RETAINED: &str = "Retained: the backup vaults with their recovery points and the KMS \
keys stay in every account and region (the template retains them); crossvault does not delete \
backups. Delete them yourself if you mean to.";

#[derive(Debug, Clone, Serialize)]
pub struct DestroyReport {
    pub stack_set_name: String,
    pub instances_deleted: usize,
    pub operations: Vec<OperationOutcome>,
    pub stack_set_deleted: bool,
    pub management_stack: Option<StackOutcome>,
    /// Buckets emptied and deleted, with the number of object versions removed.
    pub purged_buckets: BTreeMap<String, usize>,
    pub not_attempted: Vec<String>,
    pub retained: String,
}

impl Report for DestroyReport {
    fn exit_code(&self) -> i32 {
        let failed = self.operations.iter().any(|o| !o.succeeded())
            || self
                .management_stack
                .as_ref()
                .is_some_and(|m| !m.succeeded())
            || !self.not_attempted.is_empty();
        if failed {
            exit::OUTCOME_FAILED
        } else {
            exit::OK
        }
    }
}

impl std::fmt::Display for DestroyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "StackSet {}: {} instance(s) deleted, StackSet {}",
            self.stack_set_name,
            self.instances_deleted,
            if self.stack_set_deleted {
                "deleted"
            } else {
                "not deleted"
            }
        )?;
        for op in &self.operations {
            writeln!(
                f,
                "operation  {} {}: {}",
                op.action, op.operation_id, op.status
            )?;
            for r in op.results.iter().filter(|r| r.status != "SUCCEEDED") {
                writeln!(
                    f,
                    "  {} {}: {} {}",
                    r.account,
                    r.region,
                    r.status,
                    r.status_reason.clone().unwrap_or_default()
                )?;
            }
        }
        if let Some(m) = &self.management_stack {
            writeln!(
                f,
                "management stack {}: {}{}",
                m.stack_name,
                m.status,
                m.failed_resource
                    .as_ref()
                    .map(|r| format!(" - {r}"))
                    .unwrap_or_default()
            )?;
        }
        for (bucket, n) in &self.purged_buckets {
            writeln!(
                f,
                "bucket {bucket}: {n} object version(s) deleted, bucket deleted"
            )?;
        }
        for step in &self.not_attempted {
            writeln!(f, "not attempted: {step}")?;
        }
        write!(f, "{}", self.retained)
    }
}

pub async fn run(
    args: &DestroyArgs,
    global: &Global,
    env: &Environment,
    progress: &Progress,
    confirm: &mut dyn Confirm,
) -> Result<DestroyReport, CliError> {
    let (config, _) = args.config.resolve()?;
    let clients = clients(&config, global, env).await?;
    let name = &config.stack_set_name;
    let stack_set = stackset::describe(&clients, name).await?;
    let instances = if stack_set.is_some() {
        stackset::instances(&clients, name).await?
    } else {
        Vec::new()
    };
    let management = if config.management_stack.deploy {
        management::describe(&clients, &config.management_stack.stack_name).await?
    } else {
        None
    };
    let buckets: Vec<(String, String)> = config
        .regions
        .iter()
        .map(|r| {
            (
                r.clone(),
                publish::bucket_name(&config.artifact_bucket_prefix, r),
            )
        })
        .collect();

    let mut what = Vec::new();
    if stack_set.is_some() {
        what.push(format!(
            "{} stack instance(s) and the StackSet {name}",
            instances.len()
        ));
    }
    if management.is_some() {
        what.push(format!(
            "the management stack {}",
            config.management_stack.stack_name
        ));
    }
    if args.purge_artifacts {
        what.push(format!(
            "the artifact buckets {}",
            buckets
                .iter()
                .map(|(_, b)| b.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if what.is_empty() {
        return Ok(DestroyReport {
            stack_set_name: name.clone(),
            instances_deleted: 0,
            operations: Vec::new(),
            stack_set_deleted: false,
            management_stack: None,
            purged_buckets: BTreeMap::new(),
            not_attempted: Vec::new(),
            retained: format!(
                "Nothing to destroy: StackSet {name} and the management stack do not exist. {RETAINED}"
            ),
        });
    }
    if !args.yes {
        let question = format!(
            "This deletes {}.\n{RETAINED}\nType the StackSet name ({name}) to go on: ",
            what.join(", ")
        );
        match confirm.ask(&question) {
            None => {
                return Err(CliError::Usage {
                    message: format!(
                        "destroy would delete {}; not on a terminal, so nobody was asked",
                        what.join(", ")
                    ),
                    help: "run it on a terminal, or pass --yes".into(),
                });
            }
            Some(answer) if answer.trim() == name => {}
            Some(_) => {
                return Err(CliError::Usage {
                    message: "the answer was not the StackSet name; nothing was deleted".into(),
                    help: format!("type {name} exactly to confirm, or pass --yes"),
                });
            }
        }
    }

    let mut operations = Vec::new();
    let mut not_attempted = Vec::new();
    let mut blocked = false;
    let mut deleted = 0;
    if !instances.is_empty() {
        let pairs: BTreeSet<(String, String)> = instances
            .iter()
            .map(|i| (i.account.clone(), i.region.clone()))
            .collect();
        let mut groups = stackset::batches(&pairs, &BTreeMap::new());
        let mut delete_config = config.clone();
        if let Permission::ServiceManaged {
            organizational_unit_ids,
            ..
        } = &mut delete_config.permission
        {
            // Instances belong to the OUs they were deployed through; those are what
            // DeleteStackInstances takes (accounts may have moved since).
            let from_instances: BTreeSet<String> = instances
                .iter()
                .filter_map(|i| i.organizational_unit_id.clone())
                .collect();
            if !from_instances.is_empty() {
                *organizational_unit_ids = from_instances.into_iter().collect();
            }
            // Whole OUs per region set: every instance there goes.
            let regions: BTreeSet<String> = instances.iter().map(|i| i.region.clone()).collect();
            groups = vec![InstanceBatch {
                regions: regions.into_iter().collect(),
                accounts: Vec::new(),
                whole_ous: true,
            }];
        }
        for batch in &groups {
            progress.step(format!(
                "deleting the instances in {}",
                batch.regions.join(", ")
            ));
            let op = stackset::delete_instances(&clients, &delete_config, batch, progress).await?;
            let outcome =
                stackset::wait(&clients, name, "DELETE", &op, args.timeout, progress).await?;
            blocked |= !outcome.succeeded();
            operations.push(outcome);
        }
        let left = stackset::instances(&clients, name).await?;
        deleted = instances.len().saturating_sub(left.len());
        if !left.is_empty() {
            blocked = true;
            not_attempted.push(format!(
                "delete the StackSet: {} instance(s) remain ({})",
                left.len(),
                left.iter()
                    .take(5)
                    .map(|i| format!("{} {}", i.account, i.region))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let mut stack_set_deleted = false;
    if stack_set.is_some() && !blocked {
        stackset::delete(&clients, name, progress).await?;
        stack_set_deleted = true;
    }
    let management_stack = match (&management, blocked) {
        (Some(_), true) => {
            not_attempted.push(format!(
                "delete the management stack {}",
                config.management_stack.stack_name
            ));
            None
        }
        (Some(_), false) => {
            progress.step(format!(
                "deleting the management stack {}",
                config.management_stack.stack_name
            ));
            management::delete(&clients, &config.management_stack.stack_name).await?;
            Some(
                management::wait(
                    &clients,
                    &config.management_stack.stack_name,
                    args.timeout,
                    progress,
                )
                .await?,
            )
        }
        (None, _) => None,
    };
    let mut purged_buckets = BTreeMap::new();
    if args.purge_artifacts {
        if blocked {
            not_attempted.push("purge the artifact buckets (stacks still use them)".into());
        } else {
            for (region, bucket) in &buckets {
                progress.step(format!("emptying and deleting {bucket}"));
                let n = publish::purge_bucket(clients.s3(region)?, bucket).await?;
                purged_buckets.insert(bucket.clone(), n);
            }
        }
    }
    progress.finish();
    Ok(DestroyReport {
        stack_set_name: name.clone(),
        instances_deleted: deleted,
        operations,
        stack_set_deleted,
        management_stack,
        purged_buckets,
        not_attempted,
        retained: RETAINED.to_owned(),
    })
}

/// Asks the user; `None` when there is nobody to ask.
pub trait Confirm {
    fn ask(&mut self, question: &str) -> Option<String>;
}

/// Asks on the terminal (stdin and stderr both terminals), else nobody.
pub struct TerminalConfirm;

impl Confirm for TerminalConfirm {
    fn ask(&mut self, question: &str) -> Option<String> {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return None;
        }
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).ok()?;
        Some(line)
    }
}

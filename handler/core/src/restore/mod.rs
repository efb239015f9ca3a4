//! The pre-prod refresh: production databases restored into a pre-prod account when their
//! copy arrives, masked by the user's hook, then promoted to a stable address; older restores
//! removed. Driven by events only — each step is triggered by the event that says the previous
//! one is done, and the reconciler ([`reconcile`]) finishes the steps events missed. State lives
//! in AWS: the point's restore jobs, the tags on the restored resources ([`resource`]), the
//! stable address's SSM parameter. Nothing is kept in the Lambda.
//!
//! | event (pre-prod account) | decided in | step |
//! |---|---|---|
//! | `Recovery Point State Change` COMPLETED in the pre-prod vault | [`arrival_event`] | `StartRestoreJob` (one per point: deterministic token and name) |
//! | `Restore Job State Change` COMPLETED (crossvault's restore role) | [`restore_job`] | tag the resource with its provenance; Aurora: create the writer; when usable: start the masking hook |
//! | `RDS DB Instance Event` `RDS-EVENT-0005` | [`rds_instance`] | a restore (or Aurora writer) became usable: start the masking hook |
//! | `EC2 Automation Execution Status-change Notification` | [`automation`] | hook succeeded: promote, delete older restores beyond the kept count, notify; failed: notify, keep the previous restore |
//!
//! Which arrivals are restored: restores on (`RestoreOnArrival`), a pre-prod vault arrival of a
//! type crossvault restores (RDS, Aurora, DynamoDB, EFS), from a production account
//! (`ProductionAccountIds`, or any account that is not crossvault's backup, pre-prod or
//! management account), whose source resource is on the allow-list (`RestoreSources`, ARNs or
//! names) or whose recovery point carries the pre-prod tag (`RestoreTaggedSources`), and that
//! is newer than every restore of that resource already made. Everything else is ignored with
//! the reason (and `crossvault explain` shows it).

pub mod action;
pub mod events;
pub mod hook;
pub mod jobs;
pub mod metadata;
pub mod naming;
pub mod reconcile;
pub mod refresh;
pub mod resource;
pub mod settings;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::arn::{RecoveryPointArn, VaultArn};
use crate::config::{Role, StackConfig};
use crate::decide::DecideError;
use crate::event::{BackupEvent, EventError, RecoveryPointEvent, RestoreJobEvent, Status};
use crate::facts::{FactRequest, Facts, RecoveryPointFacts, RecoveryPointRef};
use crate::ids::Region;
use crate::notify;
use crate::plan::{Action, Plan};

pub use action::{DnsChange, RestoreAction};
pub use events::{AutomationEvent, RdsInstanceEvent};
pub use hook::{HookExecution, HookStatus};
pub use jobs::{ListedRestoreJob, RestoreState, restore_state};
pub use resource::{Provenance, RestoredKind, RestoredRef, RestoredResource, Stage};
pub use settings::RestoreSettings;

/// What a refresh asks the effect layer to look up.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RestoreRequest {
    /// `GetRecoveryPointRestoreMetadata` of this point.
    #[serde(default)]
    pub metadata_of: Option<RecoveryPointRef>,
    /// `ListRestoreJobs` created after this time (a point's restores are newer than it).
    #[serde(default)]
    pub restore_jobs_since: Option<DateTime<Utc>>,
    /// Crossvault's restores of this production resource (by their provenance tags).
    #[serde(default)]
    pub restores_of: Option<String>,
    /// Describe this restored resource (its status, endpoint, tags).
    #[serde(default)]
    pub resource: Option<String>,
    /// `GetAutomationExecution` of this execution.
    #[serde(default)]
    pub hook_execution: Option<String>,
}

impl RestoreRequest {
    /// True when nothing is asked.
    pub fn is_empty(&self) -> bool {
        self.metadata_of.is_none()
            && self.restore_jobs_since.is_none()
            && self.restores_of.is_none()
            && self.resource.is_none()
            && self.hook_execution.is_none()
    }
}

impl fmt::Display for RestoreRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(rp) = &self.metadata_of {
            parts.push(format!("the restore metadata of {}", rp.recovery_point_arn));
        }
        if let Some(since) = &self.restore_jobs_since {
            parts.push(format!("the restore jobs since {since}"));
        }
        if let Some(source) = &self.restores_of {
            parts.push(format!("crossvault's restores of {source}"));
        }
        if let Some(arn) = &self.resource {
            parts.push(format!("the restored resource {arn}"));
        }
        if let Some(id) = &self.hook_execution {
            parts.push(format!("the masking hook's execution {id}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// What the effect layer found.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RestoreFacts {
    /// The point's restore metadata.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// The restore jobs listed.
    #[serde(default)]
    pub restore_jobs: Option<Vec<ListedRestoreJob>>,
    /// Crossvault's restores of the resource asked for.
    #[serde(default)]
    pub restores: Option<Vec<RestoredResource>>,
    /// The resource asked for, by ARN (`None` inside: it does not exist).
    #[serde(default)]
    pub resource: Option<(String, Option<RestoredResource>)>,
    /// The execution asked for.
    #[serde(default)]
    pub hook: Option<HookExecution>,
}

impl RestoreFacts {
    /// Adds what `other` has.
    pub fn merge(&mut self, other: RestoreFacts) {
        if other.metadata.is_some() {
            self.metadata = other.metadata;
        }
        if other.restore_jobs.is_some() {
            self.restore_jobs = other.restore_jobs;
        }
        if other.restores.is_some() {
            self.restores = other.restores;
        }
        if other.resource.is_some() {
            self.resource = other.resource;
        }
        if other.hook.is_some() {
            self.hook = other.hook;
        }
    }

    /// The resource `arn`, once described (`Some(None)`: it does not exist).
    pub fn resource_of(&self, arn: &str) -> Option<Option<&RestoredResource>> {
        match &self.resource {
            Some((a, r)) if a == arn => Some(r.as_ref()),
            _ => None,
        }
    }
}

/// The facts of `request` that `facts` lacks, as an error (`Ok` when it has them all).
fn need(facts: &Facts, request: FactRequest) -> Result<(), DecideError> {
    let r = &facts.restore;
    let missing = FactRequest {
        resource_tags_of: request
            .resource_tags_of
            .filter(|_| facts.resource_tags.is_none()),
        copy_jobs_of: None,
        route: None,
        recovery_point: request
            .recovery_point
            .filter(|_| facts.recovery_point.is_none()),
        restore: Box::new(RestoreRequest {
            metadata_of: request.restore.metadata_of.filter(|_| r.metadata.is_none()),
            restore_jobs_since: request
                .restore
                .restore_jobs_since
                .filter(|_| r.restore_jobs.is_none()),
            restores_of: request.restore.restores_of.filter(|_| r.restores.is_none()),
            resource: request
                .restore
                .resource
                .filter(|arn| r.resource_of(arn).is_none()),
            hook_execution: request
                .restore
                .hook_execution
                .filter(|id| r.hook.as_ref().is_none_or(|h| h.execution_id != *id)),
        }),
    };
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DecideError::NeedsFacts(missing))
    }
}

/// The pre-prod vault of this stack in `region`.
pub fn preprod_vault(config: &StackConfig, vault: &VaultArn, region: &Region) -> VaultArn {
    VaultArn::new(
        vault.partition,
        region.clone(),
        config.account_id.clone(),
        config.preprod_vault_name.clone(),
    )
}

/// Why a source account is not a production account crossvault restores from, if it is not.
pub fn not_production(config: &StackConfig, account: &str) -> Option<String> {
    if !config.preprod_source_account_ids.is_empty() {
        return (!config.preprod_source_account_ids.iter().any(|a| a == account)).then(|| {
            format!(
                "account {account} is not one of the production accounts (ProductionAccountIds: {})",
                config
                    .preprod_source_account_ids
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    }
    let role = if config.account_id == account {
        Some("this pre-prod account itself")
    } else if config.backup_account_id == account {
        Some("the backup account")
    } else if config.preprod_account_ids.iter().any(|a| a == account) {
        Some("a pre-prod account")
    } else if config
        .management_account_id
        .as_ref()
        .is_some_and(|m| m == account)
    {
        Some("the management account")
    } else {
        None
    };
    role.map(|r| format!("account {account} is {r}, not a production account"))
}

/// Whether the allow-list names `source_resource` (by ARN or by its name).
pub fn on_allow_list(settings: &RestoreSettings, source_resource: &str) -> bool {
    let name = naming::source_name(source_resource);
    settings
        .sources
        .iter()
        .any(|s| s == source_resource || s == name)
}

/// A point in the pre-prod vault, from its event or the reconciler's listing.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    /// The stack.
    pub config: &'a StackConfig,
    /// The point.
    pub recovery_point_arn: &'a str,
    /// Its vault.
    pub vault: &'a VaultArn,
    /// Its status.
    pub status: &'a Status,
    /// The production resource (`resourceArn`).
    pub resource_arn: Option<&'a str>,
    /// Its type.
    pub resource_type: Option<&'a str>,
    /// When the backup was taken (copies keep the original's creation date).
    pub creation_date: Option<DateTime<Utc>>,
    /// The stack's region.
    pub region: &'a Region,
    /// The event path: a failed restore waits for the reconciler; a restore that cannot start
    /// is notified. The reconciler retries now and only reports.
    pub from_event: bool,
}

fn ignore(reason: String) -> Result<Vec<Action>, DecideError> {
    Ok(vec![Action::Ignore { reason }])
}

/// What to do about an arrival.
pub fn arrival(a: &Arrival<'_>, facts: &Facts) -> Result<Vec<Action>, DecideError> {
    let config = a.config;
    let settings = &config.restore;
    let rp = a.recovery_point_arn;
    if !settings.on_arrival {
        return ignore(format!(
            "recovery point {rp} arrived in pre-prod vault {}; restores are off (RestoreOnArrival = false)",
            a.vault
        ));
    }
    let preprod = preprod_vault(config, a.vault, a.region);
    if *a.vault != preprod {
        return ignore(format!(
            "recovery point {rp} is in vault {}, not this account's pre-prod vault {preprod}",
            a.vault
        ));
    }
    if !matches!(a.status, Status::Completed | Status::Available) {
        return ignore(format!(
            "recovery point {rp} is {}; crossvault restores COMPLETED points",
            a.status
        ));
    }
    let Some(resource_type) = a.resource_type else {
        return ignore(format!(
            "recovery point {rp} names no resource type; not restored"
        ));
    };
    let Some(kind) = RestoredKind::of_resource_type(resource_type) else {
        return ignore(format!(
            "recovery point {rp} is a {resource_type} backup; crossvault restores {} only",
            resource::RESTORABLE_TYPES.join(", ")
        ));
    };
    if RecoveryPointArn::parse(rp).is_ok_and(|p| p.is_continuous()) {
        return ignore(format!(
            "recovery point {rp} is continuous (point-in-time); crossvault restores snapshots only"
        ));
    }
    let Some(source) = a.resource_arn else {
        return ignore(format!(
            "recovery point {rp} names no source resource; cannot tell where its data comes from"
        ));
    };
    let Some(source_account) = crate::arn::region_and_account(source).and_then(|(_, a)| a) else {
        return ignore(format!(
            "recovery point {rp}: the source resource {source} names no account"
        ));
    };
    if let Some(reason) = not_production(config, source_account.as_str()) {
        return ignore(format!(
            "recovery point {rp} of {source}: {reason}; not restored"
        ));
    }
    if !on_allow_list(settings, source) {
        if !settings.tagged_sources {
            return ignore(format!(
                "{source} is not on the restore allow-list (RestoreSources) and tagged sources are \
                 not restored (RestoreTaggedSources = false)"
            ));
        }
        need(
            facts,
            FactRequest {
                resource_tags_of: Some(rp.to_owned()),
                ..FactRequest::default()
            },
        )?;
        let tags = facts.resource_tags.as_ref().expect("needed above");
        if tags.get(&config.preprod_tag_key) != Some(&config.preprod_tag_value) {
            return ignore(format!(
                "{source} is not on the restore allow-list (RestoreSources) and its recovery point \
                 {rp} does not carry the pre-prod tag {}={}",
                config.preprod_tag_key, config.preprod_tag_value
            ));
        }
    }
    let point_ref = RecoveryPointRef {
        recovery_point_arn: rp.to_owned(),
        vault_name: config.preprod_vault_name.clone(),
    };
    let since = a
        .creation_date
        .or_else(|| facts.recovery_point.as_ref().and_then(|p| p.creation_date));
    need(
        facts,
        FactRequest {
            recovery_point: Some(point_ref.clone()),
            restore: Box::new(RestoreRequest {
                metadata_of: Some(point_ref),
                restore_jobs_since: Some(since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH)),
                restores_of: Some(source.to_owned()),
                ..RestoreRequest::default()
            }),
            ..FactRequest::default()
        },
    )?;
    let point = facts.recovery_point.as_ref().expect("needed above");
    let Some(backup_time) = since.or(point.creation_date) else {
        return ignore(format!(
            "recovery point {rp} has no creation date; not restored"
        ));
    };
    let role_arn = settings
        .role_arn
        .clone()
        .ok_or(DecideError::MissingConfig {
            var: settings::vars::ROLE_ARN,
        })?;
    let jobs = facts.restore.restore_jobs.as_deref().unwrap_or_default();
    let state = restore_state(jobs, rp, &role_arn);
    let attempt = match &state {
        RestoreState::Done(job) => {
            return ignore(format!(
                "recovery point {rp} is already restored (restore job {}{})",
                job.restore_job_id,
                job.created_resource_arn
                    .as_deref()
                    .map(|r| format!(" made {r}"))
                    .unwrap_or_default()
            ));
        }
        RestoreState::UnderWay(job) => {
            return ignore(format!(
                "restore job {} of {rp} is {}; the refresh goes on when it is COMPLETED",
                job.restore_job_id, job.status
            ));
        }
        RestoreState::Failed(failed) if failed.len() >= settings::RESTORE_MAX_ATTEMPTS as usize => {
            return ignore(format!(
                "crossvault gave up restoring {rp} after {} failed restore jobs (last: {})",
                failed.len(),
                failed
                    .iter()
                    .rev()
                    .find_map(|j| j.status_message.clone())
                    .unwrap_or_else(|| "no status message".into())
            ));
        }
        RestoreState::Failed(_) if a.from_event => {
            return ignore(format!(
                "an earlier restore of {rp} failed; the reconciler starts attempt {} of {}",
                state.next_attempt(),
                settings::RESTORE_MAX_ATTEMPTS
            ));
        }
        RestoreState::Failed(_) | RestoreState::NotStarted => state.next_attempt(),
    };
    let restores = facts.restore.restores.as_deref().unwrap_or_default();
    if let Some(newer) = restores.iter().find_map(|r| {
        let p = r.provenance()?;
        (p.source_resource == source
            && !r.is_writer()
            && (p.backup_time >= backup_time || p.recovery_point == rp)
            && r.stage() != Some(Stage::Retired))
        .then_some((r, p))
    }) {
        return ignore(format!(
            "{source} already has restore {} of a backup taken {} (this point's: {}); an older or \
             equal backup is not restored over it",
            newer.0.arn,
            resource::tag_time(newer.1.backup_time),
            resource::tag_time(backup_time)
        ));
    }
    let cannot_start = |reason: String| -> Result<Vec<Action>, DecideError> {
        if a.from_event {
            Ok(vec![notify::restore_cannot_start(
                config, a.region, rp, source, &reason,
            )])
        } else {
            ignore(format!("cannot restore {rp}: {reason}"))
        }
    };
    if let (Some(max), Some(size)) = (settings.max_size_gib, point.backup_size_in_bytes)
        && size > u64::from(max) * 1024 * 1024 * 1024
    {
        return cannot_start(format!(
            "the recovery point is {:.1} GiB, over RestoreMaxSizeGiB = {max}",
            size as f64 / (1024.0 * 1024.0 * 1024.0)
        ));
    }
    let name = naming::restore_name(source, backup_time, rp, attempt);
    let aws = facts.restore.metadata.clone().unwrap_or_default();
    let metadata = match metadata::restore_metadata(kind, &aws, settings, &name) {
        Ok(m) => m,
        Err(metadata::CannotStart(reason)) => return cannot_start(reason),
    };
    Ok(vec![Action::Restore(RestoreAction::StartRestoreJob {
        recovery_point_arn: rp.to_owned(),
        resource_type: kind.resource_type().to_owned(),
        iam_role_arn: role_arn,
        metadata,
        idempotency_token: naming::restore_token(rp, attempt),
        attempt,
        name,
        source_resource_arn: source.to_owned(),
    })])
}

/// Recovery Point State Change in a pre-prod account.
pub fn arrival_event(
    e: &RecoveryPointEvent,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    let region = config
        .region
        .clone()
        .unwrap_or_else(|| e.meta.region.clone());
    let actions = arrival(
        &Arrival {
            config,
            recovery_point_arn: &e.recovery_point_arn,
            vault: &e.backup_vault_arn,
            status: &e.status,
            resource_arn: e.resource_arn.as_deref(),
            resource_type: e.resource_type.as_deref(),
            creation_date: e.creation_date,
            region: &region,
            from_event: true,
        },
        facts,
    )?;
    Ok(Plan { actions })
}

/// Whether a restore job ran as crossvault's restore role.
fn ours(config: &StackConfig, role: Option<&str>) -> bool {
    config.restore.role_arn.is_some() && config.restore.role_arn.as_deref() == role
}

/// Restore Job State Change.
pub fn restore_job(
    e: &RestoreJobEvent,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    if config.role != Role::PreProd {
        return Ok(Plan::ignore(format!(
            "restore job {} in a {} account: crossvault reports only pre-prod restores",
            e.restore_job_id, config.role
        )));
    }
    if e.status.is_in_progress() {
        return Ok(Plan::ignore(format!(
            "restore job {} is {}; reported when it finishes",
            e.restore_job_id, e.status
        )));
    }
    if !ours(config, e.iam_role_arn.as_deref()) {
        // Someone else's restore from the pre-prod vault: reported, never touched.
        return Ok(Plan::single(notify::restore_job_finished(e)));
    }
    if e.status != Status::Completed {
        return Ok(Plan::single(notify::restore_failed(e)));
    }
    let Some(created) = e.created_resource_arn.as_deref() else {
        return Err(DecideError::Event(EventError {
            field: "detail.createdResourceArn".into(),
            problem: "missing in a COMPLETED restore job".into(),
        }));
    };
    let Some(restored) = RestoredRef::from_arn(created) else {
        return Ok(Plan::single(notify::restore_job_finished(e)));
    };
    let Some(rp) = e.recovery_point_arn.as_deref() else {
        return Err(DecideError::Event(EventError {
            field: "detail.recoveryPointArn".into(),
            problem: "missing".into(),
        }));
    };
    let Some(source) = e.source_resource_arn.as_deref() else {
        return Err(DecideError::Event(EventError {
            field: "detail.sourceResourceArn".into(),
            problem: "missing".into(),
        }));
    };
    need(
        facts,
        FactRequest {
            recovery_point: Some(RecoveryPointRef {
                recovery_point_arn: rp.to_owned(),
                vault_name: config.preprod_vault_name.clone(),
            }),
            restore: Box::new(RestoreRequest {
                resource: Some(created.to_owned()),
                restores_of: Some(source.to_owned()),
                ..RestoreRequest::default()
            }),
            ..FactRequest::default()
        },
    )?;
    let Some(Some(resource)) = facts.restore.resource_of(created) else {
        return Ok(Plan::ignore(format!(
            "restore job {} made {restored}, which no longer exists",
            e.restore_job_id
        )));
    };
    let point = facts.recovery_point.as_ref().expect("needed above");
    let restores = facts.restore.restores.as_deref().unwrap_or_default();
    let mut actions = Vec::new();
    let mut resource = resource.clone();
    if resource.provenance().is_none() {
        let Some(backup_time) = point.creation_date else {
            return Ok(Plan::ignore(format!(
                "restore job {}: the recovery point {rp} has no creation date; its restore is left untagged",
                e.restore_job_id
            )));
        };
        let provenance = Provenance {
            source_account: crate::arn::region_and_account(source)
                .and_then(|(_, a)| a)
                .map(|a| a.to_string())
                .unwrap_or_default(),
            source_resource: source.to_owned(),
            recovery_point: rp.to_owned(),
            backup_time,
        };
        let mut tags = provenance.tags();
        tags.insert(resource::RESTORE_JOB.into(), e.restore_job_id.clone());
        if let Some(done) = e.completion_date.or(e.meta.time) {
            tags.insert(resource::RESTORED_AT.into(), resource::tag_time(done));
        }
        tags.insert(resource::STAGE.into(), Stage::Restored.as_str().into());
        actions.push(Action::Restore(RestoreAction::TagRestore {
            resource: RestoredRef::from(&resource),
            tags: tags.clone(),
            reason: "provenance of a new restore".into(),
        }));
        resource.tags.extend(tags);
        actions.push(notify::restore_completed(config, e, &resource));
    }
    actions.extend(refresh::advance(
        config,
        &resource,
        restores,
        None,
        e.meta.time,
    ));
    Ok(Plan { actions })
}

/// RDS DB Instance Event: a restore, or an Aurora restore's writer, may have become usable.
pub fn rds_instance(
    e: &RdsInstanceEvent,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    if config.role != Role::PreProd || !config.restore.on_arrival {
        return Ok(Plan::ignore(format!(
            "RDS event for {}: only a pre-prod stack that restores acts on RDS events",
            e.source_identifier
        )));
    }
    if e.event_id.as_deref() != Some(events::RDS_INSTANCE_CREATED) {
        return Ok(Plan::ignore(format!(
            "RDS event {} for {}: only {} (DB instance created) moves a refresh on",
            e.event_id.as_deref().unwrap_or("(no id)"),
            e.source_identifier,
            events::RDS_INSTANCE_CREATED
        )));
    }
    let arn = e.source_arn.clone().unwrap_or_else(|| {
        format!(
            "arn:aws:rds:{}:{}:db:{}",
            e.meta.region, e.meta.account, e.source_identifier
        )
    });
    let described = match &facts.restore.resource {
        None => {
            return Err(DecideError::NeedsFacts(FactRequest {
                restore: Box::new(RestoreRequest {
                    resource: Some(arn),
                    ..RestoreRequest::default()
                }),
                ..FactRequest::default()
            }));
        }
        Some((_, None)) => return Ok(Plan::ignore(format!("DB instance {arn} no longer exists"))),
        Some((described, Some(r))) => (described, r),
    };
    // An Aurora writer's event is about its cluster: describe the cluster next.
    let resource = match described {
        (described, r) if *described == arn && r.kind == RestoredKind::RdsInstance => {
            match r.tag(resource::WRITER_OF) {
                Some(cluster) => {
                    return Err(DecideError::NeedsFacts(FactRequest {
                        restore: Box::new(RestoreRequest {
                            resource: Some(format!(
                                "arn:aws:rds:{}:{}:cluster:{cluster}",
                                e.meta.region, e.meta.account
                            )),
                            ..RestoreRequest::default()
                        }),
                        ..FactRequest::default()
                    }));
                }
                None => r,
            }
        }
        (_, r) => r,
    };
    let Some(provenance) = resource.provenance() else {
        return Ok(Plan::ignore(format!(
            "{} carries no crossvault provenance (yet): its restore job's COMPLETED event tags it",
            resource.arn
        )));
    };
    need(
        facts,
        FactRequest {
            restore: Box::new(RestoreRequest {
                restores_of: Some(provenance.source_resource.clone()),
                ..RestoreRequest::default()
            }),
            ..FactRequest::default()
        },
    )?;
    let restores = facts.restore.restores.as_deref().unwrap_or_default();
    Ok(Plan {
        actions: refresh::advance(config, resource, restores, None, e.meta.time),
    })
}

/// The masking hook's execution finished (or changed status).
pub fn automation(
    e: &AutomationEvent,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    let Some(document) = config.restore.hook_document.as_deref() else {
        return Ok(Plan::ignore(format!(
            "automation {} ({}): no masking hook is configured here",
            e.execution_id, e.definition
        )));
    };
    if config.role != Role::PreProd || !hook::same_document(document, &e.definition) {
        return Ok(Plan::ignore(format!(
            "automation {} runs {}, not crossvault's masking hook {document}",
            e.execution_id, e.definition
        )));
    }
    if HookStatus::parse(&e.status) == HookStatus::Running {
        return Ok(Plan::ignore(format!(
            "masking hook {} is {}; the refresh goes on when it finishes",
            e.execution_id, e.status
        )));
    }
    need(
        facts,
        FactRequest {
            restore: Box::new(RestoreRequest {
                hook_execution: Some(e.execution_id.clone()),
                ..RestoreRequest::default()
            }),
            ..FactRequest::default()
        },
    )?;
    let execution = facts.restore.hook.as_ref().expect("needed above");
    let Some(arn) = execution.resource_arn.clone() else {
        return Ok(Plan::ignore(format!(
            "automation {} was not started by crossvault (no ResourceArn parameter)",
            e.execution_id
        )));
    };
    need(
        facts,
        FactRequest {
            restore: Box::new(RestoreRequest {
                resource: Some(arn.clone()),
                ..RestoreRequest::default()
            }),
            ..FactRequest::default()
        },
    )?;
    let Some(Some(resource)) = facts.restore.resource_of(&arn) else {
        return Ok(Plan::ignore(format!(
            "masking hook {} finished, but its restore {arn} no longer exists",
            e.execution_id
        )));
    };
    let Some(provenance) = resource.provenance() else {
        return Ok(Plan::ignore(format!(
            "masking hook {} ran on {arn}, which carries no crossvault provenance; nothing is promoted",
            e.execution_id
        )));
    };
    need(
        facts,
        FactRequest {
            restore: Box::new(RestoreRequest {
                restores_of: Some(provenance.source_resource.clone()),
                ..RestoreRequest::default()
            }),
            ..FactRequest::default()
        },
    )?;
    let restores = facts.restore.restores.as_deref().unwrap_or_default();
    Ok(Plan {
        actions: refresh::advance(config, resource, restores, Some(execution), e.meta.time),
    })
}

/// What can be assumed without AWS (`crossvault explain`): the arrival's point is as its event
/// says, with no restore jobs, no restores yet and its restore metadata unknown; a restore
/// job's resource exists, untagged and usable.
pub fn assumed_without_aws(event: &BackupEvent, _config: &StackConfig) -> RestoreFacts {
    match event {
        BackupEvent::RecoveryPoint(_) => RestoreFacts {
            metadata: Some(BTreeMap::new()),
            restore_jobs: Some(Vec::new()),
            restores: Some(Vec::new()),
            ..RestoreFacts::default()
        },
        BackupEvent::RestoreJob(e) => RestoreFacts {
            restores: Some(Vec::new()),
            resource: e.created_resource_arn.as_ref().map(|arn| {
                let resource = RestoredRef::from_arn(arn).map(|r| RestoredResource {
                    endpoint: Some(format!("{}.(endpoint)", r.identifier)),
                    arn: r.arn,
                    kind: r.kind,
                    identifier: r.identifier,
                    tags: BTreeMap::new(),
                    status: "available".into(),
                    available: true,
                    writer: None,
                    deletion_protection: false,
                    engine: None,
                });
                (arn.clone(), resource)
            }),
            ..RestoreFacts::default()
        },
        _ => RestoreFacts::default(),
    }
}

/// The pre-prod point facts a reconciler listing gives (for [`arrival`]).
pub fn point_facts(point: &RecoveryPointFacts) -> Facts {
    Facts::none().and_recovery_point(point.clone())
}

//! The entry point: event + configuration + facts → plan.

use serde_json::Value;

use crate::config::{Role, StackConfig};
use crate::copy_chain;
use crate::event::{BackupEvent, EventError, EventMeta, RestoreJobEvent};
use crate::facts::{FactRequest, Facts};
use crate::notify;
use crate::plan::Plan;

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    /// The event is malformed; the error names the field.
    #[error("malformed event: {0}")]
    Event(#[from] EventError),
    /// A fact is needed first (call [`facts_needed`] before [`decide`]).
    #[error("cannot decide without {0}")]
    NeedsFacts(FactRequest),
    /// A configuration value the decision needs is not set.
    #[error("configuration: {var} is not set")]
    MissingConfig {
        /// The variable.
        var: &'static str,
    },
}

/// Which facts [`decide`] needs first for this event. An empty request means
/// `decide(event, config, &Facts::none())` succeeds.
pub fn facts_needed(event: &BackupEvent, config: &StackConfig) -> FactRequest {
    match decide(event, config, &Facts::none()) {
        Err(DecideError::NeedsFacts(request)) => request,
        _ => FactRequest::default(),
    }
}

/// The event source crossvault acts on.
pub const EVENT_SOURCE: &str = "aws.backup";

/// Why an event is not this stack's to act on, if it is not: crossvault acts only on AWS
/// Backup's own events (`source` `aws.backup`) emitted in its own account and region.
pub fn not_ours(meta: &EventMeta, config: &StackConfig) -> Option<String> {
    if meta.source != EVENT_SOURCE {
        return Some(format!(
            "event source {:?} is not {EVENT_SOURCE:?}: crossvault acts only on AWS Backup's own events",
            meta.source
        ));
    }
    if meta.account != config.account_id {
        return Some(format!(
            "event from account {} but this stack runs in account {}",
            meta.account, config.account_id
        ));
    }
    if let Some(region) = &config.region
        && meta.region != *region
    {
        return Some(format!(
            "event from region {} but this stack runs in region {region}",
            meta.region
        ));
    }
    None
}

/// The plan for one event. Fails with [`DecideError::NeedsFacts`] while facts it needs are
/// missing; call again with them added (the effect layer loops, see [`crate::facts`]).
pub fn decide(
    event: &BackupEvent,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    if let Some(reason) = event.meta().and_then(|meta| not_ours(meta, config)) {
        return Ok(Plan::ignore(format!("{}: {reason}", event.detail_type())));
    }
    match event {
        BackupEvent::BackupJob(e) => copy_chain::backup_job(e, config, facts),
        BackupEvent::CopyJob(e) => copy_chain::copy_job(e, config, facts),
        BackupEvent::RecoveryPoint(e) => copy_chain::recovery_point(e, config, facts),
        BackupEvent::RestoreJob(e) => Ok(restore_job(e, config)),
        BackupEvent::Other { detail_type } => Ok(Plan::ignore(format!(
            "event type {detail_type:?} needs no action from crossvault"
        ))),
    }
}

/// [`decide`] for a raw EventBridge event.
pub fn decide_json(
    event: &Value,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    decide(&BackupEvent::from_value(event)?, config, facts)
}

/// [`facts_needed`] for a raw EventBridge event.
pub fn facts_needed_json(event: &Value, config: &StackConfig) -> Result<FactRequest, DecideError> {
    Ok(facts_needed(&BackupEvent::from_value(event)?, config))
}

/// Restore jobs are reported in pre-prod accounts (the pre-prod restore's result goes to SNS).
fn restore_job(e: &RestoreJobEvent, config: &StackConfig) -> Plan {
    if config.role != Role::PreProd {
        return Plan::ignore(format!(
            "restore job {} in a {} account: crossvault reports only pre-prod restores",
            e.restore_job_id, config.role
        ));
    }
    if e.status.is_in_progress() {
        return Plan::ignore(format!(
            "restore job {} is {}; reported when it finishes",
            e.restore_job_id, e.status
        ));
    }
    Plan::single(notify::restore_job_finished(e))
}

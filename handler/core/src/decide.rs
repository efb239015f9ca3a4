//! The entry point: event + configuration + facts → plan.

use serde_json::Value;

use crate::config::{Role, StackConfig};
use crate::copy_chain;
use crate::event::{BackupEvent, EventError, EventMeta};
use crate::facts::{FactRequest, Facts};
use crate::plan::Plan;
use crate::restore;

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
    not_from(meta, config, EVENT_SOURCE)
}

/// [`not_ours`] for an event AWS emits with `source` `expected` (the pre-prod refresh's SSM
/// and RDS events).
pub fn not_from(meta: &EventMeta, config: &StackConfig, expected: &str) -> Option<String> {
    if meta.source != expected {
        let whose = if expected == EVENT_SOURCE {
            "AWS Backup's own events".to_owned()
        } else {
            format!("{expected}'s own events of this type")
        };
        return Some(format!(
            "event source {:?} is not {expected:?}: crossvault acts only on {whose}",
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
    if let Some(reason) = event
        .meta()
        .and_then(|meta| not_from(meta, config, event.expected_source()))
    {
        return Ok(Plan::ignore(format!("{}: {reason}", event.detail_type())));
    }
    match event {
        BackupEvent::BackupJob(e) => copy_chain::backup_job(e, config, facts),
        BackupEvent::CopyJob(e) => copy_chain::copy_job(e, config, facts),
        BackupEvent::RecoveryPoint(e) if config.role == Role::PreProd => {
            restore::arrival_event(e, config, facts)
        }
        BackupEvent::RecoveryPoint(e) => copy_chain::recovery_point(e, config, facts),
        BackupEvent::RestoreJob(e) => restore::restore_job(e, config, facts),
        BackupEvent::Automation(e) => restore::automation(e, config, facts),
        BackupEvent::RdsInstance(e) => restore::rds_instance(e, config, facts),
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

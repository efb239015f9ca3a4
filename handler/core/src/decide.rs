//! The entry point: event + configuration + facts → plan.

use serde_json::Value;

use crate::config::{Role, StackConfig};
use crate::copy_chain;
use crate::event::{BackupEvent, EventError, RestoreJobEvent};
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

/// Phase 1: which facts [`decide`] will need for this event. An empty request means
/// `decide(event, config, &Facts::none())` succeeds.
pub fn facts_needed(event: &BackupEvent, config: &StackConfig) -> FactRequest {
    match decide(event, config, &Facts::none()) {
        Err(DecideError::NeedsFacts(request)) => request,
        _ => FactRequest::default(),
    }
}

/// Phase 2: the plan for one event.
pub fn decide(
    event: &BackupEvent,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    match event {
        BackupEvent::BackupJob(e) => copy_chain::backup_job(e, config),
        BackupEvent::CopyJob(e) => copy_chain::copy_job(e, config, facts),
        BackupEvent::RecoveryPoint(e) => copy_chain::recovery_point(e, config),
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
    if e.meta.account != config.account_id {
        return Plan::ignore(format!(
            "restore job {} from account {} but this stack runs in account {}",
            e.restore_job_id, e.meta.account, config.account_id
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

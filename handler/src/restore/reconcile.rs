//! The pre-prod reconcile: the safety net of the refresh. It lists the pre-prod vault's points
//! in the look-back window, the window's restore jobs and crossvault's tagged restores, and
//! decides each item exactly as its lost event would have been decided
//! (`crossvault_core::restore::reconcile`), item by item, oldest first, until the deadline.
//! One item's failure is reported and the next goes on.

use crossvault_core::restore::reconcile::{PreprodInput, Work, job_event, work};
use crossvault_core::restore::resource::{HOOK_EXECUTION, MARKER, MARKER_VALUE};
use crossvault_core::restore::{self as core_restore, Arrival, RestoredResource, refresh};
use crossvault_core::{DecideError, Facts, Plan, Region, VaultArn};
use tokio::time::Instant;

use crate::batch::EventError;
use crate::effects::{ActionOutcome, Effects};
use crate::reconcile::{ReconcileReport, list_recovery_points, partition_of};

/// Rounds of "decide, gather what it asks for" per item.
const MAX_FACT_ROUNDS: usize = 6;

/// Decides with `decide`, gathering what it asks for.
async fn decided(
    effects: &Effects<'_>,
    mut facts: Facts,
    decide: impl Fn(&Facts) -> Result<Vec<crossvault_core::Action>, DecideError>,
) -> Result<(Vec<crossvault_core::Action>, Facts), String> {
    for _ in 0..MAX_FACT_ROUNDS {
        match decide(&facts) {
            Ok(actions) => return Ok((actions, facts)),
            Err(DecideError::NeedsFacts(request)) => {
                facts.merge(effects.gather(&request).await.map_err(|e| e.to_string())?);
            }
            Err(e) => return Err(format!("cannot decide: {e}")),
        }
    }
    Err(format!(
        "still missing facts after {MAX_FACT_ROUNDS} rounds"
    ))
}

/// One pre-prod reconcile run.
pub async fn run(
    effects: &Effects<'_>,
    region: &Region,
    deadline: Instant,
) -> Result<ReconcileReport, EventError> {
    let config = effects.config;
    let now = effects.clock.now();
    let since = crossvault_core::reconcile::window_start(config, now);
    let input = PreprodInput {
        now,
        partition: partition_of(region.as_str()),
        region: region.clone(),
        points: list_recovery_points(effects.clients, config, since, now).await?,
        restore_jobs: effects.restore_jobs_since(since).await?,
        restores: effects.tagged_restores(MARKER, MARKER_VALUE).await?,
    };
    let items = work(&input, config);
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    let vault = VaultArn::new(
        input.partition,
        region.clone(),
        config.account_id.clone(),
        config.preprod_vault_name.clone(),
    );
    for item in &items {
        if Instant::now() >= deadline {
            break;
        }
        checked += 1;
        let (label, decision) = match item {
            Work::Arrival(point) => {
                let mut facts = Facts::none().and_recovery_point(point.clone());
                facts.restore.restore_jobs = Some(input.restore_jobs.clone());
                let arrival = Arrival {
                    config,
                    recovery_point_arn: &point.recovery_point_arn,
                    vault: &vault,
                    status: point
                        .status
                        .as_ref()
                        .unwrap_or(&crossvault_core::Status::Completed),
                    resource_arn: point.resource_arn.as_deref(),
                    resource_type: point.resource_type.as_deref(),
                    creation_date: point.creation_date,
                    region,
                    from_event: false,
                };
                (
                    point.recovery_point_arn.clone(),
                    decided(effects, facts, |f| core_restore::arrival(&arrival, f)).await,
                )
            }
            Work::Finished(job) => {
                let source = match job.source_resource_arn.clone() {
                    Some(s) => Some(s),
                    None => effects
                        .describe_point(&job.recovery_point_arn, config.preprod_vault_name.as_str())
                        .await
                        .ok()
                        .and_then(|p| p.resource_arn),
                };
                let event = job_event(job, config, region, now, source);
                (
                    job.restore_job_id.clone(),
                    decided(effects, Facts::none(), |f| {
                        core_restore::restore_job(&event, config, f).map(|p| p.actions)
                    })
                    .await,
                )
            }
            Work::Restore(r) => (
                r.arn.clone(),
                move_on(effects, &r.arn, &input.restores).await,
            ),
        };
        let (actions, facts) = match decision {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{label}: {e}"));
                continue;
            }
        };
        let plan = Plan { actions };
        if plan.is_noop() {
            tracing::debug!(item = %label, plan = %plan, "reconcile: nothing to do");
            continue;
        }
        tracing::info!(item = %label, plan = %plan, "reconcile plan");
        let (done, errors) = effects.execute_each(&plan, &facts).await;
        outcomes.extend(done);
        failures.extend(errors.iter().map(|e| format!("{label}: {e}")));
    }
    let left_for_next_run = items.len() - checked;
    let summary = format!(
        "pre-prod reconcile: {} point(s), {} restore job(s), {} restore(s) listed; {checked} of {} item(s) worked on{}",
        input.points.len(),
        input.restore_jobs.len(),
        input.restores.len(),
        items.len(),
        if left_for_next_run > 0 {
            format!(", {left_for_next_run} left for the next run")
        } else {
            String::new()
        }
    );
    tracing::info!(failures = failures.len(), "{summary}");
    if outcomes.is_empty() {
        outcomes.push(ActionOutcome::Ignored {
            reason: summary.clone(),
        });
    }
    Ok(ReconcileReport {
        recovery_points: input.points.len(),
        copy_jobs: 0,
        lookback_hours: config.lookback_hours(),
        checked,
        skipped_old: 0,
        left_for_next_run,
        outcomes,
        failures,
        summary,
    })
}

/// The next step of a listed restore, from a fresh description (and its hook's execution).
async fn move_on(
    effects: &Effects<'_>,
    arn: &str,
    listed: &[RestoredResource],
) -> Result<(Vec<crossvault_core::Action>, Facts), String> {
    let Some(resource) = effects
        .describe_restored(arn)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok((Vec::new(), Facts::none()));
    };
    let execution = match resource.tag(HOOK_EXECUTION) {
        Some(id) => Some(
            effects
                .hook_execution(id)
                .await
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let mut restores: Vec<RestoredResource> = listed
        .iter()
        .filter(|r| r.arn != resource.arn)
        .cloned()
        .collect();
    restores.push(resource.clone());
    let actions = refresh::advance(
        effects.config,
        &resource,
        &restores,
        execution.as_ref(),
        Some(effects.clock.now()),
    );
    Ok((actions, Facts::none()))
}

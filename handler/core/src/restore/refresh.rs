//! A restore's next step, from its tags and its service's description: wait until it is
//! usable, run the masking hook, promote it when the hook succeeded, delete what it
//! supersedes. The same function serves every event and the reconciler, so a step the events
//! missed is the step the reconciler takes.
//!
//! Guards:
//! - nothing is promoted unless its hook succeeded (or `RestoreUnmasked` says masking is not
//!   wanted), and never over a promoted restore of a newer backup (late hooks, reordered
//!   events): such a restore is superseded and deleted instead;
//! - after a promotion, crossvault's restores of the same production resource that are older
//!   than the promoted one are deleted, except the `RestoreKeep − 1` newest promoted ones;
//!   restores of newer backups are never touched (they are on their way);
//! - only resources with crossvault's marker and the same source's provenance are ever
//!   deleted, and the effect layer reads their tags again right before deleting.

use chrono::{DateTime, Utc};

use super::action::{DnsChange, RestoreAction};
use super::hook::{self, HookExecution, HookStatus};
use super::naming;
use super::resource::{
    self, HOOK_EXECUTION, Provenance, RestoredKind, RestoredRef, RestoredResource, STAGE, Stage,
};
use crate::config::StackConfig;
use crate::notify;
use crate::plan::Action;

fn ignore(reason: String) -> Vec<Action> {
    vec![Action::Ignore { reason }]
}

fn stage_tag(stage: Stage) -> std::collections::BTreeMap<String, String> {
    std::collections::BTreeMap::from([(STAGE.to_owned(), stage.as_str().to_owned())])
}

/// `(backup time, ARN)`: how restores of one source are ordered (newest last).
fn order(p: &Provenance, arn: &str) -> (DateTime<Utc>, String) {
    (p.backup_time, arn.to_owned())
}

/// A promoted restore of the same source that is newer than `resource`, if any.
fn newer_promoted<'a>(
    resource: &RestoredResource,
    provenance: &Provenance,
    restores: &'a [RestoredResource],
) -> Option<&'a RestoredResource> {
    let mine = order(provenance, &resource.arn);
    restores.iter().find(|r| {
        r.arn != resource.arn
            && !r.is_writer()
            && r.stage() == Some(Stage::Promoted)
            && r.provenance().is_some_and(|p| {
                p.source_resource == provenance.source_resource && order(&p, &r.arn) > mine
            })
    })
}

/// The next step of `resource`'s refresh. `restores` are crossvault's restores of the same
/// production resource (from the listing); `execution` the masking hook's, when known; `at`
/// the time of the event (or the reconcile run), for the notifications' durations.
pub fn advance(
    config: &StackConfig,
    resource: &RestoredResource,
    restores: &[RestoredResource],
    execution: Option<&HookExecution>,
    at: Option<DateTime<Utc>>,
) -> Vec<Action> {
    let settings = &config.restore;
    let Some(provenance) = resource.provenance() else {
        return ignore(format!(
            "{} carries no crossvault provenance: not crossvault's to refresh",
            resource.arn
        ));
    };
    let this = RestoredRef::from(resource);
    match resource.stage() {
        Some(Stage::Promoted) => ignore(format!("{this} is promoted; nothing left to do")),
        Some(Stage::HookFailed) => ignore(format!(
            "{this}: its masking hook failed; it is never promoted and goes with the next promotion's cleanup"
        )),
        Some(Stage::Retired) => vec![delete(
            resource,
            &provenance,
            "superseded (tagged retired); its deletion is finished",
        )],
        Some(Stage::Masking) => match execution {
            Some(x) => hook_result(config, resource, &provenance, restores, x, at),
            None => ignore(format!(
                "masking hook {} runs on {this}; its completion event promotes it",
                resource.tag(HOOK_EXECUTION).unwrap_or("(starting)")
            )),
        },
        // The hook's completion can be read before its start was recorded on the resource
        // (the tag is written right after the start).
        Some(Stage::Restored) | None if execution.is_some() => hook_result(
            config,
            resource,
            &provenance,
            restores,
            execution.expect("checked"),
            at,
        ),
        Some(Stage::Restored) | None => {
            if let Some(newer) = newer_promoted(resource, &provenance, restores) {
                return vec![delete(
                    resource,
                    &provenance,
                    &format!(
                        "superseded before it was promoted: {} (a newer backup) is promoted",
                        newer.arn
                    ),
                )];
            }
            if !resource.available {
                return ignore(format!(
                    "{this} is {}; the refresh goes on when it is available (its RDS event or the reconciler)",
                    resource.status
                ));
            }
            if resource.kind == RestoredKind::AuroraCluster {
                match &resource.writer {
                    None => {
                        let Some(class) = settings.db_instance_class.clone() else {
                            return ignore(format!(
                                "{this} has no writer instance and RestoreDBInstanceClass is not set"
                            ));
                        };
                        let mut tags = provenance.tags();
                        tags.insert(resource::WRITER_OF.into(), resource.identifier.clone());
                        return vec![Action::Restore(RestoreAction::CreateWriter {
                            cluster: this,
                            instance_identifier: naming::writer_name(&resource.identifier),
                            instance_class: class,
                            engine: resource
                                .engine
                                .clone()
                                .unwrap_or_else(|| "aurora-postgresql".into()),
                            tags,
                        })];
                    }
                    Some(w) if !w.available => {
                        return ignore(format!(
                            "the writer {} of {this} is not available yet; its RDS event moves the refresh on",
                            w.identifier
                        ));
                    }
                    Some(_) => {}
                }
            }
            if resource.endpoint.is_none() {
                return ignore(format!(
                    "{this} reports no endpoint yet; the reconciler moves the refresh on"
                ));
            }
            match &settings.hook_document {
                Some(document) => vec![Action::Restore(RestoreAction::StartHook {
                    resource: this,
                    document: document.clone(),
                    parameters: hook::parameters(resource),
                    client_token: naming::hook_token(&resource.arn),
                })],
                None if settings.unmasked => promote(config, resource, &provenance, restores, at),
                None => ignore(format!(
                    "{this} is not promoted: no masking hook is configured and RestoreUnmasked is false"
                )),
            }
        }
    }
}

/// What the hook's execution `x` means for `resource`.
fn hook_result(
    config: &StackConfig,
    resource: &RestoredResource,
    provenance: &Provenance,
    restores: &[RestoredResource],
    x: &HookExecution,
    at: Option<DateTime<Utc>>,
) -> Vec<Action> {
    let this = RestoredRef::from(resource);
    if x.resource_arn.as_deref() != Some(resource.arn.as_str()) {
        return ignore(format!(
            "masking hook {} ran on {}, not on {this}",
            x.execution_id,
            x.resource_arn.as_deref().unwrap_or("(no ResourceArn)")
        ));
    }
    let recorded = resource.tag(HOOK_EXECUTION);
    if recorded.is_some_and(|id| id != x.execution_id) {
        return ignore(format!(
            "masking hook execution {} is not the one {this} records ({}); ignored",
            x.execution_id,
            recorded.unwrap_or_default()
        ));
    }
    match x.status {
        HookStatus::Running => ignore(format!(
            "masking hook {} on {this} is {}; promoted when it succeeds",
            x.execution_id, x.status_text
        )),
        HookStatus::Succeeded => promote(config, resource, provenance, restores, at),
        HookStatus::Failed => {
            let mut tags = stage_tag(Stage::HookFailed);
            tags.insert(HOOK_EXECUTION.into(), x.execution_id.clone());
            vec![
                Action::Restore(RestoreAction::TagRestore {
                    resource: this,
                    tags,
                    reason: format!("masking hook {} {}", x.execution_id, x.status_text),
                }),
                notify::hook_failed(config, resource, provenance, restores, x),
            ]
        }
    }
}

fn delete(resource: &RestoredResource, provenance: &Provenance, reason: &str) -> Action {
    Action::Restore(RestoreAction::DeleteRestore {
        resource: RestoredRef::from(resource),
        source_resource: provenance.source_resource.clone(),
        reason: reason.to_owned(),
    })
}

/// The restores that promoting `promoted` supersedes: crossvault's restores of the same source
/// older than it, except the `keep − 1` newest promoted ones.
pub fn superseded<'a>(
    keep: u32,
    promoted: &RestoredResource,
    provenance: &Provenance,
    restores: &'a [RestoredResource],
) -> Vec<&'a RestoredResource> {
    let mine = order(provenance, &promoted.arn);
    let mut older: Vec<(&RestoredResource, (DateTime<Utc>, String))> = restores
        .iter()
        .filter(|r| r.arn != promoted.arn && !r.is_writer())
        .filter_map(|r| {
            let p = r.provenance()?;
            (p.source_resource == provenance.source_resource).then(|| (r, order(&p, &r.arn)))
        })
        .filter(|(_, o)| *o < mine)
        .collect();
    older.sort_by(|a, b| b.1.cmp(&a.1));
    let mut kept = 1;
    older
        .into_iter()
        .filter(|(r, _)| {
            if r.stage() == Some(Stage::Promoted) && kept < keep {
                kept += 1;
                false
            } else {
                true
            }
        })
        .map(|(r, _)| r)
        .collect()
}

fn promote(
    config: &StackConfig,
    resource: &RestoredResource,
    provenance: &Provenance,
    restores: &[RestoredResource],
    at: Option<DateTime<Utc>>,
) -> Vec<Action> {
    let this = RestoredRef::from(resource);
    if let Some(newer) = newer_promoted(resource, provenance, restores) {
        return vec![delete(
            resource,
            provenance,
            &format!(
                "masked, but {} (a newer backup) is already promoted; superseded",
                newer.arn
            ),
        )];
    }
    let settings = &config.restore;
    let endpoint = resource.endpoint.clone().unwrap_or_default();
    let parameter_name = naming::parameter_name(
        &settings.parameter_prefix,
        &provenance.source_account,
        &provenance.source_resource,
    );
    let dns = settings.dns.as_ref().and_then(|zone| {
        resource.host().map(|host| DnsChange {
            hosted_zone_id: zone.hosted_zone_id.clone(),
            record_name: naming::dns_name(
                &zone.domain,
                &provenance.source_account,
                &provenance.source_resource,
            ),
            target: host.to_owned(),
        })
    });
    let mut actions = vec![Action::Restore(RestoreAction::Promote {
        resource: this,
        parameter_name: parameter_name.clone(),
        endpoint,
        description: format!(
            "crossvault: {} restored from {} (backup of {} taken {})",
            resource.arn,
            provenance.recovery_point,
            provenance.source_resource,
            resource::tag_time(provenance.backup_time)
        ),
        dns: dns.clone(),
    })];
    let gone = superseded(settings.keep, resource, provenance, restores);
    for old in &gone {
        actions.push(delete(
            old,
            provenance,
            &format!(
                "superseded by {} (RestoreKeep = {})",
                resource.arn, settings.keep
            ),
        ));
    }
    actions.push(notify::promoted(
        config,
        resource,
        provenance,
        &parameter_name,
        dns.as_ref(),
        &gone,
        at,
    ));
    actions
}

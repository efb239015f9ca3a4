//! Reconciler table tests.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use crossvault_core::config::vars;
use crossvault_core::idempotency::copy_token;
use crossvault_core::reconcile::{
    ListedCopyJob, ListedRecoveryPoint, ReconcileInput, facts_needed, reconcile,
};
use crossvault_core::{
    Action, CurrentLifecycle, Hop, Partition, Plan, Region, StackConfig, Status, StorageClass,
};

const RP: &str = "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-1";
const RESOURCE: &str = "arn:aws:rds:eu-west-1:111111111111:db:orders";
const FRANKFURT: &str = "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault";
const LOCAL: &str = "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault";
const PREPROD_VAULT: &str = "arn:aws:backup:eu-west-1:333333333333:backup-vault:crossvault";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 3, 12, 0, 0).unwrap()
}

fn point(age_hours: i64) -> ListedRecoveryPoint {
    ListedRecoveryPoint {
        recovery_point_arn: RP.into(),
        resource_arn: Some(RESOURCE.into()),
        resource_type: Some("RDS".into()),
        creation_date: now() - Duration::hours(age_hours),
        status: Status::Completed,
        storage_class: StorageClass::Warm,
        lifecycle: CurrentLifecycle {
            delete_after_days: Some(35),
            move_to_cold_storage_after_days: None,
        },
    }
}

fn job(id: &str, dest: &str, state: Status) -> ListedCopyJob {
    ListedCopyJob {
        copy_job_id: id.into(),
        source_recovery_point_arn: RP.into(),
        destination_vault_arn: dest.parse().unwrap(),
        state,
    }
}

fn input(points: Vec<ListedRecoveryPoint>, jobs: Vec<ListedCopyJob>) -> ReconcileInput {
    ReconcileInput {
        now: now(),
        partition: Partition::Aws,
        region: Region::new("eu-west-1").unwrap(),
        recovery_points: points,
        copy_jobs: jobs,
        resource_tags: BTreeMap::new(),
    }
}

fn summary(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| match a {
            Action::StartCopyJob {
                hop,
                destination_vault_arn,
                idempotency_token,
                source_recovery_point_arn,
                ..
            } => {
                assert_eq!(
                    idempotency_token,
                    &copy_token(
                        source_recovery_point_arn,
                        &destination_vault_arn.to_string()
                    ),
                    "same tokens as the event path"
                );
                format!("copy {hop} -> {destination_vault_arn}")
            }
            Action::ShortenRetention {
                confirm_copy_job_id,
                ..
            } => format!(
                "shorten (confirm {})",
                confirm_copy_job_id.as_deref().unwrap_or("-")
            ),
            Action::Notify { subject, .. } => format!("notify {subject}"),
            Action::Ignore { reason } => format!("ignore {reason}"),
        })
        .collect()
}

fn run(config: &StackConfig, input: &ReconcileInput) -> Vec<String> {
    summary(&reconcile(input, config).unwrap())
}

#[test]
fn table() {
    let no_preprod = source(&[(vars::PREPROD_ACCOUNT_IDS, "")]);
    let local = source(&[
        (vars::PREPROD_ACCOUNT_IDS, ""),
        (vars::COPY_TO_LOCAL_REGION, "true"),
    ]);
    let copy_frankfurt = format!("copy to-backup-region -> {FRANKFURT}");
    let copy_local = format!("copy to-local-region -> {LOCAL}");
    let cases: Vec<(&str, &StackConfig, ReconcileInput, Vec<String>)> = vec![
        (
            "no copy yet → hop 1",
            &no_preprod,
            input(vec![point(3)], vec![]),
            vec![copy_frankfurt.clone()],
        ),
        (
            "hop 1 running → nothing",
            &no_preprod,
            input(vec![point(3)], vec![job("j1", FRANKFURT, Status::Running)]),
            vec!["ignore reconcile: 1 recovery point(s) checked, every chain complete or under way; 0 older than the 72 h look-back skipped".into()],
        ),
        (
            "hop 1 failed → retried with the same token",
            &no_preprod,
            input(vec![point(3)], vec![job("j1", FRANKFURT, Status::Failed)]),
            vec![copy_frankfurt.clone()],
        ),
        (
            "hop 1 failed then completed → shorten",
            &no_preprod,
            input(
                vec![point(3)],
                vec![job("j1", FRANKFURT, Status::Failed), job("j2", FRANKFURT, Status::Completed)],
            ),
            vec!["shorten (confirm j2)".into()],
        ),
        (
            "hop 1 done, local on → local hop",
            &local,
            input(vec![point(3)], vec![job("j1", FRANKFURT, Status::Completed)]),
            vec![copy_local.clone()],
        ),
        (
            "both done → shorten confirmed by the local hop",
            &local,
            input(
                vec![point(3)],
                vec![job("j1", FRANKFURT, Status::Completed), job("j2", LOCAL, Status::Completed)],
            ),
            vec!["shorten (confirm j2)".into()],
        ),
        (
            "chain done, already short → nothing",
            &no_preprod,
            input(
                vec![ListedRecoveryPoint {
                    lifecycle: CurrentLifecycle {
                        delete_after_days: Some(7),
                        move_to_cold_storage_after_days: None,
                    },
                    ..point(3)
                }],
                vec![job("j1", FRANKFURT, Status::Completed)],
            ),
            vec!["ignore reconcile: 1 recovery point(s) checked, every chain complete or under way; 0 older than the 72 h look-back skipped".into()],
        ),
        (
            "older than the look-back → skipped",
            &no_preprod,
            input(vec![point(100)], vec![]),
            vec!["ignore reconcile: 0 recovery point(s) checked, every chain complete or under way; 1 older than the 72 h look-back skipped".into()],
        ),
        (
            "not completed → skipped",
            &no_preprod,
            input(vec![ListedRecoveryPoint { status: Status::Partial, ..point(3) }], vec![]),
            vec!["ignore reconcile: 0 recovery point(s) checked, every chain complete or under way; 0 older than the 72 h look-back skipped".into()],
        ),
        (
            "cold point → ignored with reason",
            &no_preprod,
            input(vec![ListedRecoveryPoint { storage_class: StorageClass::Cold, ..point(3) }], vec![]),
            vec![format!("ignore reconcile: {RP} is in cold storage: cold-tier recovery points cannot be copied across regions or accounts")],
        ),
    ];
    for (name, config, input, expected) in cases {
        assert_eq!(run(config, &input), expected, "{name}");
    }
}

#[test]
fn preprod_hop_needs_tags_then_runs_once() {
    let config = source(&[]);
    let mut i = input(
        vec![point(3)],
        vec![job("j1", FRANKFURT, Status::Completed)],
    );
    // Tags are needed only once the offsite hops are done.
    assert!(facts_needed(&input(vec![point(3)], vec![]), &config).is_empty());
    assert_eq!(
        facts_needed(&i, &config).into_iter().collect::<Vec<_>>(),
        vec![RESOURCE]
    );
    assert_eq!(
        run(&config, &i),
        vec![
            format!(
                "ignore reconcile: pre-prod hop of {RP} undecided: the tags of {RESOURCE} not provided"
            ),
            "shorten (confirm j1)".into()
        ]
    );
    i.resource_tags.insert(
        RESOURCE.into(),
        [("CopyToPreProd".to_owned(), "true".to_owned())].into(),
    );
    assert!(facts_needed(&i, &config).is_empty());
    assert_eq!(
        run(&config, &i),
        vec![
            format!("copy to-pre-prod -> {PREPROD_VAULT}"),
            "shorten (confirm j1)".into()
        ]
    );
    i.copy_jobs.push(job("j3", PREPROD_VAULT, Status::Running));
    assert_eq!(run(&config, &i), vec!["shorten (confirm j1)".to_owned()]);
}

#[test]
fn backup_account_forwards_missing_two_hop_copies() {
    let config = backup(&[(vars::TWO_HOP_RESOURCE_TYPES, "EBS")]);
    let arrival = ListedRecoveryPoint {
        recovery_point_arn: RP.into(),
        resource_arn: Some("arn:aws:ec2:eu-west-1:111111111111:volume/vol-1".into()),
        resource_type: Some("EBS".into()),
        ..point(3)
    };
    assert_eq!(
        run(&config, &input(vec![arrival.clone()], vec![])),
        vec![format!("copy two-hop-forward -> {FRANKFURT}")]
    );
    let done = input(
        vec![arrival.clone()],
        vec![job("f1", FRANKFURT, Status::Completed)],
    );
    assert!(run(&config, &done)[0].starts_with("ignore reconcile: 1 recovery point(s) checked"));
    // Already a cross-region copy, or not a two-hop type: nothing.
    let forwarded = ListedRecoveryPoint {
        resource_arn: Some("arn:aws:ec2:eu-central-1:111111111111:volume/vol-1".into()),
        ..arrival.clone()
    };
    assert!(run(&config, &input(vec![forwarded], vec![]))[0].starts_with("ignore"));
    assert!(run(&backup(&[]), &input(vec![arrival], vec![]))[0].starts_with("ignore"));
}

#[test]
fn other_roles_do_nothing() {
    let i = input(vec![point(3)], vec![]);
    assert_eq!(
        run(&preprod(&[]), &i),
        vec![
            "ignore reconcile: nothing to do in a preprod account (it never starts copies)"
                .to_owned()
        ]
    );
}

#[test]
fn reconcile_and_event_path_agree_on_tokens() {
    // The event path's first hop for this point and the reconciler's are the same copy.
    let config = source(&[(vars::PREPROD_ACCOUNT_IDS, "")]);
    let plan = reconcile(&input(vec![point(3)], vec![]), &config).unwrap();
    let Action::StartCopyJob {
        idempotency_token,
        hop,
        ..
    } = &plan.actions[0]
    else {
        panic!("{plan}")
    };
    assert_eq!(*hop, Hop::ToBackupRegion);
    assert_eq!(idempotency_token, &copy_token(RP, FRANKFURT));
}

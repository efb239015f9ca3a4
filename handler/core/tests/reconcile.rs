//! Reconciler table tests.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use crossvault_core::config::vars;
use crossvault_core::idempotency::copy_token;
use crossvault_core::reconcile::{
    ListedCopyJob, ReconcileInput, RecoveryPointFacts, candidates, facts_needed, reconcile,
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

fn point(age_hours: i64) -> RecoveryPointFacts {
    RecoveryPointFacts {
        backup_vault_arn: Some(
            "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault".into(),
        ),
        resource_arn: Some(RESOURCE.into()),
        resource_type: Some("RDS".into()),
        creation_date: Some(now() - Duration::hours(age_hours)),
        status: Some(Status::Completed),
        storage_class: Some(StorageClass::Warm),
        lifecycle: CurrentLifecycle::delete_after(35),
        ..RecoveryPointFacts::new(RP)
    }
}

fn job(id: &str, dest: &str, state: Status) -> ListedCopyJob {
    ListedCopyJob {
        copy_job_id: id.into(),
        source_recovery_point_arn: RP.into(),
        destination_vault_arn: dest.parse().unwrap(),
        state,
        creation_date: Some(
            now() - Duration::minutes(90) + Duration::minutes(id[1..].parse().unwrap_or(0)),
        ),
        status_message: Some(format!("message of {id}")),
        destination_recovery_point_arn: None,
        destination_lifecycle: Some(CurrentLifecycle::delete_after(35)),
        iam_role_arn: None,
    }
}

fn input(points: Vec<RecoveryPointFacts>, jobs: Vec<ListedCopyJob>) -> ReconcileInput {
    ReconcileInput {
        now: now(),
        partition: Partition::Aws,
        region: Region::new("eu-west-1").unwrap(),
        recovery_points: points,
        copy_jobs: jobs,
        resource_tags: BTreeMap::new(),
        keys: BTreeMap::new(),
        intermediates: Vec::new(),
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
                attempt,
                ..
            } => {
                assert_eq!(
                    idempotency_token,
                    &copy_token(
                        source_recovery_point_arn,
                        &destination_vault_arn.to_string(),
                        *attempt
                    ),
                    "same tokens as the event path"
                );
                format!("copy {hop} #{attempt} -> {destination_vault_arn}")
            }
            Action::ShortenRetention { requires, .. } => format!(
                "shorten (requires {})",
                requires
                    .iter()
                    .map(|r| r.hop.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Action::DeleteIntermediate {
                recovery_point_arn, ..
            } => format!("delete {recovery_point_arn}"),
            Action::Notify { subject, .. } => format!("notify {subject}"),
            Action::Restore(step) => format!("restore {step}"),
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
    let copy_frankfurt = format!("copy to-backup-region #1 -> {FRANKFURT}");
    let copy_local = format!("copy to-local-region #1 -> {LOCAL}");
    let quiet = "ignore reconcile: 1 recovery point(s) checked, every chain complete or under way; 0 older than the 72 h look-back skipped".to_owned();
    let cases: Vec<(&str, &StackConfig, ReconcileInput, Vec<String>)> = vec![
        (
            "no copy yet → hop 1",
            &no_preprod,
            input(vec![point(3)], vec![]),
            vec![copy_frankfurt.clone()],
        ),
        (
            "hop 1 running → waits",
            &no_preprod,
            input(vec![point(3)], vec![job("j1", FRANKFURT, Status::Running)]),
            vec![format!("ignore copy job j1 (to-backup-region) of {RP} to {FRANKFURT} is RUNNING; the chain goes on when it is COMPLETED")],
        ),
        (
            "hop 1 CREATED (AWS retrying for up to 2 h) → waits, never a second job",
            &no_preprod,
            input(vec![point(3)], vec![job("j1", FRANKFURT, Status::Failed), job("j2", FRANKFURT, Status::Created)]),
            vec![format!("ignore copy job j2 (to-backup-region) of {RP} to {FRANKFURT} is CREATED; the chain goes on when it is COMPLETED")],
        ),
        (
            "hop 1 failed → attempt 2, a new token",
            &no_preprod,
            input(vec![point(3)], vec![job("j1", FRANKFURT, Status::Failed)]),
            vec![format!("copy to-backup-region #2 -> {FRANKFURT}")],
        ),
        (
            "hop 1 failed, aborted → attempt 3",
            &no_preprod,
            input(vec![point(3)], vec![job("j1", FRANKFURT, Status::Failed), job("j2", FRANKFURT, Status::Aborted)]),
            vec![format!("copy to-backup-region #3 -> {FRANKFURT}")],
        ),
        (
            "hop 1 failed 3 times → given up, reported, never shortened, not notified again",
            &no_preprod,
            input(
                vec![point(3)],
                vec![job("j1", FRANKFURT, Status::Failed), job("j2", FRANKFURT, Status::Expired), job("j3", FRANKFURT, Status::Failed)],
            ),
            vec![format!("ignore crossvault gave up on to-backup-region of {RP} to {FRANKFURT} after 3 failed attempt(s) (CopyMaxAttempts = 3; last status message: message of j3); the original is never shortened")],
        ),
        (
            "hop 1 failed then completed → shorten",
            &no_preprod,
            input(
                vec![point(3)],
                vec![job("j1", FRANKFURT, Status::Failed), job("j2", FRANKFURT, Status::Completed)],
            ),
            vec!["shorten (requires to-backup-region)".into()],
        ),
        (
            "a plan's copy into the same-region central vault is no hop without CopyToLocalRegion",
            &no_preprod,
            input(vec![point(3)], vec![job("j1", LOCAL, Status::Completed)]),
            vec![copy_frankfurt.clone()],
        ),
        (
            "hop 1 done but its copy is kept shorter than the original → no shortening",
            &no_preprod,
            input(
                vec![point(3)],
                vec![ListedCopyJob { destination_lifecycle: Some(CurrentLifecycle::delete_after(14)), ..job("j1", FRANKFURT, Status::Completed) }],
            ),
            vec![quiet.clone()],
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
            vec!["shorten (requires to-backup-region, to-local-region)".into()],
        ),
        (
            "chain done, already short → nothing",
            &no_preprod,
            input(
                vec![RecoveryPointFacts {
                    lifecycle: CurrentLifecycle::delete_after(7),
                    ..point(3)
                }],
                vec![job("j1", FRANKFURT, Status::Completed)],
            ),
            vec![quiet.clone()],
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
            input(vec![RecoveryPointFacts { status: Some(Status::Partial), ..point(3) }], vec![]),
            vec!["ignore reconcile: 0 recovery point(s) checked, every chain complete or under way; 0 older than the 72 h look-back skipped".into()],
        ),
        (
            "cold point → ignored with reason",
            &no_preprod,
            input(vec![RecoveryPointFacts { storage_class: Some(StorageClass::Cold), ..point(3) }], vec![]),
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
            "shorten (requires to-backup-region)".into()
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
            format!("copy to-pre-prod #1 -> {PREPROD_VAULT}"),
            "shorten (requires to-backup-region)".into()
        ]
    );
    i.copy_jobs.push(job("j3", PREPROD_VAULT, Status::Running));
    assert_eq!(
        run(&config, &i),
        vec![
            format!(
                "ignore copy job j3 (to-pre-prod) of {RP} to {PREPROD_VAULT} is RUNNING; the chain goes on when it is COMPLETED"
            ),
            "shorten (requires to-backup-region)".to_owned()
        ]
    );
}

#[test]
fn backup_account_forwards_missing_two_hop_copies() {
    let config = backup(&[(vars::TWO_HOP_RESOURCE_TYPES, "EBS")]);
    let arrival = RecoveryPointFacts {
        recovery_point_arn: RP.into(),
        resource_arn: Some("arn:aws:ec2:eu-west-1:111111111111:volume/vol-1".into()),
        resource_type: Some("EBS".into()),
        ..point(3)
    };
    assert_eq!(
        run(&config, &input(vec![arrival.clone()], vec![])),
        vec![format!("copy two-hop-forward #1 -> {FRANKFURT}")]
    );
    let failed = input(
        vec![arrival.clone()],
        vec![job("f1", FRANKFURT, Status::Failed)],
    );
    assert_eq!(
        run(&config, &failed),
        vec![format!("copy two-hop-forward #2 -> {FRANKFURT}")]
    );
    let done = input(
        vec![arrival.clone()],
        vec![job("f1", FRANKFURT, Status::Completed)],
    );
    assert!(run(&config, &done)[0].starts_with("ignore reconcile: 1 recovery point(s) checked"));
    // Already a cross-region copy, or not a two-hop type: nothing.
    let forwarded = RecoveryPointFacts {
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
    assert_eq!(idempotency_token, &copy_token(RP, FRANKFURT, 1));
}

#[test]
fn oldest_points_first() {
    let config = source(&[(vars::PREPROD_ACCOUNT_IDS, "")]);
    let named = |arn: &str, age: i64| RecoveryPointFacts {
        recovery_point_arn: arn.into(),
        ..point(age)
    };
    let i = input(
        vec![
            named(
                "arn:aws:backup:eu-west-1:111111111111:recovery-point:new",
                1,
            ),
            named(
                "arn:aws:backup:eu-west-1:111111111111:recovery-point:old",
                50,
            ),
            named(
                "arn:aws:backup:eu-west-1:111111111111:recovery-point:mid",
                20,
            ),
        ],
        vec![],
    );
    let order: Vec<&str> = candidates(&i, &config)
        .points
        .iter()
        .map(|p| p.recovery_point_arn.rsplit(':').next().unwrap())
        .collect();
    assert_eq!(order, ["old", "mid", "new"]);
    let plan = reconcile(&i, &config).unwrap();
    let sources: Vec<&str> = plan
        .actions
        .iter()
        .map(|a| match a {
            Action::StartCopyJob {
                source_recovery_point_arn,
                ..
            } => source_recovery_point_arn.rsplit(':').next().unwrap(),
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(sources, ["old", "mid", "new"]);
}

#[test]
fn copies_from_other_vaults_are_left_alone() {
    let config = source(&[(vars::PREPROD_ACCOUNT_IDS, "")]);
    let copy = RecoveryPointFacts {
        source_backup_vault_arn: Some(
            "arn:aws:backup:eu-west-1:444444444444:backup-vault:theirs".into(),
        ),
        ..point(3)
    };
    assert_eq!(
        run(&config, &input(vec![copy], vec![])),
        vec![format!(
            "ignore reconcile: {RP} is a copy from arn:aws:backup:eu-west-1:444444444444:backup-vault:theirs, not an original; left alone"
        )]
    );
}

#[test]
fn the_look_back_is_capped_at_what_aws_lists() {
    // 2000 h asked for, 696 h (29 days) used: a 700-hour-old point's jobs may be gone already.
    let config = source(&[
        (vars::PREPROD_ACCOUNT_IDS, ""),
        (vars::RECONCILE_LOOKBACK_HOURS, "2000"),
    ]);
    assert_eq!(
        run(&config, &input(vec![point(700)], vec![])),
        vec!["ignore reconcile: 0 recovery point(s) checked, every chain complete or under way; 1 older than the 696 h look-back skipped".to_owned()]
    );
    assert_eq!(
        run(&config, &input(vec![point(690)], vec![])),
        vec![format!("copy to-backup-region #1 -> {FRANKFURT}")]
    );
}

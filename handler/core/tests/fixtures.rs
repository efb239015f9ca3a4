//! Table tests: every shared fixture event, with the exact plan.

mod common;

use common::*;
use crossvault_core::idempotency::copy_token;
use crossvault_core::{
    Action, DecideError, FactRequest, Facts, Hop, Lifecycle, Plan, RecoveryPointFacts,
    RecoveryPointRef, RequiredCopy, VaultName, decide_json, facts_needed_json,
};

const RDS_RP: &str = "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-4f1c2a9e-7d3b-4c1a-9e2f-2e8f6d0a1b2c";
const EFS_RP: &str =
    "arn:aws:backup:eu-west-1:111111111111:recovery-point:1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const CENTRAL_FRANKFURT: &str = "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault";

fn copy(rp: &str, dest: &str, hop: Hop) -> Action {
    Action::StartCopyJob {
        source_recovery_point_arn: rp.to_owned(),
        source_vault_name: VaultName::new("crossvault").unwrap(),
        destination_vault_arn: dest.parse().unwrap(),
        iam_role_arn: COPY_ROLE.to_owned(),
        lifecycle: Lifecycle {
            delete_after_days: 35,
            move_to_cold_storage_after_days: None,
        },
        idempotency_token: copy_token(rp, dest, 1),
        hop,
        attempt: 1,
    }
}

/// No earlier copy jobs, and (for events that need it) the point is an original.
fn first_time(rp: &str) -> Facts {
    Facts::none()
        .and_copy_jobs(Vec::new())
        .and_recovery_point(RecoveryPointFacts::new(rp))
}

#[test]
fn backup_job_completed_ondemand_efs() {
    let event = fixture("backup-job-completed-ondemand-efs.json");
    let config = source(&[]);
    // The point's copy jobs decide the hop's state and the attempt; a backup job makes
    // originals, so the point itself need not be described.
    assert_eq!(
        facts_needed_json(&event, &config).unwrap(),
        FactRequest {
            copy_jobs_of: Some(EFS_RP.into()),
            ..FactRequest::default()
        }
    );
    let plan = decide_json(&event, &config, &first_time(EFS_RP)).unwrap();
    assert_eq!(
        plan,
        Plan::single(copy(EFS_RP, CENTRAL_FRANKFURT, Hop::ToBackupRegion))
    );
}

#[test]
fn backup_job_completed_plan_rds() {
    let event = fixture("backup-job-completed-plan-rds.json");
    let plan = decide_json(&event, &source(&[]), &first_time(RDS_RP)).unwrap();
    assert_eq!(
        plan,
        Plan::single(copy(RDS_RP, CENTRAL_FRANKFURT, Hop::ToBackupRegion))
    );
    // The token format is part of the contract with AWS: pin one value.
    let Action::StartCopyJob {
        idempotency_token, ..
    } = &plan.actions[0]
    else {
        panic!("{plan}")
    };
    assert_eq!(idempotency_token, &copy_token(RDS_RP, CENTRAL_FRANKFURT, 1));
    assert_eq!(
        idempotency_token,
        "crossvault-0859b25313e0f7739abad3edc88ce070"
    );
    assert_eq!(
        copy_token(RDS_RP, CENTRAL_FRANKFURT, 2),
        "crossvault-800354755dd68d756df897c9c84f0e4d"
    );
}

#[test]
fn copy_job_completed_to_backup_account_needs_tags_then_preprod_and_shorten() {
    let event = fixture("copy-job-completed-to-backup-account.json");
    let config = source(&[]);
    // Stage 1: the point's copy jobs and the point itself (is it an original?).
    let request = facts_needed_json(&event, &config).unwrap();
    assert_eq!(
        request,
        FactRequest {
            copy_jobs_of: Some(RDS_RP.into()),
            recovery_point: Some(RecoveryPointRef {
                recovery_point_arn: RDS_RP.into(),
                vault_name: VaultName::new("crossvault").unwrap(),
            }),
            ..FactRequest::default()
        }
    );
    // Stage 2: every offsite hop is done (the event's own job), so the pre-prod tag decides.
    assert_eq!(
        decide_json(&event, &config, &first_time(RDS_RP)),
        Err(DecideError::NeedsFacts(FactRequest {
            resource_tags_of: Some("arn:aws:rds:eu-west-1:111111111111:db:orders".into()),
            ..FactRequest::default()
        }))
    );
    let shorten = Action::ShortenRetention {
        recovery_point_arn: RDS_RP.to_owned(),
        vault_name: VaultName::new("crossvault").unwrap(),
        requires: vec![RequiredCopy {
            hop: Hop::ToBackupRegion,
            destination_vault_arn: CENTRAL_FRANKFURT.parse().unwrap(),
            via: None,
        }],
    };
    let with_tags = |tags: &[(&str, &str)]| {
        let mut facts = first_time(RDS_RP);
        facts.resource_tags = Facts::with_tags(tags.iter().copied()).resource_tags;
        facts
    };
    let tagged = decide_json(
        &event,
        &config,
        &with_tags(&[("CopyToPreProd", "true"), ("team", "orders")]),
    )
    .unwrap();
    assert_eq!(
        tagged,
        Plan {
            actions: vec![
                copy(
                    RDS_RP,
                    "arn:aws:backup:eu-west-1:333333333333:backup-vault:crossvault",
                    Hop::ToPreProd
                ),
                shorten.clone(),
            ]
        }
    );
    let untagged = decide_json(&event, &config, &with_tags(&[("team", "orders")])).unwrap();
    assert_eq!(untagged, Plan::single(shorten));
}

#[test]
fn copy_job_failed_notifies() {
    let event = fixture("copy-job-failed.json");
    // The failed job is the first attempt: the listing has only it.
    let plan = decide_json(&event, &source(&[]), &first_time(RDS_RP)).unwrap();
    let expected_message = "\
AWS Backup copy job 8E2D51C0-3A4B-4C5D-9E6F-7A8B9C0D1E2F ended FAILED in account 111111111111, region eu-west-1.
Resource: arn:aws:rds:eu-west-1:111111111111:db:orders
Resource type: RDS
Recovery point: arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-4f1c2a9e-7d3b-4c1a-9e2f-2e8f6d0a1b2c
From vault: arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault
To vault: arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault
Hop: to-backup-region
Status message: Access denied: the destination vault's access policy does not allow backup:CopyIntoBackupVault
Duration: 1 min 51 s
Console: https://eu-west-1.console.aws.amazon.com/backup/home?region=eu-west-1#/jobs/copy/details/8E2D51C0-3A4B-4C5D-9E6F-7A8B9C0D1E2F
The original keeps its full retention. This was attempt 1 of 3: the reconciler starts attempt 2 with a new copy job on its next run (ReconcileSchedule).";
    assert_eq!(
        plan,
        Plan::single(Action::Notify {
            subject: "crossvault: copy job FAILED in 111111111111 eu-west-1".into(),
            message: expected_message.into(),
        })
    );
}

#[test]
fn copy_job_running_is_ignored() {
    let event = fixture("copy-job-running.json");
    let plan = decide_json(&event, &source(&[]), &Facts::none()).unwrap();
    assert_eq!(
        plan,
        Plan::ignore(
            "copy job 8E2D51C0-3A4B-4C5D-9E6F-7A8B9C0D1E2F to \
             arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault is RUNNING; \
             the next hop starts when it is COMPLETED"
        )
    );
}

#[test]
fn recovery_point_arrived_preprod() {
    let event = fixture("recovery-point-arrived-preprod.json");
    let plan = decide_json(&event, &preprod(&[]), &Facts::none()).unwrap();
    assert_eq!(
        plan,
        Plan::ignore(
            "recovery point arn:aws:rds:eu-west-1:333333333333:snapshot:awsbackup:copyjob-5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d \
             arrived in pre-prod vault arn:aws:backup:eu-west-1:333333333333:backup-vault:crossvault; \
             restores are off (RestoreOnArrival = false)"
        )
    );
    // The same event seen by a source stack (wrong account) is ignored too.
    let plan = decide_json(&event, &source(&[]), &Facts::none()).unwrap();
    assert_eq!(
        plan,
        Plan::ignore(
            "Recovery Point State Change: event from account 333333333333 but this stack runs in account 111111111111"
        )
    );
}

#[test]
fn restore_job_completed_notifies_in_preprod() {
    let event = fixture("restore-job-completed.json");
    let plan = decide_json(&event, &preprod(&[]), &Facts::none()).unwrap();
    let expected = "\
Pre-prod restore job D41D8CD9-8F00-4B20-9E98-00998ECF8427 ended COMPLETED in account 333333333333, region eu-west-1.
Restored from: arn:aws:rds:eu-west-1:333333333333:snapshot:awsbackup:copyjob-5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d
Original resource: arn:aws:rds:eu-west-1:111111111111:db:orders
Resource type: RDS
New resource: arn:aws:rds:eu-west-1:333333333333:db:orders-20260303-0902
Status message: (not in the event)
Console: https://eu-west-1.console.aws.amazon.com/backup/home?region=eu-west-1#/jobs/restore/details/D41D8CD9-8F00-4B20-9E98-00998ECF8427";
    assert_eq!(
        plan,
        Plan::single(Action::Notify {
            subject: "crossvault: pre-prod restore COMPLETED in 333333333333 eu-west-1".into(),
            message: expected.into(),
        })
    );
    let plan = decide_json(&event, &source(&[]), &Facts::none()).unwrap();
    assert_eq!(
        plan,
        Plan::ignore(
            "Restore Job State Change: event from account 333333333333 but this stack runs in account 111111111111"
        )
    );
    // In this account but not pre-prod: reported only by pre-prod stacks.
    let mut in_source = event.clone();
    in_source["account"] = serde_json::json!(SOURCE);
    let plan = decide_json(&in_source, &source(&[]), &Facts::none()).unwrap();
    assert_eq!(
        plan,
        Plan::ignore(
            "restore job D41D8CD9-8F00-4B20-9E98-00998ECF8427 in a source account: \
             crossvault reports only pre-prod restores"
        )
    );
}

#[test]
fn every_fixture_decides_in_every_role_and_prints() {
    for name in FIXTURE_NAMES {
        let event = fixture(name);
        for config in [source(&[]), backup(&[]), preprod(&[])] {
            // What explain assumes, plus the tag.
            let parsed = crossvault_core::BackupEvent::from_value(&event).unwrap();
            let facts = Facts {
                resource_tags: Facts::with_tags([("CopyToPreProd", "true")]).resource_tags,
                ..Facts::without_aws(&parsed, &config)
            };
            let plan = decide_json(&event, &config, &facts)
                .unwrap_or_else(|e| panic!("{name} as {}: {e}", config.role));
            assert!(!plan.actions.is_empty(), "{name}");
            let text = plan.to_string();
            assert!(text.starts_with("plan: "), "{text}");
            let json = serde_json::to_value(&plan).unwrap();
            let back: Plan = serde_json::from_value(json).unwrap();
            assert_eq!(back, plan, "{name}: JSON round trip");
            // Backup and pre-prod accounts never copy from these (source-account) events.
            if config.role != crossvault_core::Role::Source {
                assert!(
                    !plan
                        .actions
                        .iter()
                        .any(|a| matches!(a, Action::StartCopyJob { .. })),
                    "{name} as {}: {plan}",
                    config.role
                );
            }
        }
    }
}

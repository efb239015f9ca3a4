//! Copy-chain cases the fixtures do not cover.

mod common;

use common::*;
use crossvault_core::config::vars;
use crossvault_core::event::Origin;
use crossvault_core::idempotency::copy_token;
use crossvault_core::{
    Action, BackupEvent, CurrentLifecycle, DecideError, FactRequest, Facts, Hop, ListedCopyJob,
    Plan, RecoveryPointFacts, StackConfig, Status, decide, decide_json, facts_needed_json,
};
use serde_json::{Value, json};

const RDS_RP: &str = "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-4f1c2a9e-7d3b-4c1a-9e2f-2e8f6d0a1b2c";
const EBS_RP: &str = "arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0";

const FRANKFURT: &str = "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault";
const LOCAL: &str = "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault";

/// What can be assumed without AWS (no earlier jobs but the hops before a completed copy; the
/// point is an original), plus `tags` when given.
fn facts(event: &Value, config: &StackConfig, tags: Option<&[(&str, &str)]>) -> Facts {
    let parsed = BackupEvent::from_value(event).unwrap();
    Facts {
        resource_tags: tags.and_then(|t| Facts::with_tags(t.iter().copied()).resource_tags),
        ..Facts::without_aws(&parsed, config)
    }
}

fn plan(event: &Value, config: &StackConfig) -> Plan {
    decide_json(event, config, &facts(event, config, None)).unwrap_or_else(|e| panic!("{e}"))
}

fn plan_with_tags(event: &Value, config: &StackConfig, tags: &[(&str, &str)]) -> Plan {
    decide_json(event, config, &facts(event, config, Some(tags))).unwrap_or_else(|e| panic!("{e}"))
}

/// The plan when `ListCopyJobs` shows `jobs` (untagged resource).
fn plan_with_jobs(event: &Value, config: &StackConfig, jobs: Vec<ListedCopyJob>) -> Plan {
    let mut f = facts(event, config, Some(&[]));
    f.copy_jobs = Some(jobs);
    decide_json(event, config, &f).unwrap_or_else(|e| panic!("{e}"))
}

fn listed(id: &str, rp: &str, dest: &str, state: Status, minute: u32) -> ListedCopyJob {
    ListedCopyJob {
        copy_job_id: id.into(),
        source_recovery_point_arn: rp.into(),
        destination_vault_arn: dest.parse().unwrap(),
        state,
        creation_date: Some(
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 2, 4, minute, 0).unwrap(),
        ),
        status_message: Some(format!("message of {id}")),
        destination_recovery_point_arn: None,
        destination_lifecycle: Some(CurrentLifecycle::delete_after(35)),
        iam_role_arn: None,
    }
}

/// (hop, destination) of every StartCopyJob in the plan.
fn copies(plan: &Plan) -> Vec<(Hop, String)> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::StartCopyJob {
                hop,
                destination_vault_arn,
                ..
            } => Some((*hop, destination_vault_arn.to_string())),
            _ => None,
        })
        .collect()
}

fn has_shorten(plan: &Plan) -> bool {
    plan.actions
        .iter()
        .any(|a| matches!(a, Action::ShortenRetention { .. }))
}

fn ignore_reason(plan: &Plan) -> &str {
    match plan.actions.as_slice() {
        [Action::Ignore { reason }] => reason,
        _ => panic!("expected a single Ignore, got {plan}"),
    }
}

fn completed_copy_to(dest: &str) -> Value {
    let mut e = fixture("copy-job-completed-to-backup-account.json");
    set(&mut e, "/detail/destinationBackupVaultArn", json!(dest));
    e
}

/// An EBS backup job in the source account (a type we make two-hop in some tests).
fn ebs_backup_job(region: &str) -> Value {
    let mut e = fixture("backup-job-completed-plan-rds.json");
    let rp = EBS_RP.replace("eu-west-1", region);
    set(&mut e, "/region", json!(region));
    set(&mut e, "/resources", json!([rp]));
    set(&mut e, "/detail/resourceType", json!("EBS"));
    set(
        &mut e,
        "/detail/resourceArn",
        json!(format!("arn:aws:ec2:{region}:111111111111:volume/vol-0123")),
    );
    set(
        &mut e,
        "/detail/backupVaultArn",
        json!(format!(
            "arn:aws:backup:{region}:111111111111:backup-vault:crossvault"
        )),
    );
    e
}

/// The backup account's view of a two-hop first-hop arrival (RP State Change in the central
/// vault in eu-west-1, resource in 111111111111 eu-west-1).
fn ebs_arrival_in_backup(region: &str, resource_region: &str) -> Value {
    json!({
        "version": "0", "id": "1", "detail-type": "Recovery Point State Change",
        "source": "aws.backup", "account": BACKUP, "time": "2026-03-02T05:00:00Z", "region": region,
        "resources": [format!("arn:aws:ec2:{region}::snapshot/snap-0fedcba9876543210")],
        "detail": {
            "backupVaultName": "crossvault",
            "backupVaultArn": format!("arn:aws:backup:{region}:222222222222:backup-vault:crossvault"),
            "creationDate": "2026-03-02T03:00:05.112Z",
            "resourceType": "EBS",
            "resourceArn": format!("arn:aws:ec2:{resource_region}:111111111111:volume/vol-0123"),
            "status": "COMPLETED", "storageClass": "WARM",
            "lifecycle": {"deleteAfterDays": 35}
        }
    })
}

#[test]
fn plan_created_and_on_demand_get_the_same_copy() {
    let plan_made = fixture("backup-job-completed-plan-rds.json");
    let mut on_demand = plan_made.clone();
    remove(&mut on_demand, "/detail", "createdBy");
    let a = BackupEvent::from_value(&plan_made).unwrap();
    let b = BackupEvent::from_value(&on_demand).unwrap();
    let (BackupEvent::BackupJob(a_job), BackupEvent::BackupJob(b_job)) = (&a, &b) else {
        panic!()
    };
    assert!(matches!(a_job.origin, Origin::Plan { .. }));
    assert_eq!(b_job.origin, Origin::OnDemand);
    let config = source(&[]);
    let first = decide(&a, &config, &Facts::without_aws(&a, &config)).unwrap();
    assert!(
        matches!(first.actions[..], [Action::StartCopyJob { .. }]),
        "{first}"
    );
    assert_eq!(
        first,
        decide(&b, &config, &Facts::without_aws(&b, &config)).unwrap()
    );
}

#[test]
fn duplicate_events_give_identical_plans_and_tokens() {
    let e = fixture("backup-job-completed-plan-rds.json");
    let config = source(&[]);
    let first = plan(&e, &config);
    let second = plan(&e.clone(), &config);
    assert_eq!(first, second);
    // The Recovery Point State Change for the same point yields the same copy (same token).
    let rp_event = json!({
        "version": "0", "id": "x", "detail-type": "Recovery Point State Change",
        "source": "aws.backup", "account": SOURCE, "time": "2026-03-02T03:41:20Z",
        "region": "eu-west-1", "resources": [RDS_RP],
        "detail": {
            "backupVaultName": "crossvault",
            "backupVaultArn": "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault",
            "creationDate": "2026-03-02T03:00:05.112Z", "resourceType": "RDS",
            "resourceArn": "arn:aws:rds:eu-west-1:111111111111:db:orders",
            "status": "COMPLETED", "isEncrypted": "true", "storageClass": "WARM",
            "createdBy": {"backupPlanId": "9b1e"}, "lifecycle": {"deleteAfterDays": 35},
            "calculatedLifeCycle": {"deleteAt": "2026-04-06T03:00:05.112Z"}
        }
    });
    assert_eq!(plan(&rp_event, &config), first);
}

#[test]
fn resource_in_the_backup_region_goes_to_the_alternate() {
    let mut e = fixture("backup-job-completed-ondemand-efs.json");
    let rp = "arn:aws:backup:eu-central-1:111111111111:recovery-point:1a2b";
    set(&mut e, "/region", json!("eu-central-1"));
    set(&mut e, "/resources", json!([rp]));
    set(
        &mut e,
        "/detail/backupVaultArn",
        json!("arn:aws:backup:eu-central-1:111111111111:backup-vault:crossvault"),
    );
    let p = plan(&e, &source(&[]));
    assert_eq!(
        copies(&p),
        vec![(
            Hop::ToBackupRegion,
            "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault".to_owned()
        )]
    );
    // ... and its completion is recognised as the backup-region hop.
    let mut done = fixture("copy-job-completed-to-backup-account.json");
    set(&mut done, "/region", json!("eu-central-1"));
    set(&mut done, "/resources", json!([rp]));
    set(
        &mut done,
        "/detail/sourceBackupVaultArn",
        json!("arn:aws:backup:eu-central-1:111111111111:backup-vault:crossvault"),
    );
    set(
        &mut done,
        "/detail/destinationBackupVaultArn",
        json!("arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault"),
    );
    let p = plan_with_tags(&done, &source(&[]), &[]);
    assert!(has_shorten(&p), "{p}");
}

#[test]
fn copy_to_local_region_on_adds_the_local_hop_before_shortening() {
    let config = source(&[(vars::COPY_TO_LOCAL_REGION, "true")]);
    let after_backup_region = fixture("copy-job-completed-to-backup-account.json");
    // The next hop is the local one: the tags are not needed yet.
    assert_eq!(
        facts_needed_json(&after_backup_region, &config)
            .unwrap()
            .resource_tags_of,
        None
    );
    let p = plan(&after_backup_region, &config);
    assert_eq!(
        copies(&p),
        vec![(
            Hop::ToLocalRegion,
            "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault".to_owned()
        )]
    );
    assert!(!has_shorten(&p));
    let Action::StartCopyJob {
        idempotency_token,
        source_recovery_point_arn,
        ..
    } = &p.actions[0]
    else {
        panic!()
    };
    assert_eq!(
        source_recovery_point_arn, RDS_RP,
        "every hop copies the original"
    );
    assert_eq!(
        idempotency_token,
        &copy_token(
            RDS_RP,
            "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault",
            1
        )
    );

    let after_local =
        completed_copy_to("arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault");
    let p = plan_with_tags(&after_local, &config, &[("CopyToPreProd", "true")]);
    assert_eq!(
        copies(&p),
        vec![(
            Hop::ToPreProd,
            "arn:aws:backup:eu-west-1:333333333333:backup-vault:crossvault".to_owned()
        )]
    );
    assert!(has_shorten(&p));
    // The shortening waits for both offsite copies, by their exact destinations.
    let Some(Action::ShortenRetention { requires, .. }) = p.actions.last() else {
        panic!("{p}")
    };
    let required: Vec<String> = requires.iter().map(ToString::to_string).collect();
    assert_eq!(
        required,
        [
            format!("to-backup-region → {FRANKFURT}"),
            format!("to-local-region → {LOCAL}")
        ]
    );
    // The local copy completed but the listing shows no backup-region copy: that hop first.
    let p = plan_with_jobs(&after_local, &config, vec![]);
    assert_eq!(
        copies(&p),
        vec![(Hop::ToBackupRegion, FRANKFURT.to_owned())]
    );
    assert!(!has_shorten(&p));
}

#[test]
fn a_copy_into_the_same_region_central_vault_is_no_hop_without_copy_to_local_region() {
    // A plan's copy action (or a manual copy) into the backup account's vault in the
    // resource's region, with CopyToLocalRegion=false: nothing is chained, nothing shortened.
    let config = source(&[]);
    let e = completed_copy_to(LOCAL);
    assert!(facts_needed_json(&e, &config).unwrap().is_empty());
    let p = decide_json(&e, &config, &Facts::none()).unwrap();
    assert!(
        ignore_reason(&p).contains("not a hop crossvault's configuration asks for"),
        "{p}"
    );
    assert!(
        ignore_reason(&p).contains("never leads to shortening"),
        "{p}"
    );
    // Even when the real backup-region copy failed: its failure is not overridden.
    let failed = listed("j1", RDS_RP, FRANKFURT, Status::Failed, 1);
    assert!(!has_shorten(&plan_with_jobs(&e, &config, vec![failed])));
}

#[test]
fn copy_to_local_region_off_shortens_after_the_backup_region_hop() {
    let p = plan_with_tags(
        &fixture("copy-job-completed-to-backup-account.json"),
        &source(&[]),
        &[],
    );
    assert!(copies(&p).is_empty());
    assert!(has_shorten(&p));
}

#[test]
fn preprod_tag_present_absent_other_value() {
    let e = fixture("copy-job-completed-to-backup-account.json");
    let config = source(&[]);
    let yes = plan_with_tags(&e, &config, &[("CopyToPreProd", "true")]);
    assert_eq!(copies(&yes).len(), 1);
    for tags in [
        &[][..],
        &[("CopyToPreProd", "false")][..],
        &[("CopyToPreProd", "True")][..],
        &[("copytopreprod", "true")][..],
    ] {
        let p = plan_with_tags(&e, &config, tags);
        assert!(copies(&p).is_empty(), "{tags:?}: {p}");
        assert!(has_shorten(&p));
    }
    // Custom key and value.
    let custom = source(&[
        (vars::PREPROD_TAG_KEY, "restore-to"),
        (vars::PREPROD_TAG_VALUE, "staging"),
    ]);
    assert_eq!(
        copies(&plan_with_tags(&e, &custom, &[("restore-to", "staging")])).len(),
        1
    );
    assert!(copies(&plan_with_tags(&e, &custom, &[("CopyToPreProd", "true")])).is_empty());
}

#[test]
fn no_tags_needed_without_preprod_or_when_not_admitted() {
    let e = fixture("copy-job-completed-to-backup-account.json");
    for config in [
        source(&[(vars::PREPROD_ACCOUNT_IDS, "")]),
        source(&[(vars::PREPROD_SOURCE_ACCOUNT_IDS, "444444444444")]),
    ] {
        // Decided without tags (they are never asked for).
        let p = plan(&e, &config);
        assert!(copies(&p).is_empty());
        assert!(has_shorten(&p));
    }
    let admitted = source(&[(
        vars::PREPROD_SOURCE_ACCOUNT_IDS,
        "444444444444, 111111111111",
    )]);
    assert!(matches!(
        decide_json(&e, &admitted, &facts(&e, &admitted, None)),
        Err(DecideError::NeedsFacts(FactRequest {
            resource_tags_of: Some(_),
            ..
        }))
    ));
}

#[test]
fn preprod_copy_completed_ends_the_chain() {
    let e = completed_copy_to("arn:aws:backup:eu-west-1:333333333333:backup-vault:crossvault");
    let p = plan(&e, &source(&[]));
    assert!(ignore_reason(&p).contains("pre-prod copy"), "{p}");
    assert!(ignore_reason(&p).contains("chain is complete"), "{p}");
}

#[test]
fn copies_to_unknown_vaults_are_not_chained() {
    for dest in [
        "arn:aws:backup:eu-central-1:222222222222:backup-vault:other",
        "arn:aws:backup:eu-central-1:555555555555:backup-vault:crossvault",
        "arn:aws:backup:us-east-1:222222222222:backup-vault:crossvault",
        // pre-prod vault in another region than the resource
        "arn:aws:backup:eu-central-1:333333333333:backup-vault:crossvault",
    ] {
        let p = plan(&completed_copy_to(dest), &source(&[]));
        assert!(
            ignore_reason(&p).contains("not a hop crossvault's configuration asks for"),
            "{dest}: {p}"
        );
    }
}

#[test]
fn events_about_other_accounts_or_vaults_are_ignored() {
    let config = source(&[]);
    // Another account's vault (e.g. a forwarded event).
    let mut e = fixture("backup-job-completed-plan-rds.json");
    set(
        &mut e,
        "/detail/backupVaultArn",
        json!("arn:aws:backup:eu-west-1:444444444444:backup-vault:crossvault"),
    );
    assert!(
        ignore_reason(&plan(&e, &config)).contains("belongs to account 444444444444"),
        "{}",
        plan(&e, &config)
    );
    // The event itself from another account.
    let mut e = fixture("backup-job-completed-plan-rds.json");
    set(&mut e, "/account", json!("444444444444"));
    assert!(ignore_reason(&plan(&e, &config)).contains("event from account 444444444444"));
    // Another vault in this account.
    let mut e = fixture("backup-job-completed-plan-rds.json");
    set(
        &mut e,
        "/detail/backupVaultArn",
        json!("arn:aws:backup:eu-west-1:111111111111:backup-vault:Default"),
    );
    assert!(
        ignore_reason(&plan(&e, &config))
            .contains("vault Default is not the managed vault crossvault")
    );
    // Copy from another vault.
    let mut e = fixture("copy-job-completed-to-backup-account.json");
    set(
        &mut e,
        "/detail/sourceBackupVaultArn",
        json!("arn:aws:backup:eu-west-1:111111111111:backup-vault:Default"),
    );
    assert!(ignore_reason(&plan(&e, &config)).contains("not the managed vault"));
}

#[test]
fn unknown_or_missing_resource_types_are_ignored() {
    let config = source(&[]);
    let mut e = fixture("backup-job-completed-ondemand-efs.json");
    set(&mut e, "/detail/resourceType", json!("QuantumLedger"));
    let p = plan(&e, &config);
    assert!(
        ignore_reason(&p).contains("resource type \"QuantumLedger\""),
        "{p}"
    );
    remove(&mut e, "/detail", "resourceType");
    assert!(ignore_reason(&plan(&e, &config)).contains("names no resource type"));
    // A type listed as two-hop is known even if not in the built-in list.
    let two_hop = source(&[(vars::TWO_HOP_RESOURCE_TYPES, "QuantumLedger")]);
    set(&mut e, "/detail/resourceType", json!("QuantumLedger"));
    assert_eq!(copies(&plan(&e, &two_hop))[0].0, Hop::TwoHopFirst);
}

#[test]
fn continuous_and_cold_points_are_not_copied() {
    let config = source(&[]);
    let mut e = fixture("backup-job-completed-ondemand-efs.json");
    set(
        &mut e,
        "/resources",
        json!(["arn:aws:backup:eu-west-1:111111111111:recovery-point:continuous:db-abc-1234"]),
    );
    let p = plan(&e, &config);
    assert!(
        ignore_reason(&p).contains("StartCopyJob does not support continuous backups"),
        "{p}"
    );

    let mut rp = fixture("recovery-point-arrived-preprod.json");
    set(&mut rp, "/account", json!(SOURCE));
    set(
        &mut rp,
        "/resources",
        json!(["arn:aws:backup:eu-west-1:111111111111:recovery-point:9f"]),
    );
    set(
        &mut rp,
        "/detail/backupVaultArn",
        json!("arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault"),
    );
    set(&mut rp, "/detail/resourceType", json!("EFS"));
    assert_eq!(copies(&plan(&rp, &config)).len(), 1);
    set(&mut rp, "/detail/storageClass", json!("COLD"));
    assert!(ignore_reason(&plan(&rp, &config)).contains("cold storage"));
}

#[test]
fn in_progress_jobs_are_ignored_with_reason() {
    let config = source(&[]);
    for state in ["CREATED", "PENDING", "RUNNING"] {
        let mut e = fixture("backup-job-completed-plan-rds.json");
        set(&mut e, "/detail/state", json!(state));
        let p = plan(&e, &config);
        assert_eq!(
            ignore_reason(&p),
            format!(
                "backup job 4F1C2A9E-7D3B-4C1A-9E2F-2E8F6D0A1B2C is {state}; the copy starts when it is COMPLETED"
            )
        );
    }
    // A CREATED copy event has only creationDate, state and the two vault ARNs.
    let created = json!({
        "version": "0", "id": "c", "detail-type": "Copy Job State Change", "source": "aws.backup",
        "account": SOURCE, "time": "2026-03-02T03:45:10Z", "region": "eu-west-1", "resources": [],
        "detail": {
            "creationDate": "2026-03-02T03:45:10.001Z", "state": "CREATED",
            "sourceBackupVaultArn": "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault",
            "destinationBackupVaultArn": "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault"
        }
    });
    assert!(ignore_reason(&plan(&created, &config)).contains("is CREATED"));
}

#[test]
fn failed_backup_jobs_notify() {
    for state in ["FAILED", "ABORTED", "EXPIRED"] {
        let mut e = fixture("backup-job-completed-plan-rds.json");
        set(&mut e, "/detail/state", json!(state));
        set(
            &mut e,
            "/detail/statusMessage",
            json!("Snapshot quota exceeded"),
        );
        let p = plan(&e, &source(&[]));
        let [Action::Notify { subject, message }] = p.actions.as_slice() else {
            panic!("{p}")
        };
        assert_eq!(
            subject,
            &format!("crossvault: backup job {state} in 111111111111 eu-west-1")
        );
        assert_eq!(
            message,
            &format!(
                "AWS Backup job 4F1C2A9E-7D3B-4C1A-9E2F-2E8F6D0A1B2C ended {state} in account 111111111111, region eu-west-1.\n\
                 Resource: arn:aws:rds:eu-west-1:111111111111:db:orders\n\
                 Resource type: RDS\n\
                 Vault: arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault\n\
                 Status message: Snapshot quota exceeded\n\
                 Duration: 40 min 57 s\n\
                 Console: https://eu-west-1.console.aws.amazon.com/backup/home?region=eu-west-1#/jobs/backup/details/4F1C2A9E-7D3B-4C1A-9E2F-2E8F6D0A1B2C\n\
                 No copy is made for this backup; the resource has no new recovery point."
            )
        );
    }
}

#[test]
fn aborted_and_expired_copies_notify() {
    for state in ["ABORTED", "EXPIRED", "PARTIAL"] {
        let mut e = fixture("copy-job-failed.json");
        set(&mut e, "/detail/state", json!(state));
        let p = plan(&e, &source(&[]));
        assert!(
            matches!(p.actions.as_slice(), [Action::Notify { subject, .. }] if subject.contains(state)),
            "{p}"
        );
    }
}

#[test]
fn two_hop_types_go_same_region_first() {
    let config = source(&[(vars::TWO_HOP_RESOURCE_TYPES, "EBS")]);
    let p = plan(&ebs_backup_job("eu-west-1"), &config);
    assert_eq!(
        copies(&p),
        vec![(
            Hop::TwoHopFirst,
            "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault".to_owned()
        )]
    );
    // Its completion (seen in the source account) is the last offsite hop the source sees.
    let mut done =
        completed_copy_to("arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault");
    set(&mut done, "/resources", json!([EBS_RP]));
    set(&mut done, "/detail/resourceType", json!("EBS"));
    let p = plan_with_tags(&done, &config, &[]);
    assert!(copies(&p).is_empty());
    assert!(has_shorten(&p));
    // Not a two-hop type without the configuration: normal first hop.
    let p = plan(&ebs_backup_job("eu-west-1"), &source(&[]));
    assert_eq!(copies(&p)[0].0, Hop::ToBackupRegion);
}

#[test]
fn backup_account_forwards_two_hop_arrivals_only() {
    let config = backup(&[(vars::TWO_HOP_RESOURCE_TYPES, "EBS")]);
    let p = plan(&ebs_arrival_in_backup("eu-west-1", "eu-west-1"), &config);
    let [
        Action::StartCopyJob {
            source_recovery_point_arn,
            source_vault_name,
            destination_vault_arn,
            iam_role_arn,
            hop,
            ..
        },
    ] = p.actions.as_slice()
    else {
        panic!("{p}")
    };
    assert_eq!(*hop, Hop::TwoHopForward);
    assert_eq!(
        source_recovery_point_arn,
        "arn:aws:ec2:eu-west-1::snapshot/snap-0fedcba9876543210"
    );
    assert_eq!(source_vault_name.as_str(), "crossvault");
    assert_eq!(
        destination_vault_arn.to_string(),
        "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault"
    );
    assert_eq!(iam_role_arn, BACKUP_COPY_ROLE);

    // A resource that lives in the backup region is forwarded to the alternate.
    let p = plan(
        &ebs_arrival_in_backup("eu-central-1", "eu-central-1"),
        &config,
    );
    assert_eq!(
        copies(&p),
        vec![(
            Hop::TwoHopForward,
            "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault".to_owned()
        )]
    );
    // An already forwarded copy is never forwarded again.
    let p = plan(&ebs_arrival_in_backup("eu-central-1", "eu-west-1"), &config);
    assert!(
        ignore_reason(&p).contains("already a cross-region copy"),
        "{p}"
    );
    // Not a two-hop type: nothing.
    let p = plan(
        &ebs_arrival_in_backup("eu-west-1", "eu-west-1"),
        &backup(&[]),
    );
    assert!(ignore_reason(&p).contains("only two-hop types"), "{p}");
    // Other status.
    let mut e = ebs_arrival_in_backup("eu-west-1", "eu-west-1");
    set(&mut e, "/detail/status", json!("EXPIRED"));
    assert!(ignore_reason(&plan(&e, &config)).contains("is EXPIRED"));
    // Source accounts never forward arrivals.
    let mut e = ebs_arrival_in_backup("eu-west-1", "eu-west-1");
    set(&mut e, "/account", json!(SOURCE));
    assert!(copies(&plan(&e, &source(&[(vars::TWO_HOP_RESOURCE_TYPES, "EBS")]))).is_empty());
}

#[test]
fn backup_account_reports_its_forward_copies() {
    let config = backup(&[(vars::TWO_HOP_RESOURCE_TYPES, "EBS")]);
    let mut e = fixture("copy-job-failed.json");
    set(&mut e, "/account", json!(BACKUP));
    set(
        &mut e,
        "/resources",
        json!(["arn:aws:ec2:eu-west-1::snapshot/snap-0fedcba9876543210"]),
    );
    set(
        &mut e,
        "/detail/sourceBackupVaultArn",
        json!("arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault"),
    );
    set(&mut e, "/detail/resourceType", json!("EBS"));
    let p = plan(&e, &config);
    let [Action::Notify { message, .. }] = p.actions.as_slice() else {
        panic!("{p}")
    };
    assert!(message.contains("Hop: two-hop-forward"), "{message}");
    set(&mut e, "/detail/state", json!("COMPLETED"));
    set(
        &mut e,
        "/detail/destinationRecoveryPointArn",
        json!("arn:aws:ec2:eu-central-1::snapshot/snap-0aaa"),
    );
    let p = plan(&e, &config);
    assert!(ignore_reason(&p).contains("two-hop forward"), "{p}");
    // Backup jobs in the backup account are not copied.
    let mut b = fixture("backup-job-completed-plan-rds.json");
    set(&mut b, "/account", json!(BACKUP));
    assert!(ignore_reason(&plan(&b, &config)).contains("in a backup account"));
}

#[test]
fn backup_and_preprod_accounts_never_copy_source_events() {
    for name in FIXTURE_NAMES {
        let event = fixture(name);
        for config in [backup(&[]), preprod(&[])] {
            let p = plan(&event, &config);
            assert!(copies(&p).is_empty(), "{name} as {}: {p}", config.role);
            assert!(!has_shorten(&p), "{name} as {}: {p}", config.role);
        }
    }
}

#[test]
fn other_detail_types_are_ignored() {
    let scheduled = json!({"version":"0","id":"s","detail-type":"Scheduled Event","source":"aws.events",
        "account":SOURCE,"time":"2026-03-02T06:00:00Z","region":"eu-west-1","resources":[],"detail":{}});
    assert_eq!(
        ignore_reason(&plan(&scheduled, &source(&[]))),
        "event type \"Scheduled Event\" needs no action from crossvault"
    );
    let region_setting = json!({"version":"0","id":"e7ed","detail-type":"Region Setting State Change",
        "source":"aws.backup","account":SOURCE,"time":"2026-03-01T10:00:03Z","region":"eu-west-1",
        "resources":[],"detail":{"modifiedAt":"2026-03-01T09:59:58.161Z",
        "ResourceTypeOptInPreference":{"RDS":true},"state":"MODIFIED"}});
    assert!(ignore_reason(&plan(&region_setting, &source(&[]))).contains("Region Setting"));
}

#[test]
fn malformed_events_name_the_field() {
    let config = source(&[]);
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "copy-job-completed-to-backup-account.json",
            Box::new(|e| remove(e, "/detail", "sourceBackupVaultArn")),
            "detail.sourceBackupVaultArn: missing (expected an ARN string)",
        ),
        (
            "copy-job-completed-to-backup-account.json",
            Box::new(|e| set(e, "/detail/sourceBackupVaultArn", json!(42))),
            "detail.sourceBackupVaultArn: expected an ARN string",
        ),
        (
            "copy-job-completed-to-backup-account.json",
            Box::new(|e| {
                set(
                    e,
                    "/detail/destinationBackupVaultArn",
                    json!("arn:aws:s3:::bucket"),
                )
            }),
            "detail.destinationBackupVaultArn: expected a backup vault ARN",
        ),
        (
            "copy-job-completed-to-backup-account.json",
            Box::new(|e| set(e, "/detail/destinationRecoveryPointArn", json!([1]))),
            "detail.destinationRecoveryPointArn: expected an ARN string or {}",
        ),
        (
            "copy-job-completed-to-backup-account.json",
            Box::new(|e| set(e, "/resources", json!([]))),
            "resources[0]: missing",
        ),
        (
            "backup-job-completed-plan-rds.json",
            Box::new(|e| remove(e, "/detail", "state")),
            "detail.state: missing",
        ),
        (
            "backup-job-completed-plan-rds.json",
            Box::new(|e| set(e, "/detail/creationDate", json!("yesterday"))),
            "detail.creationDate: expected an ISO-8601 date",
        ),
        (
            "backup-job-completed-plan-rds.json",
            Box::new(|e| set(e, "/detail/backupSizeInBytes", json!("big"))),
            "detail.backupSizeInBytes: expected a size in bytes",
        ),
        (
            "backup-job-completed-plan-rds.json",
            Box::new(|e| set(e, "/resources", json!(["snapshot-123"]))),
            "resources[0]: expected a recovery point ARN",
        ),
        (
            "backup-job-completed-plan-rds.json",
            Box::new(|e| remove(e, "/detail", "backupJobId")),
            "detail.backupJobId: missing",
        ),
        (
            "backup-job-completed-plan-rds.json",
            Box::new(|e| set(e, "/account", json!("1111"))),
            "account: expected a 12-digit AWS account id",
        ),
        (
            "backup-job-completed-plan-rds.json",
            Box::new(|e| remove(e, "", "detail")),
            "detail: expected an object",
        ),
        (
            "backup-job-completed-plan-rds.json",
            Box::new(|e| remove(e, "", "detail-type")),
            "detail-type: missing",
        ),
        (
            "recovery-point-arrived-preprod.json",
            Box::new(|e| set(e, "/detail/lifecycle/deleteAfterDays", json!("soon"))),
            "detail.lifecycle.deleteAfterDays: expected a whole number of days",
        ),
        (
            "recovery-point-arrived-preprod.json",
            Box::new(|e| set(e, "/detail/storageClass", json!("TEPID"))),
            "detail.storageClass: expected WARM, COLD or DELETED",
        ),
    ];
    for (name, mutate, expected) in cases {
        let mut e = fixture(name);
        mutate(&mut e);
        let err = decide_json(&e, &config, &Facts::none()).unwrap_err();
        assert!(matches!(err, DecideError::Event(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("malformed event: {expected}")),
            "{name}: got {text:?}, expected it to start with {expected:?}"
        );
    }
    assert!(decide_json(&json!([1, 2]), &config, &Facts::none()).is_err());
}

#[test]
fn quirks_are_tolerated() {
    // Sizes as numbers or strings, `{}` destination, non-ISO expectedCompletionDate,
    // unknown fields.
    let mut e = fixture("copy-job-running.json");
    set(&mut e, "/detail/backupSizeInBytes", json!("21474836480"));
    e["detail"]["expectedCompletionDate"] = json!("Jul 15, 2020 9:39:07 PM");
    e["detail"]["somethingNew"] = json!({"nested": [1, 2]});
    let BackupEvent::CopyJob(job) = BackupEvent::from_value(&e).unwrap() else {
        panic!()
    };
    assert_eq!(job.backup_size_in_bytes, Some(21_474_836_480));
    assert_eq!(job.destination_recovery_point_arn, None);
    let BackupEvent::CopyJob(done) =
        BackupEvent::from_value(&fixture("copy-job-completed-to-backup-account.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!(done.backup_size_in_bytes, Some(21_474_836_480));
    assert_eq!(
        done.destination_recovery_point_arn.as_deref(),
        Some(
            "arn:aws:rds:eu-central-1:222222222222:snapshot:awsbackup:copyjob-8e2d51c0-3a4b-4c5d-9e6f-7a8b9c0d1e2f"
        )
    );
    let BackupEvent::RecoveryPoint(rp) =
        BackupEvent::from_value(&fixture("recovery-point-arrived-preprod.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!(rp.lifecycle.delete_after_days, Some(14));
    assert_eq!(rp.is_encrypted, Some(true));
    assert!(rp.delete_at.is_some());
    let BackupEvent::RestoreJob(restore) =
        BackupEvent::from_value(&fixture("restore-job-completed.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!(restore.status, crossvault_core::Status::Completed);
}

#[test]
fn missing_copy_role_is_a_decide_error_not_a_panic() {
    let mut config = source(&[]);
    config.copy_role_arn = None;
    let e = fixture("backup-job-completed-plan-rds.json");
    let err = decide_json(&e, &config, &facts(&e, &config, None)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "configuration: CROSSVAULT_COPY_ROLE_ARN is not set"
    );
}

#[test]
fn display_is_readable() {
    let p = plan_with_tags(
        &fixture("copy-job-completed-to-backup-account.json"),
        &source(&[]),
        &[("CopyToPreProd", "true")],
    );
    let text = p.to_string();
    assert!(
        text.starts_with("plan: 2 actions\n  1. start copy job (to-pre-prod, attempt 1)\n"),
        "{text}"
    );
    assert!(
        text.contains("lifecycle       delete after 35 days"),
        "{text}"
    );
    assert!(
        text.contains("  2. shorten retention of the original"),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "     vault           crossvault\n     once verified   to-backup-region → {FRANKFURT} COMPLETED\n"
        )),
        "{text}"
    );
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["actions"][0]["action"], "start_copy_job");
    assert_eq!(json["actions"][0]["hop"], "to-pre-prod");
    assert_eq!(json["actions"][0]["attempt"], 1);
    assert_eq!(json["actions"][1]["action"], "shorten_retention");
    assert_eq!(json["actions"][1]["requires"][0]["hop"], "to-backup-region");
    assert_eq!(
        json["actions"][1]["requires"][0]["destination_vault_arn"],
        FRANKFURT
    );
}

fn backup_job_event() -> Value {
    fixture("backup-job-completed-plan-rds.json")
}

fn failed_copy(job_id: &str, minute: u32) -> Value {
    let mut e = fixture("copy-job-failed.json");
    set(&mut e, "/detail/copyJobId", json!(job_id));
    set(
        &mut e,
        "/detail/creationDate",
        json!(format!("2026-03-02T04:{minute:02}:00.000Z")),
    );
    e
}

fn notify_of(plan: &Plan) -> (String, String) {
    match plan.actions.as_slice() {
        [Action::Notify { subject, message }] => (subject.clone(), message.clone()),
        _ => panic!("expected a single Notify, got {plan}"),
    }
}

#[test]
fn a_duplicate_event_starts_nothing_new_and_a_created_job_is_under_way() {
    let config = source(&[]);
    let e = backup_job_event();
    // AWS keeps a job CREATED while it retries system errors for up to 2 hours: under way.
    for state in [Status::Created, Status::Running, Status::Pending] {
        let p = plan_with_jobs(
            &e,
            &config,
            vec![listed("j1", RDS_RP, FRANKFURT, state.clone(), 1)],
        );
        assert!(copies(&p).is_empty(), "{state}: {p}");
        assert!(
            ignore_reason(&p).contains("copy job j1 (to-backup-region)"),
            "{p}"
        );
        assert!(ignore_reason(&p).contains(&format!("is {state}")), "{p}");
    }
    // The hop is done: a late duplicate of the backup event goes on to the shortening.
    let p = plan_with_jobs(
        &e,
        &config,
        vec![listed("j1", RDS_RP, FRANKFURT, Status::Completed, 1)],
    );
    assert!(copies(&p).is_empty(), "{p}");
    assert!(has_shorten(&p), "{p}");
}

#[test]
fn events_never_retry_a_failed_hop_and_say_the_reconciler_will() {
    let config = source(&[]);
    let e = backup_job_event();
    let p = plan_with_jobs(
        &e,
        &config,
        vec![listed("j1", RDS_RP, FRANKFURT, Status::Failed, 1)],
    );
    assert!(copies(&p).is_empty(), "{p}");
    assert_eq!(
        ignore_reason(&p),
        format!(
            "to-backup-region of {RDS_RP} to {FRANKFURT} failed 1 time(s) (last status message: message of j1); \
             the reconciler starts attempt 2 of 3 on its next run"
        )
    );
    // After CopyMaxAttempts failures: given up, never shortened.
    let jobs: Vec<_> = (1..=3)
        .map(|i| listed(&format!("j{i}"), RDS_RP, FRANKFURT, Status::Failed, i))
        .collect();
    let p = plan_with_jobs(&e, &config, jobs);
    assert!(copies(&p).is_empty() && !has_shorten(&p), "{p}");
    assert!(
        ignore_reason(&p).starts_with(&format!(
            "crossvault gave up on to-backup-region of {RDS_RP} to {FRANKFURT} after 3 failed attempt(s) \
             (CopyMaxAttempts = 3; last status message: message of j3)"
        )),
        "{p}"
    );
}

#[test]
fn a_failed_copy_counts_its_attempt_and_the_last_one_gives_up_once() {
    let config = source(&[]);
    // Attempt 2: the listing shows attempt 1 failed and attempt 2 still RUNNING (it lags
    // behind the event); the event's FAILED wins for its own job.
    let jobs = vec![
        listed("j1", RDS_RP, FRANKFURT, Status::Failed, 1),
        listed("j2", RDS_RP, FRANKFURT, Status::Running, 2),
    ];
    let p = plan_with_jobs(&failed_copy("j2", 2), &config, jobs.clone());
    let (subject, message) = notify_of(&p);
    assert_eq!(
        subject,
        "crossvault: copy job FAILED in 111111111111 eu-west-1"
    );
    assert!(
        message.ends_with(
            "The original keeps its full retention. This was attempt 2 of 3: the reconciler starts \
             attempt 3 with a new copy job on its next run (ReconcileSchedule)."
        ),
        "{message}"
    );
    // Attempt 3 of 3 is the last: the give-up notice, naming point, destination and message.
    let mut jobs = jobs;
    jobs[1].state = Status::Failed;
    let p = plan_with_jobs(&failed_copy("j3", 3), &config, jobs.clone());
    let (subject, message) = notify_of(&p);
    assert_eq!(
        subject,
        "crossvault: gave up copying to 222222222222 eu-central-1"
    );
    assert!(
        message.starts_with(&format!(
            "crossvault gave up copying recovery point {RDS_RP} to {FRANKFURT} (to-backup-region) after 3 failed attempts (CopyMaxAttempts = 3).\n"
        )),
        "{message}"
    );
    assert!(
        message.contains("Status message: Access denied"),
        "{message}"
    );
    assert!(
        message.contains("The original is never shortened by crossvault"),
        "{message}"
    );
    // The same failure delivered again, or a late failure of an earlier attempt, does not give
    // up a second time.
    let mut all = jobs.clone();
    all.push(listed("j3", RDS_RP, FRANKFURT, Status::Failed, 3));
    let (subject, _) = notify_of(&plan_with_jobs(&failed_copy("j2", 2), &config, all.clone()));
    assert!(
        subject.starts_with("crossvault: copy job FAILED"),
        "{subject}"
    );
    // A fourth failure (someone copied by hand) is reported as already given up.
    all.push(listed("j4", RDS_RP, FRANKFURT, Status::Failed, 4));
    let (subject, message) = notify_of(&plan_with_jobs(&failed_copy("j4", 4), &config, all));
    assert!(
        subject.starts_with("crossvault: copy job FAILED"),
        "{subject}"
    );
    assert!(
        message.contains("crossvault had already given up on this hop"),
        "{message}"
    );
    // CopyMaxAttempts = 1: the first failure gives up.
    let once = source(&[(vars::COPY_MAX_ATTEMPTS, "1")]);
    let (subject, _) = notify_of(&plan_with_jobs(&failed_copy("j1", 1), &once, vec![]));
    assert!(subject.starts_with("crossvault: gave up"), "{subject}");
}

#[test]
fn a_failed_copy_to_no_hop_is_reported_without_attempts() {
    let mut e = failed_copy("j9", 1);
    set(
        &mut e,
        "/detail/destinationBackupVaultArn",
        json!("arn:aws:backup:us-east-1:222222222222:backup-vault:other"),
    );
    let config = source(&[]);
    assert!(facts_needed_json(&e, &config).unwrap().is_empty());
    let p = decide_json(&e, &config, &Facts::none()).unwrap();
    let (_, message) = notify_of(&p);
    assert!(message.contains("Hop: (not in the event)"), "{message}");
    assert!(
        message.ends_with("no original is shortened because of it."),
        "{message}"
    );
}

#[test]
fn a_key_failure_names_the_key_and_the_fix() {
    let config = source(&[]);
    let key = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    // The key named by AWS's message.
    let mut e = failed_copy("j1", 1);
    set(
        &mut e,
        "/detail/statusMessage",
        json!(format!(
            "Copy failed: the destination account is not authorized to use KMS key {key}."
        )),
    );
    let request = facts_needed_json(&e, &config).unwrap();
    assert!(
        request.recovery_point.is_none(),
        "the message names the key: {request}"
    );
    let (_, message) = notify_of(&plan_with_jobs(&e, &config, vec![]));
    assert!(message.contains(&format!("\nKey: {key}\n")), "{message}");
    assert!(
        message.contains("see template/README.md, \"Resources' own keys\""),
        "{message}"
    );
    assert!(
        message.contains(
            "AWS managed key (aws/rds, aws/ebs, ...) can never be copied across accounts"
        ),
        "{message}"
    );
    // A message without the ARN: the point's EncryptionKeyArn, described for it.
    set(
        &mut e,
        "/detail/statusMessage",
        json!("Access denied: kms:CreateGrant is not allowed on the source key"),
    );
    let request = facts_needed_json(&e, &config).unwrap();
    assert_eq!(
        request
            .recovery_point
            .map(|r| r.recovery_point_arn)
            .as_deref(),
        Some(RDS_RP)
    );
    let mut f = facts(&e, &config, None);
    f.recovery_point = Some(RecoveryPointFacts {
        encryption_key_arn: Some(key.into()),
        ..RecoveryPointFacts::new(RDS_RP)
    });
    let (_, message) = notify_of(&decide_json(&e, &config, &f).unwrap());
    assert!(message.contains(&format!("\nKey: {key}\n")), "{message}");
    // A failure that is not about keys has no key lines.
    let (_, message) = notify_of(&plan_with_jobs(&failed_copy("j1", 1), &config, vec![]));
    assert!(!message.contains("Key:"), "{message}");
}

#[test]
fn a_point_that_arrived_as_someone_elses_copy_is_never_copied_on() {
    let config = source(&[]);
    let mut rp_event = fixture("recovery-point-arrived-preprod.json");
    let rp = "arn:aws:backup:eu-west-1:111111111111:recovery-point:9f";
    set(&mut rp_event, "/account", json!(SOURCE));
    set(&mut rp_event, "/resources", json!([rp]));
    set(
        &mut rp_event,
        "/detail/backupVaultArn",
        json!("arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault"),
    );
    set(&mut rp_event, "/detail/resourceType", json!("EFS"));
    // The event cannot tell: the point is described.
    assert!(
        facts_needed_json(&rp_event, &config)
            .unwrap()
            .recovery_point
            .is_some()
    );
    let copy_of = RecoveryPointFacts {
        backup_vault_arn: Some(
            "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault".into(),
        ),
        source_backup_vault_arn: Some(
            "arn:aws:backup:eu-west-1:444444444444:backup-vault:theirs".into(),
        ),
        ..RecoveryPointFacts::new(rp)
    };
    let f = Facts::none()
        .and_copy_jobs(vec![])
        .and_recovery_point(copy_of.clone());
    let p = decide_json(&rp_event, &config, &f).unwrap();
    assert!(
        ignore_reason(&p).contains("arrived in the managed vault as a copy from arn:aws:backup:eu-west-1:444444444444:backup-vault:theirs"),
        "{p}"
    );
    // Nor is its completed copy chained on.
    let mut done = completed_copy_to(FRANKFURT);
    set(&mut done, "/resources", json!([rp]));
    let f = Facts::none()
        .and_copy_jobs(vec![])
        .and_recovery_point(copy_of);
    assert!(ignore_reason(&decide_json(&done, &config, &f).unwrap()).contains("not an original"));
    // A source vault equal to its own vault is an original.
    let own = RecoveryPointFacts {
        backup_vault_arn: Some(
            "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault".into(),
        ),
        source_backup_vault_arn: Some(
            "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault".into(),
        ),
        ..RecoveryPointFacts::new(rp)
    };
    let f = Facts::none().and_copy_jobs(vec![]).and_recovery_point(own);
    assert_eq!(
        copies(&decide_json(&rp_event, &config, &f).unwrap()).len(),
        1
    );
}

#[test]
fn only_aws_backup_events_of_this_account_and_region_are_acted_on() {
    let config = source(&[]).with_region("eu-west-1".parse().unwrap());
    let ok = backup_job_event();
    assert_eq!(copies(&plan(&ok, &config)).len(), 1);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/source",
            json!("my.app"),
            "event source \"my.app\" is not \"aws.backup\": crossvault acts only on AWS Backup's own events",
        ),
        (
            "/account",
            json!("444444444444"),
            "event from account 444444444444 but this stack runs in account 111111111111",
        ),
        (
            "/region",
            json!("us-east-1"),
            "event from region us-east-1 but this stack runs in region eu-west-1",
        ),
    ];
    for (pointer, value, reason) in cases {
        let mut e = ok.clone();
        set(&mut e, pointer, value);
        // Rejected before any fact is looked up.
        assert!(
            facts_needed_json(&e, &config).unwrap().is_empty(),
            "{pointer}"
        );
        assert_eq!(
            ignore_reason(&decide_json(&e, &config, &Facts::none()).unwrap()),
            format!("Backup Job State Change: {reason}"),
            "{pointer}"
        );
    }
}

#[test]
fn the_two_hop_forward_is_bounded_like_every_hop() {
    let config = backup(&[(vars::TWO_HOP_RESOURCE_TYPES, "EBS")]);
    let arrival = ebs_arrival_in_backup("eu-west-1", "eu-west-1");
    let copy = "arn:aws:ec2:eu-west-1::snapshot/snap-0fedcba9876543210";
    let mut f = facts(&arrival, &config, None);
    f.copy_jobs = Some(vec![listed("f1", copy, FRANKFURT, Status::Failed, 1)]);
    let p = decide_json(&arrival, &config, &f).unwrap();
    assert!(
        ignore_reason(&p).contains("the reconciler starts attempt 2 of 3"),
        "{p}"
    );
    f.copy_jobs = Some(vec![listed("f1", copy, FRANKFURT, Status::Completed, 1)]);
    let p = decide_json(&arrival, &config, &f).unwrap();
    assert!(ignore_reason(&p).contains("already COMPLETED"), "{p}");
    // The source side of a two-hop type waits for the forward too.
    let source_config = source(&[(vars::TWO_HOP_RESOURCE_TYPES, "EBS")]);
    let mut done = completed_copy_to(LOCAL);
    set(&mut done, "/resources", json!([EBS_RP]));
    set(&mut done, "/detail/resourceType", json!("EBS"));
    let p = plan_with_tags(&done, &source_config, &[]);
    let Some(Action::ShortenRetention { requires, .. }) = p.actions.last() else {
        panic!("{p}")
    };
    let hops: Vec<Hop> = requires.iter().map(|r| r.hop).collect();
    assert_eq!(hops, [Hop::TwoHopFirst, Hop::TwoHopForward]);
    assert!(p.to_string().contains(&format!(
        "and             two-hop-forward → {FRANKFURT} COMPLETED (the backup account's forward, read with its verify role)"
    )), "{p}");
}

#[test]
fn a_failed_pre_prod_copy_says_the_original_does_not_depend_on_it() {
    let config = source(&[]);
    let mut e = failed_copy("p1", 1);
    set(
        &mut e,
        "/detail/destinationBackupVaultArn",
        json!("arn:aws:backup:eu-west-1:333333333333:backup-vault:crossvault"),
    );
    let (_, message) = notify_of(&plan_with_jobs(&e, &config, vec![]));
    assert!(message.contains("Hop: to-pre-prod"), "{message}");
    assert!(
        message.contains("The original's retention does not depend on this pre-prod copy"),
        "{message}"
    );
    assert!(!message.contains("keeps its full retention"), "{message}");
    let once = source(&[(vars::COPY_MAX_ATTEMPTS, "1")]);
    let (subject, message) = notify_of(&plan_with_jobs(&e, &once, vec![]));
    assert!(
        subject.starts_with("crossvault: gave up copying to 333333333333"),
        "{subject}"
    );
    assert!(!message.contains("never shortened"), "{message}");
}

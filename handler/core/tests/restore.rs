//! The pre-prod refresh's decisions: every arrival shape, then the refresh's steps (tag, hook,
//! promote, clean up) under late, duplicated and reordered events.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use common::*;
use crossvault_core::config::vars;
use crossvault_core::event::Status;
use crossvault_core::restore::naming::{restore_name, restore_token};
use crossvault_core::restore::resource::{
    self, BACKUP_TIME, HOOK_EXECUTION, MARKER, RECOVERY_POINT, SOURCE_RESOURCE, STAGE,
};
use crossvault_core::restore::settings::vars as rvars;
use crossvault_core::restore::{
    HookExecution, HookStatus, ListedRestoreJob, Provenance, RestoreAction, RestoreFacts,
    RestoredKind, RestoredResource, Stage,
};
use crossvault_core::{
    Action, DecideError, FactRequest, Facts, Plan, RecoveryPointFacts, StackConfig, decide_json,
};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::333333333333:role/crossvault-restore-eu-west-1";
const ORDERS: &str = "arn:aws:rds:eu-west-1:111111111111:db:orders";
const RP1: &str = "arn:aws:rds:eu-west-1:333333333333:snapshot:awsbackup:copyjob-1111";
const RP2: &str = "arn:aws:rds:eu-west-1:333333333333:snapshot:awsbackup:copyjob-2222";
const NIGHT1: &str = "2026-03-02T03:00:05Z";
const NIGHT2: &str = "2026-03-03T03:00:05Z";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A pre-prod stack with restores on, a masking hook and the network to restore into.
fn restoring(extra: &[(&str, &str)]) -> StackConfig {
    let mut o = vec![
        (rvars::ON_ARRIVAL, "true"),
        (rvars::ROLE_ARN, ROLE),
        (rvars::HOOK_DOCUMENT, "crossvault-mask"),
        (rvars::DB_SUBNET_GROUP, "preprod-db"),
        (rvars::SECURITY_GROUP_IDS, "sg-0preprod"),
        (rvars::DB_INSTANCE_CLASS, "db.t4g.medium"),
    ];
    o.extend_from_slice(extra);
    preprod(&o).with_region("eu-west-1".parse().unwrap())
}

fn arrival(rp: &str, resource_type: &str, resource: &str, created: &str) -> Value {
    json!({"version": "0", "id": "e1", "detail-type": "Recovery Point State Change", "source": "aws.backup",
        "account": PREPROD, "time": "2026-03-02T06:02:20Z", "region": "eu-west-1", "resources": [rp],
        "detail": {"backupVaultName": "crossvault",
            "backupVaultArn": "arn:aws:backup:eu-west-1:333333333333:backup-vault:crossvault",
            "creationDate": created, "resourceType": resource_type, "resourceArn": resource,
            "status": "COMPLETED", "storageClass": "WARM"}})
}

fn tagged() -> BTreeMap<String, String> {
    BTreeMap::from([("CopyToPreProd".to_owned(), "true".to_owned())])
}

fn point(rp: &str, created: &str, size: u64) -> RecoveryPointFacts {
    RecoveryPointFacts {
        creation_date: Some(t(created)),
        backup_size_in_bytes: Some(size),
        status: Some(Status::Completed),
        ..RecoveryPointFacts::new(rp)
    }
}

fn prod_rds_metadata() -> BTreeMap<String, String> {
    [
        ("DBInstanceIdentifier", "orders"),
        ("DBInstanceClass", "db.r6g.4xlarge"),
        ("DBSubnetGroupName", "prod-db"),
        ("AvailabilityZone", "eu-west-1a"),
        ("PubliclyAccessible", "true"),
        ("Engine", "postgres"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// What the effect layer would find for a first arrival: tags, the point, AWS's metadata, no
/// restore jobs, the given restores.
fn first_arrival_facts(
    rp: &str,
    created: &str,
    metadata: BTreeMap<String, String>,
    restores: Vec<RestoredResource>,
) -> Facts {
    Facts {
        resource_tags: Some(tagged()),
        recovery_point: Some(point(rp, created, 20 * 1024 * 1024 * 1024)),
        restore: RestoreFacts {
            metadata: Some(metadata),
            restore_jobs: Some(Vec::new()),
            restores: Some(restores),
            ..RestoreFacts::default()
        },
        ..Facts::none()
    }
}

fn only(plan: &Plan) -> &Action {
    assert_eq!(plan.actions.len(), 1, "{plan}");
    &plan.actions[0]
}

fn ignored(plan: &Plan) -> &str {
    match only(plan) {
        Action::Ignore { reason } => reason,
        other => panic!("expected Ignore, got {other}"),
    }
}

fn start(plan: &Plan) -> (&str, &BTreeMap<String, String>, &str, u32) {
    match only(plan) {
        Action::Restore(RestoreAction::StartRestoreJob {
            resource_type,
            metadata,
            name,
            attempt,
            iam_role_arn,
            idempotency_token,
            recovery_point_arn,
            ..
        }) => {
            assert_eq!(iam_role_arn, ROLE);
            assert_eq!(
                idempotency_token,
                &restore_token(recovery_point_arn, *attempt)
            );
            (resource_type, metadata, name, *attempt)
        }
        other => panic!("expected StartRestoreJob, got {other}"),
    }
}

// ---------- arrivals ----------

#[test]
fn an_rds_arrival_asks_for_its_facts_in_stages_then_starts_one_restore() {
    let config = restoring(&[]);
    let event = arrival(RP1, "RDS", ORDERS, NIGHT1);
    // Not on the allow-list: the point's tags decide (the tag that sent it to pre-prod).
    assert_eq!(
        decide_json(&event, &config, &Facts::none()),
        Err(DecideError::NeedsFacts(FactRequest {
            resource_tags_of: Some(RP1.into()),
            ..FactRequest::default()
        }))
    );
    let Err(DecideError::NeedsFacts(request)) =
        decide_json(&event, &config, &Facts::with_tags(tagged()))
    else {
        panic!("the point, its metadata, its jobs and the existing restores come next")
    };
    assert_eq!(request.recovery_point.unwrap().recovery_point_arn, RP1);
    assert_eq!(request.restore.metadata_of.unwrap().recovery_point_arn, RP1);
    assert_eq!(request.restore.restore_jobs_since, Some(t(NIGHT1)));
    assert_eq!(request.restore.restores_of.as_deref(), Some(ORDERS));

    let plan = decide_json(
        &event,
        &config,
        &first_arrival_facts(RP1, NIGHT1, prod_rds_metadata(), Vec::new()),
    )
    .unwrap();
    let (ty, metadata, name, attempt) = start(&plan);
    assert_eq!((ty, attempt), ("RDS", 1));
    assert_eq!(name, restore_name(ORDERS, t(NIGHT1), RP1, 1));
    assert!(name.starts_with("orders-20260302-"), "{name}");
    assert_eq!(metadata["DBInstanceIdentifier"], name);
    assert_eq!(metadata["DBSubnetGroupName"], "preprod-db");
    assert_eq!(metadata["VpcSecurityGroupIds"], "[\"sg-0preprod\"]");
    assert_eq!(metadata["DBInstanceClass"], "db.t4g.medium");
    assert_eq!(metadata["PubliclyAccessible"], "false");
    assert_eq!(metadata["DeletionProtection"], "false");
    assert!(!metadata.contains_key("AvailabilityZone"));
}

#[test]
fn an_allow_listed_source_needs_no_tag() {
    let config = restoring(&[(rvars::SOURCES, "orders"), (rvars::TAGGED_SOURCES, "false")]);
    let event = arrival(RP1, "RDS", ORDERS, NIGHT1);
    let Err(DecideError::NeedsFacts(request)) = decide_json(&event, &config, &Facts::none()) else {
        panic!()
    };
    assert_eq!(request.resource_tags_of, None, "no tag look-up");
    let mut facts = first_arrival_facts(RP1, NIGHT1, prod_rds_metadata(), Vec::new());
    facts.resource_tags = None;
    start(&decide_json(&event, &config, &facts).unwrap());
    // Another database of the same account is neither listed nor (tagged sources off) tagged.
    let other = arrival(
        RP1,
        "RDS",
        "arn:aws:rds:eu-west-1:111111111111:db:billing",
        NIGHT1,
    );
    assert!(
        ignored(&decide_json(&other, &config, &facts).unwrap())
            .contains("not on the restore allow-list")
    );
}

#[test]
fn an_untagged_point_off_the_allow_list_is_not_restored() {
    let config = restoring(&[]);
    let plan = decide_json(
        &arrival(RP1, "RDS", ORDERS, NIGHT1),
        &config,
        &Facts::with_tags([("team", "orders")]),
    )
    .unwrap();
    assert!(
        ignored(&plan).contains("does not carry the pre-prod tag CopyToPreProd=true"),
        "{plan}"
    );
}

#[test]
fn an_aurora_arrival_restores_the_cluster_and_needs_a_writer_class() {
    let cluster = "arn:aws:rds:eu-west-1:111111111111:cluster:ledger";
    let rp = "arn:aws:rds:eu-west-1:333333333333:cluster-snapshot:awsbackup:copyjob-3333";
    let metadata = BTreeMap::from([
        ("DBClusterIdentifier".to_owned(), "ledger".to_owned()),
        ("Engine".to_owned(), "aurora-postgresql".to_owned()),
        (
            "AvailabilityZones".to_owned(),
            "[\"eu-west-1a\"]".to_owned(),
        ),
    ]);
    let event = arrival(rp, "Aurora", cluster, NIGHT1);
    let facts = first_arrival_facts(rp, NIGHT1, metadata.clone(), Vec::new());
    let plan = decide_json(&event, &restoring(&[]), &facts).unwrap();
    let (ty, m, name, _) = start(&plan);
    assert_eq!(ty, "Aurora");
    assert_eq!(m["DBClusterIdentifier"], name);
    assert_eq!(m["DBSubnetGroupName"], "preprod-db");
    assert!(!m.contains_key("AvailabilityZones"));
    // Without an instance class the writer cannot be created: refused before starting, notified.
    let config = restoring(&[(rvars::DB_INSTANCE_CLASS, "")]);
    let plan = decide_json(&event, &config, &facts).unwrap();
    let Action::Notify { subject, message } = only(&plan) else {
        panic!("{plan}")
    };
    assert_eq!(
        subject,
        "crossvault: pre-prod restore not started in 333333333333 eu-west-1"
    );
    assert!(message.contains("RestoreDBInstanceClass"), "{message}");
    assert!(
        message.contains("production 111111111111 -> pre-prod 333333333333"),
        "{message}"
    );
}

#[test]
fn dynamodb_and_efs_arrivals_restore_into_new_resources() {
    let table = "arn:aws:dynamodb:eu-west-1:111111111111:table/carts";
    let rp = "arn:aws:backup:eu-west-1:333333333333:recovery-point:0a1b";
    let facts = first_arrival_facts(
        rp,
        NIGHT1,
        BTreeMap::from([("targetTableName".to_owned(), "carts".to_owned())]),
        Vec::new(),
    );
    let plan = decide_json(
        &arrival(rp, "DynamoDB", table, NIGHT1),
        &restoring(&[]),
        &facts,
    )
    .unwrap();
    let (ty, m, name, _) = start(&plan);
    assert_eq!(ty, "DynamoDB");
    assert_eq!(m["targetTableName"], name);
    assert!(name.starts_with("carts-20260302-"));

    let fs = "arn:aws:elasticfilesystem:eu-west-1:111111111111:file-system/fs-0123";
    let facts = first_arrival_facts(
        rp,
        NIGHT1,
        BTreeMap::from([
            ("file-system-id".to_owned(), "fs-0123".to_owned()),
            ("newFileSystem".to_owned(), "false".to_owned()),
        ]),
        Vec::new(),
    );
    // Neither needs a DB subnet group.
    let config = restoring(&[(rvars::DB_SUBNET_GROUP, "")]);
    let plan = decide_json(&arrival(rp, "EFS", fs, NIGHT1), &config, &facts).unwrap();
    let (ty, m, name, _) = start(&plan);
    assert_eq!(ty, "EFS");
    assert_eq!(m["newFileSystem"], "true");
    assert_eq!(m["CreationToken"], name);
    assert_eq!(m["file-system-id"], "fs-0123");
}

#[test]
fn an_unsupported_type_is_ignored_with_the_reason_before_any_lookup() {
    let config = restoring(&[]);
    let event = arrival(
        "arn:aws:ec2:eu-west-1::snapshot/snap-1",
        "EBS",
        "arn:aws:ec2:eu-west-1:111111111111:volume/vol-1",
        NIGHT1,
    );
    let plan = decide_json(&event, &config, &Facts::none()).unwrap();
    assert_eq!(
        ignored(&plan),
        "recovery point arn:aws:ec2:eu-west-1::snapshot/snap-1 is a EBS backup; crossvault restores RDS, Aurora, DynamoDB, EFS only"
    );
}

#[test]
fn a_point_from_a_non_production_account_is_ignored() {
    // ProductionAccountIds names the production accounts: 444444444444 is not one.
    let config = restoring(&[(vars::PREPROD_SOURCE_ACCOUNT_IDS, "111111111111")]);
    let event = arrival(
        RP1,
        "RDS",
        "arn:aws:rds:eu-west-1:444444444444:db:orders",
        NIGHT1,
    );
    let plan = decide_json(&event, &config, &Facts::none()).unwrap();
    assert!(
        ignored(&plan).contains(
            "account 444444444444 is not one of the production accounts (ProductionAccountIds: 111111111111)"
        ),
        "{plan}"
    );
    // Without ProductionAccountIds, crossvault's own accounts are never production.
    for (account, what) in [
        (PREPROD, "this pre-prod account itself"),
        (BACKUP, "the backup account"),
    ] {
        let event = arrival(
            RP1,
            "RDS",
            &format!("arn:aws:rds:eu-west-1:{account}:db:orders"),
            NIGHT1,
        );
        let plan = decide_json(&event, &restoring(&[]), &Facts::none()).unwrap();
        assert!(ignored(&plan).contains(what), "{plan}");
    }
}

#[test]
fn a_duplicate_arrival_starts_nothing_new() {
    let config = restoring(&[]);
    let event = arrival(RP1, "RDS", ORDERS, NIGHT1);
    let mut facts = first_arrival_facts(RP1, NIGHT1, prod_rds_metadata(), Vec::new());
    let job = |status: Status| ListedRestoreJob {
        restore_job_id: "R1".into(),
        recovery_point_arn: RP1.into(),
        status,
        iam_role_arn: Some(ROLE.into()),
        created_resource_arn: None,
        creation_date: None,
        completion_date: None,
        status_message: Some("DBInstanceAlreadyExists".into()),
        resource_type: Some("RDS".into()),
        source_resource_arn: Some(ORDERS.into()),
    };
    // The first restore job is listed: under way, then done.
    facts.restore.restore_jobs = Some(vec![job(Status::Running)]);
    assert!(ignored(&decide_json(&event, &config, &facts).unwrap()).contains("is RUNNING"));
    facts.restore.restore_jobs = Some(vec![job(Status::Completed)]);
    assert!(ignored(&decide_json(&event, &config, &facts).unwrap()).contains("already restored"));
    // The listing lags, but the restore is tagged: an equal backup is not restored again.
    facts.restore.restore_jobs = Some(Vec::new());
    facts.restore.restores = Some(vec![restored("orders-a", RP1, NIGHT1, Stage::Masking)]);
    assert!(
        ignored(&decide_json(&event, &config, &facts).unwrap()).contains("already has restore")
    );
    // Neither lists it: the same token and name as the first start, so AWS starts nothing new.
    facts.restore.restores = Some(Vec::new());
    let first = decide_json(
        &event,
        &config,
        &first_arrival_facts(RP1, NIGHT1, prod_rds_metadata(), Vec::new()),
    )
    .unwrap();
    assert_eq!(decide_json(&event, &config, &facts).unwrap(), first);
    // A failed restore is not retried by the event path (the reconciler retries it, once).
    facts.restore.restore_jobs = Some(vec![job(Status::Failed)]);
    assert!(
        ignored(&decide_json(&event, &config, &facts).unwrap())
            .contains("the reconciler starts attempt 2 of 2")
    );
}

#[test]
fn an_older_backup_arriving_late_is_not_restored_over_a_newer_one() {
    let config = restoring(&[]);
    let late = arrival(RP1, "RDS", ORDERS, NIGHT1);
    let facts = first_arrival_facts(
        RP1,
        NIGHT1,
        prod_rds_metadata(),
        vec![restored("orders-b", RP2, NIGHT2, Stage::Promoted)],
    );
    let reason = ignored(&decide_json(&late, &config, &facts).unwrap()).to_owned();
    assert!(
        reason.contains("older or equal backup is not restored over it"),
        "{reason}"
    );
}

#[test]
fn a_restore_that_cannot_start_is_notified_with_the_reason() {
    let event = arrival(RP1, "RDS", ORDERS, NIGHT1);
    let facts = first_arrival_facts(RP1, NIGHT1, prod_rds_metadata(), Vec::new());
    // No subnet group.
    let plan = decide_json(&event, &restoring(&[(rvars::DB_SUBNET_GROUP, "")]), &facts).unwrap();
    let Action::Notify { message, .. } = only(&plan) else {
        panic!("{plan}")
    };
    assert!(
        message.contains("set RestoreDBSubnetGroupName"),
        "{message}"
    );
    assert!(message.contains("\"prod-db\""), "{message}");
    // Over the size limit (the point is 20 GiB).
    let plan = decide_json(&event, &restoring(&[(rvars::MAX_SIZE_GIB, "10")]), &facts).unwrap();
    let Action::Notify { message, .. } = only(&plan) else {
        panic!("{plan}")
    };
    assert!(
        message.contains("20.0 GiB, over RestoreMaxSizeGiB = 10"),
        "{message}"
    );
    assert!(start_ok(
        &decide_json(&event, &restoring(&[(rvars::MAX_SIZE_GIB, "20")]), &facts).unwrap()
    ));
}

fn start_ok(plan: &Plan) -> bool {
    matches!(
        only(plan),
        Action::Restore(RestoreAction::StartRestoreJob { .. })
    )
}

#[test]
fn restores_off_and_other_roles_restore_nothing() {
    let event = arrival(RP1, "RDS", ORDERS, NIGHT1);
    let facts = first_arrival_facts(RP1, NIGHT1, prod_rds_metadata(), Vec::new());
    let off = preprod(&[]).with_region("eu-west-1".parse().unwrap());
    assert!(ignored(&decide_json(&event, &off, &facts).unwrap()).contains("restores are off"));
}

// ---------- the refresh ----------

fn restored(id: &str, rp: &str, backup: &str, stage: Stage) -> RestoredResource {
    let mut tags = Provenance {
        source_account: SOURCE.into(),
        source_resource: ORDERS.into(),
        recovery_point: rp.into(),
        backup_time: t(backup),
    }
    .tags();
    tags.insert(STAGE.into(), stage.as_str().into());
    tags.insert(resource::RESTORED_AT.into(), "2026-03-02T06:30:00Z".into());
    RestoredResource {
        arn: format!("arn:aws:rds:eu-west-1:333333333333:db:{id}"),
        kind: RestoredKind::RdsInstance,
        identifier: id.into(),
        tags,
        status: "available".into(),
        available: true,
        endpoint: Some(format!("{id}.abc.eu-west-1.rds.amazonaws.com:5432")),
        writer: None,
        deletion_protection: false,
        engine: Some("postgres".into()),
    }
}

fn restore_job_event(created: &str, role: &str, status: &str) -> Value {
    json!({"version": "0", "id": "e2", "detail-type": "Restore Job State Change", "source": "aws.backup",
        "account": PREPROD, "time": "2026-03-02T06:40:00Z", "region": "eu-west-1", "resources": [RP1],
        "detail": {"restoreJobId": "R1", "recoveryPointArn": RP1, "status": status,
            "backupVaultArn": "arn:aws:backup:eu-west-1:333333333333:backup-vault:crossvault",
            "sourceResourceArn": ORDERS, "resourceType": "RDS", "iamRoleArn": role,
            "creationDate": "2026-03-02T06:20:00Z", "completionDate": "2026-03-02T06:39:30Z",
            "createdResourceArn": created}})
}

fn automation_event(id: &str, status: &str) -> Value {
    json!({"version": "0", "id": "e3", "detail-type": "EC2 Automation Execution Status-change Notification",
        "source": "aws.ssm", "account": PREPROD, "time": "2026-03-02T07:00:00Z", "region": "eu-west-1",
        "resources": [], "detail": {"ExecutionId": id, "Definition": "crossvault-mask", "Status": status}})
}

fn steps(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| match a {
            Action::Restore(RestoreAction::TagRestore { resource, tags, .. }) => format!(
                "tag {} {}",
                resource.identifier,
                tags.get(STAGE).map(String::as_str).unwrap_or("-")
            ),
            Action::Restore(RestoreAction::StartHook {
                resource, document, ..
            }) => {
                format!("hook {document} {}", resource.identifier)
            }
            Action::Restore(RestoreAction::Promote {
                resource,
                parameter_name,
                endpoint,
                ..
            }) => {
                format!(
                    "promote {} {parameter_name}={endpoint}",
                    resource.identifier
                )
            }
            Action::Restore(RestoreAction::DeleteRestore { resource, .. }) => {
                format!("delete {}", resource.identifier)
            }
            Action::Restore(RestoreAction::CreateWriter {
                instance_identifier,
                ..
            }) => {
                format!("writer {instance_identifier}")
            }
            Action::Restore(RestoreAction::StartRestoreJob { name, .. }) => {
                format!("restore {name}")
            }
            Action::Notify { subject, .. } => format!("notify {subject}"),
            Action::Ignore { reason } => format!("ignore {reason}"),
            other => format!("{other}"),
        })
        .collect()
}

#[test]
fn a_completed_restore_is_tagged_with_its_provenance_then_masked() {
    let config = restoring(&[]);
    let created = "arn:aws:rds:eu-west-1:333333333333:db:orders-a";
    let event = restore_job_event(created, ROLE, "COMPLETED");
    let Err(DecideError::NeedsFacts(request)) = decide_json(&event, &config, &Facts::none()) else {
        panic!()
    };
    assert_eq!(request.restore.resource.as_deref(), Some(created));
    assert_eq!(request.restore.restores_of.as_deref(), Some(ORDERS));
    let mut fresh = restored("orders-a", RP1, NIGHT1, Stage::Restored);
    fresh.tags.clear();
    let facts = Facts {
        recovery_point: Some(point(RP1, NIGHT1, 1)),
        restore: RestoreFacts {
            resource: Some((created.into(), Some(fresh))),
            restores: Some(Vec::new()),
            ..RestoreFacts::default()
        },
        ..Facts::none()
    };
    let plan = decide_json(&event, &config, &facts).unwrap();
    assert_eq!(
        steps(&plan),
        [
            "tag orders-a restored",
            "notify crossvault: pre-prod restore COMPLETED in 333333333333 eu-west-1",
            "hook crossvault-mask orders-a",
        ]
    );
    let Action::Restore(RestoreAction::TagRestore { tags, .. }) = &plan.actions[0] else {
        panic!()
    };
    assert_eq!(tags[MARKER], "v1");
    assert_eq!(tags[SOURCE_RESOURCE], ORDERS);
    assert_eq!(tags[RECOVERY_POINT], RP1);
    assert_eq!(tags[BACKUP_TIME], NIGHT1);
    assert_eq!(tags[resource::SOURCE_ACCOUNT], SOURCE);
    assert_eq!(tags[resource::RESTORE_JOB], "R1");
    assert_eq!(tags[resource::RESTORED_AT], "2026-03-02T06:39:30Z");
    let Action::Notify { message, .. } = &plan.actions[1] else {
        panic!()
    };
    for expected in [
        "production 111111111111 -> pre-prod 333333333333",
        "Duration: 19 min 30 s",
        "Console: https://eu-west-1.console.aws.amazon.com/backup/home?region=eu-west-1#/jobs/restore/details/R1",
        "masking it is your duty",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    let Action::Restore(RestoreAction::StartHook {
        parameters,
        client_token,
        ..
    }) = &plan.actions[2]
    else {
        panic!()
    };
    assert_eq!(parameters["ResourceArn"], [created]);
    assert_eq!(
        parameters["Endpoint"],
        ["orders-a.abc.eu-west-1.rds.amazonaws.com:5432"]
    );
    assert_eq!(parameters["SourceResourceArn"], [ORDERS]);
    assert_eq!(client_token.len(), 36);

    // A duplicate COMPLETED event after the hook started: nothing again.
    let mut facts2 = facts.clone();
    facts2.restore.resource = Some((
        created.into(),
        Some(restored("orders-a", RP1, NIGHT1, Stage::Masking)),
    ));
    assert_eq!(
        steps(&decide_json(&event, &config, &facts2).unwrap()).len(),
        1
    );
    assert!(
        steps(&decide_json(&event, &config, &facts2).unwrap())[0]
            .starts_with("ignore masking hook")
    );
}

#[test]
fn someone_elses_restore_is_only_reported() {
    let config = restoring(&[]);
    let event = restore_job_event(
        "arn:aws:rds:eu-west-1:333333333333:db:manual",
        "arn:aws:iam::333333333333:role/service-role/AWSBackupDefaultServiceRole",
        "COMPLETED",
    );
    let plan = decide_json(&event, &config, &Facts::none()).unwrap();
    assert_eq!(
        steps(&plan),
        ["notify crossvault: pre-prod restore COMPLETED in 333333333333 eu-west-1"]
    );
}

#[test]
fn a_failed_restore_job_is_notified() {
    let plan = decide_json(
        &restore_job_event("", ROLE, "FAILED"),
        &restoring(&[]),
        &Facts::none(),
    )
    .unwrap();
    let Action::Notify { subject, message } = only(&plan) else {
        panic!("{plan}")
    };
    assert_eq!(
        subject,
        "crossvault: pre-prod restore FAILED in 333333333333 eu-west-1"
    );
    assert!(message.contains("stays at the stable address"), "{message}");
}

fn hook_facts(
    execution: &str,
    on: &RestoredResource,
    status: &str,
    restores: Vec<RestoredResource>,
) -> Facts {
    Facts {
        restore: RestoreFacts {
            hook: Some(HookExecution {
                execution_id: execution.into(),
                document: "crossvault-mask".into(),
                status_text: status.into(),
                status: HookStatus::parse(status),
                resource_arn: Some(on.arn.clone()),
                failure_message: Some("UPDATE users SET email = ... failed".into()),
            }),
            resource: Some((on.arn.clone(), Some(on.clone()))),
            restores: Some(restores),
            ..RestoreFacts::default()
        },
        ..Facts::none()
    }
}

fn masking(id: &str, rp: &str, backup: &str, execution: &str) -> RestoredResource {
    let mut r = restored(id, rp, backup, Stage::Masking);
    r.tags.insert(HOOK_EXECUTION.into(), execution.into());
    r
}

#[test]
fn the_second_night_is_promoted_only_after_its_hook_succeeded_and_the_first_goes() {
    let config = restoring(&[]);
    let night1 = restored("orders-a", RP1, NIGHT1, Stage::Promoted);
    let night2 = masking("orders-b", RP2, NIGHT2, "X2");
    let all = vec![night1.clone(), night2.clone()];
    // Still running: nothing.
    let plan = decide_json(
        &automation_event("X2", "InProgress"),
        &config,
        &Facts::none(),
    )
    .unwrap();
    assert!(ignored(&plan).contains("is InProgress"));
    let event = automation_event("X2", "Success");
    // The facts come in stages: the execution, its resource, then the source's restores.
    let Err(DecideError::NeedsFacts(r)) = decide_json(&event, &config, &Facts::none()) else {
        panic!()
    };
    assert_eq!(r.restore.hook_execution.as_deref(), Some("X2"));
    let plan = decide_json(
        &event,
        &config,
        &hook_facts("X2", &night2, "Success", all.clone()),
    )
    .unwrap();
    assert_eq!(
        steps(&plan),
        [
            "promote orders-b /crossvault/preprod/111111111111/orders=orders-b.abc.eu-west-1.rds.amazonaws.com:5432",
            "delete orders-a",
            "notify crossvault: pre-prod refresh promoted in 333333333333 eu-west-1",
        ]
    );
    let Action::Notify { message, .. } = &plan.actions[2] else {
        panic!()
    };
    for expected in [
        "production 111111111111 -> pre-prod 333333333333",
        "SSM parameter /crossvault/preprod/111111111111/orders = orders-b.abc.eu-west-1.rds.amazonaws.com:5432",
        "Duration: 30 min 00 s from the end of the restore to promotion",
        "deleting 1 older restore(s): arn:aws:rds:eu-west-1:333333333333:db:orders-a",
        "Console: https://eu-west-1.console.aws.amazon.com/rds/home?region=eu-west-1#database:id=orders-b;is-cluster=false",
        "Masked by crossvault-mask before promotion.",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    // RestoreKeep = 2 keeps the previous promoted one.
    let keep2 = restoring(&[(rvars::KEEP, "2")]);
    let plan = decide_json(&event, &keep2, &hook_facts("X2", &night2, "Success", all)).unwrap();
    assert_eq!(steps(&plan).len(), 2, "{plan}");
}

#[test]
fn a_failed_hook_leaves_the_previous_restore_in_place() {
    let config = restoring(&[]);
    let night1 = restored("orders-a", RP1, NIGHT1, Stage::Promoted);
    let night2 = masking("orders-b", RP2, NIGHT2, "X2");
    let plan = decide_json(
        &automation_event("X2", "Failed"),
        &config,
        &hook_facts("X2", &night2, "Failed", vec![night1, night2.clone()]),
    )
    .unwrap();
    assert_eq!(
        steps(&plan),
        [
            "tag orders-b hook-failed",
            "notify crossvault: masking hook failed in 333333333333 eu-west-1",
        ]
    );
    let Action::Notify { message, .. } = &plan.actions[1] else {
        panic!()
    };
    assert!(message.contains("it is NOT promoted"), "{message}");
    assert!(
        message.contains(
            "the previous restore arn:aws:rds:eu-west-1:333333333333:db:orders-a stays at the stable address"
        ),
        "{message}"
    );
    assert!(message.contains("UPDATE users SET email"), "{message}");
    assert!(
        message.contains("systems-manager/automation/execution/X2?region=eu-west-1"),
        "{message}"
    );
}

#[test]
fn a_late_hook_of_an_older_restore_never_demotes_the_newer_one() {
    // Night 2 was promoted first; night 1's hook finishes afterwards.
    let config = restoring(&[]);
    let night1 = masking("orders-a", RP1, NIGHT1, "X1");
    let night2 = restored("orders-b", RP2, NIGHT2, Stage::Promoted);
    let plan = decide_json(
        &automation_event("X1", "Success"),
        &config,
        &hook_facts("X1", &night1, "Success", vec![night1.clone(), night2]),
    )
    .unwrap();
    assert_eq!(steps(&plan), ["delete orders-a"]);
}

#[test]
fn a_hook_execution_that_is_not_the_recorded_one_changes_nothing() {
    let config = restoring(&[]);
    let night2 = masking("orders-b", RP2, NIGHT2, "X2");
    let plan = decide_json(
        &automation_event("OLD", "Success"),
        &config,
        &hook_facts("OLD", &night2, "Success", vec![night2.clone()]),
    )
    .unwrap();
    assert!(ignored(&plan).contains("is not the one"), "{plan}");
    // Another document's executions are not crossvault's business.
    let mut other = automation_event("X9", "Success");
    other["detail"]["Definition"] = json!("AWS-RestartEC2Instance");
    assert!(
        ignored(&decide_json(&other, &config, &Facts::none()).unwrap())
            .contains("not crossvault's masking hook")
    );
}

#[test]
fn cleanup_deletes_only_older_restores_of_the_same_source() {
    let config = restoring(&[]);
    let promoted_now = masking("orders-c", "rp-c", "2026-03-04T03:00:05Z", "X3");
    let older_promoted = restored("orders-b", RP2, NIGHT2, Stage::Promoted);
    let older_failed = restored("orders-a", RP1, NIGHT1, Stage::HookFailed);
    let newer_in_progress = restored("orders-d", "rp-d", "2026-03-05T03:00:05Z", Stage::Restored);
    let mut other_source = restored("billing-a", "rp-x", NIGHT1, Stage::Promoted);
    other_source.tags.insert(
        SOURCE_RESOURCE.into(),
        "arn:aws:rds:eu-west-1:111111111111:db:billing".into(),
    );
    let mut unmarked = restored("orders-manual", "rp-y", NIGHT1, Stage::Promoted);
    unmarked.tags.remove(MARKER);
    let all = vec![
        older_promoted,
        older_failed,
        newer_in_progress,
        other_source,
        unmarked,
        promoted_now.clone(),
    ];
    let plan = decide_json(
        &automation_event("X3", "Success"),
        &config,
        &hook_facts("X3", &promoted_now, "Success", all),
    )
    .unwrap();
    let deleted: Vec<String> = steps(&plan)
        .into_iter()
        .filter(|s| s.starts_with("delete"))
        .collect();
    assert_eq!(deleted, ["delete orders-b", "delete orders-a"]);
}

#[test]
fn unmasked_restores_are_promoted_only_when_asked_and_say_so() {
    let config = restoring(&[(rvars::HOOK_DOCUMENT, ""), (rvars::UNMASKED, "true")]);
    let created = "arn:aws:rds:eu-west-1:333333333333:db:orders-a";
    let facts = Facts {
        recovery_point: Some(point(RP1, NIGHT1, 1)),
        restore: RestoreFacts {
            resource: Some((
                created.into(),
                Some(restored("orders-a", RP1, NIGHT1, Stage::Restored)),
            )),
            restores: Some(Vec::new()),
            ..RestoreFacts::default()
        },
        ..Facts::none()
    };
    let plan = decide_json(
        &restore_job_event(created, ROLE, "COMPLETED"),
        &config,
        &facts,
    )
    .unwrap();
    let s = steps(&plan);
    assert!(s[0].starts_with("promote orders-a"), "{s:?}");
    let Action::Notify { message, .. } = plan.actions.last().unwrap() else {
        panic!()
    };
    assert!(message.contains("Promoted WITHOUT masking"), "{message}");
}

#[test]
fn an_aurora_restore_gets_its_writer_then_is_masked_when_the_writer_is_available() {
    let config = restoring(&[]);
    let cluster_arn = "arn:aws:rds:eu-west-1:333333333333:cluster:ledger-a";
    let mut cluster = restored("ledger-a", RP1, NIGHT1, Stage::Restored);
    cluster.arn = cluster_arn.into();
    cluster.kind = RestoredKind::AuroraCluster;
    cluster.engine = Some("aurora-postgresql".into());
    let facts = |c: &RestoredResource| Facts {
        recovery_point: Some(point(RP1, NIGHT1, 1)),
        restore: RestoreFacts {
            resource: Some((cluster_arn.into(), Some(c.clone()))),
            restores: Some(Vec::new()),
            ..RestoreFacts::default()
        },
        ..Facts::none()
    };
    let event = restore_job_event(cluster_arn, ROLE, "COMPLETED");
    let plan = decide_json(&event, &config, &facts(&cluster)).unwrap();
    assert_eq!(steps(&plan), ["writer ledger-a-w"]);
    let Action::Restore(RestoreAction::CreateWriter {
        tags,
        engine,
        instance_class,
        ..
    }) = only(&plan)
    else {
        panic!()
    };
    assert_eq!(
        (engine.as_str(), instance_class.as_str()),
        ("aurora-postgresql", "db.t4g.medium")
    );
    assert_eq!(tags[resource::WRITER_OF], "ledger-a");
    assert_eq!(tags[MARKER], "v1");
    // The writer's "created" RDS event: the instance is described, then its cluster.
    let rds_event = json!({"version": "0", "id": "e4", "detail-type": "RDS DB Instance Event", "source": "aws.rds",
        "account": PREPROD, "time": "2026-03-02T07:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": {"EventID": "RDS-EVENT-0005", "SourceIdentifier": "ledger-a-w",
            "SourceArn": "arn:aws:rds:eu-west-1:333333333333:db:ledger-a-w", "Message": "DB instance created"}});
    let writer_arn = "arn:aws:rds:eu-west-1:333333333333:db:ledger-a-w";
    let Err(DecideError::NeedsFacts(r)) = decide_json(&rds_event, &config, &Facts::none()) else {
        panic!()
    };
    assert_eq!(r.restore.resource.as_deref(), Some(writer_arn));
    let mut writer = restored("ledger-a-w", RP1, NIGHT1, Stage::Restored);
    writer.arn = writer_arn.into();
    writer
        .tags
        .insert(resource::WRITER_OF.into(), "ledger-a".into());
    let with_writer = Facts {
        restore: RestoreFacts {
            resource: Some((writer_arn.into(), Some(writer))),
            ..RestoreFacts::default()
        },
        ..Facts::none()
    };
    let Err(DecideError::NeedsFacts(r)) = decide_json(&rds_event, &config, &with_writer) else {
        panic!()
    };
    assert_eq!(r.restore.resource.as_deref(), Some(cluster_arn));
    cluster.writer = Some(crossvault_core::restore::resource::Writer {
        identifier: "ledger-a-w".into(),
        available: true,
    });
    let plan = decide_json(&rds_event, &config, &facts(&cluster)).unwrap();
    assert_eq!(steps(&plan), ["hook crossvault-mask ledger-a"]);
}

#[test]
fn plans_serialise_and_print() {
    let config = restoring(&[]);
    let plan = decide_json(
        &arrival(RP1, "RDS", ORDERS, NIGHT1),
        &config,
        &first_arrival_facts(RP1, NIGHT1, prod_rds_metadata(), Vec::new()),
    )
    .unwrap();
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["actions"][0]["action"], "restore");
    assert_eq!(json["actions"][0]["step"], "start_restore_job");
    let back: Plan = serde_json::from_value(json).unwrap();
    assert_eq!(back, plan);
    let text = plan.to_string();
    assert!(
        text.contains("start restore job (RDS, attempt 1)"),
        "{text}"
    );
    assert!(
        text.contains("metadata        DBSubnetGroupName = preprod-db"),
        "{text}"
    );
}

//! RDS and Aurora points under an AWS managed key: the re-encryption route, step by step
//! (detection, the re-encryption hop, the hops of the re-encrypted copy, the original's
//! shortening, the copy's deletion, failures, the reconciler, `explain`).

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use common::*;
use crossvault_core::config::vars;
use crossvault_core::facts::RouteRequest;
use crossvault_core::idempotency::copy_token;
use crossvault_core::managed_key::{self, IntermediateRef, PointKey};
use crossvault_core::reconcile::{ReconcileInput, keys_needed, reconcile};
use crossvault_core::verify::{self, CopyEvidence, ForwardListing};
use crossvault_core::{
    Action, BackupEvent, CurrentLifecycle, DecideError, FactRequest, Facts, Hop, Lifecycle,
    ListedCopyJob, Partition, Plan, RecoveryPointFacts, RecoveryPointRef, Region, RequiredCopy,
    RetentionDecision, RetentionInput, StackConfig, Status, StorageClass, VaultName, decide_json,
    retention,
};
use serde_json::{Value, json};

const ORIGINAL: &str = "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-4f1c2a9e-7d3b-4c1a-9e2f-2e8f6d0a1b2c";
const COPY: &str = "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:copyjob-5a6b7c8d-0000-4c1a-9e2f-2e8f6d0a1b2c";
const DB: &str = "arn:aws:rds:eu-west-1:111111111111:db:orders";
const AWS_RDS_KEY: &str =
    "arn:aws:kms:eu-west-1:111111111111:key/0a0a0a0a-1111-2222-3333-444444444444";
const CUSTOMER_KEY: &str =
    "arn:aws:kms:eu-west-1:111111111111:key/9f9f9f9f-1111-2222-3333-444444444444";
const MANAGED: &str = "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault";
const REENCRYPT: &str = "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault-reencrypt";
const FRANKFURT: &str = "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault";
const LOCAL: &str = "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault";
const PREPROD_VAULT: &str = "arn:aws:backup:eu-west-1:333333333333:backup-vault:crossvault";

fn config(extra: &[(&str, &str)]) -> StackConfig {
    let mut overrides = vec![(vars::REENCRYPT_VAULT_NAME, "crossvault-reencrypt")];
    overrides.extend_from_slice(extra);
    source(&overrides)
}

fn described(key_arn: &str) -> RecoveryPointFacts {
    RecoveryPointFacts {
        encryption_key_arn: Some(key_arn.into()),
        backup_vault_arn: Some(MANAGED.into()),
        resource_type: Some("RDS".into()),
        ..RecoveryPointFacts::new(ORIGINAL)
    }
}

fn aws_managed() -> PointKey {
    PointKey::Described {
        key_arn: AWS_RDS_KEY.into(),
        aws_managed: true,
    }
}

fn minute(m: u32) -> Option<DateTime<Utc>> {
    Some(Utc.with_ymd_and_hms(2026, 3, 2, 4, m, 0).unwrap())
}

fn job(id: &str, from: &str, dest: &str, state: Status, made: Option<&str>) -> ListedCopyJob {
    ListedCopyJob {
        copy_job_id: id.into(),
        source_recovery_point_arn: from.into(),
        destination_vault_arn: dest.parse().unwrap(),
        state,
        creation_date: minute(id.len() as u32),
        status_message: Some(format!("message of {id}")),
        destination_recovery_point_arn: made.map(str::to_owned),
        destination_lifecycle: Some(CurrentLifecycle::delete_after(35)),
        iam_role_arn: Some(COPY_ROLE.into()),
    }
}

/// The COMPLETED re-encryption of the original.
fn reencrypted() -> ListedCopyJob {
    job("re", ORIGINAL, REENCRYPT, Status::Completed, Some(COPY))
}

fn backup_event() -> Value {
    fixture("backup-job-completed-plan-rds.json")
}

/// A Copy Job State Change of the original into the re-encryption vault.
fn reencryption_event(state: &str) -> Value {
    let mut e = fixture("copy-job-completed-to-backup-account.json");
    set(
        &mut e,
        "/detail/destinationBackupVaultArn",
        json!(REENCRYPT),
    );
    set(&mut e, "/detail/state", json!(state));
    set(&mut e, "/detail/copyJobId", json!("re"));
    if state == "COMPLETED" {
        set(&mut e, "/detail/destinationRecoveryPointArn", json!(COPY));
    } else {
        set(&mut e, "/detail/destinationRecoveryPointArn", json!({}));
        set(
            &mut e,
            "/detail/statusMessage",
            json!("Copy job failed: RDS is busy"),
        );
        remove(&mut e, "/detail", "completionDate");
    }
    e
}

/// A Copy Job State Change of the re-encrypted copy (out of the re-encryption vault).
fn copy_event(dest: &str, state: &str, id: &str) -> Value {
    let mut e = fixture("copy-job-completed-to-backup-account.json");
    set(&mut e, "/resources", json!([COPY]));
    set(&mut e, "/detail/sourceBackupVaultArn", json!(REENCRYPT));
    set(&mut e, "/detail/destinationBackupVaultArn", json!(dest));
    set(&mut e, "/detail/state", json!(state));
    set(&mut e, "/detail/copyJobId", json!(id));
    if state != "COMPLETED" {
        set(&mut e, "/detail/destinationRecoveryPointArn", json!({}));
        set(
            &mut e,
            "/detail/statusMessage",
            json!(
                "Copy job failed: the source snapshot KMS key [arn:aws:kms:eu-west-1:111111111111:key/9f9f] is not accessible"
            ),
        );
    }
    e
}

fn decide(event: &Value, config: &StackConfig, facts: &Facts) -> Result<Plan, DecideError> {
    decide_json(event, config, facts)
}

fn needs(event: &Value, config: &StackConfig, facts: &Facts) -> FactRequest {
    match decide(event, config, facts) {
        Err(DecideError::NeedsFacts(request)) => request,
        other => panic!("expected NeedsFacts, got {other:?}"),
    }
}

fn start(
    from: &str,
    vault: &str,
    dest: &str,
    hop: Hop,
    attempt: u32,
    lifecycle: Lifecycle,
) -> Action {
    Action::StartCopyJob {
        source_recovery_point_arn: from.into(),
        source_vault_name: VaultName::new(vault).unwrap(),
        destination_vault_arn: dest.parse().unwrap(),
        iam_role_arn: COPY_ROLE.into(),
        lifecycle,
        idempotency_token: copy_token(from, dest, attempt),
        hop,
        attempt,
    }
}

fn days(d: u32) -> Lifecycle {
    Lifecycle {
        delete_after_days: d,
        move_to_cold_storage_after_days: None,
    }
}

fn via(hop: Hop, dest: &str) -> RequiredCopy {
    RequiredCopy {
        hop,
        destination_vault_arn: dest.parse().unwrap(),
        via: Some(REENCRYPT.parse().unwrap()),
    }
}

fn direct(hop: Hop, dest: &str) -> RequiredCopy {
    RequiredCopy {
        hop,
        destination_vault_arn: dest.parse().unwrap(),
        via: None,
    }
}

// ---------- detection ----------

#[test]
fn an_rds_backup_is_described_and_its_key_looked_up_before_any_copy() {
    let config = config(&[]);
    let event = backup_event();
    assert_eq!(
        needs(&event, &config, &Facts::none()),
        FactRequest {
            copy_jobs_of: Some(ORIGINAL.into()),
            recovery_point: Some(RecoveryPointRef {
                recovery_point_arn: ORIGINAL.into(),
                vault_name: VaultName::new("crossvault").unwrap(),
            }),
            ..FactRequest::default()
        }
    );
    let described = Facts::none()
        .and_copy_jobs(Vec::new())
        .and_recovery_point(described(AWS_RDS_KEY));
    assert_eq!(
        needs(&event, &config, &described),
        RouteRequest {
            key_of: Some(AWS_RDS_KEY.into()),
            ..RouteRequest::default()
        }
        .into_request()
    );
}

#[test]
fn under_aws_rds_the_first_copy_goes_into_the_reencryption_vault() {
    // Copies move to cold storage; the re-encrypted copy never does (it must stay copyable).
    let config = config(&[
        (vars::COPY_COLD_AFTER_DAYS, "30"),
        (vars::COPY_DELETE_AFTER_DAYS, "120"),
    ]);
    let facts = Facts {
        key: Some(aws_managed()),
        ..Facts::none()
            .and_copy_jobs(Vec::new())
            .and_recovery_point(described(AWS_RDS_KEY))
    };
    let plan = decide(&backup_event(), &config, &facts).unwrap();
    assert_eq!(
        plan,
        Plan::single(start(
            ORIGINAL,
            "crossvault",
            REENCRYPT,
            Hop::ReEncrypt,
            1,
            days(120)
        ))
    );
}

#[test]
fn a_customer_managed_key_or_no_key_goes_directly() {
    let config = config(&[]);
    let direct_copy = Plan::single(start(
        ORIGINAL,
        "crossvault",
        FRANKFURT,
        Hop::ToBackupRegion,
        1,
        days(35),
    ));
    let customer = Facts {
        key: Some(PointKey::Described {
            key_arn: CUSTOMER_KEY.into(),
            aws_managed: false,
        }),
        ..Facts::none()
            .and_copy_jobs(Vec::new())
            .and_recovery_point(described(CUSTOMER_KEY))
    };
    assert_eq!(
        decide(&backup_event(), &config, &customer).unwrap(),
        direct_copy
    );
    // Not encrypted: nothing to look up.
    let unencrypted = Facts::none()
        .and_copy_jobs(Vec::new())
        .and_recovery_point(RecoveryPointFacts::new(ORIGINAL));
    assert_eq!(
        decide(&backup_event(), &config, &unencrypted).unwrap(),
        direct_copy
    );
}

#[test]
fn without_a_reencryption_vault_nothing_is_looked_up_and_the_copy_is_direct() {
    let config = source(&[]);
    let facts = Facts::none().and_copy_jobs(Vec::new());
    assert_eq!(
        decide(&backup_event(), &config, &facts).unwrap(),
        Plan::single(start(
            ORIGINAL,
            "crossvault",
            FRANKFURT,
            Hop::ToBackupRegion,
            1,
            days(35)
        ))
    );
}

#[test]
fn only_rds_and_aurora_take_the_route() {
    let config = config(&[]);
    let mut efs = fixture("backup-job-completed-ondemand-efs.json");
    set(&mut efs, "/detail/resourceType", json!("EFS"));
    let request = needs(&efs, &config, &Facts::none());
    assert_eq!(
        request.recovery_point, None,
        "EFS is never described for its key"
    );
    assert!(managed_key::applies_to(&config, Some("Aurora")));
    assert!(managed_key::applies_to(&config, Some("rds")));
    assert!(!managed_key::applies_to(&config, Some("EBS")));
    assert!(!managed_key::applies_to(
        &backup(&[(vars::REENCRYPT_VAULT_NAME, "crossvault-reencrypt")]),
        Some("RDS")
    ));
}

#[test]
fn the_listing_decides_the_route_before_the_key() {
    let config = config(&[]);
    // An earlier re-encryption attempt failed: the route is known, no key look-up, and the
    // retry is the reconciler's.
    let failed = job("re1", ORIGINAL, REENCRYPT, Status::Failed, None);
    let facts = Facts::none()
        .and_copy_jobs(vec![failed.clone()])
        .and_recovery_point(described(AWS_RDS_KEY));
    let plan = decide(&backup_event(), &config, &facts).unwrap();
    match plan.actions.as_slice() {
        [Action::Ignore { reason }] => assert!(
            reason.contains("re-encrypt of") && reason.contains("attempt 2 of 3"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    // A direct copy under way: the point is copyable as it is.
    let running = job("d1", ORIGINAL, FRANKFURT, Status::Running, None);
    let facts = Facts::none()
        .and_copy_jobs(vec![running])
        .and_recovery_point(described(AWS_RDS_KEY));
    assert!(matches!(
        decide(&backup_event(), &config, &facts).unwrap().actions.as_slice(),
        [Action::Ignore { reason }] if reason.contains("to-backup-region") && reason.contains("RUNNING")
    ));
    // A failed direct copy proves nothing (it is what aws/rds does): the key decides.
    let failed_direct = job("d1", ORIGINAL, FRANKFURT, Status::Failed, None);
    let facts = Facts::none()
        .and_copy_jobs(vec![failed_direct])
        .and_recovery_point(described(AWS_RDS_KEY));
    assert_eq!(
        needs(&backup_event(), &config, &facts).key_of(),
        Some(AWS_RDS_KEY)
    );
}

// ---------- the re-encrypted copy's hops ----------

#[test]
fn a_completed_reencryption_starts_the_offsite_copy_from_the_reencrypted_copy() {
    let config = config(&[]);
    let event = reencryption_event("COMPLETED");
    let first = needs(&event, &config, &Facts::none());
    assert_eq!(first.copy_jobs_of.as_deref(), Some(ORIGINAL));
    assert!(first.recovery_point.is_some(), "is it an original?");
    let facts = Facts::none()
        .and_copy_jobs(Vec::new())
        .and_recovery_point(described(AWS_RDS_KEY));
    // The event is the newest word on its job: its copy is listed next.
    assert_eq!(
        needs(&event, &config, &facts),
        RouteRequest {
            intermediate_copy_jobs_of: Some(COPY.into()),
            ..RouteRequest::default()
        }
        .into_request()
    );
    let facts = Facts {
        intermediate_copy_jobs: Some(Vec::new()),
        ..facts
    };
    assert_eq!(
        decide(&event, &config, &facts).unwrap(),
        Plan::single(start(
            COPY,
            "crossvault-reencrypt",
            FRANKFURT,
            Hop::ToBackupRegion,
            1,
            days(35)
        ))
    );
}

#[test]
fn the_local_copy_follows_from_the_reencrypted_copy_too() {
    let config = config(&[(vars::COPY_TO_LOCAL_REGION, "true")]);
    let event = copy_event(FRANKFURT, "COMPLETED", "c1");
    let facts = Facts {
        intermediate_copy_jobs: Some(Vec::new()),
        origin_jobs: Some(vec![reencrypted()]),
        ..Facts::none()
    };
    assert_eq!(
        decide(&event, &config, &facts).unwrap(),
        Plan::single(start(
            COPY,
            "crossvault-reencrypt",
            LOCAL,
            Hop::ToLocalRegion,
            1,
            days(35)
        ))
    );
}

#[test]
fn a_completed_central_copy_shortens_the_original_and_deletes_the_reencrypted_copy() {
    let config = config(&[]);
    let event = copy_event(FRANKFURT, "COMPLETED", "c1");
    assert_eq!(
        needs(&event, &config, &Facts::none()),
        RouteRequest {
            key_of: None,
            intermediate_copy_jobs_of: Some(COPY.into()),
            origin_of: Some(IntermediateRef {
                recovery_point_arn: COPY.into(),
                vault_arn: REENCRYPT.parse().unwrap(),
                resource_arn: Some(DB.into()),
            }),
        }
        .into_request()
    );
    let facts = Facts {
        intermediate_copy_jobs: Some(Vec::new()),
        origin_jobs: Some(vec![reencrypted()]),
        // Untagged: no pre-prod hop.
        resource_tags: Some(BTreeMap::new()),
        ..Facts::none()
    };
    let plan = decide(&event, &config, &facts).unwrap();
    assert_eq!(
        plan.actions,
        vec![
            Action::ShortenRetention {
                recovery_point_arn: ORIGINAL.into(),
                vault_name: VaultName::new("crossvault").unwrap(),
                requires: vec![via(Hop::ToBackupRegion, FRANKFURT)],
            },
            Action::DeleteIntermediate {
                recovery_point_arn: COPY.into(),
                vault_name: VaultName::new("crossvault-reencrypt").unwrap(),
                original_recovery_point_arn: ORIGINAL.into(),
                requires: vec![direct(Hop::ToBackupRegion, FRANKFURT)],
                settles: Vec::new(),
            },
        ]
    );
    // The plan says why it waits, in words.
    let text = plan.to_string();
    assert!(text.contains("(from the re-encrypted copy in arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault-reencrypt)"), "{text}");
    assert!(text.contains("delete the re-encrypted copy"), "{text}");
}

#[test]
fn a_tagged_database_goes_to_pre_prod_from_the_reencrypted_copy_before_it_is_deleted() {
    let config = config(&[]);
    let event = copy_event(FRANKFURT, "COMPLETED", "c1");
    let facts = Facts {
        intermediate_copy_jobs: Some(Vec::new()),
        origin_jobs: Some(vec![reencrypted()]),
        ..Facts::with_tags([("CopyToPreProd", "true")])
    };
    let plan = decide(&event, &config, &facts).unwrap();
    assert_eq!(
        plan.actions[0],
        start(
            COPY,
            "crossvault-reencrypt",
            PREPROD_VAULT,
            Hop::ToPreProd,
            1,
            days(35)
        )
    );
    assert!(
        matches!(&plan.actions[2], Action::DeleteIntermediate { settles, .. } if *settles == vec![direct(Hop::ToPreProd, PREPROD_VAULT)])
    );
    // When the pre-prod copy completes, nothing new starts: shortening and deletion again.
    let done = copy_event(PREPROD_VAULT, "COMPLETED", "p1");
    let facts = Facts {
        intermediate_copy_jobs: Some(vec![job(
            "c1",
            COPY,
            FRANKFURT,
            Status::Completed,
            Some("x"),
        )]),
        origin_jobs: Some(vec![reencrypted()]),
        ..Facts::with_tags([("CopyToPreProd", "true")])
    };
    let plan = decide(&done, &config, &facts).unwrap();
    assert!(
        plan.actions
            .iter()
            .all(|a| !matches!(a, Action::StartCopyJob { .. })),
        "{plan}"
    );
    assert!(matches!(
        plan.actions.last(),
        Some(Action::DeleteIntermediate { .. })
    ));
}

#[test]
fn a_copy_in_the_reencryption_vault_that_crossvault_did_not_make_is_left_alone() {
    let config = config(&[]);
    let event = copy_event(FRANKFURT, "COMPLETED", "c1");
    for origin in [
        Vec::new(),
        // Made by someone else's role: not crossvault's copy.
        vec![ListedCopyJob {
            iam_role_arn: Some("arn:aws:iam::111111111111:role/someone".into()),
            ..reencrypted()
        }],
        // A copy of another point.
        vec![ListedCopyJob {
            destination_recovery_point_arn: Some(format!("{COPY}0")),
            ..reencrypted()
        }],
    ] {
        let facts = Facts {
            intermediate_copy_jobs: Some(Vec::new()),
            origin_jobs: Some(origin),
            resource_tags: Some(BTreeMap::new()),
            ..Facts::none()
        };
        let plan = decide(&event, &config, &facts).unwrap();
        match plan.actions.as_slice() {
            [Action::Ignore { reason }] => {
                assert!(
                    reason.contains("not a re-encrypted copy crossvault made"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}

// ---------- failures ----------

#[test]
fn a_failed_reencryption_is_notified_like_every_copy_failure() {
    let config = config(&[]);
    let event = reencryption_event("FAILED");
    let facts = Facts::none()
        .and_copy_jobs(Vec::new())
        .and_recovery_point(described(AWS_RDS_KEY));
    let plan = decide(&event, &config, &facts).unwrap();
    match plan.actions.as_slice() {
        [Action::Notify { message, .. }] => {
            assert!(message.contains("Hop: re-encrypt"), "{message}");
            assert!(message.contains("attempt 1 of 3"), "{message}");
            assert!(
                message.contains("The original keeps its full retention"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failed_copy_of_the_reencrypted_copy_names_the_original_and_the_copy() {
    let config = config(&[]);
    let event = copy_event(FRANKFURT, "FAILED", "c1");
    let facts = Facts {
        intermediate_copy_jobs: Some(Vec::new()),
        origin_jobs: Some(vec![reencrypted()]),
        ..Facts::none()
    };
    let plan = decide(&event, &config, &facts).unwrap();
    let [Action::Notify { subject, message }] = plan.actions.as_slice() else {
        panic!("{plan}")
    };
    assert_eq!(
        subject,
        "crossvault: copy job FAILED in 111111111111 eu-west-1"
    );
    assert!(
        message.contains(&format!(
            "re-encrypted copy {COPY} (vault crossvault-reencrypt)"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("of the original {ORIGINAL}")),
        "{message}"
    );
    assert!(message.contains("attempt 1 of 3"), "{message}");
    assert!(
        message.contains("Key: arn:aws:kms:eu-west-1:111111111111:key/9f9f"),
        "{message}"
    );
    // The last allowed attempt: crossvault gives up, and the copy it keeps is named.
    // Both before the event's job (created 03:45).
    let before = |id: &str, m: u32| ListedCopyJob {
        creation_date: Some(Utc.with_ymd_and_hms(2026, 3, 2, 3, m, 0).unwrap()),
        ..job(id, COPY, FRANKFURT, Status::Failed, None)
    };
    let earlier = vec![before("a", 10), before("bb", 20)];
    let last = copy_event(FRANKFURT, "FAILED", "ccc");
    let facts = Facts {
        intermediate_copy_jobs: Some(earlier),
        origin_jobs: Some(vec![reencrypted()]),
        ..Facts::none()
    };
    let plan = decide(&last, &config, &facts).unwrap();
    let [Action::Notify { subject, message }] = plan.actions.as_slice() else {
        panic!("{plan}")
    };
    assert_eq!(
        subject,
        "crossvault: gave up copying to 222222222222 eu-central-1"
    );
    assert!(
        message.contains(&format!("recovery point {COPY}")),
        "{message}"
    );
    assert!(
        message.contains("it stays in crossvault-reencrypt"),
        "{message}"
    );
}

// ---------- verification and deletion ----------

#[test]
fn the_original_is_verified_through_its_reencrypted_copy_only() {
    let required = vec![via(Hop::ToBackupRegion, FRANKFURT)];
    let central_of_copy = job("c1", COPY, FRANKFURT, Status::Completed, Some("x"));
    // Without the re-encryption, nothing is verified.
    let checked = verify::check(
        &required,
        ORIGINAL,
        std::slice::from_ref(&central_of_copy),
        &ForwardListing::NotRead,
    );
    assert!(
        matches!(&checked[0].evidence, CopyEvidence::Missing { reason } if reason.contains("re-encrypted copy"))
    );
    // A copy of the original itself in the central vault is not the one required.
    let of_original = job("c0", ORIGINAL, FRANKFURT, Status::Completed, Some("y"));
    let checked = verify::check(
        &required,
        ORIGINAL,
        &[reencrypted(), of_original],
        &ForwardListing::NotRead,
    );
    assert!(matches!(&checked[0].evidence, CopyEvidence::Missing { .. }));
    let checked = verify::check(
        &required,
        ORIGINAL,
        &[reencrypted(), central_of_copy],
        &ForwardListing::NotRead,
    );
    assert!(
        matches!(&checked[0].evidence, CopyEvidence::Completed { copy_job_id, .. } if copy_job_id == "c1")
    );
    // And then the retention rules apply as for every other original.
    let decision = retention::decide(
        &RetentionInput {
            now: Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap(),
            creation_date: Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 0).unwrap(),
            current: CurrentLifecycle::delete_after(35),
            storage_class: StorageClass::Warm,
            is_continuous: false,
            vault_locked: false,
            role: crossvault_core::Role::Source,
            copied_from: None,
            copies: checked,
        },
        &config(&[]),
    );
    assert!(
        matches!(
            decision,
            RetentionDecision::Shorten {
                delete_after_days: 7,
                ..
            }
        ),
        "{decision}"
    );
}

#[test]
fn the_reencrypted_copy_is_deleted_only_when_crossvault_made_it_and_it_has_done_its_work() {
    let config = config(&[]);
    let vault: crossvault_core::VaultArn = REENCRYPT.parse().unwrap();
    let requires = vec![direct(Hop::ToBackupRegion, FRANKFURT)];
    let settles = vec![direct(Hop::ToPreProd, PREPROD_VAULT)];
    let central = job("c1", COPY, FRANKFURT, Status::Completed, Some("x"));
    let preprod = job("p1", COPY, PREPROD_VAULT, Status::Completed, Some("y"));
    let may = |jobs: &[ListedCopyJob]| {
        managed_key::may_delete(&config, COPY, &vault, ORIGINAL, &requires, &settles, jobs)
    };
    assert_eq!(
        may(&[reencrypted(), central.clone(), preprod.clone()]),
        Ok(())
    );
    // Provenance: made by crossvault's copy role from the original.
    let other_role = ListedCopyJob {
        iam_role_arn: None,
        ..reencrypted()
    };
    assert!(
        may(&[other_role, central.clone(), preprod.clone()])
            .unwrap_err()
            .contains("crossvault deletes only")
    );
    assert!(may(&[central.clone(), preprod.clone()]).is_err());
    // The central copy must be COMPLETED.
    let running = ListedCopyJob {
        state: Status::Running,
        ..central.clone()
    };
    assert!(
        may(&[reencrypted(), running, preprod.clone()])
            .unwrap_err()
            .contains("not COMPLETED")
    );
    // The pre-prod hop must have finished: COMPLETED or given up.
    let failed_once = job("p1", COPY, PREPROD_VAULT, Status::Failed, None);
    assert!(
        may(&[reencrypted(), central.clone(), failed_once.clone()])
            .unwrap_err()
            .contains("has not finished")
    );
    let given_up = [
        failed_once,
        job("p22", COPY, PREPROD_VAULT, Status::Failed, None),
        job("p333", COPY, PREPROD_VAULT, Status::Expired, None),
    ];
    let mut jobs = vec![reencrypted(), central.clone()];
    jobs.extend(given_up);
    assert_eq!(may(&jobs), Ok(()));
    // Nothing copied from it may still be under way.
    let stray = job("s1", COPY, LOCAL, Status::Created, None);
    assert!(
        may(&[reencrypted(), central, preprod, stray])
            .unwrap_err()
            .contains("CREATED")
    );
}

// ---------- the reconciler ----------

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap()
}

fn listed_original() -> RecoveryPointFacts {
    RecoveryPointFacts {
        creation_date: Some(Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 0).unwrap()),
        status: Some(Status::Completed),
        storage_class: Some(StorageClass::Warm),
        lifecycle: CurrentLifecycle::delete_after(35),
        resource_arn: Some(DB.into()),
        ..described(AWS_RDS_KEY)
    }
}

fn reconcile_input(jobs: Vec<ListedCopyJob>, intermediates: &[&str]) -> ReconcileInput {
    ReconcileInput {
        now: now(),
        partition: Partition::Aws,
        region: Region::new("eu-west-1").unwrap(),
        recovery_points: vec![listed_original()],
        copy_jobs: jobs,
        resource_tags: BTreeMap::from([(DB.to_owned(), BTreeMap::new())]),
        keys: BTreeMap::new(),
        intermediates: intermediates
            .iter()
            .map(|a| RecoveryPointFacts::new(*a))
            .collect(),
    }
}

#[test]
fn the_reconciler_looks_up_keys_and_finishes_the_route() {
    let config = config(&[]);
    // A new original: its key is needed, then the re-encryption starts.
    let mut input = reconcile_input(Vec::new(), &[]);
    assert_eq!(
        keys_needed(&input, &config),
        [AWS_RDS_KEY.to_owned()].into()
    );
    input.keys.insert(AWS_RDS_KEY.into(), aws_managed());
    assert!(keys_needed(&input, &config).is_empty());
    assert_eq!(
        reconcile(&input, &config).unwrap().actions,
        vec![start(
            ORIGINAL,
            "crossvault",
            REENCRYPT,
            Hop::ReEncrypt,
            1,
            days(35)
        )]
    );
    // A failed central copy of the re-encrypted copy is retried from the copy, no key needed.
    let failed = job("c1", COPY, FRANKFURT, Status::Failed, None);
    let input = reconcile_input(vec![reencrypted(), failed], &[COPY]);
    assert_eq!(
        reconcile(&input, &config).unwrap().actions,
        vec![start(
            COPY,
            "crossvault-reencrypt",
            FRANKFURT,
            Hop::ToBackupRegion,
            2,
            days(35)
        )]
    );
    // Every copy made (an event missed): shorten and delete.
    let central = job("c1", COPY, FRANKFURT, Status::Completed, Some("x"));
    let input = reconcile_input(vec![reencrypted(), central], &[COPY]);
    let actions = reconcile(&input, &config).unwrap().actions;
    assert!(
        matches!(&actions[0], Action::ShortenRetention { requires, .. } if requires[0].via.is_some()),
        "{actions:?}"
    );
    assert!(
        matches!(&actions[1], Action::DeleteIntermediate { recovery_point_arn, .. } if recovery_point_arn == COPY)
    );
}

#[test]
fn the_reconciler_never_deletes_or_copies_from_a_copy_that_is_gone() {
    let config = config(&[]);
    // Done and deleted: nothing to delete, the original is already short.
    let central = job("c1", COPY, FRANKFURT, Status::Completed, Some("x"));
    let mut input = reconcile_input(vec![reencrypted(), central], &[]);
    input.recovery_points[0].lifecycle = CurrentLifecycle::delete_after(7);
    let actions = reconcile(&input, &config).unwrap().actions;
    assert!(
        actions.iter().all(|a| matches!(a, Action::Ignore { .. })),
        "{actions:?}"
    );
    // Gone before its copy was made: nothing is started from it, and it is reported.
    let input = reconcile_input(vec![reencrypted()], &[]);
    let actions = reconcile(&input, &config).unwrap().actions;
    match actions.as_slice() {
        [Action::Ignore { reason }] => {
            assert!(
                reason.contains("no longer in the re-encryption vault"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
}

// ---------- explain ----------

#[test]
fn explain_says_which_route_a_point_takes() {
    let config = config(&[]);
    let event = backup_event();
    let parsed = BackupEvent::from_value(&event).unwrap();
    let plan = decide(&event, &config, &Facts::without_aws(&parsed, &config)).unwrap();
    match plan.actions.as_slice() {
        [
            Action::Ignore { reason },
            Action::StartCopyJob {
                hop: Hop::ToBackupRegion,
                ..
            },
        ] => {
            assert!(
                reason.contains("aws/rds") && reason.contains(REENCRYPT),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    // The re-encryption's completion: the offsite copy from the re-encrypted copy.
    let event = reencryption_event("COMPLETED");
    let parsed = BackupEvent::from_value(&event).unwrap();
    let plan = decide(&event, &config, &Facts::without_aws(&parsed, &config)).unwrap();
    assert_eq!(
        plan,
        Plan::single(start(
            COPY,
            "crossvault-reencrypt",
            FRANKFURT,
            Hop::ToBackupRegion,
            1,
            days(35)
        ))
    );
    // The central copy of the re-encrypted copy: shorten the original, delete the copy.
    let event = copy_event(FRANKFURT, "COMPLETED", "c1");
    let parsed = BackupEvent::from_value(&event).unwrap();
    let facts = Facts {
        resource_tags: Some(BTreeMap::new()),
        ..Facts::without_aws(&parsed, &config)
    };
    let plan = decide(&event, &config, &facts).unwrap();
    assert!(
        matches!(
            &plan.actions[..],
            [
                Action::ShortenRetention { .. },
                Action::DeleteIntermediate { .. }
            ]
        ),
        "{plan}"
    );
}

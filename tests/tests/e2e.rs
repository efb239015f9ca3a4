//! End-to-end: an emulated organization on the local test bed, crossvault installed from the
//! template, a night of backups delivered to the real handler entry (`Handler::handle`) by the
//! harness's SQS event source mapping, with jobs that take test bed time. Each test builds its
//! own organization with its own account ids (and clock), so the tests share nothing and reset
//! nothing.
//!
//! Needs the test bed: `scripts/testbed start` and
//! `export CROSSVAULT_TESTBED_URL=http://127.0.0.1:5123` (scripts/test does both).

mod support;

use std::collections::BTreeSet;

use crossvault_tests::install::Overrides;
use crossvault_tests::org::{BACKUP_REGION, Org, PRIMARY_REGION};
use crossvault_tests::runner::{self, BackupSpec, NightLog};
use crossvault_tests::story::{self, Outcome};
use support::{completed, copies, delete_days, handler_calls, org, original, vault};

/// What the organization holds, as a comparable snapshot: every point with its lifecycle and
/// every copy job.
fn snapshot(outcome: &Outcome) -> (BTreeSet<(String, Option<i64>)>, BTreeSet<String>) {
    (
        outcome
            .points
            .iter()
            .map(|p| (p.arn.clone(), p.delete_after_days))
            .collect(),
        outcome.copies.iter().map(|c| c.job_id.clone()).collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_night_ends_with_every_copy_in_place_and_every_original_shortened() {
    let mut org = org("night").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let (a, b) = (ids.sources[0].clone(), ids.sources[1].clone());

    let night = runner::night(
        &org,
        &[
            BackupSpec::rds(&a, PRIMARY_REGION, "orders").tagged("CopyToPreProd", "true"),
            BackupSpec::rds(&a, BACKUP_REGION, "billing"),
            BackupSpec::rds(&b, PRIMARY_REGION, "catalog"),
            BackupSpec::rds(&b, BACKUP_REGION, "ledger").tagged("CopyToPreProd", "true"),
            // Kept longer than its copies: never shortened (the total retention stays).
            BackupSpec {
                delete_after_days: 90,
                ..BackupSpec::rds(&b, PRIMARY_REGION, "archive")
            },
        ],
    )
    .await
    .unwrap();
    assert!(night.failures().is_empty(), "{:#?}", night.failures());
    assert!(night.dead_letters.is_empty(), "{:#?}", night.dead_letters);
    let outcome = story::collect(&org).await.unwrap();
    eprintln!("{}", story::render(&org, &night, &outcome));

    // Source A, eu-west-1, tagged: central copy in the backup region + pre-prod in eu-west-1.
    let orders = original(&night, "orders");
    assert_eq!(
        copies(&outcome, orders),
        BTreeSet::from([
            completed(vault(&ids.backup, BACKUP_REGION), 35),
            completed(vault(&ids.preprod, PRIMARY_REGION), 35),
        ])
    );
    assert_eq!(delete_days(&outcome, orders), Some(7));
    // Source A, eu-central-1 (the backup region): the copy goes to the alternate region.
    let billing = original(&night, "billing");
    assert_eq!(
        copies(&outcome, billing),
        BTreeSet::from([completed(vault(&ids.backup, PRIMARY_REGION), 35)])
    );
    assert_eq!(delete_days(&outcome, billing), Some(7));
    let catalog = original(&night, "catalog");
    assert_eq!(
        copies(&outcome, catalog),
        BTreeSet::from([completed(vault(&ids.backup, BACKUP_REGION), 35)])
    );
    assert_eq!(delete_days(&outcome, catalog), Some(7));
    let ledger = original(&night, "ledger");
    assert_eq!(
        copies(&outcome, ledger),
        BTreeSet::from([
            completed(vault(&ids.backup, PRIMARY_REGION), 35),
            completed(vault(&ids.preprod, BACKUP_REGION), 35),
        ])
    );
    assert_eq!(delete_days(&outcome, ledger), Some(7));
    let archive = original(&night, "archive");
    assert_eq!(
        copies(&outcome, archive),
        BTreeSet::from([completed(vault(&ids.backup, BACKUP_REGION), 35)])
    );
    assert_eq!(delete_days(&outcome, archive), Some(90));

    // Nothing touched in backup and pre-prod: every point there keeps the copies' 35 days,
    // and exactly the expected copies arrived.
    for (account, region, count) in [
        (&ids.backup, BACKUP_REGION, 3),
        (&ids.backup, PRIMARY_REGION, 2),
        (&ids.preprod, PRIMARY_REGION, 1),
        (&ids.preprod, BACKUP_REGION, 1),
    ] {
        let points = outcome.points_in(account, region);
        assert_eq!(points.len(), count, "{account}/{region}: {points:#?}");
        assert!(points.iter().all(|p| p.delete_after_days == Some(35)));
    }
    assert!(
        outcome.notifications.is_empty(),
        "{:#?}",
        outcome.notifications
    );
    let now = org.now().await.unwrap();
    assert_eq!(
        story::check(&org, &night, now, &outcome),
        Vec::<String>::new()
    );

    // The same events once more (EventBridge delivers at least once): nothing changes, no
    // lifecycle is touched again, nothing is dead-lettered.
    let before = snapshot(&outcome);
    let since = org.testbed.last_request().await.unwrap();
    let replayed = runner::replay(&org, &night.deliveries).await.unwrap();
    assert_eq!(replayed, night.messages());
    let mut later = Vec::new();
    runner::run_until_settled(&org, &mut later).await.unwrap();
    assert_eq!(later.len(), replayed, "each replayed event delivered once");
    assert!(
        later
            .iter()
            .all(|d| d.outcome == runner::RecordOutcome::Deleted)
    );
    let after = story::collect(&org).await.unwrap();
    assert_eq!(snapshot(&after), before);
    for account in [&a, &b] {
        assert_eq!(
            handler_calls(&org, account, "UpdateRecoveryPointLifecycle", since)
                .await
                .len(),
            0,
            "a lifecycle was changed again in {account}"
        );
    }
    assert!(runner::take_dead_letters(&org).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_into_a_vault_that_does_not_admit_the_organization_fails_and_is_reported() {
    let mut org = org("policy").await;
    // The central vault admits another organization only.
    org.install_with(&Overrides {
        central_vault_org_id: Some("o-someoneelse1".into()),
    })
    .await
    .unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let night = runner::night(&org, &[BackupSpec::rds(&a, PRIMARY_REGION, "orders")])
        .await
        .unwrap();
    assert!(night.failures().is_empty(), "{:#?}", night.failures());
    let outcome = story::collect(&org).await.unwrap();
    eprintln!("{}", story::render(&org, &night, &outcome));

    let orders = original(&night, "orders");
    let jobs = outcome.copies_of(orders);
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(
        jobs[0].destination_vault_arn,
        vault(&ids.backup, BACKUP_REGION)
    );
    assert_eq!(jobs[0].state, "FAILED");
    assert_eq!(
        jobs[0].status_message.as_deref(),
        Some(
            "Access denied: the destination vault's access policy does not allow backup:CopyIntoBackupVault"
        )
    );
    // Reported through the handler's Notify path, in the source account and region.
    assert_eq!(
        outcome.notifications.len(),
        1,
        "{:#?}",
        outcome.notifications
    );
    let n = &outcome.notifications[0];
    assert_eq!(
        (n.account.as_str(), n.region.as_str()),
        (a.as_str(), PRIMARY_REGION)
    );
    assert!(n.message.contains(&jobs[0].job_id), "{n:#?}");
    assert!(
        n.message
            .contains("does not allow backup:CopyIntoBackupVault"),
        "{n:#?}"
    );
    // The original is NOT shortened, and nothing reached the central vault.
    assert_eq!(delete_days(&outcome, orders), Some(35));
    assert!(outcome.points_in(&ids.backup, BACKUP_REGION).is_empty());
    let now = org.now().await.unwrap();
    let broken = story::check(&org, &night, now, &outcome);
    assert!(
        broken
            .iter()
            .any(|b| b.contains("expected exactly one COMPLETED copy")),
        "{broken:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_source_vault_policy_refuses_copies_outside_copy_targets() {
    let mut org = org("targets").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let night = runner::night(&org, &[BackupSpec::rds(&a, PRIMARY_REGION, "orders")])
        .await
        .unwrap();
    let orders = original(&night, "orders").to_owned();

    // A vault in the backup account that crossvault does not manage, open to the organization.
    let central = org.backup(&ids.backup, PRIMARY_REGION).await.unwrap();
    central
        .create_backup_vault()
        .backup_vault_name("elsewhere")
        .send()
        .await
        .unwrap();
    central
        .put_backup_vault_access_policy()
        .backup_vault_name("elsewhere")
        .policy(
            serde_json::json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "backup:CopyIntoBackupVault",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": org.organization.organization_id}}
            }]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let source = org.backup(&a, PRIMARY_REGION).await.unwrap();
    let job = source
        .start_copy_job()
        .recovery_point_arn(&orders)
        .source_backup_vault_name("crossvault")
        .destination_backup_vault_arn(Org::vault_arn(&ids.backup, PRIMARY_REGION, "elsewhere"))
        .iam_role_arn(format!(
            "arn:aws:iam::{a}:role/crossvault-copy-{PRIMARY_REGION}"
        ))
        .send()
        .await
        .unwrap();
    // The copy takes its time; the handler hears of its end like any other.
    let mut deliveries = Vec::new();
    runner::run_until_settled(&org, &mut deliveries)
        .await
        .unwrap();
    let described = source
        .describe_copy_job()
        .copy_job_id(job.copy_job_id.unwrap())
        .send()
        .await
        .unwrap()
        .copy_job
        .unwrap();
    assert_eq!(described.state.unwrap().as_str(), "FAILED");
    assert_eq!(
        described.status_message.as_deref(),
        Some(&*format!(
            "Access denied: the source backup vault's access policy denies backup:CopyFromBackupVault to {}",
            Org::vault_arn(&ids.backup, PRIMARY_REGION, "elsewhere")
        ))
    );
    // The handler reports the refused copy and does not touch the original again.
    let outcome = story::collect(&org).await.unwrap();
    assert_eq!(delete_days(&outcome, &orders), Some(7));
    assert!(
        outcome
            .points_in(&ids.backup, PRIMARY_REGION)
            .iter()
            .all(|p| p.vault_name == "crossvault"),
        "nothing landed in the vault outside CopyTargets"
    );
    assert_eq!(
        outcome.notifications.len(),
        1,
        "{:#?}",
        outcome.notifications
    );
    assert!(
        outcome.notifications[0]
            .message
            .contains("CopyFromBackupVault")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_central_vault_refuses_lifecycle_changes() {
    let mut org = org("lock").await;
    org.params
        .insert("VaultLockMode".into(), "governance".into());
    org.params
        .insert("LockMinRetentionDays".into(), "30".into());
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let night = runner::night(&org, &[BackupSpec::rds(&a, PRIMARY_REGION, "orders")])
        .await
        .unwrap();
    assert!(night.failures().is_empty(), "{:#?}", night.failures());
    let outcome = story::collect(&org).await.unwrap();
    let orders = original(&night, "orders");
    // 35 days lies inside the lock's range (>= 30): the copy lands; the original is shortened.
    assert_eq!(
        copies(&outcome, orders),
        BTreeSet::from([completed(vault(&ids.backup, BACKUP_REGION), 35)])
    );
    assert_eq!(delete_days(&outcome, orders), Some(7));

    let central = org.backup(&ids.backup, BACKUP_REGION).await.unwrap();
    let described = central
        .describe_backup_vault()
        .backup_vault_name("crossvault")
        .send()
        .await
        .unwrap();
    assert_eq!(described.locked, Some(true));
    assert_eq!(described.min_retention_days, Some(30));
    let copy = &outcome.points_in(&ids.backup, BACKUP_REGION)[0];
    let refused = central
        .update_recovery_point_lifecycle()
        .backup_vault_name("crossvault")
        .recovery_point_arn(&copy.arn)
        .lifecycle(
            aws_sdk_backup::types::Lifecycle::builder()
                .delete_after_days(7)
                .build(),
        )
        .send()
        .await
        .expect_err("a locked vault refuses lifecycle changes");
    let service = refused.into_service_error();
    assert!(service.is_invalid_request_exception(), "{service:?}");
    let after = story::collect(&org).await.unwrap();
    assert_eq!(delete_days(&after, &copy.arn), Some(35));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reconciler_catches_up_when_every_event_was_lost() {
    let mut org = org("reconcile").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let backups = runner::start_backups(
        &org,
        &[
            BackupSpec::rds(&a, PRIMARY_REGION, "orders").tagged("CopyToPreProd", "true"),
            BackupSpec::rds(&a, BACKUP_REGION, "billing"),
        ],
    )
    .await
    .unwrap();
    // Every event is lost, every time: only the scheduled reconcile moves the chain on.
    lose_every_event_until_settled(&org).await;
    let mut night = NightLog {
        backups,
        ..NightLog::default()
    };
    runner::refresh_backups(&org, &mut night.backups)
        .await
        .unwrap();
    let mut passes = Vec::new();
    for _ in 0..3 {
        let since = org.testbed.last_request().await.unwrap();
        let jobs_before = copy_jobs(&org, &a).await;
        for region in [PRIMARY_REGION, BACKUP_REGION] {
            let answer = runner::reconcile(&org, &a, region).await;
            assert!(answer.is_ok(), "{answer:?}");
        }
        lose_every_event_until_settled(&org).await;
        let shortened = handler_calls(&org, &a, "UpdateRecoveryPointLifecycle", since)
            .await
            .len();
        passes.push((copy_jobs(&org, &a).await - jobs_before, shortened));
    }
    // Pass 1 starts both first hops; pass 2 the pre-prod hop and both shortenings; pass 3 is
    // quiet.
    assert_eq!(passes, [(2, 0), (1, 2), (0, 0)]);

    let outcome = story::collect(&org).await.unwrap();
    let orders = original(&night, "orders");
    assert_eq!(
        copies(&outcome, orders),
        BTreeSet::from([
            completed(vault(&ids.backup, BACKUP_REGION), 35),
            completed(vault(&ids.preprod, PRIMARY_REGION), 35),
        ])
    );
    assert_eq!(delete_days(&outcome, orders), Some(7));
    let billing = original(&night, "billing");
    assert_eq!(
        copies(&outcome, billing),
        BTreeSet::from([completed(vault(&ids.backup, PRIMARY_REGION), 35)])
    );
    assert_eq!(delete_days(&outcome, billing), Some(7));
    let now = org.now().await.unwrap();
    assert_eq!(
        story::check(&org, &night, now, &outcome),
        Vec::<String>::new()
    );
}

/// Moves the clock until no job is under way, emptying every queue at each step.
async fn lose_every_event_until_settled(org: &Org) {
    loop {
        runner::purge_queues(org).await.unwrap();
        if org.clock_state().await.unwrap().in_flight == 0 {
            break;
        }
        org.clock_to_next_job().await.unwrap();
    }
    runner::purge_queues(org).await.unwrap();
}

/// How many copy jobs `account` owns (both regions).
async fn copy_jobs(org: &Org, account: &str) -> usize {
    let mut n = 0;
    for region in [PRIMARY_REGION, BACKUP_REGION] {
        n += org
            .backup(account, region)
            .await
            .unwrap()
            .list_copy_jobs()
            .send()
            .await
            .unwrap()
            .copy_jobs()
            .len();
    }
    n
}

/// An account outside the organization cannot copy into the central vault, even with a
/// recovery point of its own and the central vault's ARN: the vault admits the organization
/// only, and AWS Backup refuses cross-account copies between organizations.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_from_an_account_outside_the_organization_fails() {
    let mut org = org("outsider").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    // Same test prefix (so no other test uses it), never added to the organization.
    let outsider = format!("{}5555", &ids.backup[..8]);
    let endpoint = org.testbed.endpoint().to_owned();
    let creds = crossvault_tests::clients::AccountCredentials::assume(&endpoint, &outsider)
        .await
        .unwrap();
    let db = crossvault_tests::clients::create_db_instance(
        &endpoint,
        &creds,
        PRIMARY_REGION,
        "intruder",
        &[],
    )
    .await
    .unwrap();
    let backup = aws_sdk_backup::Client::new(&creds.config(PRIMARY_REGION).await);
    backup
        .create_backup_vault()
        .backup_vault_name("own")
        .send()
        .await
        .unwrap();
    let job = backup
        .start_backup_job()
        .backup_vault_name("own")
        .resource_arn(&db)
        .iam_role_arn(format!(
            "arn:aws:iam::{outsider}:role/service-role/AWSBackupDefaultServiceRole"
        ))
        .send()
        .await
        .unwrap();
    let point = backup
        .describe_backup_job()
        .backup_job_id(job.backup_job_id.unwrap())
        .send()
        .await
        .unwrap()
        .recovery_point_arn
        .unwrap();
    let central = vault(&ids.backup, BACKUP_REGION);
    let copy = backup
        .start_copy_job()
        .recovery_point_arn(&point)
        .source_backup_vault_name("own")
        .destination_backup_vault_arn(&central)
        .iam_role_arn(format!("arn:aws:iam::{outsider}:role/copy"))
        .send()
        .await
        .unwrap();
    let described = backup
        .describe_copy_job()
        .copy_job_id(copy.copy_job_id.unwrap())
        .send()
        .await
        .unwrap()
        .copy_job
        .unwrap();
    assert_eq!(described.state.unwrap().as_str(), "FAILED");
    assert_eq!(
        described.status_message.as_deref(),
        Some("Both source and destination account must be a member of the same organization")
    );
    let outcome = story::collect(&org).await.unwrap();
    assert!(
        outcome.points_in(&ids.backup, BACKUP_REGION).is_empty(),
        "nothing landed in the central vault"
    );
}

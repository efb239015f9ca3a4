//! End to end: production databases encrypted with the AWS managed key `aws/rds` reach the
//! central vault through the source account's re-encryption vault, with crossvault installed
//! from the template on the test bed and events delivered through the real handler entry.
//!
//! Needs the test bed (`scripts/testbed start`, `CROSSVAULT_TESTBED_URL`).

mod support;

use chrono::{DateTime, Utc};
use crossvault_tests::lambda::HANDLER_APP;
use crossvault_tests::org::{BACKUP_REGION, Org, PRIMARY_REGION};
use crossvault_tests::runner::{self, BackupSpec, NightLog};
use crossvault_tests::story::{self, Outcome};
use crossvault_tests::testbed::{ApiCall, CallFilter};
use support::{completed, copies, delete_days, handler_calls, org, original, vault};

fn reencrypt_vault(account: &str) -> String {
    Org::vault_arn(account, PRIMARY_REGION, "crossvault-reencrypt")
}

/// The points left in `account`'s re-encryption vault.
async fn left_in_reencrypt_vault(org: &Org, account: &str) -> Vec<String> {
    org.backup(account, PRIMARY_REGION)
        .await
        .unwrap()
        .list_recovery_points_by_backup_vault()
        .backup_vault_name("crossvault-reencrypt")
        .send()
        .await
        .unwrap()
        .recovery_points
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.recovery_point_arn)
        .collect()
}

/// The re-encrypted copy of `rp` (the destination of its COMPLETED copy into the re-encryption
/// vault).
fn reencrypted_copy(outcome: &Outcome, rp: &str, account: &str) -> String {
    outcome
        .copies_of(rp)
        .into_iter()
        .find(|c| c.destination_vault_arn == reencrypt_vault(account) && c.state == "COMPLETED")
        .and_then(|c| c.destination_recovery_point_arn.clone())
        .unwrap_or_else(|| panic!("{rp} has no COMPLETED copy in the re-encryption vault"))
}

fn time(call: &ApiCall) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&call.time)
        .unwrap()
        .with_timezone(&Utc)
}

/// When the COMPLETED copy of `rp` into `dest` completed (the story's copy view).
async fn completed_at(org: &Org, account: &str, rp: &str, dest: &str) -> DateTime<Utc> {
    let backup = org.backup(account, PRIMARY_REGION).await.unwrap();
    let jobs = backup
        .list_copy_jobs()
        .by_source_recovery_point_arn(rp)
        .send()
        .await
        .unwrap()
        .copy_jobs
        .unwrap_or_default();
    let job = jobs
        .iter()
        .find(|j| {
            j.destination_backup_vault_arn.as_deref() == Some(dest)
                && j.state.as_ref().map(|s| s.as_str()) == Some("COMPLETED")
        })
        .unwrap_or_else(|| panic!("no COMPLETED copy of {rp} into {dest}"));
    let secs = job.completion_date.unwrap().secs();
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn notifications_about<'a>(outcome: &'a Outcome, needle: &str) -> Vec<&'a str> {
    outcome
        .notifications
        .iter()
        .filter(|n| n.message.contains(needle))
        .map(|n| n.message.as_str())
        .collect()
}

/// Issue #11: one of two production databases is under `aws/rds`. Both end up in the central
/// vault (the aws/rds one by way of its re-encrypted copy, under the central key), the tagged
/// one in pre-prod too, no re-encrypted copy is left, and each original is shortened.
#[tokio::test(flavor = "multi_thread")]
async fn a_night_with_one_database_under_aws_rds_ends_with_both_safe_and_nothing_left() {
    let mut org = org("awsrds").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let since = org.testbed.last_request().await.unwrap();
    let night = runner::night(
        &org,
        &[
            BackupSpec::rds(&a, PRIMARY_REGION, "orders")
                .under_aws_rds()
                .tagged("CopyToPreProd", "true"),
            BackupSpec::rds(&a, PRIMARY_REGION, "catalog"),
        ],
    )
    .await
    .unwrap();
    assert!(night.failures().is_empty(), "{:#?}", night.failures());
    assert!(night.dead_letters.is_empty(), "{:#?}", night.dead_letters);
    let outcome = story::collect(&org).await.unwrap();
    eprintln!("{}", story::render(&org, &night, &outcome));

    // orders: never copied as it is; its one copy is the re-encryption, in the source account.
    let orders = original(&night, "orders");
    assert_eq!(
        copies(&outcome, orders),
        [(reencrypt_vault(&a), "COMPLETED".to_owned(), None)].into(),
        "the re-encrypted copy is gone, so its retention is not read"
    );
    let copy = reencrypted_copy(&outcome, orders, &a);
    // Its copies: the central vault in the backup region and pre-prod, 35 days each.
    assert_eq!(
        copies(&outcome, &copy),
        [
            completed(vault(&ids.backup, BACKUP_REGION), 35),
            completed(vault(&ids.preprod, PRIMARY_REGION), 35),
        ]
        .into()
    );
    // The central copy is an ordinary recovery point under the central vault's key.
    let central = outcome
        .copies_of(&copy)
        .into_iter()
        .find(|c| c.destination_vault_arn == vault(&ids.backup, BACKUP_REGION))
        .and_then(|c| c.destination_recovery_point_arn.clone())
        .unwrap();
    let landed = org
        .backup(&ids.backup, BACKUP_REGION)
        .await
        .unwrap()
        .describe_recovery_point()
        .backup_vault_name("crossvault")
        .recovery_point_arn(&central)
        .send()
        .await
        .unwrap();
    let central_vault_key = org
        .backup(&ids.backup, BACKUP_REGION)
        .await
        .unwrap()
        .describe_backup_vault()
        .backup_vault_name("crossvault")
        .send()
        .await
        .unwrap()
        .encryption_key_arn;
    assert_eq!(landed.encryption_key_arn, central_vault_key);
    assert_eq!(
        landed.resource_arn.as_deref(),
        Some(format!("arn:aws:rds:{PRIMARY_REGION}:{a}:db:orders").as_str())
    );
    // Nothing left behind; both originals shortened.
    assert_eq!(
        left_in_reencrypt_vault(&org, &a).await,
        Vec::<String>::new()
    );
    assert_eq!(delete_days(&outcome, orders), Some(7));
    let catalog = original(&night, "catalog");
    assert_eq!(
        copies(&outcome, catalog),
        [completed(vault(&ids.backup, BACKUP_REGION), 35)].into()
    );
    assert_eq!(delete_days(&outcome, catalog), Some(7));

    // Exactly one deletion, after both copies of the re-encrypted copy completed.
    let deletions = handler_calls(&org, &a, "DeleteRecoveryPoint", since).await;
    assert_eq!(deletions.len(), 1, "{deletions:#?}");
    for dest in [
        vault(&ids.backup, BACKUP_REGION),
        vault(&ids.preprod, PRIMARY_REGION),
    ] {
        assert!(time(&deletions[0]) >= completed_at(&org, &a, &copy, &dest).await);
    }
    // The key was looked up (once per key and invocation, not per event).
    let described = org
        .testbed
        .requests(&CallFilter {
            account: Some(&a),
            service: Some("kms"),
            operation: Some("DescribeKey"),
            app: Some(HANDLER_APP),
            since,
            ..CallFilter::default()
        })
        .await
        .unwrap();
    assert!(!described.is_empty());
    let all = org
        .testbed
        .requests(&CallFilter {
            account: Some(&a),
            app: Some(HANDLER_APP),
            since,
            ..CallFilter::default()
        })
        .await
        .unwrap();
    let mut by_operation = std::collections::BTreeMap::<String, usize>::new();
    for call in &all {
        *by_operation
            .entry(format!("{}:{}", call.service, call.operation))
            .or_default() += 1;
    }
    eprintln!(
        "source account: {} handler calls for {} deliveries: {by_operation:?}",
        all.len(),
        night.deliveries.len()
    );
    assert!(
        outcome.notifications.is_empty(),
        "{:#?}",
        outcome.notifications
    );
}

/// Copy refused at each step: the re-encryption fails once (notified, retried by the
/// reconciler); then every copy of the re-encrypted copy into the central vault fails (each
/// notified, naming the original and the copy; crossvault gives up after CopyMaxAttempts).
/// The original keeps its full retention, and the re-encrypted copy is kept, named in the
/// give-up notice: nothing is orphaned silently, nothing deleted.
#[tokio::test(flavor = "multi_thread")]
async fn refused_copies_are_notified_the_original_kept_and_the_copy_named() {
    let mut org = org("awsrdsfail").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let central_vault = vault(&ids.backup, BACKUP_REGION);
    org.testbed
        .fail_copies(
            Some(&a),
            Some(&reencrypt_vault(&a)),
            Some(1),
            "Copy job failed: the RDS snapshot copy was throttled (injected by the test)",
        )
        .await
        .unwrap();
    org.testbed
        .fail_copies(
            Some(&a),
            Some(&central_vault),
            None,
            "Copy job failed: the KMS key arn:aws:kms:eu-west-1:111111111111:key/injected is not accessible (injected by the test)",
        )
        .await
        .unwrap();
    let since = org.testbed.last_request().await.unwrap();
    let mut night: NightLog = runner::night(
        &org,
        &[BackupSpec::rds(&a, PRIMARY_REGION, "orders").under_aws_rds()],
    )
    .await
    .unwrap();
    let first = story::collect(&org).await.unwrap();
    let refused = notifications_about(&first, "Hop: re-encrypt");
    assert_eq!(refused.len(), 1, "{:#?}", first.notifications);
    assert!(refused[0].contains("attempt 1 of 3"), "{}", refused[0]);
    // Each reconcile run starts the next attempt of what failed; the events do the rest.
    for _ in 0..4 {
        runner::reconcile(&org, &a, PRIMARY_REGION).await.unwrap();
        runner::run_until_settled(&org, &mut night.deliveries)
            .await
            .unwrap();
    }
    let outcome = story::collect(&org).await.unwrap();
    eprintln!("{}", story::render(&org, &night, &outcome));
    let orders = original(&night, "orders");
    let copy = reencrypted_copy(&outcome, orders, &a);
    let tries = outcome.copies_of(&copy);
    assert_eq!(tries.len(), 3, "CopyMaxAttempts: {tries:#?}");
    assert!(tries.iter().all(|c| c.state == "FAILED"));
    let named = notifications_about(&outcome, &copy);
    assert_eq!(named.len(), 3, "{:#?}", outcome.notifications);
    for message in &named {
        assert!(message.contains(orders), "{message}");
        assert!(message.contains("crossvault-reencrypt"), "{message}");
    }
    assert!(
        named
            .iter()
            .any(|m| m.contains("crossvault gave up copying recovery point")),
        "{named:#?}"
    );
    // Nothing shortened, nothing deleted; the copy is still there to copy by hand.
    assert_eq!(delete_days(&outcome, orders), Some(35));
    assert_eq!(left_in_reencrypt_vault(&org, &a).await, vec![copy.clone()]);
    assert!(
        handler_calls(&org, &a, "DeleteRecoveryPoint", since)
            .await
            .is_empty()
    );
    assert!(
        handler_calls(&org, &a, "UpdateRecoveryPointLifecycle", since)
            .await
            .is_empty()
    );
    assert!(runner::take_dead_letters(&org).await.unwrap().is_empty());
}

/// Every event lost (held, never delivered): the reconciler alone re-encrypts, copies from the
/// re-encrypted copy, shortens the original only once that copy is verified, and deletes the
/// re-encrypted copy.
#[tokio::test(flavor = "multi_thread")]
async fn the_reconciler_finishes_the_route_when_every_event_is_missed() {
    let mut org = org("awsrdsrec").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    org.hold_events().await.unwrap();
    let since = org.testbed.last_request().await.unwrap();
    let mut night = runner::night(
        &org,
        &[BackupSpec::rds(&a, PRIMARY_REGION, "orders").under_aws_rds()],
    )
    .await
    .unwrap();
    assert!(night.deliveries.is_empty(), "events are held");
    let orders = original(&night, "orders").to_owned();
    // Run 1: the re-encryption. Run 2: the central copy from it. Run 3: shorten and delete.
    let mut reports = Vec::new();
    for _ in 0..3 {
        let report = runner::reconcile(&org, &a, PRIMARY_REGION).await.unwrap();
        assert!(
            report["failures"].as_array().unwrap().is_empty(),
            "{report:#}"
        );
        reports.push(report);
        runner::run_until_settled(&org, &mut night.deliveries)
            .await
            .unwrap();
    }
    let outcome = story::collect(&org).await.unwrap();
    eprintln!("{}", story::render(&org, &night, &outcome));
    let copy = reencrypted_copy(&outcome, &orders, &a);
    assert_eq!(
        copies(&outcome, &copy),
        [completed(vault(&ids.backup, BACKUP_REGION), 35)].into()
    );
    assert_eq!(delete_days(&outcome, &orders), Some(7));
    assert!(left_in_reencrypt_vault(&org, &a).await.is_empty());
    // The shortening came after the central copy completed (the third run), never before.
    let shortened = handler_calls(&org, &a, "UpdateRecoveryPointLifecycle", since).await;
    assert_eq!(shortened.len(), 1, "{shortened:#?}");
    let central_done = completed_at(&org, &a, &copy, &vault(&ids.backup, BACKUP_REGION)).await;
    assert!(time(&shortened[0]) >= central_done);
    let outcomes: Vec<String> = reports.iter().map(|r| r["outcomes"].to_string()).collect();
    assert!(outcomes[0].contains("re-encrypt"), "{}", outcomes[0]);
    assert!(
        outcomes[2].contains("intermediate_deleted"),
        "{}",
        outcomes[2]
    );
    // A fourth run finds nothing to do (the copy is gone).
    let report = runner::reconcile(&org, &a, PRIMARY_REGION).await.unwrap();
    assert!(
        !report["outcomes"].to_string().contains("intermediate"),
        "{report:#}"
    );
}

/// A deletion AWS refuses (here an access denial): notified once, naming the re-encrypted copy;
/// the original is still shortened; the reconciler tries again, and reports (does not notify)
/// a refusal.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_deletion_is_notified_and_retried_by_the_reconciler() {
    let mut org = org("awsrdsdel").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    org.testbed
        .inject_errors(&a, "DeleteRecoveryPoint", 1, 403, "AccessDeniedException")
        .await
        .unwrap();
    let night = runner::night(
        &org,
        &[BackupSpec::rds(&a, PRIMARY_REGION, "orders").under_aws_rds()],
    )
    .await
    .unwrap();
    assert!(night.dead_letters.is_empty(), "{:#?}", night.dead_letters);
    let outcome = story::collect(&org).await.unwrap();
    let orders = original(&night, "orders");
    let copy = reencrypted_copy(&outcome, orders, &a);
    assert_eq!(delete_days(&outcome, orders), Some(7));
    let notices = notifications_about(&outcome, "could not delete its re-encrypted copy");
    assert_eq!(notices.len(), 1, "{:#?}", outcome.notifications);
    assert!(
        notices[0].contains(&copy) && notices[0].contains(orders),
        "{}",
        notices[0]
    );
    assert_eq!(left_in_reencrypt_vault(&org, &a).await, vec![copy]);
    // The next reconcile deletes it (AWS answers again); no second notice.
    let report = runner::reconcile(&org, &a, PRIMARY_REGION).await.unwrap();
    assert!(
        report["outcomes"]
            .to_string()
            .contains("intermediate_deleted"),
        "{report:#}"
    );
    assert!(left_in_reencrypt_vault(&org, &a).await.is_empty());
    assert!(story::collect(&org).await.unwrap().notifications.is_empty());
}

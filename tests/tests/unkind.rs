//! End to end where AWS is unkind: copies refused and retried, copies crossvault did not
//! start, aged points, pending cold moves, locked vaults, two hops, a permanent failure in a
//! batch, throttling, events twice and out of order. Every test asserts what AWS would show
//! (copy jobs, lifecycles, the dead-letter queue, the test bed's request log), never the
//! handler's internals.
//!
//! Needs the test bed: `scripts/testbed start` and
//! `export CROSSVAULT_TESTBED_URL=http://127.0.0.1:5123` (scripts/test does both).

mod support;

use std::collections::BTreeSet;

use crossvault_tests::install::Overrides;
use crossvault_tests::org::{BACKUP_REGION, Org, PRIMARY_REGION};
use crossvault_tests::runner::{self, BackupSpec, Delivery, RecordOutcome};
use crossvault_tests::story;
use crossvault_tests::testbed::{EventOrder, JobDurations};
use support::{completed, copies, current_days, delete_days, handler_calls, org, original, vault};

/// The copy jobs out of `rp` in `account`/`region` (`ListCopyJobs` `BySourceRecoveryPointArn`).
async fn copy_jobs_of(
    org: &Org,
    account: &str,
    region: &str,
    rp: &str,
) -> Vec<aws_sdk_backup::types::CopyJob> {
    org.backup(account, region)
        .await
        .unwrap()
        .list_copy_jobs()
        .by_source_recovery_point_arn(rp)
        .send()
        .await
        .unwrap()
        .copy_jobs
        .unwrap_or_default()
}

fn state(job: &aws_sdk_backup::types::CopyJob) -> &str {
    job.state.as_ref().map_or("", |s| s.as_str())
}

/// Delivers and moves the clock on, one job step at a time, until `done` holds (checked
/// whenever the queues are quiet). Panics if the night settles first.
async fn run_until(org: &Org, deliveries: &mut Vec<Delivery>, mut done: impl AsyncFnMut() -> bool) {
    loop {
        runner::run_until_quiet(org, deliveries).await.unwrap();
        if done().await {
            return;
        }
        let state = org.clock_state().await.unwrap();
        assert!(
            state.in_flight > 0,
            "the night settled before the condition held"
        );
        org.clock_to_next_job().await.unwrap();
    }
}

/// Issue #12 §1: a FAILED hop is retried for real. The central vault's policy refuses the
/// copy (it admits another organization); once the policy is fixed, the next reconcile starts
/// a NEW copy job (a new idempotency token: AWS answers a reused one with "no action taken"),
/// and the original is shortened only after that copy completed.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_refused_by_the_central_vault_policy_is_retried_with_a_new_token_once_fixed() {
    let mut org = org("retry").await;
    org.install_with(&Overrides {
        central_vault_org_id: Some("o-someoneelse1".into()),
    })
    .await
    .unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let central = vault(&ids.backup, BACKUP_REGION);
    let night = runner::night(&org, &[BackupSpec::rds(&a, PRIMARY_REGION, "orders")])
        .await
        .unwrap();
    let orders = original(&night, "orders").to_owned();
    // Refused (once, or a few times if crossvault retried while the policy was still wrong):
    // every copy job so far FAILED, into the central vault.
    let refused = copy_jobs_of(&org, &a, PRIMARY_REGION, &orders).await;
    assert!(!refused.is_empty());
    for job in &refused {
        assert_eq!(state(job), "FAILED", "{job:#?}");
        assert_eq!(job.destination_backup_vault_arn.as_deref(), Some(&*central));
    }
    assert_eq!(
        current_days(&org, &a, PRIMARY_REGION, &orders).await,
        Some(35)
    );
    let first_tokens: BTreeSet<Option<String>> = handler_calls(&org, &a, "StartCopyJob", 0)
        .await
        .into_iter()
        .map(|c| c.idempotency_token)
        .collect();

    // The backup account fixes its vault policy: the organization it admits is ours.
    let backup = org.backup(&ids.backup, BACKUP_REGION).await.unwrap();
    let policy = backup
        .get_backup_vault_access_policy()
        .backup_vault_name("crossvault")
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    let fixed = policy.replace("o-someoneelse1", &org.organization.organization_id);
    assert_ne!(fixed, policy);
    backup
        .put_backup_vault_access_policy()
        .backup_vault_name("crossvault")
        .policy(fixed)
        .send()
        .await
        .unwrap();

    // The reconcile schedule fires in the source account.
    let since = org.testbed.last_request().await.unwrap();
    runner::reconcile(&org, &a, PRIMARY_REGION).await.unwrap();
    let retried: Vec<_> = handler_calls(&org, &a, "StartCopyJob", since)
        .await
        .into_iter()
        .filter(|c| c.status == Some(200))
        .collect();
    assert!(
        retried
            .iter()
            .any(|c| !first_tokens.contains(&c.idempotency_token)),
        "the reconcile did not start the copy again with a new token: {retried:#?}"
    );
    let jobs = copy_jobs_of(&org, &a, PRIMARY_REGION, &orders).await;
    assert_eq!(jobs.len(), refused.len() + 1, "one new copy job: {jobs:#?}");
    let retry = jobs
        .iter()
        .find(|j| refused.iter().all(|r| r.copy_job_id != j.copy_job_id))
        .unwrap();
    assert_eq!(
        retry.destination_backup_vault_arn.as_deref(),
        Some(&*central)
    );
    // Under way, not done: the original keeps its retention.
    assert_ne!(state(retry), "COMPLETED");
    let mut deliveries = Vec::new();
    let retry_id = retry.copy_job_id.clone().unwrap();
    run_until(&org, &mut deliveries, async || {
        org.testbed.job(&retry_id).await.unwrap().state == "RUNNING"
    })
    .await;
    assert_eq!(
        current_days(&org, &a, PRIMARY_REGION, &orders).await,
        Some(35)
    );
    // A copy under way is not missing: the next reconcile starts no third job.
    runner::reconcile(&org, &a, PRIMARY_REGION).await.unwrap();
    assert_eq!(
        copy_jobs_of(&org, &a, PRIMARY_REGION, &orders).await.len(),
        2
    );

    runner::run_until_settled(&org, &mut deliveries)
        .await
        .unwrap();
    let jobs = copy_jobs_of(&org, &a, PRIMARY_REGION, &orders).await;
    let done = jobs
        .iter()
        .find(|j| j.copy_job_id.as_deref() == Some(&*retry_id))
        .unwrap();
    assert_eq!(state(done), "COMPLETED");
    assert_eq!(
        current_days(&org, &a, PRIMARY_REGION, &orders).await,
        Some(7)
    );
    // Shortened after the new copy completed (test bed times), once.
    let shortened = handler_calls(&org, &a, "UpdateRecoveryPointLifecycle", since).await;
    assert_eq!(shortened.len(), 1, "{shortened:#?}");
    let completion = done.completion_date.unwrap().secs();
    let at = chrono::DateTime::parse_from_rfc3339(&shortened[0].time)
        .unwrap()
        .timestamp();
    assert!(
        at >= completion,
        "shortened at {at}, the copy completed at {completion}"
    );
    assert!(runner::take_dead_letters(&org).await.unwrap().is_empty());
}

/// Issue #12 §2: a COMPLETED copy into a vault that is not a configured hop never leads to
/// shortening. A backup plan's own copy action puts the point into the backup account's vault
/// in the resource's region (with `CopyToLocalRegion=false` not a crossvault hop), while the
/// configured copy to the backup region fails every time: the original keeps its retention.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_copy_into_the_same_region_central_vault_leaves_the_original_untouched() {
    let mut org = org("plancopy").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let local_central = vault(&ids.backup, PRIMARY_REGION);
    org.testbed
        .fail_copies(
            Some(&a),
            Some(&vault(&ids.backup, BACKUP_REGION)),
            None,
            "Copy job failed because the destination Region is unavailable (injected by the test)",
        )
        .await
        .unwrap();
    let since = org.testbed.last_request().await.unwrap();
    let backups = runner::start_plan_backups(
        &org,
        &[BackupSpec::rds(&a, PRIMARY_REGION, "orders")],
        &[(local_central.clone(), 35)],
    )
    .await
    .unwrap();
    let mut night = runner::finish_night(&org, backups).await.unwrap();
    // The reconcile runs too, and the night goes on.
    for (account, region, answer) in runner::reconcile_everywhere(&org).await {
        assert!(answer.is_ok(), "{account}/{region}: {answer:?}");
    }
    runner::run_until_settled(&org, &mut night.deliveries)
        .await
        .unwrap();
    let outcome = story::collect(&org).await.unwrap();
    eprintln!("{}", story::render(&org, &night, &outcome));
    let orders = original(&night, "orders");
    let plan_copies: Vec<_> = outcome
        .copies_of(orders)
        .into_iter()
        .filter(|c| c.destination_vault_arn == local_central)
        .collect();
    assert_eq!(plan_copies.len(), 1, "{plan_copies:#?}");
    assert_eq!(plan_copies[0].state, "COMPLETED");
    assert!(plan_copies[0].created_by_plan.is_some());
    assert!(
        outcome
            .copies_of(orders)
            .iter()
            .filter(|c| c.destination_vault_arn == vault(&ids.backup, BACKUP_REGION))
            .all(|c| c.state == "FAILED"),
        "{:#?}",
        outcome.copies_of(orders)
    );
    assert_eq!(delete_days(&outcome, orders), Some(35));
    assert_eq!(
        handler_calls(&org, &a, "UpdateRecoveryPointLifecycle", since)
            .await
            .len(),
        0
    );
}

/// Issue #12 §5 (time): a point whose copy took ten days is shortened to its age + 1, not to
/// `NewDeleteAfterDays` (which would make it due at once). The handler decides by the
/// organization's clock.
#[tokio::test(flavor = "multi_thread")]
async fn a_ten_day_old_point_is_shortened_to_its_age_plus_one() {
    let mut org = org("aged").await;
    org.install().await.unwrap();
    // The copy ends 9 days and 23 hours after the backup started: the point is 10 days old
    // (rounded up) when its copy is confirmed.
    org.set_job_durations(&JobDurations {
        copy: f64::from(10 * 86_400 - 3_600 - 600),
        ..JobDurations::default()
    })
    .await
    .unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let night = runner::night(&org, &[BackupSpec::rds(&a, PRIMARY_REGION, "orders")])
        .await
        .unwrap();
    let outcome = story::collect(&org).await.unwrap();
    let orders = original(&night, "orders");
    let created = outcome.point(orders).unwrap().creation_date.unwrap();
    let age = org.now().await.unwrap() - created;
    assert!(
        age > chrono::Duration::days(9) + chrono::Duration::hours(22)
            && age < chrono::Duration::days(10),
        "{age}"
    );
    assert_eq!(
        copies(&outcome, orders),
        BTreeSet::from([completed(vault(&ids.backup, BACKUP_REGION), 35)])
    );
    assert_eq!(delete_days(&outcome, orders), Some(11));
    let now = org.now().await.unwrap();
    assert_eq!(
        story::check(&org, &night, now, &outcome),
        Vec::<String>::new()
    );
}

/// Issue #12 §3: a point with a pending move to cold storage. AWS documents `-1` only as
/// "remove the lifecycle" (in both fields) and requires `DeleteAfterDays >=
/// MoveToColdStorageAfterDays + 90`: the original is shortened at most to cold + 90, both
/// fields sent, the cold setting kept.
#[tokio::test(flavor = "multi_thread")]
async fn a_point_with_a_pending_cold_move_is_shortened_to_cold_plus_ninety() {
    let mut org = org("cold").await;
    // Copies keep as long as the original did, so shortening it loses nothing.
    org.params
        .insert("CopyDeleteAfterDays".into(), "200".into());
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let night = runner::night(
        &org,
        &[BackupSpec::efs(&a, PRIMARY_REGION, "files").lifecycle(200, Some(30))],
    )
    .await
    .unwrap();
    assert!(night.dead_letters.is_empty(), "{:#?}", night.dead_letters);
    let outcome = story::collect(&org).await.unwrap();
    eprintln!("{}", story::render(&org, &night, &outcome));
    let files = original(&night, "files");
    assert_eq!(
        copies(&outcome, files),
        BTreeSet::from([completed(vault(&ids.backup, BACKUP_REGION), 200)])
    );
    let point = outcome.point(files).unwrap();
    assert_eq!(
        (point.delete_after_days, point.cold_after_days),
        (Some(120), Some(30))
    );
    let now = org.now().await.unwrap();
    assert_eq!(
        story::check(&org, &night, now, &outcome),
        Vec::<String>::new()
    );
}

/// A locked source vault: crossvault's own guard refuses to shorten (it never calls
/// `UpdateRecoveryPointLifecycle`), rather than leaving it to AWS to refuse.
#[tokio::test(flavor = "multi_thread")]
async fn a_locked_source_vault_is_never_asked_to_shorten() {
    let mut org = org("srclock").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    org.backup(&a, PRIMARY_REGION)
        .await
        .unwrap()
        .put_backup_vault_lock_configuration()
        .backup_vault_name("crossvault")
        .min_retention_days(1)
        .send()
        .await
        .unwrap();
    let since = org.testbed.last_request().await.unwrap();
    let night = runner::night(&org, &[BackupSpec::rds(&a, PRIMARY_REGION, "orders")])
        .await
        .unwrap();
    assert!(night.dead_letters.is_empty(), "{:#?}", night.dead_letters);
    let outcome = story::collect(&org).await.unwrap();
    let orders = original(&night, "orders");
    assert_eq!(
        copies(&outcome, orders),
        BTreeSet::from([completed(vault(&ids.backup, BACKUP_REGION), 35)])
    );
    assert_eq!(delete_days(&outcome, orders), Some(35));
    assert_eq!(
        handler_calls(&org, &a, "UpdateRecoveryPointLifecycle", since).await,
        Vec::new(),
        "the handler asked AWS to change a lifecycle in a locked vault"
    );
}

/// Two hops (`TwoHopResourceTypes=RDS`): the source copies into the backup account in its own
/// region, the backup account's handler forwards the copy to the backup region, and the
/// source's original is shortened only once that forward copy COMPLETED (issue #12 §2).
#[tokio::test(flavor = "multi_thread")]
async fn two_hops_end_to_end_including_the_forward() {
    let mut org = org("twohop").await;
    org.params
        .insert("TwoHopResourceTypes".into(), "RDS".into());
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let backups = runner::start_backups(&org, &[BackupSpec::rds(&a, PRIMARY_REGION, "orders")])
        .await
        .unwrap();
    let orders = backups[0].recovery_point_arn.clone().unwrap();
    let (hop1, forward) = (
        vault(&ids.backup, PRIMARY_REGION),
        vault(&ids.backup, BACKUP_REGION),
    );
    // Until the backup account has started the forward.
    let mut deliveries = Vec::new();
    let central = org.backup(&ids.backup, PRIMARY_REGION).await.unwrap();
    run_until(&org, &mut deliveries, async || {
        !central
            .list_copy_jobs()
            .send()
            .await
            .unwrap()
            .copy_jobs()
            .is_empty()
    })
    .await;
    let forwards = central.list_copy_jobs().send().await.unwrap().copy_jobs;
    let forwards = forwards.unwrap_or_default();
    assert_eq!(forwards.len(), 1, "{forwards:#?}");
    assert_eq!(
        forwards[0].destination_backup_vault_arn.as_deref(),
        Some(&*forward)
    );
    assert_ne!(state(&forwards[0]), "COMPLETED");
    // Hop 1 is done, the forward is not: the original keeps its retention.
    let hop1_jobs = copy_jobs_of(&org, &a, PRIMARY_REGION, &orders).await;
    assert_eq!(hop1_jobs.len(), 1);
    assert_eq!(
        (
            hop1_jobs[0].destination_backup_vault_arn.as_deref(),
            state(&hop1_jobs[0])
        ),
        (Some(&*hop1), "COMPLETED")
    );
    assert_eq!(
        current_days(&org, &a, PRIMARY_REGION, &orders).await,
        Some(35)
    );
    // The forward ends; the reconcile schedule fires everywhere; the night goes on.
    runner::run_until_settled(&org, &mut deliveries)
        .await
        .unwrap();
    for (account, region, answer) in runner::reconcile_everywhere(&org).await {
        assert!(answer.is_ok(), "{account}/{region}: {answer:?}");
    }
    runner::run_until_settled(&org, &mut deliveries)
        .await
        .unwrap();
    let outcome = story::collect(&org).await.unwrap();
    assert_eq!(
        copies(&outcome, &orders),
        BTreeSet::from([completed(hop1.clone(), 35)])
    );
    let landed = hop1_jobs[0].destination_recovery_point_arn.clone().unwrap();
    assert_eq!(
        copies(&outcome, &landed),
        BTreeSet::from([completed(forward.clone(), 35)]),
        "the forward from the backup account"
    );
    assert_eq!(delete_days(&outcome, &orders), Some(7));
    assert!(runner::take_dead_letters(&org).await.unwrap().is_empty());
}

/// `CopyToLocalRegion=true`: a copy into the backup region (or the alternate) and one into the
/// backup account in the resource's own region; the original is shortened after both.
#[tokio::test(flavor = "multi_thread")]
async fn copy_to_local_region_makes_both_copies_before_shortening() {
    let mut org = org("local").await;
    org.params.insert("CopyToLocalRegion".into(), "true".into());
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let backups = runner::start_backups(
        &org,
        &[
            BackupSpec::rds(&a, PRIMARY_REGION, "orders"),
            BackupSpec::rds(&a, BACKUP_REGION, "billing"),
        ],
    )
    .await
    .unwrap();
    let orders = backups[0].recovery_point_arn.clone().unwrap();
    let local = vault(&ids.backup, PRIMARY_REGION);
    let mut deliveries = Vec::new();
    run_until(&org, &mut deliveries, async || {
        copy_jobs_of(&org, &a, PRIMARY_REGION, &orders)
            .await
            .iter()
            .any(|j| j.destination_backup_vault_arn.as_deref() == Some(&*local))
    })
    .await;
    // The backup-region copy is done, the local one under way: nothing shortened yet.
    assert_eq!(
        current_days(&org, &a, PRIMARY_REGION, &orders).await,
        Some(35)
    );
    let night = runner::finish_night(&org, backups).await.unwrap();
    let outcome = story::collect(&org).await.unwrap();
    eprintln!("{}", story::render(&org, &night, &outcome));
    assert_eq!(
        copies(&outcome, &orders),
        BTreeSet::from([
            completed(vault(&ids.backup, BACKUP_REGION), 35),
            completed(local.clone(), 35),
        ])
    );
    assert_eq!(delete_days(&outcome, &orders), Some(7));
    let billing = original(&night, "billing");
    assert_eq!(
        copies(&outcome, billing),
        BTreeSet::from([
            completed(vault(&ids.backup, PRIMARY_REGION), 35),
            completed(vault(&ids.backup, BACKUP_REGION), 35),
        ])
    );
    assert_eq!(delete_days(&outcome, billing), Some(7));
    let now = org.now().await.unwrap();
    assert_eq!(
        story::check(&org, &night, now, &outcome),
        Vec::<String>::new()
    );
}

/// A batch in which one record fails permanently (the copy role is refused once:
/// `AccessDeniedException`): that record goes to the dead-letter queue once, with the reason;
/// every other record of the batch is deleted; nothing is delivered twice.
#[tokio::test(flavor = "multi_thread")]
async fn one_permanent_failure_in_a_batch_is_dead_lettered_once_and_the_rest_deleted() {
    let mut org = org("batch").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    org.testbed
        .inject_errors(&a, "StartCopyJob", 1, 403, "AccessDeniedException")
        .await
        .unwrap();
    let specs: Vec<_> = (0..5)
        .map(|i| BackupSpec::rds(&a, PRIMARY_REGION, &format!("db{i}")))
        .collect();
    let night = runner::night(&org, &specs).await.unwrap();
    assert_eq!(night.dead_letters.len(), 1, "{:#?}", night.dead_letters);
    let dead = &night.dead_letters[0];
    assert_eq!(
        (dead.account.as_str(), dead.region.as_str()),
        (a.as_str(), PRIMARY_REGION)
    );
    assert!(
        dead.reason
            .as_deref()
            .is_some_and(|r| r.contains("AccessDeniedException")),
        "{dead:#?}"
    );
    let failed = night
        .deliveries
        .iter()
        .find(|d| Some(&d.message_id) == dead.source_message_id.as_ref())
        .unwrap_or_else(|| panic!("the dead letter names no delivered record: {dead:#?}"));
    assert!(failed.batch_size > 1, "{failed:#?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&dead.body).unwrap(),
        failed.body,
        "the dead letter carries the record's body"
    );
    // Every record was handled on its first delivery: deleted (the failed one after it was
    // dead-lettered), none reported, none redelivered.
    assert!(night.redelivered().is_empty(), "{:#?}", night.redelivered());
    assert!(
        night
            .deliveries
            .iter()
            .all(|d| d.outcome == RecordOutcome::Deleted),
        "{:#?}",
        night.failures()
    );
    let batch_mates = night
        .deliveries
        .iter()
        .filter(|d| d.message_id != failed.message_id)
        .count();
    assert!(batch_mates >= 4);
    // The other records did their work: every backup has its copy (the reconcile finishes
    // what the dead-lettered record could not).
    for (account, region, answer) in runner::reconcile_everywhere(&org).await {
        assert!(answer.is_ok(), "{account}/{region}: {answer:?}");
    }
    let mut later = Vec::new();
    runner::run_until_settled(&org, &mut later).await.unwrap();
    let outcome = story::collect(&org).await.unwrap();
    for b in &night.backups {
        let rp = b.recovery_point_arn.as_deref().unwrap();
        assert_eq!(
            copies(&outcome, rp),
            BTreeSet::from([completed(vault(&ids.backup, BACKUP_REGION), 35)]),
            "{}",
            b.spec.db_instance
        );
    }
}

/// A record whose handling keeps failing with a retryable error (AWS Backup answers
/// `ServiceUnavailableException` 503, every time) is reported back, redelivered after the
/// visibility timeout, and after the queue's `maxReceiveCount` moved to the dead-letter queue by
/// SQS's own redrive policy — not dropped, not dead-lettered early by the handler. Once AWS
/// recovers, the reconcile finishes what the events could not.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_failing_again_and_again_is_moved_to_the_dead_letter_queue_by_the_queue() {
    let mut org = org("redrive").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    let installation = org.installation(&a, PRIMARY_REGION).unwrap();
    let redrive = installation
        .sqs()
        .get_queue_attributes()
        .queue_url(installation.queue_url.as_deref().unwrap())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy]
        .clone();
    let max_receive_count =
        serde_json::from_str::<serde_json::Value>(&redrive).unwrap()["maxReceiveCount"]
            .as_u64()
            .unwrap() as u32;
    org.testbed
        .inject_errors(
            &a,
            "StartCopyJob",
            10_000,
            503,
            "ServiceUnavailableException",
        )
        .await
        .unwrap();
    let night = runner::night(&org, &[BackupSpec::rds(&a, PRIMARY_REGION, "orders")])
        .await
        .unwrap();
    org.testbed.clear_faults(&a).await.unwrap();
    // Both events of the backup (job COMPLETED, recovery point COMPLETED) went round.
    let ids_of = |outcome: &RecordOutcome| -> BTreeSet<String> {
        night
            .deliveries
            .iter()
            .filter(|d| &d.outcome == outcome)
            .map(|d| d.message_id.clone())
            .collect()
    };
    let reported = ids_of(&RecordOutcome::Reported);
    assert_eq!(reported.len(), 2, "{:#?}", night.deliveries);
    for id in &reported {
        let counts: Vec<u32> = night
            .deliveries
            .iter()
            .filter(|d| &d.message_id == id)
            .map(|d| d.receive_count)
            .collect();
        assert_eq!(counts, (1..=max_receive_count).collect::<Vec<_>>(), "{id}");
    }
    assert!(ids_of(&RecordOutcome::Deleted).is_disjoint(&reported));
    let moved: BTreeSet<String> = night
        .dead_letters
        .iter()
        .filter(|d| d.reason.is_none())
        .map(|d| d.message_id.clone())
        .collect();
    assert_eq!(moved, reported, "{:#?}", night.dead_letters);
    assert_eq!(
        night.dead_letters.len(),
        2,
        "the handler dead-lettered too: {:#?}",
        night.dead_letters
    );
    // Nothing lost: the reconcile copies and shortens once AWS answers again.
    runner::reconcile(&org, &a, PRIMARY_REGION).await.unwrap();
    let mut later = Vec::new();
    runner::run_until_settled(&org, &mut later).await.unwrap();
    let outcome = story::collect(&org).await.unwrap();
    let orders = original(&night, "orders");
    assert_eq!(
        copies(&outcome, orders),
        BTreeSet::from([completed(vault(&ids.backup, BACKUP_REGION), 35)])
    );
    assert_eq!(delete_days(&outcome, orders), Some(7));
}

/// 200 backups in one account (100 per region) under AWS Backup's API quota (5 mutating
/// calls per second per account and region, `ThrottlingException` beyond): every copy is made
/// exactly once, every original shortened, nothing dead-lettered.
#[tokio::test(flavor = "multi_thread")]
async fn a_night_of_two_hundred_backups_under_throttling_copies_each_exactly_once() {
    let mut org = org("throttle").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let a = ids.sources[0].clone();
    org.throttle(Some(5.0)).await.unwrap();
    let specs: Vec<_> = [PRIMARY_REGION, BACKUP_REGION]
        .into_iter()
        .flat_map(|region| {
            let a = a.clone();
            (0..100).map(move |i| BackupSpec::rds(&a, region, &format!("db{i}-{region}")))
        })
        .collect();
    let since = org.testbed.last_request().await.unwrap();
    let started = std::time::Instant::now();
    let backups = runner::start_plan_backups(&org, &specs, &[]).await.unwrap();
    let created = started.elapsed();
    let night = runner::finish_night(&org, backups).await.unwrap();
    eprintln!(
        "200 backups: started in {:.1} s; {} deliveries in {:.1} s ({} rounds, {} clock moves)",
        created.as_secs_f64(),
        night.deliveries.len(),
        (started.elapsed() - created).as_secs_f64(),
        night.rounds,
        night.clock_moves
    );
    assert!(night.dead_letters.is_empty(), "{:#?}", night.dead_letters);
    let throttled = org
        .testbed
        .requests(&crossvault_tests::testbed::CallFilter {
            account: Some(&a),
            app: Some(crossvault_tests::lambda::HANDLER_APP),
            since,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.error_code.as_deref() == Some("ThrottlingException"))
        .count();
    eprintln!("throttled calls: {throttled}");
    assert!(throttled > 0, "the test bed never throttled the handler");
    let outcome = story::collect(&org).await.unwrap();
    assert_eq!(outcome.duplicate_copies(), Vec::<String>::new());
    for b in &night.backups {
        let rp = b.recovery_point_arn.as_deref().unwrap();
        let offsite = if b.spec.region == BACKUP_REGION {
            PRIMARY_REGION
        } else {
            BACKUP_REGION
        };
        assert_eq!(
            copies(&outcome, rp),
            BTreeSet::from([completed(vault(&ids.backup, offsite), 35)]),
            "{}",
            b.spec.db_instance
        );
    }
    let now = org.now().await.unwrap();
    assert_eq!(
        story::check(&org, &night, now, &outcome),
        Vec::<String>::new()
    );
}

/// Every event arrives twice and in reverse order (held, then released reversed, the whole
/// batch twice): not one duplicate copy job, and the night ends as promised.
#[tokio::test(flavor = "multi_thread")]
async fn duplicated_and_reordered_events_start_no_duplicate_copy() {
    let mut org = org("reorder").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let (a, b) = (ids.sources[0].clone(), ids.sources[1].clone());
    org.hold_events().await.unwrap();
    let backups = runner::start_backups(
        &org,
        &[
            BackupSpec::rds(&a, PRIMARY_REGION, "orders").tagged("CopyToPreProd", "true"),
            BackupSpec::rds(&a, BACKUP_REGION, "billing"),
            BackupSpec::rds(&b, PRIMARY_REGION, "catalog"),
            BackupSpec::rds(&b, BACKUP_REGION, "ledger").tagged("CopyToPreProd", "true"),
        ],
    )
    .await
    .unwrap();
    let mut deliveries = Vec::new();
    let mut released = 0;
    loop {
        if org.held_events().await.unwrap() > 0 {
            released += org.release_events(EventOrder::Reverse, 2).await.unwrap();
            runner::run_until_quiet(&org, &mut deliveries)
                .await
                .unwrap();
            continue;
        }
        if org.clock_state().await.unwrap().in_flight == 0 {
            break;
        }
        org.clock_to_next_job().await.unwrap();
    }
    assert!(released > 0);
    let night = runner::finish_night(&org, backups).await.unwrap();
    assert!(night.dead_letters.is_empty(), "{:#?}", night.dead_letters);
    let outcome = story::collect(&org).await.unwrap();
    eprintln!("{}", story::render(&org, &night, &outcome));
    assert_eq!(outcome.duplicate_copies(), Vec::<String>::new());
    // 4 offsite copies and 2 pre-prod copies, each one job.
    assert_eq!(outcome.copies.len(), 6, "{:#?}", outcome.copies);
    let now = org.now().await.unwrap();
    assert_eq!(
        story::check(&org, &night, now, &outcome),
        Vec::<String>::new()
    );
}

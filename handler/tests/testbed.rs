//! The handler's pipeline against the local test bed: real SDK clients, real jobs (instant, or
//! moved on by the test), real events read back from the test bed's log, and a test-bed
//! account per role. Each test makes its own organization.

#[path = "support/testbed.rs"]
mod testbed;

use std::sync::Arc;

use crossvault_handler::clock::OffsetClock;
use crossvault_handler::effects::ActionOutcome;
use serde_json::Value;
use testbed::{BACKUP_REGION, Org, SOURCE_REGION, advance, fail, lifecycle};

const BACKUP_JOB: &str = "Backup Job State Change";
const COPY_JOB: &str = "Copy Job State Change";
const RECOVERY_POINT: &str = "Recovery Point State Change";

fn state(e: &Value) -> &str {
    e["detail"]["state"]
        .as_str()
        .or(e["detail"]["status"].as_str())
        .unwrap_or_default()
}

/// The source's COMPLETED backup event of `rp`.
async fn backup_completed(org: &Org, rp: &str) -> Value {
    org.events(&org.source, SOURCE_REGION, BACKUP_JOB, rp)
        .await
        .into_iter()
        .find(|e| state(e) == "COMPLETED")
        .expect("a COMPLETED backup job event")
}

/// The source's copy event of job `job_id` in `wanted` state.
async fn copy_event(org: &Org, rp: &str, job_id: &str, wanted: &str) -> Value {
    org.events(&org.source, SOURCE_REGION, COPY_JOB, rp)
        .await
        .into_iter()
        .find(|e| e["detail"]["copyJobId"].as_str() == Some(job_id) && state(e) == wanted)
        .unwrap_or_else(|| panic!("no {wanted} copy event for {job_id}"))
}

fn started(outcomes: &[ActionOutcome]) -> Vec<(String, String, u32)> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            ActionOutcome::CopyStarted {
                copy_job_id,
                destination_vault_arn,
                attempt,
                ..
            } => Some((copy_job_id.clone(), destination_vault_arn.clone(), *attempt)),
            _ => None,
        })
        .collect()
}

fn shortened(outcomes: &[ActionOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, ActionOutcome::RetentionShortened { .. }))
        .count()
}

fn kept(outcomes: &[ActionOutcome]) -> Vec<&str> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            ActionOutcome::RetentionKept { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_hop_is_retried_with_a_new_job_and_the_original_shortened_only_after() {
    let org = Org::create().await;
    let rp = org.backup_efs("retry", lifecycle(35, None)).await;
    org.job_mode(&org.source, "manual").await;
    let p = org
        .pipeline(&org.source, SOURCE_REGION, org.source_config(&[]), None)
        .await;
    let backup_done = backup_completed(&org, &rp).await;
    let first = started(&p.process_event(&backup_done).await.unwrap());
    assert_eq!(first.len(), 1, "{first:?}");
    let (first_job, dest, attempt) = first[0].clone();
    assert_eq!(
        (dest.as_str(), attempt),
        (org.central(BACKUP_REGION).as_str(), 1)
    );

    // CREATED (AWS may keep a job CREATED for hours while it retries): under way, not missing.
    assert!(started(&p.process_event(&backup_done).await.unwrap()).is_empty());
    let report = p.reconcile_now().await.unwrap();
    assert!(started(&report.outcomes).is_empty(), "{report:#?}");
    assert_eq!(org.copy_jobs(&rp).await.len(), 1);

    // The copy fails; its event notifies and starts nothing (the reconciler paces retries).
    advance(&first_job).await;
    fail(
        &first_job,
        "Access denied: the destination vault's access policy does not allow backup:CopyIntoBackupVault",
    )
    .await;
    let failed = copy_event(&org, &rp, &first_job, "FAILED").await;
    let outcomes = p.process_event(&failed).await.unwrap();
    assert!(
        matches!(&outcomes[..], [ActionOutcome::NotNotified { subject, .. }] if subject == &format!("crossvault: copy job FAILED in {} {SOURCE_REGION}", org.source)),
        "{outcomes:?}"
    );
    assert_eq!(org.copy_jobs(&rp).await.len(), 1);
    assert_eq!(org.lifecycle_of(&rp).await, (Some(35), None));

    // The reconciler starts attempt 2: a new token, so AWS starts a new job.
    let report = p.reconcile_now().await.unwrap();
    let second = started(&report.outcomes);
    assert_eq!(second.len(), 1, "{report:#?}");
    let (second_job, _, attempt) = second[0].clone();
    assert_eq!(attempt, 2);
    assert_ne!(second_job, first_job);
    assert_eq!(org.copy_jobs(&rp).await.len(), 2);
    assert_eq!(shortened(&report.outcomes), 0);
    assert_eq!(org.lifecycle_of(&rp).await, (Some(35), None));

    advance(&second_job).await;
    advance(&second_job).await;
    let done = copy_event(&org, &rp, &second_job, "COMPLETED").await;
    let outcomes = p.process_event(&done).await.unwrap();
    assert_eq!(shortened(&outcomes), 1, "{outcomes:?}");
    assert_eq!(org.lifecycle_of(&rp).await, (Some(7), None));
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_last_allowed_attempt_it_gives_up_once_and_never_shortens() {
    let org = Org::create().await;
    let rp = org.backup_efs("give-up", lifecycle(35, None)).await;
    org.job_mode(&org.source, "manual").await;
    let config = org.source_config(&[("CROSSVAULT_COPY_MAX_ATTEMPTS", "2")]);
    let p = org.pipeline(&org.source, SOURCE_REGION, config, None).await;
    let mut jobs = started(
        &p.process_event(&backup_completed(&org, &rp).await)
            .await
            .unwrap(),
    );
    fail(
        &jobs[0].0,
        "Copy failed: KMS key arn:aws:kms:eu-west-1:111111111111:key/k1 is not usable",
    )
    .await;
    let report = p.reconcile_now().await.unwrap();
    jobs.extend(started(&report.outcomes));
    assert_eq!(jobs.len(), 2);
    fail(
        &jobs[1].0,
        "Copy failed: KMS key arn:aws:kms:eu-west-1:111111111111:key/k1 is not usable",
    )
    .await;
    let last = copy_event(&org, &rp, &jobs[1].0, "FAILED").await;
    let outcomes = p.process_event(&last).await.unwrap();
    let [ActionOutcome::NotNotified { subject, .. }] = &outcomes[..] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(
        subject,
        &format!(
            "crossvault: gave up copying to {} {BACKUP_REGION}",
            org.backup_account
        )
    );
    // The reconciler reports it, starts nothing, notifies nothing.
    let report = p.reconcile_now().await.unwrap();
    assert!(started(&report.outcomes).is_empty(), "{report:#?}");
    assert!(
        report.outcomes.iter().any(|o| matches!(o, ActionOutcome::Ignored { reason } if reason.starts_with("crossvault gave up on to-backup-region"))),
        "{report:#?}"
    );
    assert!(!report.outcomes.iter().any(|o| matches!(
        o,
        ActionOutcome::NotNotified { .. } | ActionOutcome::Notified { .. }
    )));
    assert_eq!(org.copy_jobs(&rp).await.len(), 2);
    assert_eq!(org.lifecycle_of(&rp).await, (Some(35), None));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_into_the_same_region_central_vault_leaves_the_original_alone() {
    // CopyToLocalRegion=false: a plan's copy action into the backup account's vault in the
    // resource's own region is no hop of crossvault's chain.
    let org = Org::create().await;
    let rp = org.backup_efs("plan-copy", lifecycle(35, None)).await;
    let source = testbed::backup(&org.source, SOURCE_REGION).await;
    let plan_copy = source
        .start_copy_job()
        .recovery_point_arn(&rp)
        .source_backup_vault_name(testbed::VAULT)
        .destination_backup_vault_arn(org.central(SOURCE_REGION))
        .iam_role_arn(format!("arn:aws:iam::{}:role/plan-copy", org.source))
        .lifecycle(lifecycle(35, None))
        .send()
        .await
        .unwrap()
        .copy_job_id
        .unwrap();
    let p = org
        .pipeline(&org.source, SOURCE_REGION, org.source_config(&[]), None)
        .await;
    let done = copy_event(&org, &rp, &plan_copy, "COMPLETED").await;
    let outcomes = p.process_event(&done).await.unwrap();
    assert!(
        matches!(&outcomes[..], [ActionOutcome::Ignored { reason }] if reason.contains("never leads to shortening")),
        "{outcomes:?}"
    );
    assert_eq!(org.lifecycle_of(&rp).await, (Some(35), None));
    // The reconciler starts the real backup-region hop, and does not shorten on the way.
    let report = p.reconcile_now().await.unwrap();
    let hops = started(&report.outcomes);
    assert_eq!(hops.len(), 1, "{report:#?}");
    assert_eq!(hops[0].1, org.central(BACKUP_REGION));
    assert_eq!(shortened(&report.outcomes), 0);
    assert_eq!(org.lifecycle_of(&rp).await, (Some(35), None));
}

/// Runs the backup event, then hands the COMPLETED event of the copy it started to `p2`.
async fn copy_then_complete(
    org: &Org,
    rp: &str,
    config: crossvault_core::StackConfig,
    clock: Option<Arc<dyn crossvault_handler::clock::Clock>>,
) -> Vec<ActionOutcome> {
    let p = org
        .pipeline(&org.source, SOURCE_REGION, config.clone(), None)
        .await;
    let copies = started(
        &p.process_event(&backup_completed(org, rp).await)
            .await
            .unwrap(),
    );
    assert_eq!(copies.len(), 1, "{copies:?}");
    let p2 = org
        .pipeline(&org.source, SOURCE_REGION, config, clock)
        .await;
    let done = copy_event(org, rp, &copies[0].0, "COMPLETED").await;
    p2.process_event(&done).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ten_day_old_point_is_shortened_to_its_age_plus_one() {
    let org = Org::create().await;
    let rp = org.backup_efs("aged", lifecycle(35, None)).await;
    // The handler's clock runs (just under) ten days ahead of the test bed's: the point is
    // 10 days old rounded up, so it keeps 10 + 1 days, not NewDeleteAfterDays = 7.
    let ten_days = chrono::Duration::days(10) - chrono::Duration::seconds(60);
    let outcomes = copy_then_complete(
        &org,
        &rp,
        org.source_config(&[]),
        Some(Arc::new(OffsetClock(ten_days))),
    )
    .await;
    assert_eq!(shortened(&outcomes), 1, "{outcomes:?}");
    assert_eq!(org.lifecycle_of(&rp).await, (Some(11), None));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_cold_move_is_kept_and_both_fields_are_sent() {
    let org = Org::create().await;
    // Kept a year, cold after 30 days; the copies are kept 400 days.
    let rp = org.backup_efs("cold", lifecycle(365, Some(30))).await;
    let config = org.source_config(&[("CROSSVAULT_COPY_DELETE_AFTER_DAYS", "400")]);
    let outcomes = copy_then_complete(&org, &rp, config, None).await;
    assert_eq!(shortened(&outcomes), 1, "{outcomes:?}");
    // The test bed refuses a lone MoveToColdStorageAfterDays = -1, as AWS documents only both.
    assert_eq!(org.lifecycle_of(&rp).await, (Some(120), Some(30)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_source_vault_is_never_shortened_by_crossvaults_own_guard() {
    let org = Org::create().await;
    let rp = org.backup_efs("locked", lifecycle(35, None)).await;
    testbed::backup(&org.source, SOURCE_REGION)
        .await
        .put_backup_vault_lock_configuration()
        .backup_vault_name(testbed::VAULT)
        .min_retention_days(1)
        .send()
        .await
        .unwrap();
    let outcomes = copy_then_complete(&org, &rp, org.source_config(&[]), None).await;
    // Kept by the guard (no UpdateRecoveryPointLifecycle attempted: the emulator would have
    // refused it with InvalidRequestException, an error, not this outcome).
    assert_eq!(
        kept(&outcomes),
        ["the vault is locked (Vault Lock forbids lifecycle changes)"]
    );
    assert_eq!(org.lifecycle_of(&rp).await, (Some(35), None));
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_to_local_region_shortens_only_after_both_copies() {
    let org = Org::create().await;
    let rp = org.backup_efs("local", lifecycle(35, None)).await;
    let p = org
        .pipeline(
            &org.source,
            SOURCE_REGION,
            org.source_config(&[("CROSSVAULT_COPY_TO_LOCAL_REGION", "true")]),
            None,
        )
        .await;
    let first = started(
        &p.process_event(&backup_completed(&org, &rp).await)
            .await
            .unwrap(),
    );
    assert_eq!(first[0].1, org.central(BACKUP_REGION));
    let outcomes = p
        .process_event(&copy_event(&org, &rp, &first[0].0, "COMPLETED").await)
        .await
        .unwrap();
    let local = started(&outcomes);
    assert_eq!(local.len(), 1, "{outcomes:?}");
    assert_eq!(local[0].1, org.central(SOURCE_REGION));
    assert_eq!(shortened(&outcomes), 0);
    assert_eq!(org.lifecycle_of(&rp).await, (Some(35), None));
    let outcomes = p
        .process_event(&copy_event(&org, &rp, &local[0].0, "COMPLETED").await)
        .await
        .unwrap();
    assert_eq!(shortened(&outcomes), 1, "{outcomes:?}");
    assert_eq!(org.lifecycle_of(&rp).await, (Some(7), None));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_two_hop_original_is_shortened_only_after_the_backup_accounts_forward() {
    let org = Org::create().await;
    let rp = org.backup_efs("two-hop", lifecycle(35, None)).await;
    let verify_role = format!(
        "arn:aws:iam::{}:role/crossvault-verify-{SOURCE_REGION}",
        org.backup_account
    );
    let source = org
        .pipeline(
            &org.source,
            SOURCE_REGION,
            org.source_config(&[
                ("CROSSVAULT_TWO_HOP_RESOURCE_TYPES", "EFS"),
                ("CROSSVAULT_VERIFY_ROLE_ARN", &verify_role),
            ]),
            None,
        )
        .await;
    let backup = org
        .pipeline(
            &org.backup_account,
            SOURCE_REGION,
            org.backup_config(&[("CROSSVAULT_TWO_HOP_RESOURCE_TYPES", "EFS")]),
            None,
        )
        .await;
    let first = started(
        &source
            .process_event(&backup_completed(&org, &rp).await)
            .await
            .unwrap(),
    );
    assert_eq!(first[0].1, org.central(SOURCE_REGION), "same region first");
    let first_done = copy_event(&org, &rp, &first[0].0, "COMPLETED").await;
    // The forward has not happened: read with the verify role, it is missing.
    let outcomes = source.process_event(&first_done).await.unwrap();
    let reasons = kept(&outcomes);
    assert!(
        reasons.len() == 1
            && reasons[0].contains("the two-hop-forward copy into")
            && reasons[0].contains("no copy job"),
        "{outcomes:?}"
    );
    assert_eq!(org.lifecycle_of(&rp).await, (Some(35), None));

    // The backup account's handler forwards the arrival.
    let copy = first_done["detail"]["destinationRecoveryPointArn"]
        .as_str()
        .expect("the first copy's ARN")
        .to_owned();
    let arrival = org
        .events(&org.backup_account, SOURCE_REGION, RECOVERY_POINT, &copy)
        .await
        .into_iter()
        .find(|e| state(e) == "COMPLETED")
        .expect("the arrival in the backup account");
    let forward = started(&backup.process_event(&arrival).await.unwrap());
    assert_eq!(forward.len(), 1);
    assert_eq!(forward[0].1, org.central(BACKUP_REGION));

    // Now the source verifies the forward and shortens.
    let outcomes = source.process_event(&first_done).await.unwrap();
    assert_eq!(shortened(&outcomes), 1, "{outcomes:?}");
    assert_eq!(org.lifecycle_of(&rp).await, (Some(7), None));
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicated_and_reordered_events_start_no_duplicate_copy_jobs() {
    let org = Org::create().await;
    let rp = org.backup_efs("dup", lifecycle(35, None)).await;
    let p = org
        .pipeline(
            &org.source,
            SOURCE_REGION,
            org.source_config(&[("CROSSVAULT_COPY_TO_LOCAL_REGION", "true")]),
            None,
        )
        .await;
    // The backup and recovery point events of one point, twice, side by side.
    let backup_done = backup_completed(&org, &rp).await;
    let rp_done = org
        .events(&org.source, SOURCE_REGION, RECOVERY_POINT, &rp)
        .await
        .into_iter()
        .find(|e| state(e) == "COMPLETED")
        .expect("the recovery point event");
    let (a, b, c, d) = tokio::join!(
        p.process_event(&backup_done),
        p.process_event(&rp_done),
        p.process_event(&backup_done),
        p.process_event(&rp_done)
    );
    for r in [a, b, c, d] {
        r.unwrap();
    }
    // Jobs finish at once here: a later one of the four may already see the first hop done
    // and start the local hop, but no hop twice.
    let mut destinations: Vec<String> = org
        .copy_jobs(&rp)
        .await
        .iter()
        .map(|j| j.destination_backup_vault_arn.clone().unwrap())
        .collect();
    let n = destinations.len();
    destinations.sort();
    destinations.dedup();
    assert_eq!(destinations.len(), n, "{destinations:?}");
    // Every event of the night so far, delivered twice, newest first, then in order.
    let mut all = Vec::new();
    for kind in [BACKUP_JOB, RECOVERY_POINT, COPY_JOB] {
        all.extend(org.events(&org.source, SOURCE_REGION, kind, &rp).await);
    }
    for round in 0..3 {
        let order: Vec<&Value> = if round < 2 {
            all.iter().rev().collect()
        } else {
            all.iter().collect()
        };
        for event in order {
            p.process_event(event).await.unwrap();
        }
    }
    // And what those deliveries caused, delivered again.
    let mut again = Vec::new();
    for kind in [COPY_JOB] {
        again.extend(org.events(&org.source, SOURCE_REGION, kind, &rp).await);
    }
    for event in again.iter().rev() {
        p.process_event(event).await.unwrap();
    }
    let jobs = org.copy_jobs(&rp).await;
    let mut destinations: Vec<String> = jobs
        .iter()
        .map(|j| j.destination_backup_vault_arn.clone().unwrap())
        .collect();
    destinations.sort();
    assert_eq!(
        destinations,
        [org.central(BACKUP_REGION), org.central(SOURCE_REGION)],
        "exactly one copy per hop"
    );
    assert_eq!(org.lifecycle_of(&rp).await, (Some(7), None));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reconciler_does_the_oldest_work_first_and_leaves_the_rest_at_its_deadline() {
    let org = Org::create().await;
    let older = org.backup_efs("older", lifecycle(35, None)).await;
    let newer = org.backup_efs("newer", lifecycle(35, None)).await;
    let p = org
        .pipeline(&org.source, SOURCE_REGION, org.source_config(&[]), None)
        .await;
    // No time at all: nothing done, both left for the next run, and said so.
    let report = p
        .reconcile_until(tokio::time::Instant::now())
        .await
        .unwrap();
    assert_eq!(
        (report.checked, report.left_for_next_run),
        (0, 2),
        "{report:#?}"
    );
    assert!(
        report.summary.contains("2 left for the next run"),
        "{}",
        report.summary
    );
    assert!(org.copy_jobs(&older).await.is_empty());
    // Time enough: both, oldest first.
    let report = p.reconcile_now().await.unwrap();
    let copies: Vec<String> = report
        .outcomes
        .iter()
        .filter_map(|o| match o {
            ActionOutcome::CopyStarted { copy_job_id, .. } => Some(copy_job_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(copies.len(), 2, "{report:#?}");
    let first = &org.copy_jobs(&older).await[0];
    assert_eq!(first.copy_job_id.as_deref(), Some(copies[0].as_str()));
    assert_eq!(org.copy_jobs(&newer).await.len(), 1);
}

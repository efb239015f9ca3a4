//! End to end in the test bed: the pre-prod refresh. A tagged production database is backed
//! up two nights running; its copies arrive in pre-prod, are restored into real (moto) DB
//! instances, masked by the hook, promoted to the stable address (an SSM parameter), and the
//! first night's restore is removed after the second is promoted. Notifications reach an SQS
//! subscriber of the topic and a local HTTP server standing in for Slack. A failing hook leaves
//! the first restore in place.
//!
//! Needs the test bed (`scripts/testbed start`, `CROSSVAULT_TESTBED_URL`).

mod support;

use std::collections::BTreeMap;

use crossvault_core::restore::resource::{MARKER, RECOVERY_POINT, STAGE};
use crossvault_tests::lambda::HANDLER_APP;
use crossvault_tests::org::{Org, PRIMARY_REGION};
use crossvault_tests::refresh::{self, SLACK_PATH, SlackStandIn};
use crossvault_tests::runner::{self, BackupSpec, NightLog};
use crossvault_tests::story::{self, Notification};
use crossvault_tests::testbed::CallFilter;
use support::org;

const DOCUMENT: &str = "crossvault-test-mask";

/// The pre-prod account as a user prepares it (`refresh::prepare`: a DB subnet group, the
/// masking document, the Slack webhook in a SecureString); then crossvault installed with
/// restores on.
async fn prepared(tag: &str, slack: &SlackStandIn) -> Org {
    let mut org = org(tag).await;
    refresh::prepare(&mut org, DOCUMENT, Some(&slack.url()))
        .await
        .unwrap();
    org.install().await.unwrap();
    org
}

/// Night 2: the same database backed up again (as its backup plan does), then the night.
async fn next_night(org: &Org, db_arn: &str) -> NightLog {
    let spec = BackupSpec::rds(&org.ids.sources[0], PRIMARY_REGION, "orders")
        .tagged("CopyToPreProd", "true");
    let night = refresh::next_night(org, &spec, db_arn).await.unwrap();
    assert_eq!(night.backups[0].state, "COMPLETED", "{:#?}", night.backups);
    night
}

/// Crossvault's restores of `source` in pre-prod: (identifier, endpoint, tags).
async fn restores(org: &Org, source: &str) -> Vec<(String, String, BTreeMap<String, String>)> {
    refresh::restores(org, &org.ids.preprod, PRIMARY_REGION)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.source() == Some(source))
        .map(|r| (r.identifier, r.endpoint.unwrap(), r.tags))
        .collect()
}

async fn stable_address(org: &Org, source: &str) -> Option<String> {
    refresh::stable_address(org, PRIMARY_REGION, &org.ids.sources[0], source)
        .await
        .unwrap()
}

fn subjects(notifications: &[Notification]) -> Vec<String> {
    notifications.iter().map(|n| n.subject.clone()).collect()
}

/// The handler's calls of `operation` (SSM) in pre-prod.
async fn ssm_calls(org: &Org) -> Vec<(u64, String)> {
    org.testbed
        .requests(&CallFilter {
            account: Some(&org.ids.preprod),
            service: Some("ssm"),
            app: Some(HANDLER_APP),
            ..CallFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|c| {
            matches!(
                c.operation.as_str(),
                "StartAutomationExecution" | "PutParameter"
            )
        })
        .map(|c| (c.seq, c.operation))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nights_end_with_one_masked_restore_at_the_stable_address() {
    let slack = SlackStandIn::start().await;
    let org = prepared("refresh", &slack).await;
    let source = org.ids.sources[0].clone();
    let preprod = org.ids.preprod.clone();

    // Night 1.
    let night = runner::night(
        &org,
        &[BackupSpec::rds(&source, PRIMARY_REGION, "orders").tagged("CopyToPreProd", "true")],
    )
    .await
    .unwrap();
    assert!(night.failures().is_empty(), "{:#?}", night.failures());
    assert!(night.dead_letters.is_empty(), "{:#?}", night.dead_letters);
    let db_arn = night.backups[0].resource_arn.clone();
    let first = restores(&org, &db_arn).await;
    assert_eq!(first.len(), 1, "{first:#?}");
    let (first_id, first_endpoint, tags) = &first[0];
    assert!(first_id.starts_with("orders-"), "{first_id}");
    assert_eq!(tags[MARKER], "v1");
    assert_eq!(tags[STAGE], "promoted");
    assert!(tags[RECOVERY_POINT].contains(&format!(":{preprod}:snapshot:awsbackup:copyjob-")));
    assert_eq!(
        stable_address(&org, &db_arn).await.as_deref(),
        Some(first_endpoint.as_str())
    );
    let outcome = story::collect(&org).await.unwrap();
    let preprod_subjects: Vec<String> = outcome
        .notifications
        .iter()
        .filter(|n| n.account == preprod)
        .map(|n| n.subject.clone())
        .collect();
    assert_eq!(
        preprod_subjects,
        [
            format!("crossvault: pre-prod restore COMPLETED in {preprod} {PRIMARY_REGION}"),
            format!("crossvault: pre-prod refresh promoted in {preprod} {PRIMARY_REGION}"),
        ],
        "{:#?}",
        subjects(&outcome.notifications)
    );

    // Night 2.
    let night = next_night(&org, &db_arn).await;
    assert!(night.failures().is_empty(), "{:#?}", night.failures());
    assert!(night.dead_letters.is_empty(), "{:#?}", night.dead_letters);
    let second = restores(&org, &db_arn).await;
    assert_eq!(second.len(), 1, "exactly one restore left: {second:#?}");
    let (second_id, second_endpoint, tags) = &second[0];
    assert_ne!(second_id, first_id, "the first night's restore is removed");
    assert_eq!(tags[STAGE], "promoted");
    assert_eq!(
        stable_address(&org, &db_arn).await.as_deref(),
        Some(second_endpoint.as_str())
    );

    // The hook ran before each promotion, once per restore.
    let calls: Vec<String> = ssm_calls(&org)
        .await
        .into_iter()
        .map(|(_, op)| op)
        .collect();
    assert_eq!(
        calls,
        [
            "StartAutomationExecution",
            "PutParameter",
            "StartAutomationExecution",
            "PutParameter"
        ]
    );
    let executions = org.testbed.automation_executions(&preprod).await.unwrap();
    let endpoints: Vec<String> = executions
        .iter()
        .map(|e| e["Parameters"]["Endpoint"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(endpoints, [first_endpoint.clone(), second_endpoint.clone()]);

    // Notifications: SNS (its SQS subscriber) and Slack got the same messages.
    let outcome = story::collect(&org).await.unwrap();
    let promoted: Vec<&Notification> = outcome
        .notifications
        .iter()
        .filter(|n| n.subject.contains("refresh promoted"))
        .collect();
    assert_eq!(promoted.len(), 1, "{:#?}", subjects(&outcome.notifications));
    let message = &promoted[0].message;
    assert!(
        message.contains(&format!("production {source} -> pre-prod {preprod}")),
        "{message}"
    );
    assert!(message.contains("deleting 1 older restore(s)"), "{message}");
    assert!(message.contains(first_id), "{message}");
    assert!(
        message.contains("Console: https://eu-west-1.console.aws.amazon.com/rds/"),
        "{message}"
    );
    let texts = slack.texts().await;
    assert_eq!(
        texts.len(),
        4,
        "two nights x (restored, promoted): {texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("refresh promoted") && t.contains(second_id))
    );
    // The webhook URL is a secret: it is in no notification.
    assert!(
        outcome
            .notifications
            .iter()
            .all(|n| !n.message.contains(SLACK_PATH))
    );
    for text in &texts {
        assert!(!text.contains(SLACK_PATH));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_hook_leaves_the_first_restore_in_place_and_notifies() {
    let slack = SlackStandIn::start().await;
    let org = prepared("hookfail", &slack).await;
    let source = org.ids.sources[0].clone();
    let preprod = org.ids.preprod.clone();
    let night = runner::night(
        &org,
        &[BackupSpec::rds(&source, PRIMARY_REGION, "orders").tagged("CopyToPreProd", "true")],
    )
    .await
    .unwrap();
    let db_arn = night.backups[0].resource_arn.clone();
    let first = restores(&org, &db_arn).await;
    assert_eq!(first.len(), 1);
    story::collect(&org).await.unwrap();

    // The second night's masking fails.
    org.testbed
        .hook_outcomes(
            &preprod,
            DOCUMENT,
            &[("Failed", "masking script failed: users table locked")],
        )
        .await
        .unwrap();
    let night = next_night(&org, &db_arn).await;
    assert!(night.dead_letters.is_empty(), "{:#?}", night.dead_letters);
    let after = restores(&org, &db_arn).await;
    assert_eq!(after.len(), 2, "{after:#?}");
    let kept = after
        .iter()
        .find(|r| r.0 == first[0].0)
        .expect("the first restore stays");
    assert_eq!(kept.2[STAGE], "promoted");
    let failed = after.iter().find(|r| r.0 != first[0].0).unwrap();
    assert_eq!(failed.2[STAGE], "hook-failed");
    assert_eq!(
        stable_address(&org, &db_arn).await.as_deref(),
        Some(first[0].1.as_str()),
        "the stable address still points at the first restore"
    );
    let outcome = story::collect(&org).await.unwrap();
    let hook: Vec<&Notification> = outcome
        .notifications
        .iter()
        .filter(|n| n.subject.contains("masking hook failed"))
        .collect();
    assert_eq!(hook.len(), 1, "{:#?}", subjects(&outcome.notifications));
    assert!(
        hook[0].message.contains("users table locked"),
        "{}",
        hook[0].message
    );
    assert!(
        hook[0].message.contains(&format!(
            "the previous restore arn:aws:rds:{PRIMARY_REGION}:{preprod}:db:{} stays",
            first[0].0
        )),
        "{}",
        hook[0].message
    );
    assert!(
        slack
            .texts()
            .await
            .iter()
            .any(|t| t.contains("masking hook failed"))
    );
    // Only one PutParameter: the failed restore was never promoted.
    let puts = ssm_calls(&org)
        .await
        .into_iter()
        .filter(|(_, op)| op == "PutParameter")
        .count();
    assert_eq!(puts, 1);
}

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

use aws_sdk_ssm::types::{DocumentType, ParameterType};
use crossvault_core::restore::naming::parameter_name;
use crossvault_core::restore::resource::{MARKER, RECOVERY_POINT, SOURCE_RESOURCE, STAGE};
use crossvault_tests::lambda::HANDLER_APP;
use crossvault_tests::org::{Org, PRIMARY_REGION};
use crossvault_tests::runner::{self, BackupSpec, NightLog, StartedBackup};
use crossvault_tests::story::{self, Notification};
use crossvault_tests::testbed::CallFilter;
use serde_json::json;
use support::org;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DOCUMENT: &str = "crossvault-test-mask";
const SLACK_PARAMETER: &str = "/crossvault/slack-webhook";
const SLACK_PATH: &str = "/services/T0/B0/not-a-real-secret";

/// The pre-prod account as a user prepares it: a DB subnet group, the masking document, the
/// Slack webhook in a SecureString; then crossvault installed with restores on.
async fn prepared(tag: &str, slack: &MockServer) -> Org {
    let mut org = org(tag).await;
    let preprod = org.ids.preprod.clone();
    org.testbed
        .create_db_subnet_group(&preprod, PRIMARY_REGION, "preprod-db")
        .await
        .unwrap();
    let ssm = aws_sdk_ssm::Client::new(&org.sdk(&preprod, PRIMARY_REGION).await.unwrap());
    let parameters: serde_json::Map<String, serde_json::Value> = [
        "ResourceArn",
        "ResourceType",
        "Endpoint",
        "SourceResourceArn",
        "RecoveryPointArn",
    ]
    .iter()
    .map(|p| ((*p).to_owned(), json!({"type": "String"})))
    .collect();
    ssm.create_document()
        .name(DOCUMENT)
        .document_type(DocumentType::Automation)
        .content(
            json!({"schemaVersion": "0.3", "parameters": parameters,
                   "mainSteps": [{"name": "mask", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    ssm.put_parameter()
        .name(SLACK_PARAMETER)
        .r#type(ParameterType::SecureString)
        .value(format!("{}{SLACK_PATH}", slack.uri()))
        .send()
        .await
        .unwrap();
    for (k, v) in [
        ("RestoreOnArrival", "true"),
        ("RestoreMaskingHook", DOCUMENT),
        ("RestoreDBSubnetGroupName", "preprod-db"),
        ("RestoreSecurityGroupIds", "sg-0preprod"),
        ("SlackWebhookParameter", SLACK_PARAMETER),
    ] {
        org.params.insert(k.to_owned(), v.to_owned());
    }
    org.install().await.unwrap();
    org
}

async fn slack_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SLACK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    server
}

/// Night 2: the same database backed up again (as its backup plan does), then the night.
async fn next_night(org: &Org, db_arn: &str) -> NightLog {
    let state = org.advance_clock(86_400.0).await.unwrap();
    assert_eq!(state.in_flight, 0);
    let source = &org.ids.sources[0];
    let answer = org
        .testbed
        .plan_backup_job(json!({
            "accountId": source, "region": PRIMARY_REGION, "backupVaultName": "crossvault",
            "resourceArn": db_arn, "lifecycle": {"DeleteAfterDays": 35}
        }))
        .await
        .unwrap();
    let started = StartedBackup {
        spec: BackupSpec::rds(source, PRIMARY_REGION, "orders").tagged("CopyToPreProd", "true"),
        resource_arn: db_arn.to_owned(),
        backup_job_id: answer["jobId"].as_str().unwrap().to_owned(),
        recovery_point_arn: answer["recoveryPointArn"].as_str().map(str::to_owned),
        state: answer["state"].as_str().unwrap_or_default().to_owned(),
    };
    runner::finish_night(org, vec![started]).await.unwrap()
}

/// Crossvault's restores of `source` in pre-prod: (identifier, endpoint, tags).
async fn restores(org: &Org, source: &str) -> Vec<(String, String, BTreeMap<String, String>)> {
    let rds = aws_sdk_rds::Client::new(&org.sdk(&org.ids.preprod, PRIMARY_REGION).await.unwrap());
    let mut out = Vec::new();
    for db in rds
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances
        .unwrap_or_default()
    {
        let tags: BTreeMap<String, String> = db
            .tag_list()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect();
        if tags.get(SOURCE_RESOURCE).map(String::as_str) == Some(source) {
            let e = db.endpoint().unwrap();
            out.push((
                db.db_instance_identifier().unwrap().to_owned(),
                format!("{}:{}", e.address().unwrap(), e.port().unwrap()),
                tags,
            ));
        }
    }
    out.sort();
    out
}

async fn stable_address(org: &Org, source: &str) -> Option<String> {
    let ssm = aws_sdk_ssm::Client::new(&org.sdk(&org.ids.preprod, PRIMARY_REGION).await.unwrap());
    let name = parameter_name("/crossvault/preprod", &org.ids.sources[0], source);
    ssm.get_parameter()
        .name(name)
        .send()
        .await
        .ok()
        .and_then(|o| o.parameter)
        .and_then(|p| p.value)
}

fn subjects(notifications: &[Notification]) -> Vec<String> {
    notifications.iter().map(|n| n.subject.clone()).collect()
}

/// What Slack received: each message's text.
async fn slack_texts(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            body["text"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
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
    let slack = slack_server().await;
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
    let texts = slack_texts(&slack).await;
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
    let slack = slack_server().await;
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
        slack_texts(&slack)
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

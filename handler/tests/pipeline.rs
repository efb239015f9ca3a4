//! The event pipeline at the AWS client boundary (aws-smithy-mocks): which failures are
//! retried and which are dead-lettered, and the exact calls the retention step makes.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_backup::operation::describe_backup_vault::DescribeBackupVaultOutput;
use aws_sdk_backup::operation::describe_copy_job::DescribeCopyJobOutput;
use aws_sdk_backup::operation::describe_recovery_point::{
    DescribeRecoveryPointError, DescribeRecoveryPointOutput,
};
use aws_sdk_backup::operation::start_copy_job::{StartCopyJobError, StartCopyJobOutput};
use aws_sdk_backup::operation::update_recovery_point_lifecycle::UpdateRecoveryPointLifecycleOutput;
use aws_sdk_backup::types::error::ResourceNotFoundException;
use aws_sdk_backup::types::{CopyJob, CopyJobState, Lifecycle};
use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput;
use aws_sdk_resourcegroupstagging::types::{ResourceTagMapping, Tag};
use aws_sdk_sqs::operation::send_message::SendMessageOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use aws_smithy_types::error::ErrorMetadata;
use crossvault_core::{Region, StackConfig};
use crossvault_handler::batch::EventError;
use crossvault_handler::clients::AwsClients;
use crossvault_handler::custom_resource::{Engine, EngineOptions};
use crossvault_handler::dead_letter::SqsDeadLetters;
use crossvault_handler::effects::ActionOutcome;
use crossvault_handler::pipeline::Pipeline;
use crossvault_handler::{Handler, InvocationContext};
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/events");

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()).unwrap()
}

fn config() -> StackConfig {
    StackConfig::from_iter([
        ("CROSSVAULT_ROLE", "source"),
        ("CROSSVAULT_ACCOUNT_ID", "111111111111"),
        ("CROSSVAULT_BACKUP_ACCOUNT_ID", "222222222222"),
        ("CROSSVAULT_BACKUP_REGION", "eu-central-1"),
        ("CROSSVAULT_BACKUP_REGION_ALTERNATE", "eu-west-1"),
        ("CROSSVAULT_PREPROD_ACCOUNT_IDS", "333333333333"),
        ("CROSSVAULT_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_CENTRAL_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_PREPROD_VAULT_NAME", "crossvault"),
        (
            "CROSSVAULT_COPY_ROLE_ARN",
            "arn:aws:iam::111111111111:role/crossvault-copy",
        ),
    ])
    .unwrap()
}

/// A pipeline whose Backup, tagging and SQS clients answer from `rules`; no retries, so each
/// rule sees exactly the calls the code makes.
fn pipeline(backup: &[&Rule], tagging: &[&Rule], sqs: &[&Rule]) -> (Arc<AwsClients>, Pipeline) {
    let no_retry = |b: aws_sdk_backup::config::Builder| {
        b.retry_config(aws_sdk_backup::config::retry::RetryConfig::disabled())
    };
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("eu-west-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let clients = Arc::new(AwsClients::from_parts(
        sdk,
        mock_client!(aws_sdk_backup, RuleMode::MatchAny, backup, no_retry),
        mock_client!(aws_sdk_organizations, RuleMode::MatchAny, &[]),
        mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[]),
        mock_client!(aws_sdk_sqs, RuleMode::MatchAny, sqs),
        mock_client!(aws_sdk_resourcegroupstagging, RuleMode::MatchAny, tagging),
    ));
    let p = Pipeline::new(clients.clone(), config(), Region::new("eu-west-1").unwrap());
    (clients, p)
}

fn start_copy_error(code: &'static str) -> Rule {
    mock!(aws_sdk_backup::Client::start_copy_job).then_error(move || {
        StartCopyJobError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("from the mock")
                .build(),
        )
    })
}

#[tokio::test]
async fn a_new_recovery_point_starts_exactly_one_copy_with_lifecycle_and_token() {
    let start = mock!(aws_sdk_backup::Client::start_copy_job)
        .match_requests(|r| {
            r.recovery_point_arn()
                == Some("arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-4f1c2a9e-7d3b-4c1a-9e2f-2e8f6d0a1b2c")
                && r.source_backup_vault_name() == Some("crossvault")
                && r.destination_backup_vault_arn() == Some("arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault")
                && r.iam_role_arn() == Some("arn:aws:iam::111111111111:role/crossvault-copy")
                && r.lifecycle().and_then(|l| l.delete_after_days) == Some(35)
                && r.idempotency_token().is_some_and(|t| t.starts_with("crossvault-"))
        })
        .then_output(|| StartCopyJobOutput::builder().copy_job_id("COPY-1").build());
    let (_, p) = pipeline(&[&start], &[], &[]);
    let outcomes = p
        .process_event(&fixture("backup-job-completed-plan-rds.json"))
        .await
        .unwrap();
    assert_eq!(start.num_calls(), 1);
    assert!(
        matches!(&outcomes[..], [ActionOutcome::CopyStarted { copy_job_id, .. }] if copy_job_id == "COPY-1"),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn throttling_is_retryable_and_access_denied_is_permanent() {
    for (code, retryable) in [
        ("ThrottlingException", true),
        ("LimitExceededException", true),
        ("AccessDeniedException", false),
        ("InvalidParameterValueException", false),
    ] {
        let start = start_copy_error(code);
        let (_, p) = pipeline(&[&start], &[], &[]);
        let err = p
            .process_event(&fixture("backup-job-completed-plan-rds.json"))
            .await
            .unwrap_err();
        match (&err, retryable) {
            (EventError::Retryable(m), true) | (EventError::Permanent(m), false) => {
                assert!(m.starts_with("backup:StartCopyJob failed"), "{m}");
                assert!(m.contains(code), "{m}");
            }
            _ => panic!("{code}: {err:?}"),
        }
    }
}

#[tokio::test]
async fn a_missing_recovery_point_is_permanent() {
    // The copy completed: the pre-prod tag decides the next hop (untagged), then the original
    // is looked up for shortening — and is gone.
    let tags = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .then_output(|| GetResourcesOutput::builder().build());
    let describe = mock!(aws_sdk_backup::Client::describe_recovery_point).then_error(|| {
        DescribeRecoveryPointError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("no such point")
                .build(),
        )
    });
    let (_, p) = pipeline(&[&describe], &[&tags], &[]);
    let err = p
        .process_event(&fixture("copy-job-completed-to-backup-account.json"))
        .await
        .unwrap_err();
    let EventError::Permanent(m) = err else {
        panic!("{err:?}")
    };
    assert!(
        m.contains("backup:DescribeRecoveryPoint failed") && m.contains("no such point"),
        "{m}"
    );
}

/// The facts the retention step reads, with a chosen lock state and copy state.
fn retention_rules(locked: bool, copy_state: CopyJobState) -> (Rule, Rule, Rule, Rule) {
    let created = DateTime::from_secs(chrono::Utc::now().timestamp() - 3600);
    let describe = mock!(aws_sdk_backup::Client::describe_recovery_point).then_output(move || {
        DescribeRecoveryPointOutput::builder()
            .creation_date(created)
            .lifecycle(Lifecycle::builder().delete_after_days(35).build())
            .storage_class(aws_sdk_backup::types::StorageClass::Warm)
            .build()
    });
    let vault = mock!(aws_sdk_backup::Client::describe_backup_vault)
        .then_output(move || DescribeBackupVaultOutput::builder().locked(locked).build());
    let copy = mock!(aws_sdk_backup::Client::describe_copy_job)
        .match_requests(|r| r.copy_job_id() == Some("8E2D51C0-3A4B-4C5D-9E6F-7A8B9C0D1E2F"))
        .then_output(move || {
            DescribeCopyJobOutput::builder()
                .copy_job(CopyJob::builder().state(copy_state.clone()).build())
                .build()
        });
    let update = mock!(aws_sdk_backup::Client::update_recovery_point_lifecycle)
        .match_requests(|r| {
            r.backup_vault_name() == Some("crossvault")
                && r.lifecycle().and_then(|l| l.delete_after_days) == Some(7)
                && r.lifecycle()
                    .and_then(|l| l.move_to_cold_storage_after_days)
                    .is_none()
        })
        .then_output(|| UpdateRecoveryPointLifecycleOutput::builder().build());
    (describe, vault, copy, update)
}

fn untagged() -> Rule {
    mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .then_output(|| GetResourcesOutput::builder().build())
}

#[tokio::test]
async fn the_original_is_shortened_once_the_copy_is_confirmed() {
    let (describe, vault, copy, update) = retention_rules(false, CopyJobState::Completed);
    let tags = untagged();
    let (_, p) = pipeline(&[&describe, &vault, &copy, &update], &[&tags], &[]);
    let outcomes = p
        .process_event(&fixture("copy-job-completed-to-backup-account.json"))
        .await
        .unwrap();
    assert_eq!(update.num_calls(), 1);
    let [ActionOutcome::RetentionShortened { before, after, .. }] = &outcomes[..] else {
        panic!("{outcomes:?}")
    };
    assert!(before.starts_with("DeleteAfterDays=35"), "{before}");
    assert!(after.starts_with("DeleteAfterDays=7"), "{after}");
}

#[tokio::test]
async fn no_shortening_in_a_locked_vault_or_without_a_confirmed_copy() {
    for (locked, state) in [
        (true, CopyJobState::Completed),
        (false, CopyJobState::Running),
    ] {
        let (describe, vault, copy, update) = retention_rules(locked, state);
        let tags = untagged();
        let (_, p) = pipeline(&[&describe, &vault, &copy, &update], &[&tags], &[]);
        let outcomes = p
            .process_event(&fixture("copy-job-completed-to-backup-account.json"))
            .await
            .unwrap();
        assert_eq!(update.num_calls(), 0, "locked={locked}");
        assert!(
            matches!(&outcomes[..], [ActionOutcome::RetentionKept { .. }]),
            "{outcomes:?}"
        );
    }
}

#[tokio::test]
async fn a_tagged_resource_goes_on_to_pre_prod_before_shortening() {
    let tags = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .match_requests(|r| {
            r.resource_arn_list() == ["arn:aws:rds:eu-west-1:111111111111:db:orders"]
        })
        .then_output(|| {
            GetResourcesOutput::builder()
                .resource_tag_mapping_list(
                    ResourceTagMapping::builder()
                        .resource_arn("arn:aws:rds:eu-west-1:111111111111:db:orders")
                        .tags(
                            Tag::builder()
                                .key("CopyToPreProd")
                                .value("true")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
        });
    let start = mock!(aws_sdk_backup::Client::start_copy_job)
        .match_requests(|r| {
            r.destination_backup_vault_arn()
                == Some("arn:aws:backup:eu-west-1:333333333333:backup-vault:crossvault")
        })
        .then_output(|| {
            StartCopyJobOutput::builder()
                .copy_job_id("COPY-PREPROD")
                .build()
        });
    let (describe, vault, copy, update) = retention_rules(false, CopyJobState::Completed);
    let (_, p) = pipeline(&[&start, &describe, &vault, &copy, &update], &[&tags], &[]);
    p.process_event(&fixture("copy-job-completed-to-backup-account.json"))
        .await
        .unwrap();
    assert_eq!(start.num_calls(), 1, "pre-prod hop started");
    assert_eq!(update.num_calls(), 1, "and the original shortened");
}

/// Through the whole handler: an SQS batch where one record is throttled (left for SQS to
/// redeliver), one is denied (dead-lettered once, with the reason) and one is fine.
#[tokio::test]
async fn sqs_batch_reports_retryable_failures_and_dead_letters_permanent_ones() {
    let start = mock!(aws_sdk_backup::Client::start_copy_job)
        .sequence()
        .output(|| StartCopyJobOutput::builder().copy_job_id("OK").build())
        .error(|| {
            StartCopyJobError::generic(ErrorMetadata::builder().code("ThrottlingException").build())
        })
        .error(|| {
            StartCopyJobError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized")
                    .build(),
            )
        })
        .build();
    let dead_letter = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(|r| {
            r.queue_url() == Some("https://sqs.eu-west-1.amazonaws.com/111111111111/crossvault-dlq")
                && r.message_attributes()
                    .and_then(|a| a.get("crossvault-reason"))
                    .and_then(|v| v.string_value())
                    .is_some_and(|reason| reason.contains("AccessDeniedException"))
                && r.message_attributes()
                    .and_then(|a| a.get("crossvault-source-message-id"))
                    .and_then(|v| v.string_value())
                    == Some("m3")
        })
        .then_output(|| SendMessageOutput::builder().build());
    let (clients, p) = pipeline(&[&start], &[], &[&dead_letter]);
    let handler = Handler::new(
        Engine::new(
            crossvault_handler::runtime::http_client(),
            EngineOptions::default(),
        ),
        Ok(Arc::new(p)),
        Some(Arc::new(SqsDeadLetters {
            client: clients.sqs.clone(),
            queue_url: "https://sqs.eu-west-1.amazonaws.com/111111111111/crossvault-dlq".into(),
        })),
    );
    let body = fixture("backup-job-completed-plan-rds.json").to_string();
    let records: Vec<Value> = ["m1", "m2", "m3"]
        .iter()
        .map(|id| json!({"messageId": id, "eventSource": "aws:sqs", "body": body}))
        .collect();
    let out = handler
        .handle(
            json!({"Records": records}),
            &InvocationContext::local(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "m2"}]})
    );
    assert_eq!(start.num_calls(), 3);
    assert_eq!(dead_letter.num_calls(), 1);
}

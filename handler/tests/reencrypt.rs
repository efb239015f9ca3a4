//! The re-encryption route (RDS and Aurora under `aws/rds`) at the AWS client boundary
//! (aws-smithy-mocks): the exact calls, the key looked up once per invocation, and which
//! failures are retried, dead-lettered or notified.

use std::sync::Arc;

use aws_sdk_backup::operation::delete_recovery_point::{
    DeleteRecoveryPointError, DeleteRecoveryPointOutput,
};
use aws_sdk_backup::operation::describe_backup_vault::DescribeBackupVaultOutput;
use aws_sdk_backup::operation::describe_recovery_point::DescribeRecoveryPointOutput;
use aws_sdk_backup::operation::list_copy_jobs::ListCopyJobsOutput;
use aws_sdk_backup::operation::start_copy_job::StartCopyJobOutput;
use aws_sdk_backup::operation::update_recovery_point_lifecycle::UpdateRecoveryPointLifecycleOutput;
use aws_sdk_backup::types::error::ResourceNotFoundException;
use aws_sdk_backup::types::{CopyJob, CopyJobState, Lifecycle};
use aws_sdk_kms::operation::describe_key::{DescribeKeyError, DescribeKeyOutput};
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata};
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use aws_smithy_types::error::ErrorMetadata;
use crossvault_core::idempotency::copy_token;
use crossvault_core::{Action, Facts, Hop, Plan, Region, RequiredCopy, StackConfig};
use crossvault_handler::batch::EventError;
use crossvault_handler::clients::AwsClients;
use crossvault_handler::effects::{ActionOutcome, Effects, Session};
use crossvault_handler::pipeline::Pipeline;
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/events");
const ORIGINAL: &str = "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-4f1c2a9e-7d3b-4c1a-9e2f-2e8f6d0a1b2c";
const OTHER: &str = "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-00000000-7d3b-4c1a-9e2f-2e8f6d0a1b2c";
const COPY: &str = "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:copyjob-5a6b7c8d-0000-4c1a-9e2f-2e8f6d0a1b2c";
const KEY: &str = "arn:aws:kms:eu-west-1:111111111111:key/0a0a0a0a-1111-2222-3333-444444444444";
const REENCRYPT: &str = "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault-reencrypt";
const FRANKFURT: &str = "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault";
const COPY_ROLE: &str = "arn:aws:iam::111111111111:role/crossvault-copy";
const TOPIC: &str = "arn:aws:sns:eu-west-1:111111111111:crossvault-notifications";

fn config() -> StackConfig {
    StackConfig::from_iter([
        ("CROSSVAULT_ROLE", "source"),
        ("CROSSVAULT_ACCOUNT_ID", "111111111111"),
        ("CROSSVAULT_BACKUP_ACCOUNT_ID", "222222222222"),
        ("CROSSVAULT_BACKUP_REGION", "eu-central-1"),
        ("CROSSVAULT_BACKUP_REGION_ALTERNATE", "eu-west-1"),
        ("CROSSVAULT_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_CENTRAL_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_PREPROD_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_COPY_ROLE_ARN", COPY_ROLE),
        ("CROSSVAULT_REENCRYPT_VAULT_NAME", "crossvault-reencrypt"),
        ("CROSSVAULT_NOTIFY_TOPIC_ARN", TOPIC),
    ])
    .unwrap()
    .with_region(Region::new("eu-west-1").unwrap())
}

fn sdk() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("eu-west-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

fn clients(backup: &[&Rule], kms: &[&Rule], sns: &[&Rule]) -> Arc<AwsClients> {
    let no_retry = |b: aws_sdk_backup::config::Builder| {
        b.retry_config(aws_sdk_backup::config::retry::RetryConfig::disabled())
    };
    let no_retry_kms = |b: aws_sdk_kms::config::Builder| {
        b.retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
    };
    let no_retry_sns = |b: aws_sdk_sns::config::Builder| {
        b.retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled())
    };
    Arc::new(
        AwsClients::from_parts(
            sdk(),
            mock_client!(aws_sdk_backup, RuleMode::MatchAny, backup, no_retry),
            mock_client!(aws_sdk_organizations, RuleMode::MatchAny, &[]),
            mock_client!(aws_sdk_sns, RuleMode::MatchAny, sns, no_retry_sns),
            mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &[]),
            mock_client!(aws_sdk_resourcegroupstagging, RuleMode::MatchAny, &[]),
        )
        .with_kms(mock_client!(
            aws_sdk_kms,
            RuleMode::MatchAny,
            kms,
            no_retry_kms
        )),
    )
}

fn pipeline(clients: Arc<AwsClients>) -> Pipeline {
    Pipeline::new(clients, config(), Region::new("eu-west-1").unwrap())
}

fn backup_event(rp: &str) -> Value {
    let mut e: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/backup-job-completed-plan-rds.json")).unwrap(),
    )
    .unwrap();
    e["resources"] = json!([rp]);
    e
}

fn no_jobs() -> Rule {
    mock!(aws_sdk_backup::Client::list_copy_jobs)
        .then_output(|| ListCopyJobsOutput::builder().build())
}

/// `DescribeRecoveryPoint`: an original under `KEY`, an hour old, kept 35 days.
fn described() -> Rule {
    mock!(aws_sdk_backup::Client::describe_recovery_point)
        .match_requests(|r| r.backup_vault_name() == Some("crossvault"))
        .then_output(|| {
            DescribeRecoveryPointOutput::builder()
                .recovery_point_arn(ORIGINAL)
                .backup_vault_arn("arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault")
                .resource_type("RDS")
                .encryption_key_arn(KEY)
                .creation_date(DateTime::from_secs(chrono::Utc::now().timestamp() - 3600))
                .lifecycle(Lifecycle::builder().delete_after_days(35).build())
                .build()
        })
}

fn aws_managed_key() -> Rule {
    mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some(KEY))
        .then_output(|| {
            DescribeKeyOutput::builder()
                .key_metadata(
                    KeyMetadata::builder()
                        .key_id("0a0a0a0a-1111-2222-3333-444444444444")
                        .arn(KEY)
                        .key_manager(KeyManagerType::Aws)
                        .build()
                        .unwrap(),
                )
                .build()
        })
}

#[tokio::test]
async fn an_aws_rds_backup_is_copied_into_the_reencryption_vault_and_its_key_described_once() {
    let list = no_jobs();
    let describe = described();
    let key = aws_managed_key();
    let start = mock!(aws_sdk_backup::Client::start_copy_job)
        .match_requests(|r| {
            r.source_backup_vault_name() == Some("crossvault")
                && r.destination_backup_vault_arn() == Some(REENCRYPT)
                && r.iam_role_arn() == Some(COPY_ROLE)
                && r.lifecycle().and_then(|l| l.delete_after_days) == Some(35)
                && r.lifecycle()
                    .and_then(|l| l.move_to_cold_storage_after_days)
                    .is_none()
                && r.idempotency_token()
                    == r.recovery_point_arn()
                        .map(|rp| copy_token(rp, REENCRYPT, 1))
                        .as_deref()
        })
        .then_output(|| StartCopyJobOutput::builder().copy_job_id("RE1").build());
    let p = pipeline(clients(&[&list, &describe, &start], &[&key], &[]));
    // Two backups of one invocation (an SQS batch) share the key's description.
    let session = Session::default();
    for rp in [ORIGINAL, OTHER] {
        let outcomes = p.process_in(&backup_event(rp), &session).await.unwrap();
        assert!(
            matches!(&outcomes[..], [ActionOutcome::CopyStarted { hop, destination_vault_arn, .. }] if hop == "re-encrypt" && destination_vault_arn == REENCRYPT),
            "{outcomes:?}"
        );
    }
    assert_eq!(start.num_calls(), 2);
    assert_eq!(key.num_calls(), 1, "described once per invocation");
    // The next invocation looks again (a key's state may change).
    p.process_in(&backup_event(ORIGINAL), &Session::default())
        .await
        .unwrap();
    assert_eq!(key.num_calls(), 2);
}

#[tokio::test]
async fn key_lookup_failures_are_retried_or_dead_lettered_by_the_sdks_error_class() {
    for (code, retryable) in [
        ("ThrottlingException", true),
        ("AccessDeniedException", false),
    ] {
        let list = no_jobs();
        let describe = described();
        let key = mock!(aws_sdk_kms::Client::describe_key).then_error(move || {
            DescribeKeyError::generic(ErrorMetadata::builder().code(code).build())
        });
        let start = mock!(aws_sdk_backup::Client::start_copy_job)
            .then_output(|| StartCopyJobOutput::builder().copy_job_id("X").build());
        let p = pipeline(clients(&[&list, &describe, &start], &[&key], &[]));
        let err = p.process_event(&backup_event(ORIGINAL)).await.unwrap_err();
        match (&err, retryable) {
            (EventError::Retryable(m), true) | (EventError::Permanent(m), false) => {
                assert!(m.starts_with("kms:DescribeKey failed"), "{m}")
            }
            _ => panic!("{err:?}"),
        }
        assert_eq!(start.num_calls(), 0, "nothing is copied on a guess");
    }
}

fn job(id: &str, from: &str, dest: &str, made: &str) -> CopyJob {
    CopyJob::builder()
        .copy_job_id(id)
        .source_recovery_point_arn(from)
        .destination_backup_vault_arn(dest)
        .state(CopyJobState::Completed)
        .iam_role_arn(COPY_ROLE)
        .creation_date(DateTime::from_secs(chrono::Utc::now().timestamp() - 1800))
        .destination_recovery_point_arn(made)
        .destination_recovery_point_lifecycle(Lifecycle::builder().delete_after_days(35).build())
        .build()
}

/// The listings of a finished route: the re-encryption (into the re-encryption vault, by
/// destination and by source) and the central copy of the re-encrypted copy.
fn finished_route() -> [Rule; 3] {
    [
        mock!(aws_sdk_backup::Client::list_copy_jobs)
            .match_requests(|r| r.by_destination_vault_arn() == Some(REENCRYPT))
            .then_output(|| {
                ListCopyJobsOutput::builder()
                    .copy_jobs(job("re", ORIGINAL, REENCRYPT, COPY))
                    .build()
            }),
        mock!(aws_sdk_backup::Client::list_copy_jobs)
            .match_requests(|r| r.by_source_recovery_point_arn() == Some(COPY))
            .then_output(|| {
                ListCopyJobsOutput::builder()
                    .copy_jobs(job(
                        "c1",
                        COPY,
                        FRANKFURT,
                        "arn:aws:rds:eu-central-1:222222222222:snapshot:awsbackup:copyjob-c1",
                    ))
                    .build()
            }),
        mock!(aws_sdk_backup::Client::list_copy_jobs)
            .match_requests(|r| r.by_source_recovery_point_arn() == Some(ORIGINAL))
            .then_output(|| {
                ListCopyJobsOutput::builder()
                    .copy_jobs(job("re", ORIGINAL, REENCRYPT, COPY))
                    .build()
            }),
    ]
}

fn central_copy_completed() -> Value {
    let mut e: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{FIXTURES}/copy-job-completed-to-backup-account.json"
        ))
        .unwrap(),
    )
    .unwrap();
    e["resources"] = json!([COPY]);
    e["detail"]["sourceBackupVaultArn"] = json!(REENCRYPT);
    e["detail"]["copyJobId"] = json!("c1");
    e
}

fn unlocked() -> Rule {
    mock!(aws_sdk_backup::Client::describe_backup_vault)
        .then_output(|| DescribeBackupVaultOutput::builder().locked(false).build())
}

fn shortened() -> Rule {
    mock!(aws_sdk_backup::Client::update_recovery_point_lifecycle)
        .match_requests(|r| {
            r.recovery_point_arn() == Some(ORIGINAL)
                && r.backup_vault_name() == Some("crossvault")
                && r.lifecycle().and_then(|l| l.delete_after_days) == Some(7)
        })
        .then_output(|| UpdateRecoveryPointLifecycleOutput::builder().build())
}

#[tokio::test]
async fn the_central_copy_shortens_the_original_then_deletes_exactly_the_reencrypted_copy() {
    let [by_dest, by_copy, by_original] = finished_route();
    let describe = described();
    let lock = unlocked();
    let update = shortened();
    let delete = mock!(aws_sdk_backup::Client::delete_recovery_point)
        .match_requests(|r| {
            r.recovery_point_arn() == Some(COPY)
                && r.backup_vault_name() == Some("crossvault-reencrypt")
        })
        .then_output(|| DeleteRecoveryPointOutput::builder().build());
    let p = pipeline(clients(
        &[
            &by_dest,
            &by_copy,
            &by_original,
            &describe,
            &lock,
            &update,
            &delete,
        ],
        &[],
        &[],
    ));
    let outcomes = p.process_event(&central_copy_completed()).await.unwrap();
    assert!(
        matches!(
            &outcomes[..],
            [
                ActionOutcome::RetentionShortened { recovery_point_arn, .. },
                ActionOutcome::IntermediateDeleted { recovery_point_arn: deleted, original_recovery_point_arn },
            ] if recovery_point_arn == ORIGINAL && deleted == COPY && original_recovery_point_arn == ORIGINAL
        ),
        "{outcomes:?}"
    );
    assert_eq!((update.num_calls(), delete.num_calls()), (1, 1));
}

fn deletion_plan() -> Plan {
    Plan::single(Action::DeleteIntermediate {
        recovery_point_arn: COPY.into(),
        vault_name: crossvault_core::VaultName::new("crossvault-reencrypt").unwrap(),
        original_recovery_point_arn: ORIGINAL.into(),
        requires: vec![RequiredCopy {
            hop: Hop::ToBackupRegion,
            destination_vault_arn: FRANKFURT.parse().unwrap(),
            via: None,
        }],
        settles: Vec::new(),
    })
}

async fn delete_with(
    error: fn() -> DeleteRecoveryPointError,
    reconciling: bool,
) -> (Result<Vec<ActionOutcome>, EventError>, usize) {
    let [by_dest, by_copy, by_original] = finished_route();
    let delete = mock!(aws_sdk_backup::Client::delete_recovery_point).then_error(error);
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            r.subject() == Some("crossvault: re-encrypted copy not deleted in 111111111111")
                && r.message()
                    .is_some_and(|m| m.contains(COPY) && m.contains(ORIGINAL))
        })
        .then_output(|| PublishOutput::builder().build());
    let clients = clients(
        &[&by_dest, &by_copy, &by_original, &delete],
        &[],
        &[&publish],
    );
    let config = config();
    let session = Session::default();
    let clock = crossvault_handler::clock::system();
    let slack = crossvault_handler::slack::Slack::new(None);
    let effects = Effects {
        clients: &clients,
        config: &config,
        clock: clock.as_ref(),
        session: &session,
        slack: &slack,
        reconciling,
    };
    let result = effects.execute(&deletion_plan(), &Facts::none()).await;
    (result, publish.num_calls())
}

#[tokio::test]
async fn a_copy_already_gone_is_deleted_and_a_throttled_deletion_is_retried() {
    let gone = || {
        DeleteRecoveryPointError::ResourceNotFoundException(
            ResourceNotFoundException::builder().message("gone").build(),
        )
    };
    let (result, notices) = delete_with(gone, false).await;
    assert!(
        matches!(
            &result.unwrap()[..],
            [ActionOutcome::IntermediateDeleted { .. }]
        ),
        "not found is done"
    );
    assert_eq!(notices, 0);
    let throttled = || {
        DeleteRecoveryPointError::generic(
            ErrorMetadata::builder().code("ThrottlingException").build(),
        )
    };
    let (result, notices) = delete_with(throttled, false).await;
    assert!(
        matches!(&result, Err(EventError::Retryable(m)) if m.starts_with("backup:DeleteRecoveryPoint failed")),
        "{result:?}"
    );
    assert_eq!(notices, 0, "a retry is not a failure to report");
}

#[tokio::test]
async fn a_refused_deletion_is_notified_on_the_event_path_and_reported_by_the_reconciler() {
    let denied = || {
        DeleteRecoveryPointError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not allowed")
                .build(),
        )
    };
    let (result, notices) = delete_with(denied, false).await;
    assert!(
        matches!(&result.unwrap()[..], [ActionOutcome::IntermediateKept { recovery_point_arn, reason }] if recovery_point_arn == COPY && reason.contains("notified")),
    );
    assert_eq!(notices, 1);
    let (result, notices) = delete_with(denied, true).await;
    assert!(
        matches!(&result, Err(EventError::Permanent(m)) if m.contains("AccessDeniedException")),
        "{result:?}"
    );
    assert_eq!(
        notices, 0,
        "the reconciler reports; it does not notify again"
    );
}

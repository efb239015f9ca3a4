//! The event pipeline at the AWS client boundary (aws-smithy-mocks, and real sockets for I/O
//! and timeouts): which failures are retried and which are dead-lettered, and the exact calls
//! each step makes.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_backup::operation::describe_backup_vault::DescribeBackupVaultOutput;
use aws_sdk_backup::operation::describe_recovery_point::{
    DescribeRecoveryPointError, DescribeRecoveryPointOutput,
};
use aws_sdk_backup::operation::list_copy_jobs::{ListCopyJobsError, ListCopyJobsOutput};
use aws_sdk_backup::operation::start_copy_job::{StartCopyJobError, StartCopyJobOutput};
use aws_sdk_backup::operation::update_recovery_point_lifecycle::UpdateRecoveryPointLifecycleOutput;
use aws_sdk_backup::types::error::ResourceNotFoundException;
use aws_sdk_backup::types::{CopyJob, CopyJobState, Lifecycle};
use aws_sdk_resourcegroupstagging::operation::get_resources::{
    GetResourcesError, GetResourcesOutput,
};
use aws_sdk_resourcegroupstagging::types::{ResourceTagMapping, Tag};
use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
use aws_sdk_sqs::operation::send_message::SendMessageOutput;
use aws_sdk_sts::operation::assume_role::{AssumeRoleError, AssumeRoleOutput};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::DateTime;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::ErrorMetadata;
use crossvault_core::idempotency::copy_token;
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
const RDS_RP: &str = "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-4f1c2a9e-7d3b-4c1a-9e2f-2e8f6d0a1b2c";
const FRANKFURT: &str = "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault";
const LOCAL: &str = "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault";
const COPY_JOB: &str = "8E2D51C0-3A4B-4C5D-9E6F-7A8B9C0D1E2F";

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()).unwrap()
}

fn config_with(overrides: &[(&str, &str)]) -> StackConfig {
    let mut vars: Vec<(&str, &str)> = vec![
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
    ];
    vars.extend_from_slice(overrides);
    StackConfig::from_iter(vars).unwrap()
}

/// Mocked clients per service; no retries, so each rule sees exactly the calls the code makes.
#[derive(Default)]
struct Mocks<'a> {
    backup: Vec<&'a Rule>,
    tagging: Vec<&'a Rule>,
    sqs: Vec<&'a Rule>,
    sns: Vec<&'a Rule>,
    sts: Vec<&'a Rule>,
    verify_backup: Vec<&'a Rule>,
    sns_elsewhere: Option<(&'a str, Vec<&'a Rule>)>,
}

fn sdk() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("eu-west-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

impl Mocks<'_> {
    fn clients(&self) -> AwsClients {
        let no_retry = |b: aws_sdk_backup::config::Builder| {
            b.retry_config(aws_sdk_backup::config::retry::RetryConfig::disabled())
        };
        let no_retry_sns = |b: aws_sdk_sns::config::Builder| {
            b.retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled())
        };
        let no_retry_tags = |b: aws_sdk_resourcegroupstagging::config::Builder| {
            b.retry_config(aws_sdk_resourcegroupstagging::config::retry::RetryConfig::disabled())
        };
        let no_retry_sts = |b: aws_sdk_sts::config::Builder| {
            b.retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        };
        let mut clients = AwsClients::from_parts(
            sdk(),
            mock_client!(aws_sdk_backup, RuleMode::MatchAny, &self.backup, no_retry),
            mock_client!(aws_sdk_organizations, RuleMode::MatchAny, &[]),
            mock_client!(aws_sdk_sns, RuleMode::MatchAny, &self.sns, no_retry_sns),
            mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &self.sqs),
            mock_client!(
                aws_sdk_resourcegroupstagging,
                RuleMode::MatchAny,
                &self.tagging,
                no_retry_tags
            ),
        )
        .with_sts(mock_client!(
            aws_sdk_sts,
            RuleMode::MatchAny,
            &self.sts,
            no_retry_sts
        ))
        .with_verify_backup(mock_client!(
            aws_sdk_backup,
            RuleMode::MatchAny,
            &self.verify_backup,
            no_retry
        ));
        if let Some((region, rules)) = &self.sns_elsewhere {
            clients = clients.with_sns_in(
                region,
                mock_client!(aws_sdk_sns, RuleMode::MatchAny, rules, no_retry_sns),
            );
        }
        clients
    }

    fn pipeline(&self, config: StackConfig) -> (Arc<AwsClients>, Pipeline) {
        let clients = Arc::new(self.clients());
        let p = Pipeline::new(clients.clone(), config, Region::new("eu-west-1").unwrap());
        (clients, p)
    }
}

/// A service error as the wire brings it (rest-json: status, `x-amzn-errortype`, body).
fn http_error(status: u16, code: &'static str) -> HttpResponse {
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            r#"{{"__type": "{code}", "message": "from the wire"}}"#
        )),
    );
    if !code.is_empty() {
        response.headers_mut().insert("x-amzn-errortype", code);
    }
    response
}

fn no_copy_jobs() -> Rule {
    mock!(aws_sdk_backup::Client::list_copy_jobs)
        .match_requests(|r| r.by_source_recovery_point_arn() == Some(RDS_RP))
        .then_output(|| ListCopyJobsOutput::builder().build())
}

fn copy_job(id: &str, dest: &str, state: CopyJobState, delete_after: i64) -> CopyJob {
    CopyJob::builder()
        .copy_job_id(id)
        .source_recovery_point_arn(RDS_RP)
        .destination_backup_vault_arn(dest)
        .state(state)
        .creation_date(DateTime::from_secs(chrono::Utc::now().timestamp() - 1800))
        .destination_recovery_point_arn(format!("{dest}/copy-of-{id}"))
        .destination_recovery_point_lifecycle(
            Lifecycle::builder().delete_after_days(delete_after).build(),
        )
        .build()
}

fn listed(jobs: Vec<CopyJob>) -> Rule {
    mock!(aws_sdk_backup::Client::list_copy_jobs)
        .match_requests(|r| r.by_source_recovery_point_arn() == Some(RDS_RP))
        .then_output(move || {
            ListCopyJobsOutput::builder()
                .set_copy_jobs(Some(jobs.clone()))
                .build()
        })
}

fn started(id: &'static str) -> Rule {
    mock!(aws_sdk_backup::Client::start_copy_job)
        .then_output(move || StartCopyJobOutput::builder().copy_job_id(id).build())
}

#[tokio::test]
async fn a_new_recovery_point_lists_its_jobs_then_starts_exactly_one_copy() {
    let list = no_copy_jobs();
    let start = mock!(aws_sdk_backup::Client::start_copy_job)
        .match_requests(|r| {
            r.recovery_point_arn() == Some(RDS_RP)
                && r.source_backup_vault_name() == Some("crossvault")
                && r.destination_backup_vault_arn() == Some(FRANKFURT)
                && r.iam_role_arn() == Some("arn:aws:iam::111111111111:role/crossvault-copy")
                && r.lifecycle().and_then(|l| l.delete_after_days) == Some(35)
                && r.idempotency_token() == Some(copy_token(RDS_RP, FRANKFURT, 1).as_str())
        })
        .then_output(|| StartCopyJobOutput::builder().copy_job_id("COPY-1").build());
    let mocks = Mocks {
        backup: vec![&list, &start],
        ..Mocks::default()
    };
    let (_, p) = mocks.pipeline(config_with(&[]));
    let outcomes = p
        .process_event(&fixture("backup-job-completed-plan-rds.json"))
        .await
        .unwrap();
    assert_eq!((list.num_calls(), start.num_calls()), (1, 1));
    assert_eq!(
        outcomes,
        [ActionOutcome::CopyStarted {
            copy_job_id: "COPY-1".into(),
            hop: "to-backup-region".into(),
            destination_vault_arn: FRANKFURT.into(),
            attempt: 1,
        }]
    );
}

#[tokio::test]
async fn an_event_after_a_failure_starts_nothing_and_a_created_job_is_under_way() {
    for state in [CopyJobState::Failed, CopyJobState::Created] {
        let list = listed(vec![copy_job("J1", FRANKFURT, state.clone(), 35)]);
        let start = started("NEVER");
        let mocks = Mocks {
            backup: vec![&list, &start],
            ..Mocks::default()
        };
        let (_, p) = mocks.pipeline(config_with(&[]));
        let outcomes = p
            .process_event(&fixture("backup-job-completed-plan-rds.json"))
            .await
            .unwrap();
        assert_eq!(start.num_calls(), 0, "{state:?}: {outcomes:?}");
        assert!(
            matches!(&outcomes[..], [ActionOutcome::Ignored { .. }]),
            "{outcomes:?}"
        );
    }
}

/// What `StartCopyJob` fails with, how it reaches the client, and whether SQS should retry.
#[tokio::test]
async fn backup_errors_are_classified_by_the_sdks_metadata() {
    enum How {
        Code(&'static str),
        Wire(u16, &'static str),
    }
    let cases = [
        (How::Code("ThrottlingException"), true),
        (How::Code("ThrottledException"), true),
        (How::Code("LimitExceededException"), true),
        (How::Code("RequestTimeout"), true),
        (How::Code("KMSThrottlingException"), true),
        (How::Wire(400, "ThrottlingException"), true),
        (How::Wire(500, "InternalServiceException"), true),
        (How::Wire(500, "InternalError"), true),
        (How::Wire(503, "SlowDown"), true),
        (How::Wire(503, "ServiceUnavailableException"), true),
        (How::Wire(429, ""), true),
        (How::Wire(502, ""), true),
        (How::Code("AccessDeniedException"), false),
        (How::Wire(403, "AccessDeniedException"), false),
        (How::Code("InvalidParameterValueException"), false),
        (How::Wire(400, "InvalidRequestException"), false),
    ];
    for (how, retryable) in cases {
        let (label, start) = match how {
            How::Code(code) => (
                code.to_owned(),
                mock!(aws_sdk_backup::Client::start_copy_job).then_error(move || {
                    StartCopyJobError::generic(
                        ErrorMetadata::builder()
                            .code(code)
                            .message("from the mock")
                            .build(),
                    )
                }),
            ),
            How::Wire(status, code) => (
                format!("{status} {code}"),
                mock!(aws_sdk_backup::Client::start_copy_job)
                    .then_http_response(move || http_error(status, code)),
            ),
        };
        let list = no_copy_jobs();
        let mocks = Mocks {
            backup: vec![&list, &start],
            ..Mocks::default()
        };
        let (_, p) = mocks.pipeline(config_with(&[]));
        let err = p
            .process_event(&fixture("backup-job-completed-plan-rds.json"))
            .await
            .unwrap_err();
        match (&err, retryable) {
            (EventError::Retryable(m), true) | (EventError::Permanent(m), false) => {
                assert!(m.starts_with("backup:StartCopyJob failed"), "{label}: {m}");
            }
            _ => panic!("{label}: {err:?}"),
        }
    }
}

#[tokio::test]
async fn throttling_and_5xx_of_every_other_client_are_retried() {
    // ListCopyJobs (the facts of every copy decision).
    let list = mock!(aws_sdk_backup::Client::list_copy_jobs).then_error(|| {
        ListCopyJobsError::generic(ErrorMetadata::builder().code("ThrottlingException").build())
    });
    let (_, p) = Mocks {
        backup: vec![&list],
        ..Mocks::default()
    }
    .pipeline(config_with(&[]));
    let err = p
        .process_event(&fixture("backup-job-completed-plan-rds.json"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EventError::Retryable(m) if m.starts_with("backup:ListCopyJobs failed")),
        "{err:?}"
    );

    // Tagging (the pre-prod hop), throttled and 5xx.
    for tags in [
        mock!(aws_sdk_resourcegroupstagging::Client::get_resources).then_error(|| {
            GetResourcesError::generic(ErrorMetadata::builder().code("ThrottledException").build())
        }),
        mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
            .then_http_response(|| http_error(500, "InternalServiceException")),
    ] {
        let list = listed(vec![copy_job(
            COPY_JOB,
            FRANKFURT,
            CopyJobState::Completed,
            35,
        )]);
        let describe = point(35, None);
        let (_, p) = Mocks {
            backup: vec![&list, &describe],
            tagging: vec![&tags],
            ..Mocks::default()
        }
        .pipeline(config_with(&[]));
        let err = p
            .process_event(&fixture("copy-job-completed-to-backup-account.json"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, EventError::Retryable(m) if m.starts_with("tag:GetResources failed")),
            "{err:?}"
        );
    }

    // SNS (notifications), throttled by KMS and 5xx; an authorization error is permanent.
    for (publish, retryable) in [
        (
            mock!(aws_sdk_sns::Client::publish).then_error(|| {
                PublishError::generic(ErrorMetadata::builder().code("KMSThrottling").build())
            }),
            true,
        ),
        (
            mock!(aws_sdk_sns::Client::publish).then_http_response(|| {
                HttpResponse::new(
                    StatusCode::try_from(500).unwrap(),
                    SdkBody::from("<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>boom</Message></Error></ErrorResponse>"),
                )
            }),
            true,
        ),
        (
            mock!(aws_sdk_sns::Client::publish).then_error(|| {
                PublishError::generic(ErrorMetadata::builder().code("AuthorizationError").build())
            }),
            false,
        ),
    ] {
        let list = listed(vec![]);
        let (_, p) = Mocks {
            backup: vec![&list],
            sns: vec![&publish],
            ..Mocks::default()
        }
        .pipeline(config_with(&[(
            "CROSSVAULT_NOTIFY_TOPIC_ARN",
            "arn:aws:sns:eu-west-1:111111111111:crossvault-notifications",
        )]));
        let err = p
            .process_event(&fixture("copy-job-failed.json"))
            .await
            .unwrap_err();
        match (&err, retryable) {
            (EventError::Retryable(m), true) | (EventError::Permanent(m), false) => {
                assert!(m.starts_with("sns:Publish failed"), "{m}")
            }
            _ => panic!("{err:?}"),
        }
    }
}

/// A real SDK client against a port that refuses connections, and one that accepts and never
/// answers: I/O errors and timeouts are retried.
#[tokio::test]
async fn io_errors_and_timeouts_are_retried() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    for (port, what) in [(closed, "connection refused"), (silent_port, "no answer")] {
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .credentials_provider(aws_sdk_backup::config::SharedCredentialsProvider::new(
                aws_sdk_backup::config::Credentials::for_tests(),
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_millis(300))
                    .build(),
            )
            .build();
        let clients = Arc::new(AwsClients::from_config(sdk));
        let p = Pipeline::new(clients, config_with(&[]), Region::new("eu-west-1").unwrap());
        let err = p
            .process_event(&fixture("backup-job-completed-plan-rds.json"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, EventError::Retryable(m) if m.starts_with("backup:ListCopyJobs failed")),
            "{what}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_recovery_point_is_permanent() {
    let list = listed(vec![copy_job(
        COPY_JOB,
        FRANKFURT,
        CopyJobState::Completed,
        35,
    )]);
    let describe = mock!(aws_sdk_backup::Client::describe_recovery_point).then_error(|| {
        DescribeRecoveryPointError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("no such point")
                .build(),
        )
    });
    let (_, p) = Mocks {
        backup: vec![&list, &describe],
        ..Mocks::default()
    }
    .pipeline(config_with(&[]));
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

/// `DescribeRecoveryPoint` of the original: an hour old, kept `delete_after` days.
fn point(delete_after: i64, cold: Option<i64>) -> Rule {
    let created = DateTime::from_secs(chrono::Utc::now().timestamp() - 3600);
    mock!(aws_sdk_backup::Client::describe_recovery_point)
        .match_requests(|r| {
            r.recovery_point_arn() == Some(RDS_RP) && r.backup_vault_name() == Some("crossvault")
        })
        .then_output(move || {
            DescribeRecoveryPointOutput::builder()
                .recovery_point_arn(RDS_RP)
                .backup_vault_arn("arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault")
                .creation_date(created)
                .lifecycle(
                    Lifecycle::builder()
                        .delete_after_days(delete_after)
                        .set_move_to_cold_storage_after_days(cold)
                        .build(),
                )
                .storage_class(aws_sdk_backup::types::StorageClass::Warm)
                .build()
        })
}

fn vault(locked: bool) -> Rule {
    mock!(aws_sdk_backup::Client::describe_backup_vault)
        .match_requests(|r| r.backup_vault_name() == Some("crossvault"))
        .then_output(move || DescribeBackupVaultOutput::builder().locked(locked).build())
}

fn update(delete_after: i64, cold: Option<i64>) -> Rule {
    mock!(aws_sdk_backup::Client::update_recovery_point_lifecycle)
        .match_requests(move |r| {
            r.backup_vault_name() == Some("crossvault")
                && r.recovery_point_arn() == Some(RDS_RP)
                && r.lifecycle().and_then(|l| l.delete_after_days) == Some(delete_after)
                && r.lifecycle()
                    .and_then(|l| l.move_to_cold_storage_after_days)
                    == cold
        })
        .then_output(|| UpdateRecoveryPointLifecycleOutput::builder().build())
}

fn untagged() -> Rule {
    mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .then_output(|| GetResourcesOutput::builder().build())
}

#[tokio::test]
async fn a_shortening_costs_a_listing_a_description_the_lock_and_the_update() {
    let list = listed(vec![copy_job(
        COPY_JOB,
        FRANKFURT,
        CopyJobState::Completed,
        35,
    )]);
    let (describe, lock, update) = (point(35, None), vault(false), update(7, None));
    let tags = untagged();
    let (_, p) = Mocks {
        backup: vec![&list, &describe, &lock, &update],
        tagging: vec![&tags],
        ..Mocks::default()
    }
    .pipeline(config_with(&[]));
    let outcomes = p
        .process_event(&fixture("copy-job-completed-to-backup-account.json"))
        .await
        .unwrap();
    // The listing and the description gathered for the decision are the verification's too.
    assert_eq!(
        (
            list.num_calls(),
            describe.num_calls(),
            lock.num_calls(),
            update.num_calls()
        ),
        (1, 1, 1, 1)
    );
    let [ActionOutcome::RetentionShortened { before, after, .. }] = &outcomes[..] else {
        panic!("{outcomes:?}")
    };
    assert!(before.starts_with("DeleteAfterDays=35"), "{before}");
    assert!(after.starts_with("DeleteAfterDays=7"), "{after}");
}

#[tokio::test]
async fn the_vault_lock_is_read_once_per_invocation() {
    // Two copy-completed events of one batch: one DescribeBackupVault.
    let list = listed(vec![copy_job(
        COPY_JOB,
        FRANKFURT,
        CopyJobState::Completed,
        35,
    )]);
    let (describe, lock, update) = (point(35, None), vault(false), update(7, None));
    let tags = untagged();
    let (_, p) = Mocks {
        backup: vec![&list, &describe, &lock, &update],
        tagging: vec![&tags],
        ..Mocks::default()
    }
    .pipeline(config_with(&[]));
    let handler = Handler::new(
        Engine::new(
            crossvault_handler::runtime::http_client(),
            EngineOptions::default(),
        ),
        Ok(Arc::new(p)),
        None,
    );
    let body = fixture("copy-job-completed-to-backup-account.json").to_string();
    let batch = json!({"Records": [
        {"messageId": "m1", "eventSource": "aws:sqs", "body": body},
        {"messageId": "m2", "eventSource": "aws:sqs", "body": body},
    ]});
    let ctx = InvocationContext::local(Duration::from_secs(60));
    let out = handler.handle(batch.clone(), &ctx).await.unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}));
    assert_eq!((update.num_calls(), lock.num_calls()), (2, 1));
    // The next invocation looks again.
    let next = InvocationContext {
        request_id: "next".into(),
        ..InvocationContext::local(Duration::from_secs(60))
    };
    handler.handle(batch, &next).await.unwrap();
    assert_eq!(lock.num_calls(), 2);
}

#[tokio::test]
async fn no_shortening_unless_every_copy_is_verified_with_its_lifecycle() {
    let cases: Vec<(&str, StackConfig, Vec<CopyJob>, bool, &str)> = vec![
        (
            "locked vault",
            config_with(&[]),
            vec![copy_job(COPY_JOB, FRANKFURT, CopyJobState::Completed, 35)],
            true,
            "the vault is locked",
        ),
        (
            "the listing shows the copy still running",
            config_with(&[]),
            vec![copy_job(COPY_JOB, FRANKFURT, CopyJobState::Running, 35)],
            false,
            "is not verified COMPLETED (copy job 8E2D51C0-3A4B-4C5D-9E6F-7A8B9C0D1E2F is RUNNING)",
        ),
        (
            "the copy is kept shorter than the original",
            config_with(&[]),
            vec![copy_job(COPY_JOB, FRANKFURT, CopyJobState::Completed, 14)],
            false,
            "only 14 days; shortening it would cut the total retention",
        ),
    ];
    for (name, config, jobs, locked, reason) in cases {
        let list = listed(jobs);
        let (describe, lock, update) = (point(35, None), vault(locked), update(7, None));
        let tags = untagged();
        let (_, p) = Mocks {
            backup: vec![&list, &describe, &lock, &update],
            tagging: vec![&tags],
            ..Mocks::default()
        }
        .pipeline(config);
        let outcomes = p
            .process_event(&fixture("copy-job-completed-to-backup-account.json"))
            .await
            .unwrap();
        assert_eq!(update.num_calls(), 0, "{name}");
        let [ActionOutcome::RetentionKept { reason: kept, .. }] = &outcomes[..] else {
            panic!("{name}: {outcomes:?}")
        };
        assert!(kept.contains(reason), "{name}: {kept}");
    }
}

#[tokio::test]
async fn copy_to_local_region_waits_for_both_copies() {
    // The local copy completed; the backup-region one too: shortened.
    let mut event = fixture("copy-job-completed-to-backup-account.json");
    event["detail"]["destinationBackupVaultArn"] = json!(LOCAL);
    let config = config_with(&[("CROSSVAULT_COPY_TO_LOCAL_REGION", "true")]);
    let list = listed(vec![
        copy_job("J1", FRANKFURT, CopyJobState::Completed, 35),
        copy_job(COPY_JOB, LOCAL, CopyJobState::Completed, 35),
    ]);
    let (describe, lock, update) = (point(35, None), vault(false), update(7, None));
    let tags = untagged();
    let (_, p) = Mocks {
        backup: vec![&list, &describe, &lock, &update],
        tagging: vec![&tags],
        ..Mocks::default()
    }
    .pipeline(config.clone());
    p.process_event(&event).await.unwrap();
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn a_pending_cold_move_is_kept_and_both_fields_are_sent() {
    let list = listed(vec![copy_job(
        COPY_JOB,
        FRANKFURT,
        CopyJobState::Completed,
        400,
    )]);
    // Kept 365 days, cold after 30: at most 30 + 90 = 120, with MoveToColdStorageAfterDays=30.
    let (describe, lock, update) = (point(365, Some(30)), vault(false), update(120, Some(30)));
    let tags = untagged();
    let (_, p) = Mocks {
        backup: vec![&list, &describe, &lock, &update],
        tagging: vec![&tags],
        ..Mocks::default()
    }
    .pipeline(config_with(&[]));
    let outcomes = p
        .process_event(&fixture("copy-job-completed-to-backup-account.json"))
        .await
        .unwrap();
    assert_eq!(update.num_calls(), 1, "{outcomes:?}");
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
    let list = listed(vec![copy_job(
        COPY_JOB,
        FRANKFURT,
        CopyJobState::Completed,
        35,
    )]);
    let (describe, lock, update) = (point(35, None), vault(false), update(7, None));
    let (_, p) = Mocks {
        backup: vec![&list, &start, &describe, &lock, &update],
        tagging: vec![&tags],
        ..Mocks::default()
    }
    .pipeline(config_with(&[]));
    p.process_event(&fixture("copy-job-completed-to-backup-account.json"))
        .await
        .unwrap();
    assert_eq!(start.num_calls(), 1, "pre-prod hop started");
    assert_eq!(update.num_calls(), 1, "and the original shortened");
}

#[tokio::test]
async fn notifications_go_to_a_topic_in_another_region() {
    let here = mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().build());
    let there = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            r.topic_arn() == Some("arn:aws:sns:us-east-1:222222222222:org-backup-alerts")
                && r.subject() == Some("crossvault: copy job FAILED in 111111111111 eu-west-1")
        })
        .then_output(|| PublishOutput::builder().build());
    let list = listed(vec![]);
    let (_, p) = Mocks {
        backup: vec![&list],
        sns: vec![&here],
        sns_elsewhere: Some(("us-east-1", vec![&there])),
        ..Mocks::default()
    }
    .pipeline(config_with(&[(
        "CROSSVAULT_NOTIFY_TOPIC_ARN",
        "arn:aws:sns:us-east-1:222222222222:org-backup-alerts",
    )]));
    p.process_event(&fixture("copy-job-failed.json"))
        .await
        .unwrap();
    assert_eq!((here.num_calls(), there.num_calls()), (0, 1));
}

const EBS_RP: &str = "arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0";
const EBS_COPY: &str = "arn:aws:ec2:eu-west-1::snapshot/snap-0fedcba9876543210";
const VERIFY_ROLE: &str = "arn:aws:iam::222222222222:role/crossvault-verify-eu-west-1";

/// The source's view of a completed first two-hop copy, and what the source lists and reads.
fn two_hop_event() -> Value {
    let mut e = fixture("copy-job-completed-to-backup-account.json");
    e["resources"] = json!([EBS_RP]);
    e["detail"]["resourceType"] = json!("EBS");
    e["detail"]["resourceArn"] = json!("arn:aws:ec2:eu-west-1:111111111111:volume/vol-1");
    e["detail"]["destinationBackupVaultArn"] = json!(LOCAL);
    e
}

fn two_hop_rules() -> (Rule, Rule, Rule) {
    let list = mock!(aws_sdk_backup::Client::list_copy_jobs)
        .match_requests(|r| r.by_source_recovery_point_arn() == Some(EBS_RP))
        .then_output(|| {
            ListCopyJobsOutput::builder()
                .copy_jobs(
                    CopyJob::builder()
                        .copy_job_id(COPY_JOB)
                        .source_recovery_point_arn(EBS_RP)
                        .destination_backup_vault_arn(LOCAL)
                        .state(CopyJobState::Completed)
                        .destination_recovery_point_arn(EBS_COPY)
                        .destination_recovery_point_lifecycle(
                            Lifecycle::builder().delete_after_days(35).build(),
                        )
                        .build(),
                )
                .build()
        });
    let created = DateTime::from_secs(chrono::Utc::now().timestamp() - 3600);
    let describe = mock!(aws_sdk_backup::Client::describe_recovery_point).then_output(move || {
        DescribeRecoveryPointOutput::builder()
            .recovery_point_arn(EBS_RP)
            .creation_date(created)
            .resource_type("EBS")
            .lifecycle(Lifecycle::builder().delete_after_days(35).build())
            .build()
    });
    let update = mock!(aws_sdk_backup::Client::update_recovery_point_lifecycle)
        .match_requests(|r| r.recovery_point_arn() == Some(EBS_RP))
        .then_output(|| UpdateRecoveryPointLifecycleOutput::builder().build());
    (list, describe, update)
}

fn assumed() -> Rule {
    mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(|r| {
            r.role_arn() == Some(VERIFY_ROLE) && r.role_session_name() == Some("crossvault-verify")
        })
        .then_output(|| {
            AssumeRoleOutput::builder()
                .credentials(
                    aws_sdk_sts::types::Credentials::builder()
                        .access_key_id("AKID")
                        .secret_access_key("SECRET")
                        .session_token("TOKEN")
                        .expiration(DateTime::from_secs(chrono::Utc::now().timestamp() + 900))
                        .build()
                        .unwrap(),
                )
                .build()
        })
}

#[tokio::test]
async fn a_two_hop_original_waits_for_the_forward_read_with_the_verify_role() {
    let two_hop = [
        ("CROSSVAULT_TWO_HOP_RESOURCE_TYPES", "EBS"),
        ("CROSSVAULT_VERIFY_ROLE_ARN", VERIFY_ROLE),
    ];
    // The forward COMPLETED in the backup account: shortened.
    let forward = |state: CopyJobState| {
        mock!(aws_sdk_backup::Client::list_copy_jobs)
            .match_requests(|r| r.by_source_recovery_point_arn() == Some(EBS_COPY))
            .then_output(move || {
                ListCopyJobsOutput::builder()
                    .copy_jobs(
                        CopyJob::builder()
                            .copy_job_id("FORWARD-1")
                            .source_recovery_point_arn(EBS_COPY)
                            .destination_backup_vault_arn(FRANKFURT)
                            .state(state.clone())
                            .destination_recovery_point_lifecycle(
                                Lifecycle::builder().delete_after_days(35).build(),
                            )
                            .build(),
                    )
                    .build()
            })
    };
    for (state, shortened) in [
        (CopyJobState::Completed, true),
        (CopyJobState::Running, false),
    ] {
        let (list, describe, update) = two_hop_rules();
        let (lock, sts, verify) = (vault(false), assumed(), forward(state.clone()));
        let tags = untagged();
        let (_, p) = Mocks {
            backup: vec![&list, &describe, &lock, &update],
            tagging: vec![&tags],
            sts: vec![&sts],
            verify_backup: vec![&verify],
            ..Mocks::default()
        }
        .pipeline(config_with(&two_hop));
        let outcomes = p.process_event(&two_hop_event()).await.unwrap();
        assert_eq!(
            (sts.num_calls(), verify.num_calls(), update.num_calls()),
            (1, 1, usize::from(shortened)),
            "{state:?}: {outcomes:?}"
        );
    }

    // No verify role configured, or the role refused: kept, with the reason, not dead-lettered.
    let refused = mock!(aws_sdk_sts::Client::assume_role).then_error(|| {
        AssumeRoleError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not allowed")
                .build(),
        )
    });
    for (config, sts, reason) in [
        (
            config_with(&[("CROSSVAULT_TWO_HOP_RESOURCE_TYPES", "EBS")]),
            None,
            "no CROSSVAULT_VERIFY_ROLE_ARN is configured",
        ),
        (
            config_with(&two_hop),
            Some(&refused),
            "could not be read with arn:aws:iam::222222222222:role/crossvault-verify-eu-west-1: sts:AssumeRole failed",
        ),
    ] {
        let (list, describe, update) = two_hop_rules();
        let lock = vault(false);
        let tags = untagged();
        let (_, p) = Mocks {
            backup: vec![&list, &describe, &lock, &update],
            tagging: vec![&tags],
            sts: sts.into_iter().collect(),
            ..Mocks::default()
        }
        .pipeline(config);
        let outcomes = p.process_event(&two_hop_event()).await.unwrap();
        assert_eq!(update.num_calls(), 0);
        let [ActionOutcome::RetentionKept { reason: kept, .. }] = &outcomes[..] else {
            panic!("{outcomes:?}")
        };
        assert!(kept.contains(reason), "{kept}");
    }

    // STS throttled: retried later.
    let throttled = mock!(aws_sdk_sts::Client::assume_role).then_error(|| {
        AssumeRoleError::generic(ErrorMetadata::builder().code("Throttling").build())
    });
    let (list, describe, update) = two_hop_rules();
    let lock = vault(false);
    let tags = untagged();
    let (_, p) = Mocks {
        backup: vec![&list, &describe, &lock, &update],
        tagging: vec![&tags],
        sts: vec![&throttled],
        ..Mocks::default()
    }
    .pipeline(config_with(&two_hop));
    let err = p.process_event(&two_hop_event()).await.unwrap_err();
    assert!(
        matches!(&err, EventError::Retryable(m) if m.starts_with("sts:AssumeRole failed")),
        "{err:?}"
    );
}

/// Through the whole handler: an SQS batch (handled concurrently) where one record is
/// throttled (left for SQS to redeliver), one is denied (dead-lettered once, with the reason)
/// and one is fine.
#[tokio::test]
async fn sqs_batch_reports_retryable_failures_and_dead_letters_permanent_ones() {
    let point = |n: u8| format!("{RDS_RP}{n}");
    let list = mock!(aws_sdk_backup::Client::list_copy_jobs)
        .then_output(|| ListCopyJobsOutput::builder().build());
    let ok = mock!(aws_sdk_backup::Client::start_copy_job)
        .match_requests(move |r| r.recovery_point_arn() == Some(point(1).as_str()))
        .then_output(|| StartCopyJobOutput::builder().copy_job_id("OK").build());
    let throttled = mock!(aws_sdk_backup::Client::start_copy_job)
        .match_requests(move |r| r.recovery_point_arn() == Some(point(2).as_str()))
        .then_error(|| {
            StartCopyJobError::generic(ErrorMetadata::builder().code("ThrottlingException").build())
        });
    let denied = mock!(aws_sdk_backup::Client::start_copy_job)
        .match_requests(move |r| r.recovery_point_arn() == Some(point(3).as_str()))
        .then_error(|| {
            StartCopyJobError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized")
                    .build(),
            )
        });
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
    let (clients, p) = Mocks {
        backup: vec![&list, &ok, &throttled, &denied],
        sqs: vec![&dead_letter],
        ..Mocks::default()
    }
    .pipeline(config_with(&[]));
    let handler = Handler::new(
        Engine::new(
            crossvault_handler::runtime::http_client(),
            EngineOptions::default(),
        ),
        Ok(Arc::new(p)),
        Some(Arc::new(SqsDeadLetters {
            clients,
            queue_url: "https://sqs.eu-west-1.amazonaws.com/111111111111/crossvault-dlq".into(),
        })),
    );
    let records: Vec<Value> = (1..=3u8)
        .map(|n| {
            let mut event = fixture("backup-job-completed-plan-rds.json");
            event["resources"] = json!([format!("{RDS_RP}{n}")]);
            json!({"messageId": format!("m{n}"), "eventSource": "aws:sqs", "body": event.to_string()})
        })
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
    assert_eq!(
        (ok.num_calls(), throttled.num_calls(), denied.num_calls()),
        (1, 1, 1)
    );
    assert_eq!(dead_letter.num_calls(), 1);
}

/// Nothing but the configuration is built at start: the Backup event path never pays for the
/// custom-resource engine (and its HTTP client) or for clients it does not use.
#[tokio::test]
async fn clients_and_the_custom_resource_engine_are_built_when_first_needed() {
    let clients = AwsClients::from_config(sdk());
    for (name, built) in [
        ("backup", clients.backup.is_built()),
        ("organizations", clients.organizations.is_built()),
        ("sns", clients.sns.is_built()),
        ("sqs", clients.sqs.is_built()),
        ("tagging", clients.tagging.is_built()),
        ("sts", clients.sts.is_built()),
    ] {
        assert!(!built, "{name} built at start");
    }
    let _ = clients.backup.list_copy_jobs();
    assert!(clients.backup.is_built() && !clients.sqs.is_built());

    let cfn = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("PUT"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&cfn)
        .await;
    let handler = crossvault_handler::runtime::build_handler_with(
        AwsClients::from_config(sdk()),
        EngineOptions::default(),
    );
    assert!(!handler.engine_built());
    // A rollback Delete of a failed Create needs no AWS call, only the engine.
    let delete = json!({
        "RequestType": "Delete", "ResponseURL": format!("{}/cfn", cfn.uri()),
        "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/crossvault/1",
        "RequestId": "r-1", "LogicalResourceId": "RegionSettings",
        "ResourceType": "Custom::BackupRegionSettings",
        "PhysicalResourceId": "crossvault:create-failed:RegionSettings",
        "ResourceProperties": {}
    });
    handler
        .handle(delete, &InvocationContext::local(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(handler.engine_built());
}

/// One point's failed look-up is reported with its ARN and the next point goes on.
#[tokio::test]
async fn a_reconcile_isolates_each_points_failures() {
    use aws_sdk_backup::operation::list_recovery_points_by_backup_vault::ListRecoveryPointsByBackupVaultOutput;
    use aws_sdk_backup::types::{RecoveryPointByBackupVault, RecoveryPointStatus};
    let now = chrono::Utc::now().timestamp();
    let rp = |n: u8| format!("{RDS_RP}{n}");
    let points = mock!(aws_sdk_backup::Client::list_recovery_points_by_backup_vault).then_output(
        move || {
            let point = |n: u8, age: i64| {
                RecoveryPointByBackupVault::builder()
                    .recovery_point_arn(rp(n))
                    .resource_arn(format!("arn:aws:rds:eu-west-1:111111111111:db:db{n}"))
                    .resource_type("RDS")
                    .creation_date(DateTime::from_secs(now - age))
                    .status(RecoveryPointStatus::Completed)
                    .lifecycle(Lifecycle::builder().delete_after_days(35).build())
                    .build()
            };
            ListRecoveryPointsByBackupVaultOutput::builder()
                .recovery_points(point(1, 7200))
                .recovery_points(point(2, 3600))
                .build()
        },
    );
    let jobs = mock!(aws_sdk_backup::Client::list_copy_jobs)
        .match_requests(|r| r.by_account_id() == Some("111111111111"))
        .then_output(move || {
            let job = |n: u8| {
                CopyJob::builder()
                    .copy_job_id(format!("J{n}"))
                    .source_recovery_point_arn(rp(n))
                    .destination_backup_vault_arn(FRANKFURT)
                    .state(CopyJobState::Completed)
                    .destination_recovery_point_lifecycle(
                        Lifecycle::builder().delete_after_days(35).build(),
                    )
                    .build()
            };
            ListCopyJobsOutput::builder()
                .copy_jobs(job(1))
                .copy_jobs(job(2))
                .build()
        });
    // The pre-prod tag of db1 cannot be read; db2's can.
    let tags_fail = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .match_requests(|r| r.resource_arn_list() == ["arn:aws:rds:eu-west-1:111111111111:db:db1"])
        .then_error(|| {
            GetResourcesError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .build(),
            )
        });
    let tags_ok = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .then_output(|| GetResourcesOutput::builder().build());
    let created = DateTime::from_secs(now - 3600);
    let describe = mock!(aws_sdk_backup::Client::describe_recovery_point)
        .match_requests(move |r| r.recovery_point_arn() == Some(rp(2).as_str()))
        .then_output(move || {
            DescribeRecoveryPointOutput::builder()
                .creation_date(created)
                .lifecycle(Lifecycle::builder().delete_after_days(35).build())
                .build()
        });
    let lock = vault(false);
    let update = mock!(aws_sdk_backup::Client::update_recovery_point_lifecycle)
        .match_requests(move |r| r.recovery_point_arn() == Some(rp(2).as_str()))
        .then_output(|| UpdateRecoveryPointLifecycleOutput::builder().build());
    let (_, p) = Mocks {
        backup: vec![&points, &jobs, &describe, &lock, &update],
        tagging: vec![&tags_fail, &tags_ok],
        ..Mocks::default()
    }
    .pipeline(config_with(&[]));
    let report = p.reconcile_now().await.unwrap();
    assert_eq!(report.checked, 2);
    assert_eq!(report.failures.len(), 1, "{report:#?}");
    assert!(
        report.failures[0].starts_with(&format!("{RDS_RP}1: permanent: tag:GetResources failed")),
        "{}",
        report.failures[0]
    );
    assert_eq!(update.num_calls(), 1, "{report:#?}");
}

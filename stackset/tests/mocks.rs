//! Error paths at the client boundary (aws-smithy-mocks): what the test bed cannot produce —
//! another StackSet operation in progress, throttling, an account that is not the delegated
//! administrator, an operation that outlasts the wait. The SDK's own retry is off in these
//! clients, so every retry counted here is crossvault's.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::error::ErrorMetadata;
use aws_sdk_cloudformation::operation::create_stack_instances::{
    CreateStackInstancesError, CreateStackInstancesOutput,
};
use aws_sdk_cloudformation::operation::describe_stack_set::DescribeStackSetError;
use aws_sdk_cloudformation::operation::describe_stack_set_operation::DescribeStackSetOperationOutput;
use aws_sdk_cloudformation::operation::list_stack_set_operation_results::ListStackSetOperationResultsOutput;
use aws_sdk_cloudformation::operation::update_stack_set::{
    UpdateStackSetError, UpdateStackSetOutput,
};
use aws_sdk_cloudformation::types::error::OperationInProgressException;
use aws_sdk_cloudformation::types::{
    CallAs, StackSetOperation, StackSetOperationResultStatus, StackSetOperationResultSummary,
    StackSetOperationStatus,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use crossvault_stackset::aws::{Clients, Timing};
use crossvault_stackset::config::{Config, ConfigFile, Loaded, Overrides};
use crossvault_stackset::error::CliError;
use crossvault_stackset::output::Progress;
use crossvault_stackset::stackset::{self, DesiredStackSet, InstanceBatch};

fn cfn(rules: &[&Rule]) -> aws_sdk_cloudformation::Client {
    mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, rules, |c| c
        .retry_config(
            aws_sdk_cloudformation::config::retry::RetryConfig::disabled()
        ))
}

fn clients(cfn: aws_sdk_cloudformation::Client, call_as: Option<CallAs>) -> Clients {
    let empty: &[&Rule] = &[];
    Clients {
        sdk: aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build(),
        cfn_management: cfn.clone(),
        cfn,
        organizations: mock_client!(aws_sdk_organizations, empty),
        sts: mock_client!(aws_sdk_sts, empty),
        s3: BTreeMap::new(),
        call_as,
        timing: Timing::immediate(),
    }
}

fn config() -> Config {
    let text = "permission_model: self-managed\naccounts: [\"111111111111\"]\nregions: [eu-west-1]\n\
                artifact_bucket_prefix: crossvault-artifacts\n";
    let path = std::path::PathBuf::from("crossvault.config.yaml");
    let loaded = Loaded {
        file: ConfigFile::parse(&path, text).unwrap(),
        path,
        text: text.to_owned(),
    };
    Config::resolve(Some(&loaded), &Overrides::default()).unwrap()
}

fn batch() -> InstanceBatch {
    InstanceBatch {
        regions: vec!["eu-west-1".into()],
        accounts: vec!["111111111111".into()],
        whole_ous: false,
    }
}

fn in_progress() -> CreateStackInstancesError {
    CreateStackInstancesError::OperationInProgressException(
        OperationInProgressException::builder()
            .message("Another Operation on StackSet crossvault is in progress")
            .meta(
                ErrorMetadata::builder()
                    .code("OperationInProgressException")
                    .message("Another Operation on StackSet crossvault is in progress")
                    .build(),
            )
            .build(),
    )
}

#[tokio::test]
async fn operation_in_progress_is_retried_with_the_same_operation_id_until_it_clears() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let create = mock!(aws_sdk_cloudformation::Client::create_stack_instances)
        .match_requests(move |r| {
            record
                .lock()
                .unwrap()
                .push(r.operation_id().unwrap_or_default().to_owned());
            true
        })
        .sequence()
        .error(in_progress)
        .times(2)
        .output(|| {
            CreateStackInstancesOutput::builder()
                .operation_id("op-1")
                .build()
        })
        .build();
    let clients = clients(cfn(&[&create]), None);
    let op = stackset::create_instances(&clients, &config(), &batch(), &Progress::plain(true))
        .await
        .unwrap();
    assert_eq!(op, "op-1");
    assert_eq!(
        create.num_calls(),
        3,
        "two refusals, then the call that went through"
    );
    let seen = seen.lock().unwrap();
    assert!(seen[0].starts_with("crossvault-instances-"), "{seen:?}");
    assert!(
        seen.iter().all(|id| *id == seen[0]),
        "one client token across retries: {seen:?}"
    );
}

#[tokio::test]
async fn operation_in_progress_that_never_clears_is_reported_after_the_last_attempt() {
    let create = mock!(aws_sdk_cloudformation::Client::create_stack_instances)
        .sequence()
        .error(in_progress)
        .repeatedly()
        .build();
    let clients = clients(cfn(&[&create]), None);
    let e = stackset::create_instances(&clients, &config(), &batch(), &Progress::plain(true))
        .await
        .unwrap_err();
    assert_eq!(create.num_calls(), Timing::immediate().attempts as usize);
    let CliError::Aws {
        call,
        message,
        help,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        call,
        "cloudformation:CreateStackInstances crossvault in eu-west-1"
    );
    assert_eq!(
        message,
        "OperationInProgressException: Another Operation on StackSet crossvault is in progress"
    );
    assert!(help.contains("wait for it (crossvault status)"), "{help}");
    assert_eq!(e.exit_code(), 1);
}

#[tokio::test]
async fn throttling_beyond_the_sdk_is_retried_by_crossvault() {
    let update = mock!(aws_sdk_cloudformation::Client::update_stack_set)
        .sequence()
        .error(|| {
            UpdateStackSetError::generic(
                ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .times(3)
        .output(|| UpdateStackSetOutput::builder().operation_id("op-2").build())
        .build();
    let clients = clients(cfn(&[&update]), None);
    let config = config();
    let desired = DesiredStackSet::new(&config, "Resources: {}\n", BTreeMap::new());
    let op = stackset::update(
        &clients,
        &desired,
        &config.operation_preferences,
        &Progress::plain(true),
    )
    .await
    .unwrap();
    assert_eq!(op, "op-2");
    assert_eq!(update.num_calls(), 4);
}

#[tokio::test]
async fn errors_that_waiting_cannot_cure_are_not_retried() {
    let update = mock!(aws_sdk_cloudformation::Client::update_stack_set).then_error(|| {
        UpdateStackSetError::generic(
            ErrorMetadata::builder()
                .code("ValidationError")
                .message("Template format error")
                .build(),
        )
    });
    let clients = clients(cfn(&[&update]), None);
    let config = config();
    let desired = DesiredStackSet::new(&config, "Resources: {}\n", BTreeMap::new());
    let e = stackset::update(
        &clients,
        &desired,
        &config.operation_preferences,
        &Progress::plain(true),
    )
    .await
    .unwrap_err();
    assert_eq!(update.num_calls(), 1);
    assert!(
        e.to_string()
            .contains("ValidationError: Template format error"),
        "{e}"
    );
}

#[tokio::test]
async fn not_a_delegated_administrator_is_reported_with_what_to_do() {
    let describe = mock!(aws_sdk_cloudformation::Client::describe_stack_set)
        .match_requests(|r| r.call_as() == Some(&CallAs::DelegatedAdmin))
        .then_error(|| {
            DescribeStackSetError::generic(
                ErrorMetadata::builder()
                    .code("ValidationError")
                    .message("Account used is not a delegated administrator")
                    .build(),
            )
        });
    let clients = clients(cfn(&[&describe]), Some(CallAs::DelegatedAdmin));
    let e = stackset::describe(&clients, "crossvault")
        .await
        .unwrap_err();
    assert_eq!(describe.num_calls(), 1, "CallAs=DELEGATED_ADMIN was sent");
    assert_eq!(e.exit_code(), 1);
    insta::assert_snapshot!(
        "error_not_a_delegated_administrator",
        crossvault_stackset::render_error(&e, false)
    );
}

#[tokio::test]
async fn an_operation_still_running_when_the_wait_ends_is_reported_as_running() {
    let running =
        mock!(aws_sdk_cloudformation::Client::describe_stack_set_operation).then_output(|| {
            DescribeStackSetOperationOutput::builder()
                .stack_set_operation(
                    StackSetOperation::builder()
                        .operation_id("op-3")
                        .status(StackSetOperationStatus::Running)
                        .build(),
                )
                .build()
        });
    let results = mock!(aws_sdk_cloudformation::Client::list_stack_set_operation_results)
        .then_output(|| ListStackSetOperationResultsOutput::builder().build());
    let clients = clients(cfn(&[&running, &results]), None);
    let outcome = stackset::wait(
        &clients,
        "crossvault",
        "UPDATE",
        "op-3",
        Duration::from_millis(60),
        &Progress::plain(true),
    )
    .await
    .unwrap();
    assert!(!outcome.finished);
    assert_eq!(outcome.status, "RUNNING");
    assert!(!outcome.succeeded());
    assert!(running.num_calls() >= 2, "polled until the wait ran out");
    assert_eq!(
        results.num_calls(),
        0,
        "no results of an unfinished operation"
    );
}

#[tokio::test]
async fn a_finished_operation_reports_each_failed_account_and_region_with_its_reason() {
    let done =
        mock!(aws_sdk_cloudformation::Client::describe_stack_set_operation).then_output(|| {
            DescribeStackSetOperationOutput::builder()
                .stack_set_operation(
                    StackSetOperation::builder()
                        .operation_id("op-4")
                        .status(StackSetOperationStatus::Failed)
                        .status_reason("Failure tolerance exceeded")
                        .build(),
                )
                .build()
        });
    let results = mock!(aws_sdk_cloudformation::Client::list_stack_set_operation_results)
        .then_output(|| {
            ListStackSetOperationResultsOutput::builder()
                .summaries(
                    StackSetOperationResultSummary::builder()
                        .account("111111111111")
                        .region("eu-west-1")
                        .status(StackSetOperationResultStatus::Failed)
                        .status_reason("ResourceLogicalId:HandlerFunction, ResourceType:AWS::Lambda::Function, ResourceStatusReason:Error occurred while GetObject. S3 Error Code: AccessDenied.")
                        .build(),
                )
                .summaries(
                    StackSetOperationResultSummary::builder()
                        .account("222222222222")
                        .region("eu-west-1")
                        .status(StackSetOperationResultStatus::Cancelled)
                        .build(),
                )
                .build()
        });
    let clients = clients(cfn(&[&done, &results]), None);
    let outcome = stackset::wait(
        &clients,
        "crossvault",
        "CREATE",
        "op-4",
        Duration::from_secs(5),
        &Progress::plain(true),
    )
    .await
    .unwrap();
    assert!(outcome.finished && !outcome.succeeded());
    assert_eq!(
        outcome.status_reason.as_deref(),
        Some("Failure tolerance exceeded")
    );
    assert_eq!(outcome.results.len(), 2);
    assert_eq!(outcome.results[0].status, "FAILED");
    assert!(
        outcome.results[0]
            .status_reason
            .as_deref()
            .unwrap()
            .contains("S3 Error Code: AccessDenied")
    );
    assert_eq!(outcome.results[1].status, "CANCELLED");
}

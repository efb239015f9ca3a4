//! Resource kinds at the AWS client boundary (aws-smithy-mocks): throttling is retried, access
//! denied is reported with the AWS error, not-found on Delete is success, and each kind makes
//! exactly the calls it should — and none it should not. Answers go over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_backup::operation::delete_backup_vault_lock_configuration::DeleteBackupVaultLockConfigurationOutput;
use aws_sdk_backup::operation::describe_backup_vault::{
    DescribeBackupVaultError, DescribeBackupVaultOutput,
};
use aws_sdk_backup::operation::describe_global_settings::DescribeGlobalSettingsOutput;
use aws_sdk_backup::operation::describe_region_settings::{
    DescribeRegionSettingsError, DescribeRegionSettingsOutput,
};
use aws_sdk_backup::operation::get_backup_vault_access_policy::{
    GetBackupVaultAccessPolicyError, GetBackupVaultAccessPolicyOutput,
};
use aws_sdk_backup::operation::put_backup_vault_access_policy::{
    PutBackupVaultAccessPolicyError, PutBackupVaultAccessPolicyOutput,
};
use aws_sdk_backup::operation::update_global_settings::UpdateGlobalSettingsOutput;
use aws_sdk_backup::operation::update_region_settings::UpdateRegionSettingsOutput;
use aws_sdk_backup::types::error::ResourceNotFoundException;
use aws_sdk_organizations::operation::describe_organization::DescribeOrganizationOutput;
use aws_sdk_organizations::types::Organization;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use aws_smithy_types::error::ErrorMetadata;
use crossvault_handler::InvocationContext;
use crossvault_handler::custom_resource::{DeliveryPolicy, Engine, EngineOptions, ResourceKind};
use crossvault_handler::resources::{
    global_settings::GlobalSettings, region_settings::RegionSettings, vault_lock::VaultLock,
    vault_policy::VaultPolicy,
};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACCOUNT: &str = "111111111111";

async fn answer(
    kind: Arc<dyn ResourceKind>,
    request_type: &str,
    props: Value,
    physical_id: Option<&str>,
) -> Value {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let mut req = json!({
        "RequestType": request_type, "ResponseURL": format!("{}/r", server.uri()),
        "StackId": format!("arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/crossvault/1"),
        "RequestId": "r-1", "LogicalResourceId": "Res", "ResourceType": kind.resource_type(),
        "ResourceProperties": props,
    });
    if let Some(id) = physical_id {
        req["PhysicalResourceId"] = json!(id);
    }
    let options = EngineOptions {
        response_reserve: Duration::from_secs(2),
        delivery: DeliveryPolicy::default(),
    };
    let engine = Engine::new(crossvault_handler::runtime::http_client(), options).register(kind);
    let ctx = InvocationContext::local(Duration::from_secs(60));
    engine.handle(&req, &ctx).await.unwrap();
    serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap()
}

fn not_found_vault() -> DescribeBackupVaultError {
    DescribeBackupVaultError::ResourceNotFoundException(
        ResourceNotFoundException::builder()
            .message("Backup vault crossvault does not exist")
            .build(),
    )
}

fn org(management: &'static str) -> aws_sdk_organizations::Client {
    let describe =
        mock!(aws_sdk_organizations::Client::describe_organization).then_output(move || {
            DescribeOrganizationOutput::builder()
                .organization(
                    Organization::builder()
                        .id("o-abc123")
                        .arn("arn:aws:organizations::999999999999:organization/o-abc123")
                        .master_account_id(management)
                        .build(),
                )
                .build()
        });
    mock_client!(aws_sdk_organizations, RuleMode::MatchAny, &[&describe])
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk() {
    let describe = mock!(aws_sdk_backup::Client::describe_region_settings)
        .sequence()
        .error(|| {
            DescribeRegionSettingsError::generic(
                ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .output(|| DescribeRegionSettingsOutput::builder().build())
        .build();
    let update = mock!(aws_sdk_backup::Client::update_region_settings)
        .then_output(|| UpdateRegionSettingsOutput::builder().build());
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&describe, &update]);
    let body = answer(
        Arc::new(RegionSettings::new(backup)),
        "Create",
        json!({"ResourceTypeOptInPreference": {"RDS": "true"}}),
        None,
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(describe.num_calls(), 2, "throttled once, retried once");
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn access_denied_is_reported_with_the_aws_error() {
    let vault = mock!(aws_sdk_backup::Client::describe_backup_vault).then_output(|| {
        DescribeBackupVaultOutput::builder()
            .backup_vault_name("Default")
            .build()
    });
    let get = mock!(aws_sdk_backup::Client::get_backup_vault_access_policy)
        .then_output(|| GetBackupVaultAccessPolicyOutput::builder().build());
    let put = mock!(aws_sdk_backup::Client::put_backup_vault_access_policy).then_error(|| {
        PutBackupVaultAccessPolicyError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("User is not authorized to perform: backup:PutBackupVaultAccessPolicy")
                .build(),
        )
    });
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&vault, &get, &put]);
    let body = answer(
        Arc::new(VaultPolicy::new(backup)),
        "Create",
        json!({"BackupVaultName": "Default", "Statements": [{"Sid": "CrossvaultPin", "Effect": "Deny", "Principal": "*", "Action": "backup:CopyFromBackupVault", "Resource": "*"}]}),
        None,
    )
    .await;
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with("backup:PutBackupVaultAccessPolicy failed"),
        "{reason}"
    );
    assert!(reason.contains("AccessDeniedException"), "{reason}");
    assert!(reason.contains("not authorized"), "{reason}");
    assert_eq!(put.num_calls(), 1, "access denied is not retried");
    assert_eq!(body["PhysicalResourceId"], "crossvault:create-failed:Res");
}

#[tokio::test]
async fn vault_policy_keeps_the_owners_statements() {
    let owner = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "OwnerReadOnly", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:role/auditor"}, "Action": "backup:DescribeBackupVault", "Resource": "*"}]});
    let owner_text = owner.to_string();
    let vault = mock!(aws_sdk_backup::Client::describe_backup_vault).then_output(|| {
        DescribeBackupVaultOutput::builder()
            .backup_vault_name("Default")
            .build()
    });
    let get =
        mock!(aws_sdk_backup::Client::get_backup_vault_access_policy).then_output(move || {
            GetBackupVaultAccessPolicyOutput::builder()
                .policy(owner_text.clone())
                .build()
        });
    let put = mock!(aws_sdk_backup::Client::put_backup_vault_access_policy)
        .match_requests(|r| {
            let p: Value = serde_json::from_str(r.policy().unwrap()).unwrap();
            let sids: Vec<_> = p["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["Sid"].as_str().unwrap().to_owned())
                .collect();
            r.backup_vault_name() == Some("Default") && sids == ["OwnerReadOnly", "CrossvaultPin"]
        })
        .then_output(|| PutBackupVaultAccessPolicyOutput::builder().build());
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&vault, &get, &put]);
    let body = answer(
        Arc::new(VaultPolicy::new(backup)),
        "Create",
        json!({"BackupVaultName": "Default", "Statements": [{"Sid": "CrossvaultPin", "Effect": "Deny", "Principal": "*", "Action": "backup:CopyFromBackupVault", "Resource": "*"}]}),
        None,
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(
        body["PhysicalResourceId"],
        "crossvault:vault-policy:111111111111:eu-west-1:Default"
    );
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn vault_policy_on_a_missing_vault_fails_clearly_and_writes_nothing() {
    let vault = mock!(aws_sdk_backup::Client::describe_backup_vault).then_error(not_found_vault);
    let put = mock!(aws_sdk_backup::Client::put_backup_vault_access_policy)
        .then_output(|| PutBackupVaultAccessPolicyOutput::builder().build());
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&vault, &put]);
    let body = answer(
        Arc::new(VaultPolicy::new(backup)),
        "Create",
        json!({"BackupVaultName": "byo-vault", "Statements": [{"Sid": "CrossvaultPin", "Effect": "Deny"}]}),
        None,
    )
    .await;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(
        body["Reason"],
        "vault byo-vault does not exist in account 111111111111 region eu-west-1; create it first, or name an existing vault"
    );
    assert_eq!(put.num_calls(), 0);
}

#[tokio::test]
async fn not_found_on_delete_is_success() {
    let get = mock!(aws_sdk_backup::Client::get_backup_vault_access_policy).then_error(|| {
        GetBackupVaultAccessPolicyError::ResourceNotFoundException(
            ResourceNotFoundException::builder().build(),
        )
    });
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&get]);
    let body = answer(
        Arc::new(VaultPolicy::new(backup)),
        "Delete",
        json!({"BackupVaultName": "gone", "Statements": [{"Sid": "CrossvaultPin", "Effect": "Deny"}]}),
        Some("crossvault:vault-policy:111111111111:eu-west-1:gone"),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS");
    assert!(
        body["Reason"]
            .as_str()
            .unwrap()
            .contains("nothing to remove"),
        "{body}"
    );

    let vault = mock!(aws_sdk_backup::Client::describe_backup_vault).then_error(not_found_vault);
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&vault]);
    let body = answer(
        Arc::new(VaultLock::new(backup)),
        "Delete",
        json!({"BackupVaultName": "gone", "MinRetentionDays": "7"}),
        Some("crossvault:vault-lock:111111111111:eu-west-1:gone"),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["Reason"], "vault gone is gone; no lock to remove");
}

#[tokio::test]
async fn an_immutable_compliance_lock_stays_and_delete_still_succeeds() {
    let vault = mock!(aws_sdk_backup::Client::describe_backup_vault).then_output(|| {
        DescribeBackupVaultOutput::builder()
            .backup_vault_name("central")
            .locked(true)
            .min_retention_days(7)
            .max_retention_days(3650)
            .lock_date(DateTime::from_secs(1_700_000_000))
            .build()
    });
    let delete = mock!(aws_sdk_backup::Client::delete_backup_vault_lock_configuration)
        .then_output(|| DeleteBackupVaultLockConfigurationOutput::builder().build());
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&vault, &delete]);
    let body = answer(
        Arc::new(VaultLock::new(backup)),
        "Delete",
        json!({"BackupVaultName": "central", "MinRetentionDays": "7", "MaxRetentionDays": "3650", "ChangeableForDays": "3"}),
        Some("crossvault:vault-lock:111111111111:eu-west-1:central"),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS");
    let reason = body["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "the compliance lock on vault central stays: it is immutable since 2023-11-14"
        ),
        "{reason}"
    );
    assert_eq!(
        delete.num_calls(),
        0,
        "no attempt to remove an immutable lock"
    );
}

#[tokio::test]
async fn a_governance_lock_is_removed_on_delete() {
    let vault = mock!(aws_sdk_backup::Client::describe_backup_vault).then_output(|| {
        DescribeBackupVaultOutput::builder()
            .backup_vault_name("byo")
            .locked(true)
            .min_retention_days(7)
            .build()
    });
    let delete = mock!(aws_sdk_backup::Client::delete_backup_vault_lock_configuration)
        .match_requests(|r| r.backup_vault_name() == Some("byo"))
        .then_output(|| DeleteBackupVaultLockConfigurationOutput::builder().build());
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&vault, &delete]);
    let body = answer(
        Arc::new(VaultLock::new(backup)),
        "Delete",
        json!({"BackupVaultName": "byo", "MinRetentionDays": "7"}),
        Some("crossvault:vault-lock:111111111111:eu-west-1:byo"),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn bad_lock_input_fails_before_any_call() {
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[]);
    for (props, reason) in [
        (
            json!({"BackupVaultName": "v1", "MinRetentionDays": "30", "MaxRetentionDays": "7"}),
            "property MaxRetentionDays: 7 is below MinRetentionDays 30; raise it or lower the minimum",
        ),
        (
            json!({"BackupVaultName": "v1", "MinRetentionDays": "7", "ChangeableForDays": "1"}),
            "property ChangeableForDays: compliance mode needs a cooling-off of at least 3 days, got 1; omit it for a governance lock",
        ),
    ] {
        let body = answer(
            Arc::new(VaultLock::new(backup.clone())),
            "Create",
            props,
            None,
        )
        .await;
        assert_eq!(body["Status"], "FAILED");
        assert_eq!(body["Reason"], reason);
    }
}

#[tokio::test]
async fn global_settings_only_in_the_management_account() {
    let describe = mock!(aws_sdk_backup::Client::describe_global_settings).then_output(|| {
        DescribeGlobalSettingsOutput::builder()
            .global_settings("isCrossAccountBackupEnabled", "false")
            .build()
    });
    let update = mock!(aws_sdk_backup::Client::update_global_settings)
        .match_requests(|r| {
            r.global_settings()
                .unwrap()
                .get("isCrossAccountBackupEnabled")
                .map(String::as_str)
                == Some("true")
        })
        .then_output(|| UpdateGlobalSettingsOutput::builder().build());
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&describe, &update]);

    // In a member account: a clear FAILED, and nothing is changed.
    let body = answer(
        Arc::new(GlobalSettings::new(backup.clone(), org("999999999999"))),
        "Create",
        json!({"IsCrossAccountBackupEnabled": "true"}),
        None,
    )
    .await;
    assert_eq!(body["Status"], "FAILED");
    assert!(body["Reason"].as_str().unwrap().starts_with(
        "Custom::BackupGlobalSettings works only in the Organizations management account (999999999999); this stack runs in 111111111111"
    ), "{body}");
    assert_eq!(update.num_calls(), 0);

    // In the management account: switched on.
    let body = answer(
        Arc::new(GlobalSettings::new(backup, org(ACCOUNT))),
        "Create",
        json!({"IsCrossAccountBackupEnabled": "true"}),
        None,
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(
        body["Reason"],
        "cross-account backup set to true (was false)"
    );
    assert_eq!(update.num_calls(), 1);
}

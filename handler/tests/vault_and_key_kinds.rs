//! The create-or-adopt kinds at the AWS client boundary (aws-smithy-mocks): what they send when
//! nothing exists, what they leave alone when something does, what they refuse (a vault under
//! another key, a key that cannot change as asked, a key crossvault did not create), that
//! Delete retains, and that AWS errors come back with their code. Answers go over real HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_backup::operation::create_backup_vault::{
    CreateBackupVaultError, CreateBackupVaultOutput,
};
use aws_sdk_backup::operation::describe_backup_vault::{
    DescribeBackupVaultError, DescribeBackupVaultOutput,
};
use aws_sdk_backup::types::error::{AlreadyExistsException, ResourceNotFoundException};
use aws_sdk_kms::operation::create_alias::{CreateAliasError, CreateAliasOutput};
use aws_sdk_kms::operation::create_key::CreateKeyOutput;
use aws_sdk_kms::operation::describe_key::{DescribeKeyError, DescribeKeyOutput};
use aws_sdk_kms::operation::enable_key_rotation::EnableKeyRotationOutput;
use aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput;
use aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusOutput;
use aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput;
use aws_sdk_kms::operation::put_key_policy::PutKeyPolicyOutput;
use aws_sdk_kms::types::error::NotFoundException;
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeySpec, KeyState, KeyUsageType, Tag};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use crossvault_handler::InvocationContext;
use crossvault_handler::custom_resource::{DeliveryPolicy, Engine, EngineOptions, ResourceKind};
use crossvault_handler::resources::backup_vault::BackupVault;
use crossvault_handler::resources::existing_key::ExistingKey;
use crossvault_handler::resources::handler_configuration::HandlerConfiguration;
use crossvault_handler::resources::vault_key::{KmsClient, PROTECT_SID, TAG_KEY, VaultKey};
use crossvault_handler::resources::vault_lock::VaultLock;
use crossvault_handler::resources::vault_policy::VaultPolicy;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACCOUNT: &str = "111111111111";
const ALIAS: &str = "alias/crossvault-vault";
const KEY_ARN: &str = "arn:aws:kms:eu-west-1:111111111111:key/k-1";
const OTHER_KEY_ARN: &str = "arn:aws:kms:eu-west-1:111111111111:key/k-2";

async fn answer(
    kind: Arc<dyn ResourceKind>,
    request_type: &str,
    props: Value,
    old: Option<(&str, Value)>,
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
    if let Some((id, old_props)) = old {
        req["PhysicalResourceId"] = json!(id);
        if request_type == "Update" {
            req["OldResourceProperties"] = old_props;
        }
    }
    let options = EngineOptions {
        response_reserve: Duration::from_secs(2),
        delivery: DeliveryPolicy::default(),
    };
    let engine = Engine::new(crossvault_handler::runtime::http_client(), options).register(kind);
    engine
        .handle(&req, &InvocationContext::local(Duration::from_secs(60)))
        .await
        .unwrap();
    serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap()
}

fn policy(protected: bool) -> Value {
    let mut statements = vec![json!({
        "Sid": "CrossvaultAccountAdministers", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*", "Resource": "*"
    })];
    if protected {
        statements.push(json!({
            "Sid": PROTECT_SID, "Effect": "Deny", "Principal": {"AWS": "*"},
            "Action": ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy"], "Resource": "*"
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn key_props(protected: bool, multi_region: bool) -> Value {
    json!({
        "AliasName": ALIAS,
        "Description": "crossvault crossvault vault and notification key",
        "MultiRegion": multi_region.to_string(),
        "KeyPolicy": policy(protected),
    })
}

fn metadata(state: KeyState, manager: KeyManagerType, multi_region: bool) -> KeyMetadata {
    KeyMetadata::builder()
        .key_id("k-1")
        .arn(KEY_ARN)
        .key_state(state)
        .key_manager(manager)
        .key_spec(KeySpec::SymmetricDefault)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .multi_region(multi_region)
        .build()
        .unwrap()
}

fn alias_not_found() -> DescribeKeyError {
    DescribeKeyError::NotFoundException(
        NotFoundException::builder()
            .message(
                "Alias arn:aws:kms:eu-west-1:111111111111:alias/crossvault-vault is not found.",
            )
            .build(),
    )
}

fn crossvault_tag() -> Tag {
    Tag::builder()
        .tag_key(TAG_KEY)
        .tag_value(ALIAS)
        .build()
        .unwrap()
}

fn kms_with(rules: &[&aws_smithy_mocks::Rule]) -> Arc<dyn ResourceKind> {
    let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, rules);
    Arc::new(VaultKey::new(KmsClient::ready(client)))
}

#[tokio::test]
async fn a_missing_key_is_created_with_its_policy_tag_alias_and_rotation() {
    for protected in [false, true] {
        let describe = mock!(aws_sdk_kms::Client::describe_key).then_error(alias_not_found);
        let wanted = policy(protected);
        let create = mock!(aws_sdk_kms::Client::create_key)
            .match_requests(move |r| {
                serde_json::from_str::<Value>(r.policy().unwrap()).unwrap() == wanted
                    // A policy that denies PutKeyPolicy locks the creator out on purpose.
                    && r.bypass_policy_lockout_safety_check() == Some(protected)
                    && r.key_spec() == Some(&KeySpec::SymmetricDefault)
                    && r.key_usage() == Some(&KeyUsageType::EncryptDecrypt)
                    && r.multi_region() == Some(false)
                    && r.tags() == [crossvault_tag()]
            })
            .then_output(|| {
                CreateKeyOutput::builder()
                    .key_metadata(metadata(KeyState::Enabled, KeyManagerType::Customer, false))
                    .build()
            });
        let alias = mock!(aws_sdk_kms::Client::create_alias)
            .match_requests(|r| r.alias_name() == Some(ALIAS) && r.target_key_id() == Some("k-1"))
            .then_output(|| CreateAliasOutput::builder().build());
        let rotation = mock!(aws_sdk_kms::Client::enable_key_rotation)
            .match_requests(|r| r.key_id() == Some("k-1"))
            .then_output(|| EnableKeyRotationOutput::builder().build());
        let kind = kms_with(&[&describe, &create, &alias, &rotation]);
        let body = answer(kind, "Create", key_props(protected, false), None).await;
        assert_eq!(body["Status"], "SUCCESS", "{body}");
        assert_eq!(body["Data"]["KeyArn"], KEY_ARN);
        assert_eq!(body["Data"]["Created"], "true");
        assert_eq!(
            body["PhysicalResourceId"],
            format!("crossvault:vault-key:{ACCOUNT}:eu-west-1:{ALIAS}")
        );
        assert_eq!(
            (create.num_calls(), alias.num_calls(), rotation.num_calls()),
            (1, 1, 1),
            "protected: {protected}"
        );
    }
}

#[tokio::test]
async fn a_key_left_by_a_previous_stack_is_adopted_without_writes() {
    let describe = mock!(aws_sdk_kms::Client::describe_key).then_output(|| {
        DescribeKeyOutput::builder()
            .key_metadata(metadata(KeyState::Enabled, KeyManagerType::Customer, false))
            .build()
    });
    let tags = mock!(aws_sdk_kms::Client::list_resource_tags).then_output(|| {
        ListResourceTagsOutput::builder()
            .tags(crossvault_tag())
            .build()
    });
    let get = mock!(aws_sdk_kms::Client::get_key_policy).then_output(|| {
        GetKeyPolicyOutput::builder()
            .policy(policy(true).to_string())
            .build()
    });
    let status = mock!(aws_sdk_kms::Client::get_key_rotation_status).then_output(|| {
        GetKeyRotationStatusOutput::builder()
            .key_rotation_enabled(true)
            .build()
    });
    let create =
        mock!(aws_sdk_kms::Client::create_key).then_output(|| CreateKeyOutput::builder().build());
    let put = mock!(aws_sdk_kms::Client::put_key_policy)
        .then_output(|| PutKeyPolicyOutput::builder().build());
    let rotate = mock!(aws_sdk_kms::Client::enable_key_rotation)
        .then_output(|| EnableKeyRotationOutput::builder().build());
    let kind = kms_with(&[&describe, &tags, &get, &status, &create, &put, &rotate]);
    let body = answer(kind, "Create", key_props(true, false), None).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Data"]["KeyArn"], KEY_ARN);
    assert_eq!(body["Data"]["Created"], "false");
    assert!(
        body["Reason"]
            .as_str()
            .unwrap()
            .starts_with("adopted alias/crossvault-vault (k-1)")
    );
    assert_eq!(
        (create.num_calls(), put.num_calls(), rotate.num_calls()),
        (0, 0, 0),
        "nothing new, nothing rewritten"
    );
}

#[tokio::test]
async fn an_adopted_keys_policy_is_converged_unless_it_is_protected() {
    for (current_protected, expect_put) in [(false, 1), (true, 0)] {
        let describe = mock!(aws_sdk_kms::Client::describe_key).then_output(|| {
            DescribeKeyOutput::builder()
                .key_metadata(metadata(KeyState::Enabled, KeyManagerType::Customer, false))
                .build()
        });
        let tags = mock!(aws_sdk_kms::Client::list_resource_tags).then_output(|| {
            ListResourceTagsOutput::builder()
                .tags(crossvault_tag())
                .build()
        });
        // The current policy is an older one: an extra statement.
        let mut current = policy(current_protected);
        current["Statement"].as_array_mut().unwrap().push(json!({"Sid": "Old", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}));
        let current_text = current.to_string();
        let get = mock!(aws_sdk_kms::Client::get_key_policy).then_output(move || {
            GetKeyPolicyOutput::builder()
                .policy(current_text.clone())
                .build()
        });
        let wanted = policy(false);
        let put = mock!(aws_sdk_kms::Client::put_key_policy)
            .match_requests(move |r| {
                serde_json::from_str::<Value>(r.policy().unwrap()).unwrap() == wanted
                    && r.bypass_policy_lockout_safety_check() == Some(false)
            })
            .then_output(|| PutKeyPolicyOutput::builder().build());
        let status = mock!(aws_sdk_kms::Client::get_key_rotation_status).then_output(|| {
            GetKeyRotationStatusOutput::builder()
                .key_rotation_enabled(false)
                .build()
        });
        let rotate = mock!(aws_sdk_kms::Client::enable_key_rotation)
            .then_output(|| EnableKeyRotationOutput::builder().build());
        let kind = kms_with(&[&describe, &tags, &get, &put, &status, &rotate]);
        let body = answer(
            kind,
            "Update",
            key_props(false, false),
            Some((
                &format!("crossvault:vault-key:{ACCOUNT}:eu-west-1:{ALIAS}"),
                key_props(false, false),
            )),
        )
        .await;
        assert_eq!(body["Status"], "SUCCESS", "{body}");
        assert_eq!(
            put.num_calls(),
            expect_put,
            "current protected: {current_protected}"
        );
        assert_eq!(rotate.num_calls(), 1, "rotation turned back on");
        if current_protected {
            let reason = body["Reason"].as_str().unwrap();
            assert!(reason.contains("carries CrossvaultProtectKey"), "{reason}");
            assert!(reason.contains("break-glass"), "{reason}");
        }
    }
}

#[tokio::test]
async fn keys_that_cannot_serve_are_refused_without_writes() {
    let cases: Vec<(KeyMetadata, Vec<Tag>, Value, &str)> = vec![
        (
            metadata(KeyState::Enabled, KeyManagerType::Customer, false),
            vec![],
            key_props(false, false),
            "which crossvault did not create",
        ),
        (
            metadata(KeyState::Enabled, KeyManagerType::Customer, false),
            vec![crossvault_tag()],
            key_props(false, true),
            "cannot change after a key is created",
        ),
        (
            metadata(KeyState::PendingDeletion, KeyManagerType::Customer, false),
            vec![crossvault_tag()],
            key_props(false, false),
            "pending deletion",
        ),
        (
            metadata(KeyState::Enabled, KeyManagerType::Aws, false),
            vec![crossvault_tag()],
            key_props(false, false),
            "AWS managed key",
        ),
    ];
    for (key, tag_list, props, why) in cases {
        let describe = mock!(aws_sdk_kms::Client::describe_key).then_output(move || {
            DescribeKeyOutput::builder()
                .key_metadata(key.clone())
                .build()
        });
        let tags = mock!(aws_sdk_kms::Client::list_resource_tags).then_output(move || {
            ListResourceTagsOutput::builder()
                .set_tags(Some(tag_list.clone()))
                .build()
        });
        let put = mock!(aws_sdk_kms::Client::put_key_policy)
            .then_output(|| PutKeyPolicyOutput::builder().build());
        let create = mock!(aws_sdk_kms::Client::create_key)
            .then_output(|| CreateKeyOutput::builder().build());
        let kind = kms_with(&[&describe, &tags, &put, &create]);
        let body = answer(kind, "Create", props, None).await;
        assert_eq!(body["Status"], "FAILED", "{why}: {body}");
        let reason = body["Reason"].as_str().unwrap();
        assert!(reason.contains(why), "{reason}");
        assert_eq!((put.num_calls(), create.num_calls()), (0, 0), "{why}");
    }
}

#[tokio::test]
async fn aws_errors_come_back_with_their_code_and_a_failed_alias_names_the_unaliased_key() {
    let describe = mock!(aws_sdk_kms::Client::describe_key).then_error(|| {
        DescribeKeyError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("User is not authorized to perform: kms:DescribeKey")
                .build(),
        )
    });
    let body = answer(
        kms_with(&[&describe]),
        "Create",
        key_props(false, false),
        None,
    )
    .await;
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(reason.starts_with("kms:DescribeKey failed"), "{reason}");
    assert!(reason.contains("AccessDeniedException"), "{reason}");
    assert_eq!(describe.num_calls(), 1, "access denied is not retried");

    let describe = mock!(aws_sdk_kms::Client::describe_key).then_error(alias_not_found);
    let create = mock!(aws_sdk_kms::Client::create_key).then_output(|| {
        CreateKeyOutput::builder()
            .key_metadata(metadata(KeyState::Enabled, KeyManagerType::Customer, false))
            .build()
    });
    let alias = mock!(aws_sdk_kms::Client::create_alias).then_error(|| {
        CreateAliasError::generic(
            ErrorMetadata::builder()
                .code("AlreadyExistsException")
                .message("An alias with the name alias/crossvault-vault already exists")
                .build(),
        )
    });
    let body = answer(
        kms_with(&[&describe, &create, &alias]),
        "Create",
        key_props(false, false),
        None,
    )
    .await;
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(
        reason.contains("key k-1 has no alias and is unused"),
        "{reason}"
    );
}

#[tokio::test]
async fn throttled_key_look_ups_are_retried() {
    let describe = mock!(aws_sdk_kms::Client::describe_key)
        .sequence()
        .error(|| {
            DescribeKeyError::generic(
                ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .output(|| {
            DescribeKeyOutput::builder()
                .key_metadata(metadata(KeyState::Enabled, KeyManagerType::Customer, false))
                .build()
        })
        .build();
    let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, &[&describe]);
    let body = answer(
        Arc::new(ExistingKey::new(KmsClient::ready(client))),
        "Create",
        json!({"AliasName": "alias/backup"}),
        None,
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Data"]["KeyArn"], KEY_ARN);
    assert_eq!(describe.num_calls(), 2);
}

#[tokio::test]
async fn delete_retains_keys_vaults_policies_and_locks_without_a_call() {
    let kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, &[]);
    let body = answer(
        Arc::new(VaultKey::new(KmsClient::ready(kms))),
        "Delete",
        key_props(true, false),
        Some((
            &format!("crossvault:vault-key:{ACCOUNT}:eu-west-1:{ALIAS}"),
            json!({}),
        )),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS");
    assert!(body["Reason"].as_str().unwrap().contains("retained"));

    let backup = || mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[]);
    let vault_props = json!({"BackupVaultName": "crossvault", "EncryptionKeyArn": KEY_ARN});
    let body = answer(
        Arc::new(BackupVault::new(backup())),
        "Delete",
        vault_props,
        Some((
            &format!("crossvault:backup-vault:{ACCOUNT}:eu-west-1:crossvault"),
            json!({}),
        )),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS");
    assert!(
        body["Reason"]
            .as_str()
            .unwrap()
            .contains("retained with its recovery points")
    );

    let body = answer(
        Arc::new(VaultPolicy::new(backup())),
        "Delete",
        json!({"BackupVaultName": "crossvault", "RetainOnDelete": "true", "Statements": [{"Sid": "CrossvaultX", "Effect": "Deny"}]}),
        Some((&format!("crossvault:vault-policy:{ACCOUNT}:eu-west-1:crossvault"), json!({}))),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS");
    let body = answer(
        Arc::new(VaultLock::new(backup())),
        "Delete",
        json!({"BackupVaultName": "crossvault", "MinRetentionDays": "7", "RetainOnDelete": "true"}),
        Some((
            &format!("crossvault:vault-lock:{ACCOUNT}:eu-west-1:crossvault"),
            json!({}),
        )),
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS");
    assert!(body["Reason"].as_str().unwrap().contains("stays"));
    // (A call on any of these clients would have failed the answer: they have no rules.)
}

fn vault_not_found() -> DescribeBackupVaultError {
    DescribeBackupVaultError::ResourceNotFoundException(
        ResourceNotFoundException::builder()
            .message("Backup vault crossvault does not exist")
            .build(),
    )
}

#[tokio::test]
async fn a_missing_vault_is_created_under_the_key_and_an_existing_one_adopted() {
    let describe = mock!(aws_sdk_backup::Client::describe_backup_vault).then_error(vault_not_found);
    let create = mock!(aws_sdk_backup::Client::create_backup_vault)
        .match_requests(|r| {
            r.backup_vault_name() == Some("crossvault") && r.encryption_key_arn() == Some(KEY_ARN)
        })
        .then_output(|| CreateBackupVaultOutput::builder().build());
    let client = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&describe, &create]);
    let props = json!({"BackupVaultName": "crossvault", "EncryptionKeyArn": KEY_ARN});
    let body = answer(
        Arc::new(BackupVault::new(client)),
        "Create",
        props.clone(),
        None,
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(
        body["Data"]["BackupVaultArn"],
        "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault"
    );
    assert_eq!(create.num_calls(), 1);

    let describe = mock!(aws_sdk_backup::Client::describe_backup_vault).then_output(|| {
        DescribeBackupVaultOutput::builder()
            .backup_vault_name("crossvault")
            .encryption_key_arn(KEY_ARN)
            .build()
    });
    let create = mock!(aws_sdk_backup::Client::create_backup_vault)
        .then_output(|| CreateBackupVaultOutput::builder().build());
    let client = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&describe, &create]);
    let body = answer(Arc::new(BackupVault::new(client)), "Create", props, None).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Reason"], "adopted existing vault crossvault");
    assert_eq!(create.num_calls(), 0);
}

#[tokio::test]
async fn a_vault_under_another_key_is_refused_on_create_and_on_update() {
    for (request_type, old) in [
        ("Create", None),
        (
            "Update",
            Some(json!({"BackupVaultName": "crossvault", "EncryptionKeyArn": KEY_ARN})),
        ),
    ] {
        let describe = mock!(aws_sdk_backup::Client::describe_backup_vault).then_output(|| {
            DescribeBackupVaultOutput::builder()
                .backup_vault_name("crossvault")
                .encryption_key_arn(KEY_ARN)
                .build()
        });
        let create = mock!(aws_sdk_backup::Client::create_backup_vault)
            .then_output(|| CreateBackupVaultOutput::builder().build());
        let client = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&describe, &create]);
        let id = format!("crossvault:backup-vault:{ACCOUNT}:eu-west-1:crossvault");
        let body = answer(
            Arc::new(BackupVault::new(client)),
            request_type,
            json!({"BackupVaultName": "crossvault", "EncryptionKeyArn": OTHER_KEY_ARN}),
            old.map(|o| (id.as_str(), o)),
        )
        .await;
        assert_eq!(body["Status"], "FAILED", "{request_type}: {body}");
        let reason = body["Reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("encrypted with {KEY_ARN}")),
            "{reason}"
        );
        assert!(
            reason.contains(&format!("asks for {OTHER_KEY_ARN}")),
            "{reason}"
        );
        assert!(reason.contains("key cannot change"), "{reason}");
        assert_eq!(create.num_calls(), 0);
        if request_type == "Update" {
            // Same physical id: not a replacement, the existing vault stays the resource.
            assert_eq!(body["PhysicalResourceId"], id);
        }
    }
}

#[tokio::test]
async fn a_vault_created_meanwhile_is_adopted() {
    let describe = mock!(aws_sdk_backup::Client::describe_backup_vault)
        .sequence()
        .error(vault_not_found)
        .output(|| {
            DescribeBackupVaultOutput::builder()
                .backup_vault_name("crossvault")
                .encryption_key_arn(KEY_ARN)
                .build()
        })
        .build();
    let create = mock!(aws_sdk_backup::Client::create_backup_vault).then_error(|| {
        CreateBackupVaultError::AlreadyExistsException(
            AlreadyExistsException::builder()
                .code("AlreadyExistsException")
                .message("Backup vault with the same name already exists")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&describe, &create]);
    let body = answer(
        Arc::new(BackupVault::new(client)),
        "Create",
        json!({"BackupVaultName": "crossvault", "EncryptionKeyArn": KEY_ARN}),
        None,
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(describe.num_calls(), 2);
}

fn environment(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = [
        ("CROSSVAULT_ROLE", "source"),
        ("CROSSVAULT_ACCOUNT_ID", ACCOUNT),
        ("CROSSVAULT_BACKUP_ACCOUNT_ID", "222222222222"),
        ("CROSSVAULT_BACKUP_REGION", "eu-central-1"),
        ("CROSSVAULT_BACKUP_REGION_ALTERNATE", "eu-west-1"),
        ("CROSSVAULT_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_CENTRAL_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_PREPROD_VAULT_NAME", "crossvault"),
        (
            "CROSSVAULT_COPY_ROLE_ARN",
            "arn:aws:iam::111111111111:role/crossvault-copy-eu-west-1",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in pairs {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    env
}

#[tokio::test]
async fn the_configuration_check_fails_the_stack_with_the_parameter_to_fix() {
    let check = |env: BTreeMap<String, String>| -> Arc<dyn ResourceKind> {
        Arc::new(HandlerConfiguration::with_environment(Arc::new(
            move || env.clone(),
        )))
    };
    let body = answer(
        check(environment(&[])),
        "Create",
        json!({"Parameters": []}),
        None,
    )
    .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Data"]["Role"], "source");

    let body = answer(
        check(environment(&[("CROSSVAULT_LOCK_MIN_RETENTION_DAYS", "60")])),
        "Update",
        json!({"Parameters": ["60"]}),
        Some((
            &format!("crossvault:handler-configuration:{ACCOUNT}:eu-west-1"),
            json!({"Parameters": ["7"]}),
        )),
    )
    .await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert_eq!(
        body["Reason"],
        "the stack's parameters give the crossvault handler an invalid configuration (parameter \
         CopyDeleteAfterDays): CROSSVAULT_COPY_DELETE_AFTER_DAYS: 35 days lies outside the central \
         vault's Vault Lock range 60..unbounded days, so AWS Backup would refuse every copy into \
         it; make the lock range include it; fix the parameter and update the stack"
    );
    let six = "333333333301,333333333302,333333333303,333333333304,333333333305,333333333306";
    let body = answer(
        check(environment(&[("CROSSVAULT_PREPROD_ACCOUNT_IDS", six)])),
        "Create",
        json!({}),
        None,
    )
    .await;
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(reason.contains("(parameter PreProdAccountIds)"), "{reason}");
    assert!(reason.contains("lists 6 accounts"), "{reason}");
}

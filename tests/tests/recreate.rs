//! Stacks that survive re-creation, end to end on the local test bed: a stack instance is
//! deleted (its vault, key, policy and lock are retained), created again, and adopts what the
//! last one left — no "already exists", no second key, copies still flow. A change that would
//! replace a vault or key is refused with the reason, and parameters that would deploy and fail
//! later are refused before anything exists.
//!
//! Needs the test bed: `scripts/testbed start` and
//! `export CROSSVAULT_TESTBED_URL=http://127.0.0.1:5123` (scripts/test does both).

use std::collections::BTreeMap;

use crossvault_tests::install::{self, Installation, Overrides};
use crossvault_tests::org::{BACKUP_REGION, Org, OrgIds, PRIMARY_REGION};
use crossvault_tests::runner::{self, BackupSpec};
use crossvault_tests::story;
use serde_json::Value;

async fn org(tag: &str) -> Org {
    let url = crossvault_tests::require_testbed();
    Org::create(&url, OrgIds::unique(tag)).await.unwrap()
}

fn take(org: &mut Org, account: &str, region: &str) -> Installation {
    let i = org
        .installations
        .iter()
        .position(|i| i.account_id == account && i.region == region)
        .unwrap();
    org.installations.remove(i)
}

async fn reinstall(
    org: &mut Org,
    account: &str,
    region: &str,
    params: &BTreeMap<String, String>,
) -> Result<(), String> {
    let sdk = org.sdk(account, region).await.unwrap();
    let installation = install::install(
        &org.cfn,
        sdk,
        account,
        region,
        params,
        &Overrides::default(),
        org.clock.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;
    org.installations.push(installation);
    Ok(())
}

fn data<'a>(installation: &'a Installation, logical_id: &str, key: &str) -> &'a str {
    installation
        .custom_resources
        .iter()
        .find(|r| r.logical_id == logical_id)
        .and_then(|r| r.data.get(key))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{logical_id}.{key} in {:?}", installation.custom_resources))
}

fn reason<'a>(installation: &'a Installation, logical_id: &str) -> &'a str {
    installation
        .custom_resources
        .iter()
        .find(|r| r.logical_id == logical_id)
        .and_then(|r| r.reason.as_deref())
        .unwrap_or_default()
}

/// Every key in the account and region.
async fn keys(org: &Org, account: &str, region: &str) -> Vec<String> {
    let kms = aws_sdk_kms::Client::new(&org.sdk(account, region).await.unwrap());
    let mut out: Vec<String> = kms
        .list_keys()
        .send()
        .await
        .unwrap()
        .keys()
        .iter()
        .filter_map(|k| k.key_arn().map(str::to_owned))
        .collect();
    out.sort();
    out
}

/// The Sids of a vault's policy, and whether it is locked; `None` when there is no vault.
async fn vault_state(
    org: &Org,
    account: &str,
    region: &str,
) -> Option<(Option<String>, Vec<String>, bool)> {
    let backup = org.backup(account, region).await.unwrap();
    let vault = backup
        .describe_backup_vault()
        .backup_vault_name("crossvault")
        .send()
        .await
        .ok()?;
    let policy = backup
        .get_backup_vault_access_policy()
        .backup_vault_name("crossvault")
        .send()
        .await
        .ok()
        .and_then(|p| p.policy)
        .map(|p| serde_json::from_str::<Value>(&p).unwrap());
    let sids = policy
        .iter()
        .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["Sid"].as_str().map(str::to_owned))
        .collect();
    Some((
        vault.encryption_key_arn,
        sids,
        vault.locked.unwrap_or(false),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_created_again_adopts_what_the_deleted_one_retained() {
    let mut org = org("recreate").await;
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let source = ids.sources[0].clone();
    let instances = [
        (ids.backup.clone(), BACKUP_REGION),
        (source.clone(), PRIMARY_REGION),
    ];
    let mut before = Vec::new();
    for (account, region) in &instances {
        let installation = org.installation(account, region).unwrap();
        let key = data(installation, "VaultKey", "KeyArn").to_owned();
        assert_eq!(data(installation, "VaultKey", "Created"), "true");
        let (vault_key, sids, locked) = vault_state(&org, account, region).await.unwrap();
        assert_eq!(
            vault_key.as_deref(),
            Some(key.as_str()),
            "the vault is under crossvault's key"
        );
        before.push((key, sids, locked, keys(&org, account, region).await));
    }
    // The central vault is locked (governance by default) and its policy denies weakening.
    assert!(before[0].2, "central vault locked");
    assert!(
        before[0].1.contains(&"CrossvaultDenyWeakening".to_owned()),
        "{:?}",
        before[0].1
    );
    assert_eq!(
        before[1].1,
        ["CrossvaultPinCopyTargets", "CrossvaultHandlerNeverDeletes"]
    );

    // Delete both stacks: vault, key, policy and lock stay; queues and rules go.
    for (account, region) in &instances {
        let installation = take(&mut org, account, region);
        let queue = installation.queue_url.clone().unwrap();
        let answers = install::uninstall(&org.cfn, installation).await.unwrap();
        assert!(
            answers.iter().all(|a| a.status == "SUCCESS"),
            "{answers:#?}"
        );
        let retained: Vec<&str> = answers
            .iter()
            .filter(|a| {
                a.reason
                    .as_deref()
                    .is_some_and(|r| r.contains("retained") || r.contains("stays"))
            })
            .map(|a| a.logical_id.as_str())
            .collect();
        assert!(retained.len() >= 3, "{account}/{region}: {answers:#?}");
        let sqs = aws_sdk_sqs::Client::new(&org.sdk(account, region).await.unwrap());
        assert!(
            sqs.get_queue_attributes()
                .queue_url(&queue)
                .send()
                .await
                .is_err(),
            "the event queue went with the stack"
        );
    }
    for ((account, region), (key, sids, locked, all_keys)) in instances.iter().zip(&before) {
        let (vault_key, now_sids, now_locked) = vault_state(&org, account, region)
            .await
            .expect("vault retained");
        assert_eq!(vault_key.as_ref(), Some(key));
        assert_eq!(
            &now_sids, sids,
            "{account}/{region}: the policy stays with the vault"
        );
        assert_eq!(now_locked, *locked, "the lock stays");
        assert_eq!(
            &keys(&org, account, region).await,
            all_keys,
            "the key stays"
        );
    }

    // Create both again: everything is adopted, nothing new is made.
    let params = org.params.clone();
    for (account, region) in &instances {
        reinstall(&mut org, account, region, &params).await.unwrap();
    }
    for ((account, region), (key, sids, locked, all_keys)) in instances.iter().zip(&before) {
        let installation = org.installation(account, region).unwrap();
        assert_eq!(
            data(installation, "VaultKey", "KeyArn"),
            key,
            "{account}/{region}"
        );
        assert_eq!(data(installation, "VaultKey", "Created"), "false");
        assert_eq!(
            &keys(&org, account, region).await,
            all_keys,
            "no second key"
        );
        let vault = if account == &ids.backup {
            "CentralVault"
        } else {
            "SourceVault"
        };
        assert_eq!(
            reason(installation, vault),
            "adopted existing vault crossvault"
        );
        let (_, now_sids, now_locked) = vault_state(&org, account, region).await.unwrap();
        assert_eq!((&now_sids, now_locked), (sids, *locked));
    }

    // And copies flow again through the adopted vaults.
    let night = runner::night(&org, &[BackupSpec::rds(&source, PRIMARY_REGION, "orders")])
        .await
        .unwrap();
    assert!(night.failures().is_empty(), "{:#?}", night.failures());
    let outcome = story::collect(&org).await.unwrap();
    let original = night.backups[0].recovery_point_arn.as_deref().unwrap();
    let copies = outcome.copies_of(original);
    assert_eq!(copies.len(), 1, "{copies:#?}");
    assert_eq!(copies[0].state, "COMPLETED");
    assert_eq!(
        copies[0].destination_vault_arn,
        Org::vault_arn(&ids.backup, BACKUP_REGION, "crossvault")
    );
    assert_eq!(
        outcome.point(original).and_then(|p| p.delete_after_days),
        Some(7)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_left_under_another_key_is_refused_when_the_stack_is_created_again() {
    let mut org = org("otherkey").await;
    org.install().await.unwrap();
    let source = org.ids.sources[0].clone();
    let installation = take(&mut org, &source, PRIMARY_REGION);
    let old_key = data(&installation, "VaultKey", "KeyArn").to_owned();
    install::uninstall(&org.cfn, installation).await.unwrap();

    // The user now brings a key of their own: the retained vault cannot change to it.
    let kms = aws_sdk_kms::Client::new(&org.sdk(&source, PRIMARY_REGION).await.unwrap());
    let mine = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.create_alias()
        .alias_name("alias/mine")
        .target_key_id(mine.key_id())
        .send()
        .await
        .unwrap();
    let mut params = org.params.clone();
    params.insert("KmsKeyAlias".into(), "alias/mine".into());
    let error = reinstall(&mut org, &source, PRIMARY_REGION, &params)
        .await
        .unwrap_err();
    // The source vault or the re-encryption vault, whichever comes first: both are retained
    // under the old key.
    assert!(
        error.contains("SourceVault (Custom::BackupVault) FAILED")
            || error.contains("ReEncryptVault (Custom::BackupVault) FAILED"),
        "{error}"
    );
    assert!(
        error.contains(&format!("encrypted with {old_key}")),
        "{error}"
    );
    assert!(
        error.contains(&format!("asks for {}", mine.arn().unwrap())),
        "{error}"
    );
    assert!(error.contains("key cannot change"), "{error}");
    let (vault_key, _, _) = vault_state(&org, &source, PRIMARY_REGION).await.unwrap();
    assert_eq!(
        vault_key.as_deref(),
        Some(old_key.as_str()),
        "the vault is untouched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_that_would_replace_a_key_or_vault_are_refused() {
    let mut org = org("replace").await;
    org.install().await.unwrap();
    let source = org.ids.sources[0].clone();
    let i = org
        .installations
        .iter()
        .position(|i| i.account_id == source && i.region == PRIMARY_REGION)
        .unwrap();
    let mut installation = org.installations.remove(i);
    let key = data(&installation, "VaultKey", "KeyArn").to_owned();

    // MultiRegionKey flipped: the key would have to be replaced.
    let mut props = installation
        .custom_resources
        .iter()
        .find(|r| r.logical_id == "VaultKey")
        .unwrap()
        .properties
        .clone();
    props["MultiRegion"] = Value::String("true".into());
    let run = install::update_custom_resource(&org.cfn, &mut installation, "VaultKey", props)
        .await
        .unwrap();
    assert_eq!(run.status, "FAILED");
    let why = run.reason.unwrap();
    assert!(
        why.contains("cannot change after a key is created"),
        "{why}"
    );
    assert!(why.contains("set MultiRegionKey back to false"), "{why}");

    // Another key for the vault: refused, not replaced.
    let kms = aws_sdk_kms::Client::new(&installation.sdk);
    let other = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let mut props = installation
        .custom_resources
        .iter()
        .find(|r| r.logical_id == "SourceVault")
        .unwrap()
        .properties
        .clone();
    props["EncryptionKeyArn"] = Value::String(other.arn().unwrap().to_owned());
    let run = install::update_custom_resource(&org.cfn, &mut installation, "SourceVault", props)
        .await
        .unwrap();
    assert_eq!(run.status, "FAILED");
    assert!(run.reason.unwrap().contains("key cannot change"));
    assert_eq!(
        run.physical_resource_id,
        format!("crossvault:backup-vault:{source}:{PRIMARY_REGION}:crossvault")
    );
    let (vault_key, _, _) = vault_state(&org, &source, PRIMARY_REGION).await.unwrap();
    assert_eq!(vault_key.as_deref(), Some(key.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_that_would_fail_later_are_refused_before_anything_exists() {
    let org = org("refuse").await;
    let source = org.ids.sources[0].clone();
    for (extra, why, parameter) in [
        (
            ("LockMinRetentionDays", "60"),
            "outside the central vault's Vault Lock range 60..unbounded",
            "CopyDeleteAfterDays",
        ),
        (
            (
                "PreProdAccountIds",
                "333333333301,333333333302,333333333303,333333333304,333333333305,333333333306",
            ),
            "lists 6 accounts",
            "PreProdAccountIds",
        ),
        (
            ("CopyMoveToColdStorageAfterDays", "30"),
            "+ 90 = 120",
            "CopyDeleteAfterDays",
        ),
    ] {
        let mut params = org.params.clone();
        params.insert(extra.0.into(), extra.1.into());
        let sdk = org.sdk(&source, PRIMARY_REGION).await.unwrap();
        let error = install::install(
            &org.cfn,
            sdk,
            &source,
            PRIMARY_REGION,
            &params,
            &Overrides::default(),
            org.clock.clone(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("HandlerConfiguration (Custom::HandlerConfiguration) FAILED"),
            "{error}"
        );
        assert!(error.contains(why), "{error}");
        assert!(
            error.contains(&format!("(parameter {parameter})")),
            "{error}"
        );
    }
    // Nothing was deployed: no vault, no key.
    assert!(vault_state(&org, &source, PRIMARY_REGION).await.is_none());
    assert!(keys(&org, &source, PRIMARY_REGION).await.is_empty());
}

//! The real template, evaluated for the contract's accounts and regions.

use std::collections::BTreeMap;

use crossvault_core::config::Role;
use serde_json::{Value as Json, json};

use super::*;

mod permissions;
mod restore;

const TEMPLATE: &str = include_str!("../../../template/crossvault.yaml");
/// The shared sample events (read at run time, as the core's fixture tests do).
const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/events");

const BACKUP: &str = "222222222222";
const PREPROD: &str = "333333333333";
const SOURCE: &str = "111111111111";
const OTHER_SOURCE: &str = "444444444444";
const MANAGEMENT: &str = "999999999999";

fn template() -> Template {
    Template::parse(TEMPLATE).expect("template parses")
}

/// The contract's parameter set, plus `extra`.
fn params(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = [
        ("BackupAccountId", BACKUP),
        ("BackupRegion", "eu-central-1"),
        ("BackupRegionAlternate", "eu-west-1"),
        ("PreProdAccountIds", PREPROD),
        ("ManagementAccountId", MANAGEMENT),
        ("ArtifactBucketPrefix", "crossvault-artifacts"),
        ("ArtifactKey", "crossvault/bootstrap-0123abcd.zip"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        p.insert((*k).to_owned(), (*v).to_owned());
    }
    p
}

fn eval<'t>(
    t: &'t Template,
    account: &str,
    region: &str,
    extra: &[(&str, &str)],
) -> Evaluation<'t> {
    t.evaluate(&params(extra), &Pseudo::new(account, region))
        .unwrap_or_else(|e| panic!("{account} {region}: {e}"))
}

fn fixture(name: &str) -> Json {
    let path = format!("{EVENTS}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn vault_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:backup:{region}:{account}:backup-vault:{name}")
}

#[test]
fn template_fits_the_template_url_limit() {
    // Above the 51,200-byte inline limit it is deployed from S3 (template/README.md).
    assert!(
        TEMPLATE.len() <= 460_800,
        "template is {} bytes; CloudFormation takes at most 460,800 from S3",
        TEMPLATE.len()
    );
}

#[test]
fn minimal_deploy_needs_five_parameters() {
    let t = template();
    let required: Vec<&str> = t
        .parameters()
        .iter()
        .filter(|(_, p)| p.default.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        required,
        [
            "ArtifactBucketPrefix",
            "ArtifactKey",
            "BackupAccountId",
            "BackupRegion",
            "BackupRegionAlternate"
        ]
    );
}

#[test]
fn each_account_gets_its_role() {
    let t = template();
    for (account, region, role) in [
        (BACKUP, "eu-central-1", Role::Backup),
        (BACKUP, "eu-west-1", Role::Backup),
        (PREPROD, "eu-west-1", Role::PreProd),
        (SOURCE, "eu-west-1", Role::Source),
        (OTHER_SOURCE, "eu-central-1", Role::Source),
        (MANAGEMENT, "eu-west-1", Role::Management),
    ] {
        let e = eval(&t, account, region, &[]);
        assert_eq!(e.role, role, "{account} {region}");
        let is = |c: &str| e.conditions[c];
        assert_eq!(is("IsBackupAccount"), role == Role::Backup, "{account}");
        assert_eq!(is("IsPreProdAccount"), role == Role::PreProd, "{account}");
        assert_eq!(
            is("IsManagementAccount"),
            role == Role::Management,
            "{account}"
        );
        assert_eq!(is("IsSourceAccount"), role == Role::Source, "{account}");
        assert_eq!(is("IsBackupRegion"), region == "eu-central-1", "{region}");
    }
}

#[test]
fn role_precedence_and_empty_lists() {
    let t = template();
    // Backup wins when an account is listed as pre-prod as well.
    let e = eval(
        &t,
        BACKUP,
        "eu-central-1",
        &[("PreProdAccountIds", "333333333333,222222222222")],
    );
    assert_eq!(e.role, Role::Backup);
    // Without pre-prod or management accounts, everyone else is a source.
    let none = [("PreProdAccountIds", ""), ("ManagementAccountId", "")];
    assert_eq!(eval(&t, PREPROD, "eu-west-1", &none).role, Role::Source);
    assert_eq!(eval(&t, MANAGEMENT, "eu-west-1", &none).role, Role::Source);
    assert!(!eval(&t, SOURCE, "eu-west-1", &none).conditions["HasPreProd"]);
}

#[test]
fn the_fifth_pre_prod_account_is_found_and_a_sixth_is_not() {
    let t = template();
    let list = "100000000001,100000000002,100000000003,100000000004,100000000005,100000000006";
    let role = |account| eval(&t, account, "eu-west-1", &[("PreProdAccountIds", list)]).role;
    assert_eq!(role("100000000001"), Role::PreProd);
    assert_eq!(role("100000000005"), Role::PreProd);
    // Documented limit: only the first five items are compared.
    assert_eq!(role("100000000006"), Role::Source);
}

fn existing<'e>(e: &'e Evaluation) -> Vec<&'e str> {
    e.resources.iter().map(|r| r.logical_id.as_str()).collect()
}

#[test]
fn key_resources_exist_only_in_their_role() {
    let t = template();
    let per_role: &[(&str, &str, &[&str], &[&str])] = &[
        (
            BACKUP,
            "eu-central-1",
            &[
                "CentralVault",
                "CentralVaultPolicy",
                "CentralVaultLock",
                "VaultKey",
                "EventQueue",
                "DeadLetterQueue",
                "BackupJobRule",
                "CopyJobRule",
                "RecoveryPointRule",
                "EventSourceMapping",
                "ReconcileRule",
                "NotificationTopic",
                "DeadLetterAlarm",
                "OrgInfo",
                "RegionSettings",
                "HandlerConfiguration",
                "HandlerFunction",
            ],
            &[
                "SourceVault",
                "SourceVaultPolicy",
                "PreProdVault",
                "RestoreJobRule",
                "GlobalSettings",
                "CopyRole",
                "VerifyRole",
                "ExistingKey",
                "OrganizationTopic",
            ],
        ),
        (
            PREPROD,
            "eu-west-1",
            &[
                "PreProdVault",
                "PreProdVaultPolicy",
                "VaultKey",
                "EventQueue",
                "RestoreJobRule",
                "RecoveryPointRule",
                "RegionSettings",
                "OrgInfo",
                "HandlerConfiguration",
            ],
            &[
                "SourceVault",
                "CentralVault",
                "CentralVaultLock",
                "CopyRole",
                "GlobalSettings",
            ],
        ),
        (
            SOURCE,
            "eu-west-1",
            &[
                "SourceVault",
                "SourceVaultPolicy",
                "VaultKey",
                "CopyRole",
                "EventQueue",
                "BackupJobRule",
                "CopyJobRule",
                "ReconcileRule",
                "RegionSettings",
                "OrgInfo",
                "HandlerConfiguration",
            ],
            &[
                "CentralVault",
                "CentralVaultPolicy",
                "PreProdVault",
                "RestoreJobRule",
                "GlobalSettings",
                "VerifyRole",
            ],
        ),
        (
            MANAGEMENT,
            "eu-west-1",
            &[
                "GlobalSettings",
                "RegionSettings",
                "OrgInfo",
                "HandlerConfiguration",
                "HandlerFunction",
                "HandlerRole",
                "HandlerLogGroup",
            ],
            &[
                "SourceVault",
                "CentralVault",
                "PreProdVault",
                "VaultKey",
                "CopyRole",
                "EventQueue",
                "BackupJobRule",
                "ReconcileRule",
                "NotificationTopic",
            ],
        ),
    ];
    for (account, region, present, absent) in per_role {
        let e = eval(&t, account, region, &[]);
        for id in *present {
            assert!(
                e.exists(id),
                "{id} should exist in {account} {region}: {:?}",
                existing(&e)
            );
        }
        for id in *absent {
            assert!(!e.exists(id), "{id} should not exist in {account} {region}");
        }
    }
}

#[test]
fn central_vault_only_where_copies_land() {
    let t = template();
    assert!(eval(&t, BACKUP, "eu-central-1", &[]).exists("CentralVault"));
    assert!(
        eval(&t, BACKUP, "eu-west-1", &[]).exists("CentralVault"),
        "alternate region"
    );
    let elsewhere = eval(&t, BACKUP, "us-east-1", &[]);
    assert_eq!(elsewhere.role, Role::Backup);
    assert!(!elsewhere.exists("CentralVault") && !elsewhere.exists("EventQueue"));
    assert!(
        !elsewhere.exists("CopyRole") && !elsewhere.exists("VaultKey"),
        "no vault, no key, and no copy role where nothing is forwarded"
    );
    assert!(eval(&t, BACKUP, "us-east-1", &[("CopyToLocalRegion", "true")]).exists("CentralVault"));
    // Two-hop types land in every region first and are forwarded from there: a vault, a copy
    // role and the verification role for the sources everywhere.
    let two_hop = eval(&t, BACKUP, "us-east-1", &[("TwoHopResourceTypes", "EBS")]);
    for id in ["CentralVault", "CopyRole", "VerifyRole"] {
        assert!(two_hop.exists(id), "{id}: {:?}", existing(&two_hop));
    }
    assert!(!eval(&t, BACKUP, "eu-central-1", &[]).exists("VerifyRole"));
}

#[test]
fn vault_lock_follows_the_mode() {
    let t = template();
    let lock = |account, mode: &str| {
        let e = eval(
            &t,
            account,
            "eu-central-1",
            &[("VaultLockMode", mode), ("LockMaxRetentionDays", "400")],
        );
        custom_resources(&e)
            .unwrap()
            .into_iter()
            .find(|c| c.logical_id == "CentralVaultLock")
            .map(|c| c.properties)
    };
    assert_eq!(lock(BACKUP, "none"), None);
    let vault_name = json!({"Fn::GetAtt": ["CentralVault", "BackupVaultName"]});
    let common = |extra: Json| {
        let mut v = json!({
            "ServiceToken": "arn:aws:lambda:eu-central-1:222222222222:function:crossvault-handler",
            "ServiceTimeout": "300",
            "BackupVaultName": vault_name,
            "MinRetentionDays": "7",
            "MaxRetentionDays": "400",
            "RetainOnDelete": "true",
        });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    assert_eq!(lock(BACKUP, "governance"), Some(common(json!({}))));
    assert_eq!(
        lock(BACKUP, "compliance"),
        Some(common(json!({"ChangeableForDays": "3"})))
    );
    // Governance is the default: central copies are immutable unless one opts out.
    assert_eq!(
        t.parameters()["VaultLockMode"].default.as_deref(),
        Some("governance")
    );
    assert!(eval(&t, BACKUP, "eu-central-1", &[]).exists("CentralVaultLock"));
    // Source vaults are never locked: their originals get shortened.
    let source = eval(
        &t,
        SOURCE,
        "eu-central-1",
        &[("VaultLockMode", "compliance")],
    );
    assert!(!source.exists("CentralVaultLock"));
    assert!(
        custom_resources(&source)
            .unwrap()
            .iter()
            .all(|c| c.resource_type != "Custom::BackupVaultLock")
    );
}

#[test]
fn central_vault_admits_the_organization_and_denies_weakening() {
    let t = template();
    let statements = |extra: &[(&str, &str)]| -> Vec<Json> {
        let e = eval(&t, BACKUP, "eu-central-1", extra);
        let props = e.properties("CentralVaultPolicy").unwrap().unwrap();
        assert_eq!(props["RetainOnDelete"], "true");
        assert_eq!(
            props["BackupVaultName"],
            json!({"Fn::GetAtt": ["CentralVault", "BackupVaultName"]})
        );
        props["Statements"].as_array().unwrap().clone()
    };
    let org_id = json!({"Fn::GetAtt": ["OrgInfo", "OrganizationId"]});
    let with_paths = statements(&[("AllowedOrgPaths", "o-abcdefghij/r-ab12/ou-ab12-11111111/*")]);
    let sids: Vec<&str> = with_paths
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        [
            "CrossvaultOrganizationCopiesIn",
            "CrossvaultCopiesStayInOrganization",
            "CrossvaultDenyWeakening",
            "CrossvaultDenyPolicyChanges"
        ]
    );
    assert_eq!(with_paths[0]["Principal"], json!({"AWS": "*"}));
    assert_eq!(with_paths[0]["Action"], "backup:CopyIntoBackupVault");
    assert_eq!(
        with_paths[0]["Condition"],
        json!({
            "StringEquals": {"aws:PrincipalOrgID": org_id},
            "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-abcdefghij/r-ab12/ou-ab12-11111111/*"]}
        })
    );
    // Copies out of the central vault stay inside the organization.
    assert_eq!(with_paths[1]["Effect"], "Deny");
    assert_eq!(with_paths[1]["Action"], "backup:CopyFromBackupVault");
    assert_eq!(
        with_paths[1]["Condition"]["ForAnyValue:StringNotLike"]["backup:CopyTargetOrgPaths"],
        json!({"Fn::Sub": ["${Org}/*", {"Org": org_id}]})
    );
    // By default no one is exempt from the deny-weakening statement, and only the handler role
    // may change the policy and the lock (its IAM policy allows that only from the function).
    let defaults = statements(&[]);
    assert!(
        defaults[0]["Condition"]
            .get("ForAnyValue:StringLike")
            .is_none()
    );
    assert!(defaults[2].get("Condition").is_none(), "{:#}", defaults[2]);
    let handler_role = "arn:aws:iam::222222222222:role/crossvault-handler-eu-central-1";
    assert_eq!(
        defaults[3]["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        json!([handler_role])
    );
    // Break-glass roles, exact ARNs, are exempt from both.
    let admins = statements(&[(
        "VaultAdminRoleArns",
        "arn:aws:iam::222222222222:role/BreakGlass",
    )]);
    assert_eq!(
        admins[2]["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        json!(["arn:aws:iam::222222222222:role/BreakGlass"])
    );
    assert_eq!(
        admins[3]["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        json!([handler_role, "arn:aws:iam::222222222222:role/BreakGlass"])
    );
    assert!(
        t.parameters()["VaultAdminRoleArns"].default.as_deref() == Some(""),
        "no role is exempt by pattern (stacksets-exec-* could be created by anyone there)"
    );
    for statement in &defaults {
        assert!(statement["Sid"].as_str().unwrap().starts_with("Crossvault"));
    }
}

fn pinned_targets(policy_statements: &Json) -> Json {
    let pin = &policy_statements[0];
    assert_eq!(pin["Sid"], "CrossvaultPinCopyTargets");
    assert_eq!(pin["Effect"], "Deny");
    assert_eq!(pin["Action"], "backup:CopyFromBackupVault");
    pin["Condition"]["ForAnyValue:ArnNotEquals"]["backup:CopyTargets"].clone()
}

#[test]
fn source_vault_pins_copy_targets() {
    let t = template();
    let e = eval(&t, SOURCE, "eu-west-1", &[]);
    let props = e.properties("SourceVaultPolicy").unwrap().unwrap();
    assert_eq!(
        props["BackupVaultName"],
        json!({"Fn::GetAtt": ["SourceVault", "BackupVaultName"]})
    );
    assert_eq!(
        props["RetainOnDelete"], "true",
        "crossvault's own vault keeps its policy"
    );
    let statements = props["Statements"].clone();
    let central = |region| vault_arn(region, BACKUP, "crossvault");
    let preprod = vault_arn("eu-west-1", PREPROD, "crossvault");
    let reencrypt = vault_arn("eu-west-1", SOURCE, "crossvault-reencrypt");
    // Items past the pre-prod list repeat the backup account (the local central vault).
    assert_eq!(
        pinned_targets(&statements),
        json!([
            central("eu-central-1"),
            central("eu-west-1"),
            central("eu-west-1"),
            reencrypt,
            preprod,
            central("eu-west-1"),
            central("eu-west-1"),
            central("eu-west-1"),
            central("eu-west-1")
        ])
    );
    let no_preprod = eval(&t, SOURCE, "us-east-1", &[("PreProdAccountIds", "")]);
    let statements =
        no_preprod.properties("SourceVaultPolicy").unwrap().unwrap()["Statements"].clone();
    assert_eq!(
        pinned_targets(&statements),
        json!([
            central("eu-central-1"),
            central("eu-west-1"),
            vault_arn("us-east-1", BACKUP, "crossvault"),
            vault_arn("us-east-1", SOURCE, "crossvault-reencrypt")
        ])
    );
    // The handler never deletes a point of the source vault (only its re-encrypted copies).
    assert_eq!(
        statements[1],
        json!({
            "Sid": "CrossvaultHandlerNeverDeletes",
            "Effect": "Deny",
            "Principal": {"AWS": "arn:aws:iam::111111111111:role/crossvault-handler-us-east-1"},
            "Action": "backup:DeleteRecoveryPoint",
            "Resource": "*"
        })
    );
}

/// RDS and Aurora under aws/rds: every source account and region has a re-encryption vault
/// under its own key (crossvault's or the one brought), pinned like the source vault but never
/// to itself, whose copies reach the handler and whose name the handler is given.
#[test]
fn sources_have_a_reencryption_vault() {
    let t = template();
    for extra in [
        &[][..],
        &[("SourceVaultName", "Default")][..],
        &[("KmsKeyAlias", "alias/backup")][..],
    ] {
        let e = eval(&t, SOURCE, "eu-west-1", extra);
        let vault = e.properties("ReEncryptVault").unwrap().unwrap();
        assert_eq!(
            vault["BackupVaultName"], "crossvault-reencrypt",
            "{extra:?}"
        );
        let key = if extra.iter().any(|(k, _)| *k == "KmsKeyAlias") {
            json!({"Fn::GetAtt": ["ExistingKey", "KeyArn"]})
        } else {
            json!({"Fn::GetAtt": ["VaultKey", "KeyArn"]})
        };
        assert_eq!(vault["EncryptionKeyArn"], key, "{extra:?}");
        assert_eq!(
            handler_environment(&e).unwrap()["CROSSVAULT_REENCRYPT_VAULT_NAME"],
            "crossvault-reencrypt"
        );
        let policy = e.properties("ReEncryptVaultPolicy").unwrap().unwrap();
        assert_eq!(policy["RetainOnDelete"], "true");
        let targets = pinned_targets(&policy["Statements"]);
        assert!(
            !targets.as_array().unwrap().contains(&json!(vault_arn(
                "eu-west-1",
                SOURCE,
                "crossvault-reencrypt"
            ))),
            "{targets}"
        );
        assert!(targets.as_array().unwrap().contains(&json!(vault_arn(
            "eu-central-1",
            BACKUP,
            "crossvault"
        ))));
        // Its copies' events reach the queue.
        let rules = event_rules(&e).unwrap();
        let copies = rules
            .iter()
            .find(|r| r.logical_id == "CopyJobRule")
            .unwrap();
        let sources = &copies.event_pattern.as_ref().unwrap()["detail"]["sourceBackupVaultArn"];
        assert!(
            sources.as_array().unwrap().contains(&json!(vault_arn(
                "eu-west-1",
                SOURCE,
                "crossvault-reencrypt"
            ))),
            "{sources}"
        );
    }
    for (account, region) in [
        (BACKUP, "eu-central-1"),
        (PREPROD, "eu-west-1"),
        (MANAGEMENT, "eu-west-1"),
    ] {
        let e = eval(&t, account, region, &[]);
        assert!(
            !e.exists("ReEncryptVault") && !e.exists("ReEncryptVaultPolicy"),
            "{account}"
        );
        assert_eq!(
            handler_environment(&e).unwrap()["CROSSVAULT_REENCRYPT_VAULT_NAME"],
            ""
        );
    }
}

#[test]
fn existing_source_vault_gets_the_same_statements_through_the_custom_resource() {
    let t = template();
    let created = eval(&t, SOURCE, "eu-west-1", &[]);
    let byo = eval(&t, SOURCE, "eu-west-1", &[("SourceVaultName", "Default")]);
    assert!(!byo.exists("SourceVault") && byo.exists("SourceVaultPolicy"));
    let own = created.properties("SourceVaultPolicy").unwrap().unwrap();
    let custom = custom_resources(&byo)
        .unwrap()
        .into_iter()
        .find(|c| c.logical_id == "SourceVaultPolicy")
        .unwrap();
    assert_eq!(custom.resource_type, "Custom::BackupVaultPolicy");
    assert_eq!(custom.properties["BackupVaultName"], "Default");
    assert_eq!(custom.properties["Statements"], own["Statements"]);
    // The owner's vault gets crossvault's statements removed again when the stack goes.
    assert_eq!(custom.properties["RetainOnDelete"], "false");
    assert_eq!(
        handler_environment(&byo).unwrap()["CROSSVAULT_VAULT_NAME"],
        "Default"
    );
    // The event rules follow the managed vault.
    let rules = event_rules(&byo).unwrap();
    let backup_rule = rules
        .iter()
        .find(|r| r.logical_id == "BackupJobRule")
        .unwrap();
    assert_eq!(
        backup_rule.event_pattern.as_ref().unwrap()["detail"]["backupVaultArn"],
        json!([vault_arn("eu-west-1", SOURCE, "Default")])
    );
}

#[test]
fn pre_prod_vault_admits_production_and_backup_accounts() {
    let t = template();
    let e = eval(
        &t,
        PREPROD,
        "eu-west-1",
        &[("ProductionAccountIds", "111111111111,444444444444")],
    );
    let statement = e.properties("PreProdVaultPolicy").unwrap().unwrap()["Statements"][0].clone();
    assert_eq!(
        statement["Condition"]["StringEquals"]["aws:PrincipalAccount"],
        json!([BACKUP, SOURCE, OTHER_SOURCE])
    );
    let open = eval(&t, PREPROD, "eu-west-1", &[]);
    let statement =
        open.properties("PreProdVaultPolicy").unwrap().unwrap()["Statements"][0].clone();
    assert!(
        statement["Condition"]["StringEquals"]
            .get("aws:PrincipalAccount")
            .is_none()
    );
}

#[test]
fn handler_environment_is_the_contract() {
    let t = template();
    let e = eval(&t, SOURCE, "eu-west-1", &[]);
    let env = handler_environment(&e).unwrap();
    let expected = json!({
        "CROSSVAULT_ROLE": "source",
        "CROSSVAULT_ACCOUNT_ID": SOURCE,
        "CROSSVAULT_BACKUP_ACCOUNT_ID": BACKUP,
        "CROSSVAULT_BACKUP_REGION": "eu-central-1",
        "CROSSVAULT_BACKUP_REGION_ALTERNATE": "eu-west-1",
        "CROSSVAULT_PREPROD_ACCOUNT_IDS": PREPROD,
        "CROSSVAULT_MANAGEMENT_ACCOUNT_ID": MANAGEMENT,
        "CROSSVAULT_VAULT_NAME": "crossvault",
        "CROSSVAULT_CENTRAL_VAULT_NAME": "crossvault",
        "CROSSVAULT_PREPROD_VAULT_NAME": "crossvault",
        "CROSSVAULT_COPY_ROLE_ARN": "arn:aws:iam::111111111111:role/crossvault-copy-eu-west-1",
        "CROSSVAULT_COPY_DELETE_AFTER_DAYS": "35",
        "CROSSVAULT_COPY_COLD_AFTER_DAYS": "",
        "CROSSVAULT_COPY_MAX_ATTEMPTS": "3",
        "CROSSVAULT_NEW_DELETE_AFTER_DAYS": "7",
        "CROSSVAULT_COPY_TO_LOCAL_REGION": "false",
        "CROSSVAULT_PREPROD_TAG_KEY": "CopyToPreProd",
        "CROSSVAULT_PREPROD_TAG_VALUE": "true",
        "CROSSVAULT_PREPROD_SOURCE_ACCOUNT_IDS": "",
        "CROSSVAULT_TWO_HOP_RESOURCE_TYPES": "",
        "CROSSVAULT_REENCRYPT_VAULT_NAME": "crossvault-reencrypt",
        "CROSSVAULT_VERIFY_ROLE_ARN": "",
        "CROSSVAULT_LOCK_MIN_RETENTION_DAYS": "7",
        "CROSSVAULT_LOCK_MAX_RETENTION_DAYS": "",
        "CROSSVAULT_NOTIFY_TOPIC_ARN": "arn:aws:sns:eu-west-1:111111111111:crossvault-notifications",
        "CROSSVAULT_RECONCILE_LOOKBACK_HOURS": "72",
        "CROSSVAULT_LOG_LEVEL": "info",
        "CROSSVAULT_DEAD_LETTER_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111111111111/crossvault-events-dlq",
    });
    // The pre-prod refresh and Slack (off by default; the same values in every role).
    let refresh = json!({
        "CROSSVAULT_SLACK_WEBHOOK_PARAMETER": "",
        "CROSSVAULT_RESTORE_ON_ARRIVAL": "false",
        "CROSSVAULT_RESTORE_SOURCES": "",
        "CROSSVAULT_RESTORE_TAGGED_SOURCES": "true",
        "CROSSVAULT_RESTORE_ROLE_ARN": "",
        "CROSSVAULT_RESTORE_HOOK_DOCUMENT": "",
        "CROSSVAULT_RESTORE_UNMASKED": "false",
        "CROSSVAULT_RESTORE_KEEP": "1",
        "CROSSVAULT_RESTORE_DB_SUBNET_GROUP": "",
        "CROSSVAULT_RESTORE_SECURITY_GROUP_IDS": "",
        "CROSSVAULT_RESTORE_DB_INSTANCE_CLASS": "",
        "CROSSVAULT_RESTORE_DB_PARAMETER_GROUP": "",
        "CROSSVAULT_RESTORE_DB_CLUSTER_PARAMETER_GROUP": "",
        "CROSSVAULT_RESTORE_OPTION_GROUP": "",
        "CROSSVAULT_RESTORE_DELETION_PROTECTION": "false",
        "CROSSVAULT_RESTORE_MAX_SIZE_GIB": "",
        "CROSSVAULT_RESTORE_PARAMETER_PREFIX": "/crossvault/preprod",
        "CROSSVAULT_RESTORE_HOSTED_ZONE_ID": "",
        "CROSSVAULT_RESTORE_DNS_DOMAIN": "",
    });
    let mut expected = expected;
    expected
        .as_object_mut()
        .unwrap()
        .extend(refresh.as_object().unwrap().clone());
    assert_eq!(serde_json::to_value(&env).unwrap(), expected);
    // The handler's own parser accepts it, in every role.
    for (account, region) in [
        (SOURCE, "eu-west-1"),
        (BACKUP, "eu-central-1"),
        (BACKUP, "us-east-1"),
        (PREPROD, "eu-west-1"),
        (MANAGEMENT, "eu-west-1"),
    ] {
        for extra in [&[][..], &[("TwoHopResourceTypes", "EBS")][..]] {
            let e = eval(&t, account, region, extra);
            let config =
                config_of(&e).unwrap_or_else(|err| panic!("{account} {region} {extra:?}: {err}"));
            assert_eq!(config.role, e.role);
        }
    }
    // Two-hop types: sources are told the verification role in the backup account, for their
    // region; without them, no one is.
    let two_hop = handler_environment(&eval(
        &t,
        SOURCE,
        "eu-west-1",
        &[("TwoHopResourceTypes", "EBS")],
    ))
    .unwrap();
    assert_eq!(
        two_hop["CROSSVAULT_VERIFY_ROLE_ARN"],
        "arn:aws:iam::222222222222:role/crossvault-verify-eu-west-1"
    );
    let backup = handler_environment(&eval(
        &t,
        BACKUP,
        "eu-central-1",
        &[("TwoHopResourceTypes", "EBS")],
    ))
    .unwrap();
    assert_eq!(backup["CROSSVAULT_VERIFY_ROLE_ARN"], "");
    assert_eq!(
        backup["CROSSVAULT_COPY_ROLE_ARN"],
        "arn:aws:iam::222222222222:role/crossvault-copy-eu-central-1"
    );
    let no_forward = handler_environment(&eval(&t, BACKUP, "eu-central-1", &[])).unwrap();
    assert_eq!(no_forward["CROSSVAULT_COPY_ROLE_ARN"], "");
    // No lock, no lock range for the handler to check.
    let unlocked =
        handler_environment(&eval(&t, SOURCE, "eu-west-1", &[("VaultLockMode", "none")])).unwrap();
    assert_eq!(unlocked["CROSSVAULT_LOCK_MIN_RETENTION_DAYS"], "");
}

/// The handler's configuration as the Lambda of this instance would parse it at start-up (and
/// `Custom::HandlerConfiguration` checks it).
fn config_of(
    e: &Evaluation,
) -> Result<crossvault_core::StackConfig, crossvault_core::config::ConfigError> {
    let env: BTreeMap<String, String> = handler_environment(e)
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.as_str()
                    .unwrap_or_else(|| panic!("unresolved {v}"))
                    .to_owned(),
            )
        })
        .collect();
    crossvault_core::StackConfig::from_env_map(&env)
}

#[test]
fn custom_resources_carry_token_timeout_and_string_properties() {
    let t = template();
    let e = eval(&t, MANAGEMENT, "eu-west-1", &[]);
    let resources = custom_resources(&e).unwrap();
    let kinds: Vec<(&str, &str)> = resources
        .iter()
        .map(|c| (c.logical_id.as_str(), c.resource_type.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("GlobalSettings", "Custom::BackupGlobalSettings"),
            ("HandlerConfiguration", "Custom::HandlerConfiguration"),
            ("OrgInfo", "Custom::OrganizationInfo"),
            ("RegionSettings", "Custom::BackupRegionSettings"),
        ]
    );
    for c in &resources {
        assert_eq!(
            c.properties["ServiceToken"],
            "arn:aws:lambda:eu-west-1:999999999999:function:crossvault-handler"
        );
        assert_eq!(c.properties["ServiceTimeout"], "300", "{}", c.logical_id);
    }
    assert_eq!(
        resources[0].properties["IsCrossAccountBackupEnabled"],
        "true"
    );
    assert_eq!(
        resources[3].properties["ResourceTypeOptInPreference"],
        json!(["Aurora=true", "DynamoDB=true", "EFS=true", "RDS=true"])
    );
    assert_eq!(
        resources[3].properties["ResourceTypeManagementPreference"],
        json!(["DynamoDB=true", "EFS=true"])
    );
}

#[test]
fn region_settings_everywhere_when_enabled_and_nowhere_when_not() {
    let t = template();
    for (account, region) in [
        (SOURCE, "eu-west-1"),
        (BACKUP, "us-east-1"),
        (PREPROD, "eu-central-1"),
        (MANAGEMENT, "eu-west-1"),
    ] {
        assert!(
            eval(&t, account, region, &[]).exists("RegionSettings"),
            "{account} {region}"
        );
        assert!(
            !eval(&t, account, region, &[("EnableRegionSettings", "false")])
                .exists("RegionSettings")
        );
    }
}

/// The items pass through unchanged, and the handler's own property parser turns them into the
/// settings maps, so an unknown type reaches the handler (and fails the stack by name).
#[test]
fn region_setting_items_reach_the_handler_as_maps() {
    use crossvault_handler::custom_resource::Properties;
    use crossvault_handler::resources::region_settings::Preferences;
    let settings_of = |opt_in: &str, management: &str| {
        let t = template();
        let e = eval(
            &t,
            SOURCE,
            "eu-west-1",
            &[
                ("OptInResourceTypes", opt_in),
                ("FullManagementResourceTypes", management),
            ],
        );
        let props = custom_resources(&e)
            .unwrap()
            .into_iter()
            .find(|c| c.logical_id == "RegionSettings")
            .unwrap()
            .properties;
        Preferences::from_props(&Properties::new(props.as_object().unwrap()))
    };
    let p = settings_of(
        "SAP HANA on Amazon EC2=true,EC2=false,Redshift Serverless=true",
        "EFS=false",
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&p.opt_in).unwrap(),
        json!({"SAP HANA on Amazon EC2": true, "EC2": false, "Redshift Serverless": true})
    );
    assert_eq!(
        serde_json::to_value(&p.management).unwrap(),
        json!({"EFS": false})
    );
    assert!(settings_of("", "").unwrap().opt_in.is_empty());
    let err = settings_of("RDS=true,Mainframe=true", "").unwrap_err();
    assert_eq!(err.path, "ResourceTypeOptInPreference.Mainframe");
}

/// Which rules of the instance deliver the event.
fn delivering_rules(e: &Evaluation, event: &Json) -> Vec<String> {
    event_rules(e)
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.event_pattern
                .as_ref()
                .is_some_and(|p| event_pattern_matches(p, event))
        })
        .map(|r| r.logical_id)
        .collect()
}

#[test]
fn event_rules_deliver_the_sample_events_to_the_right_instance() {
    let t = template();
    let source = eval(&t, SOURCE, "eu-west-1", &[]);
    let other = eval(&t, OTHER_SOURCE, "eu-west-1", &[]);
    let backup = eval(&t, BACKUP, "eu-central-1", &[]);
    let preprod = eval(&t, PREPROD, "eu-west-1", &[]);
    let cases: &[(&str, &Evaluation, &[&str])] = &[
        (
            "backup-job-completed-plan-rds.json",
            &source,
            &["BackupJobRule"],
        ),
        (
            "backup-job-completed-ondemand-efs.json",
            &source,
            &["BackupJobRule"],
        ),
        (
            "copy-job-completed-to-backup-account.json",
            &source,
            &["CopyJobRule"],
        ),
        ("copy-job-failed.json", &source, &["CopyJobRule"]),
        // Not terminal: the handler has nothing to do yet.
        ("copy-job-running.json", &source, &[]),
        (
            "recovery-point-arrived-preprod.json",
            &preprod,
            &["RecoveryPointRule"],
        ),
        ("restore-job-completed.json", &preprod, &["RestoreJobRule"]),
        (
            "restore-job-completed-crossvault.json",
            &preprod,
            &["RestoreJobRule"],
        ),
        // Other accounts' vaults are not ours.
        ("backup-job-completed-plan-rds.json", &other, &[]),
        ("copy-job-completed-to-backup-account.json", &backup, &[]),
        ("recovery-point-arrived-preprod.json", &source, &[]),
    ];
    for (name, e, expected) in cases {
        assert_eq!(
            delivering_rules(e, &fixture(name)),
            *expected,
            "{name} in the {} instance",
            e.role
        );
    }
}

#[test]
fn rules_target_the_queue_and_the_schedule_targets_the_handler() {
    let t = template();
    let e = eval(
        &t,
        PREPROD,
        "eu-west-1",
        &[("ReconcileSchedule", "rate(1 hour)")],
    );
    let rules = event_rules(&e).unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r.logical_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "BackupJobRule",
            "CopyJobRule",
            "ReconcileRule",
            "RecoveryPointRule",
            "RestoreJobRule"
        ]
    );
    for rule in &rules {
        if rule.logical_id == "ReconcileRule" {
            assert_eq!(rule.schedule_expression.as_deref(), Some("rate(1 hour)"));
            assert_eq!(rule.targets, ["HandlerFunction"]);
            assert!(rule.event_pattern.is_none());
        } else {
            assert_eq!(rule.targets, ["EventQueue"], "{}", rule.logical_id);
            assert_eq!(
                rule.event_pattern.as_ref().unwrap()["source"],
                json!(["aws.backup"])
            );
        }
    }
}

#[test]
fn queue_policy_admits_exactly_the_instances_rules() {
    let t = template();
    let e = eval(&t, SOURCE, "eu-west-1", &[]);
    let policy = e.properties("EventQueuePolicy").unwrap().unwrap();
    let sources =
        &policy["PolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"];
    assert_eq!(
        sources.as_array().unwrap().len(),
        3,
        "no RestoreJobRule outside pre-prod: {sources}"
    );
    let e = eval(&t, PREPROD, "eu-west-1", &[]);
    let policy = e.properties("EventQueuePolicy").unwrap().unwrap();
    assert_eq!(
        policy["PolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn handler_reads_its_code_from_the_regional_bucket() {
    let t = template();
    let e = eval(&t, SOURCE, "ap-southeast-2", &[("Architecture", "x86_64")]);
    let f = e.properties("HandlerFunction").unwrap().unwrap();
    assert_eq!(
        f["Code"],
        json!({"S3Bucket": "crossvault-artifacts-ap-southeast-2", "S3Key": "crossvault/bootstrap-0123abcd.zip"})
    );
    assert_eq!(f["Architectures"], json!(["x86_64"]));
    assert_eq!(f["Runtime"], "provided.al2023");
    assert!(
        f["Timeout"].as_u64().unwrap() < 300,
        "must answer before ServiceTimeout"
    );
}

#[test]
fn parameter_errors_name_the_parameter() {
    let t = template();
    let pseudo = Pseudo::new(SOURCE, "eu-west-1");
    let mut p = params(&[("Bogus", "x")]);
    assert_eq!(
        t.evaluate(&p, &pseudo).unwrap_err(),
        TemplateError::UnknownParameter("Bogus".into())
    );
    p.remove("Bogus");
    p.remove("BackupRegionAlternate");
    assert_eq!(
        t.evaluate(&p, &pseudo).unwrap_err(),
        TemplateError::MissingParameter("BackupRegionAlternate".into())
    );
    let err = t
        .evaluate(&params(&[("VaultLockMode", "forever")]), &pseudo)
        .unwrap_err();
    assert!(
        matches!(err, TemplateError::NotAllowed { ref parameter, .. } if parameter == "VaultLockMode"),
        "{err}"
    );
}

#[test]
fn evaluation_errors_name_the_function_or_condition() {
    let pseudo = Pseudo::new(SOURCE, "eu-west-1");
    let none = BTreeMap::new();
    let run = |text: &str| {
        Template::parse(text)
            .unwrap()
            .evaluate(&none, &pseudo)
            .unwrap_err()
    };
    let err = run("Conditions:\n  C: !Equals [!Base64 x, y]\n");
    assert_eq!(
        err,
        TemplateError::UnsupportedFunction {
            context: "Conditions.C".into(),
            function: "Fn::Base64".into()
        }
    );
    let err = run("Conditions:\n  C: !Not [!Condition D]\n");
    assert!(
        matches!(err, TemplateError::UnknownCondition { ref name, .. } if name == "D"),
        "{err}"
    );
    let err = run("Conditions:\n  C: !Not [!Condition D]\n  D: !Not [!Condition C]\n");
    assert!(matches!(err, TemplateError::CyclicCondition(_)), "{err}");
    let err = run("Conditions:\n  C: !Equals [!Ref Nope, x]\n");
    assert!(
        matches!(err, TemplateError::UnknownReference { ref name, .. } if name == "Nope"),
        "{err}"
    );
    let err = run("Conditions:\n  C: !Equals [!Select [3, !Split [',', 'a,b']], x]\n");
    assert!(err.to_string().contains("out of range"), "{err}");
    assert!(matches!(
        Template::parse("a: [").unwrap_err(),
        TemplateError::Yaml(_)
    ));
}

#[test]
fn intrinsics_resolve_like_cloudformation() {
    let text = r#"
Parameters:
  L: {Type: CommaDelimitedList, Default: "a,b"}
  N: {Type: Number, Default: 7}
Mappings:
  M: {eu-west-1: {Name: dublin}}
Conditions:
  IsSeven: !Equals [!Ref N, "7"]
  HasB: !Equals [!Select [1, !Ref L], b]
  Both: !And [!Condition IsSeven, !Condition HasB]
Resources:
  Q:
    Type: AWS::SQS::Queue
    Condition: Both
    Properties:
      QueueName: !Sub "${AWS::StackName}-${L2}-${!Literal}"
      Tags:
        - {Key: region, Value: !FindInMap [M, !Ref AWS::Region, Name]}
        - !If [IsSeven, !Ref AWS::NoValue, {Key: x, Value: y}]
        - {Key: joined, Value: !Join ["+", !Ref L]}
        - {Key: later, Value: !GetAtt Other.Thing}
  Other:
    Type: Custom::Thing
"#
    .replace("${L2}", "${N}");
    let t = Template::parse(&text).unwrap();
    let e = t
        .evaluate(&BTreeMap::new(), &Pseudo::new(SOURCE, "eu-west-1"))
        .unwrap();
    assert_eq!(
        e.conditions,
        BTreeMap::from([
            ("Both".into(), true),
            ("HasB".into(), true),
            ("IsSeven".into(), true)
        ])
    );
    assert_eq!(
        e.properties("Q").unwrap().unwrap(),
        json!({
            "QueueName": "crossvault-7-${Literal}",
            "Tags": [
                {"Key": "region", "Value": "dublin"},
                {"Key": "joined", "Value": "a+b"},
                {"Key": "later", "Value": {"Fn::GetAtt": ["Other", "Thing"]}}
            ]
        })
    );
    // Without the handler, the role comes from the role conditions (none here: source).
    assert_eq!(e.role, Role::Source);
}

/// The template's `Rules`: bad parameter combinations are refused before anything is created,
/// with a message that says what to change.
#[test]
fn rules_refuse_bad_parameter_combinations() {
    let t = template();
    let broken = |extra: &[(&str, &str)]| -> Vec<String> {
        eval(&t, SOURCE, "eu-west-1", extra)
            .broken_rules()
            .unwrap()
            .into_iter()
            .map(|f| f.rule)
            .collect()
    };
    assert!(broken(&[]).is_empty(), "the contract's parameters pass");
    assert_eq!(
        broken(&[("PreProdAccountIds", "333333333333,222222222222")]),
        ["PreProdIsNotTheBackupAccount"]
    );
    assert_eq!(
        broken(&[("ProductionAccountIds", "222222222222")]),
        ["ProductionIsNotTheBackupAccount"]
    );
    assert_eq!(
        broken(&[("BackupRegionAlternate", "eu-central-1")]),
        ["AlternateRegionDiffers"]
    );
    let failure = &eval(
        &t,
        SOURCE,
        "eu-west-1",
        &[("PreProdAccountIds", "222222222222")],
    )
    .broken_rules()
    .unwrap()[0];
    assert!(
        failure.description.contains("Remove it from the list"),
        "{}",
        failure.description
    );
}

fn allowed_pattern(name: &str) -> regex::Regex {
    let raw: serde_norway::Value = serde_norway::from_str(TEMPLATE).unwrap();
    let pattern = raw["Parameters"][name]["AllowedPattern"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has no AllowedPattern"));
    regex::Regex::new(pattern).unwrap()
}

/// Every default satisfies its own AllowedPattern (CloudFormation would refuse the template's
/// own defaults otherwise), and the key ARN pattern tells the accepted forms apart.
#[test]
fn allowed_patterns_accept_defaults_and_key_aliases() {
    let raw: serde_norway::Value = serde_norway::from_str(TEMPLATE).unwrap();
    for (name, decl) in raw["Parameters"].as_mapping().unwrap() {
        let (Some(pattern), Some(default)) = (decl["AllowedPattern"].as_str(), decl.get("Default"))
        else {
            continue;
        };
        let default = match default {
            serde_norway::Value::String(s) => s.clone(),
            other => serde_norway::to_string(other).unwrap().trim().to_owned(),
        };
        let re = regex::Regex::new(pattern).unwrap();
        let values: Vec<&str> = if decl["Type"].as_str() == Some("CommaDelimitedList") {
            default.split(',').collect()
        } else {
            vec![&default]
        };
        for v in values {
            assert!(re.is_match(v), "{name:?}: default {v:?} breaks {pattern}");
        }
    }
    // An alias, not an ARN: one value names the key in every account and region.
    let key = allowed_pattern("KmsKeyAlias");
    for good in ["", "alias/backup", "alias/team/backup-key_1"] {
        assert!(key.is_match(good), "{good}");
    }
    for bad in [
        "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:eu-west-1:111111111111:alias/backup",
        "backup",
        "alias/",
        "alias/with space",
    ] {
        assert!(!key.is_match(bad), "{bad}");
    }
    assert!(
        !t_has_parameter("KmsKeyArn"),
        "a per-account ARN cannot be a StackSet parameter"
    );
}

fn t_has_parameter(name: &str) -> bool {
    template().parameters().contains_key(name)
}

/// The vault key's policy statements in one instance.
fn key_statements(t: &Template, account: &str, region: &str, extra: &[(&str, &str)]) -> Vec<Json> {
    let e = eval(t, account, region, extra);
    let Some(key) = e.properties("VaultKey").unwrap() else {
        return Vec::new();
    };
    key["KeyPolicy"]["Statement"].as_array().unwrap().clone()
}

fn statement<'s>(statements: &'s [Json], sid: &str) -> &'s Json {
    statements
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no {sid}: {statements:#?}"))
}

fn principals(statement: &Json) -> Vec<String> {
    match &statement["Principal"]["AWS"] {
        Json::String(p) => vec![p.clone()],
        Json::Array(ps) => ps
            .iter()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

fn actions(statement: &Json) -> Vec<String> {
    match &statement["Action"] {
        Json::String(a) => vec![a.clone()],
        Json::Array(a) => a
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

/// Each role's key lets exactly the accounts that must use it do so, and only for what a copy
/// needs: through AWS Backup (and, into central and pre-prod vaults, the snapshot services) in
/// this region, grants only for AWS resources. A source key admits the backup and pre-prod
/// accounts (which receive its copies); the central key the organization; the pre-prod key the
/// production accounts when they are named.
#[test]
fn each_roles_key_policy_admits_whom_it_must() {
    let t = template();
    let source = key_statements(&t, SOURCE, "eu-west-1", &[]);
    let use_key = statement(&source, "CrossvaultCopyDestinationsUseKey");
    assert_eq!(principals(use_key), [BACKUP, PREPROD]);
    assert_eq!(
        actions(use_key),
        ["kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    );
    // Through RDS too: re-encrypted RDS and Aurora copies keep this key until copied.
    assert_eq!(
        use_key["Condition"],
        json!({"StringEquals": {"kms:ViaService": ["backup.eu-west-1.amazonaws.com", "rds.eu-west-1.amazonaws.com"]}})
    );
    let grant = statement(&source, "CrossvaultCopyDestinationsGrant");
    assert_eq!(principals(grant), [BACKUP, PREPROD]);
    assert_eq!(actions(grant), ["kms:CreateGrant"]);
    assert_eq!(
        grant["Condition"]["Bool"],
        json!({"kms:GrantIsForAWSResource": "true"})
    );
    assert_eq!(
        grant["Condition"]["StringEquals"]["kms:ViaService"],
        json!([
            "backup.eu-west-1.amazonaws.com",
            "rds.eu-west-1.amazonaws.com"
        ])
    );
    // Without pre-prod accounts the source key admits the backup account alone.
    let alone = key_statements(&t, SOURCE, "eu-west-1", &[("PreProdAccountIds", "")]);
    assert_eq!(
        principals(statement(&alone, "CrossvaultCopyDestinationsUseKey")),
        [BACKUP]
    );

    let via = |region: &str| {
        json!(
            ["backup", "rds", "ec2", "fsx"]
                .iter()
                .map(|s| format!("{s}.{region}.amazonaws.com"))
                .collect::<Vec<_>>()
        )
    };
    let org_id = json!({"Fn::GetAtt": ["OrgInfo", "OrganizationId"]});
    for (account, region, extra, accounts) in [
        (BACKUP, "eu-central-1", &[][..], None),
        (BACKUP, "eu-west-1", &[][..], None),
        (PREPROD, "eu-west-1", &[][..], None),
        (
            PREPROD,
            "eu-west-1",
            &[("ProductionAccountIds", "111111111111")][..],
            Some(json!([BACKUP, SOURCE])),
        ),
    ] {
        let statements = key_statements(&t, account, region, extra);
        for sid in ["CrossvaultCopiesInUseKey", "CrossvaultCopiesInGrant"] {
            let s = statement(&statements, sid);
            assert_eq!(principals(s), ["*"], "{account} {region} {sid}");
            let equals = &s["Condition"]["StringEquals"];
            assert_eq!(
                equals["aws:PrincipalOrgID"], org_id,
                "{account} {region} {sid}"
            );
            assert_eq!(
                equals["kms:ViaService"],
                via(region),
                "{account} {region} {sid}"
            );
            assert_eq!(
                equals.get("aws:PrincipalAccount").cloned(),
                accounts.clone(),
                "{account} {region} {sid} {extra:?}"
            );
        }
        assert_eq!(
            statement(&statements, "CrossvaultCopiesInGrant")["Condition"]["Bool"],
            json!({"kms:GrantIsForAWSResource": "true"})
        );
        assert!(
            statements
                .iter()
                .all(|s| s["Sid"] != "CrossvaultCopyDestinationsUseKey"),
            "{account}: not a source key"
        );
    }
    // Nothing allowed to "*" without the organization condition, in any role.
    for (account, region) in [
        (SOURCE, "eu-west-1"),
        (BACKUP, "eu-central-1"),
        (PREPROD, "eu-west-1"),
    ] {
        for s in key_statements(
            &t,
            account,
            region,
            &[("NotificationScope", "organization")],
        ) {
            if s["Effect"] == "Allow" && principals(&s).contains(&"*".to_owned()) {
                assert_eq!(
                    s["Condition"]["StringEquals"]["aws:PrincipalOrgID"], org_id,
                    "{s:#}"
                );
            }
        }
    }
    // No vault, no key: the management account and backup regions where no copy lands.
    assert!(key_statements(&t, MANAGEMENT, "eu-west-1", &[]).is_empty());
    assert!(!eval(&t, BACKUP, "us-east-1", &[]).exists("VaultKey"));
}

/// Vault Lock protects recovery points, not their key: crossvault's central key, when the vault
/// is locked, denies deletion, disabling and policy changes to everyone but the break-glass
/// roles. Source and pre-prod keys (their originals get shortened) and keys you bring are not.
#[test]
fn a_locked_central_vaults_key_cannot_be_deleted_disabled_or_re_policed() {
    let t = template();
    let protect = |account, region, extra: &[(&str, &str)]| {
        key_statements(&t, account, region, extra)
            .into_iter()
            .find(|s| s["Sid"] == "CrossvaultProtectKey")
    };
    let locked = protect(BACKUP, "eu-central-1", &[]).expect("governance is the default");
    assert_eq!(locked["Effect"], "Deny");
    assert_eq!(principals(&locked), ["*"]);
    assert_eq!(
        actions(&locked),
        [
            "kms:ScheduleKeyDeletion",
            "kms:DisableKey",
            "kms:PutKeyPolicy"
        ]
    );
    assert!(
        locked.get("Condition").is_none(),
        "no exemption by default: {locked:#}"
    );
    let glass = protect(
        BACKUP,
        "eu-central-1",
        &[(
            "VaultAdminRoleArns",
            "arn:aws:iam::222222222222:role/BreakGlass",
        )],
    )
    .unwrap();
    assert_eq!(
        glass["Condition"],
        json!({"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::222222222222:role/BreakGlass"]}})
    );
    assert!(protect(BACKUP, "eu-central-1", &[("VaultLockMode", "none")]).is_none());
    assert!(protect(BACKUP, "eu-central-1", &[("VaultLockMode", "compliance")]).is_some());
    assert!(protect(SOURCE, "eu-west-1", &[]).is_none());
    assert!(protect(PREPROD, "eu-west-1", &[]).is_none());
    // The key is crossvault's, found by its alias, multi-Region only if asked.
    let e = eval(&t, BACKUP, "eu-central-1", &[]);
    let key = e.properties("VaultKey").unwrap().unwrap();
    assert_eq!(key["AliasName"], "alias/crossvault-vault");
    assert_eq!(key["MultiRegion"], "false");
}

/// A key you bring is named by alias and looked up per account and region; crossvault then
/// creates none, and every vault and topic uses yours.
#[test]
fn a_key_you_bring_is_looked_up_by_alias_everywhere() {
    let t = template();
    for (account, region, vault) in [
        (SOURCE, "eu-west-1", "SourceVault"),
        (BACKUP, "eu-central-1", "CentralVault"),
        (PREPROD, "eu-west-1", "PreProdVault"),
    ] {
        let e = eval(&t, account, region, &[("KmsKeyAlias", "alias/backup")]);
        assert!(
            !e.exists("VaultKey") && e.exists("ExistingKey"),
            "{account}"
        );
        assert_eq!(
            e.properties("ExistingKey").unwrap().unwrap()["AliasName"],
            "alias/backup"
        );
        let existing = json!({"Fn::GetAtt": ["ExistingKey", "KeyArn"]});
        assert_eq!(
            e.properties(vault).unwrap().unwrap()["EncryptionKeyArn"],
            existing
        );
        assert_eq!(
            e.properties("NotificationTopic").unwrap().unwrap()["KmsMasterKeyId"],
            existing
        );
        let own = eval(&t, account, region, &[]);
        assert_eq!(
            own.properties(vault).unwrap().unwrap()["EncryptionKeyArn"],
            json!({"Fn::GetAtt": ["VaultKey", "KeyArn"]})
        );
    }
}

/// Parameters that would deploy and fail later, or silently, are refused before anything is
/// deployed: by the template's Rules where equality and membership can say it, otherwise by
/// `Custom::HandlerConfiguration` (every key, vault and event rule depends on it), which checks
/// the handler's configuration exactly as `config_of` parses it here.
#[test]
fn misconfiguration_is_refused_before_anything_is_deployed() {
    let t = template();
    let rules = |extra: &[(&str, &str)]| -> Vec<String> {
        eval(&t, SOURCE, "eu-west-1", extra)
            .broken_rules()
            .unwrap()
            .into_iter()
            .map(|f| f.rule)
            .collect()
    };
    let config_error = |account: &str, extra: &[(&str, &str)]| -> String {
        config_of(&eval(&t, account, "eu-west-1", extra))
            .expect_err("the configuration check refuses it")
            .to_string()
    };
    // Management account = backup account, or in the pre-prod list: global settings never set.
    assert_eq!(
        rules(&[("ManagementAccountId", BACKUP)]),
        ["ManagementIsNeitherBackupNorPreProd"]
    );
    assert!(config_error(SOURCE, &[("ManagementAccountId", BACKUP)]).contains("backup role"));
    assert_eq!(
        rules(&[("ManagementAccountId", PREPROD)]),
        ["ManagementIsNeitherBackupNorPreProd"]
    );
    assert!(config_error(SOURCE, &[("ManagementAccountId", PREPROD)]).contains("pre-prod role"));
    assert!(
        rules(&[("ManagementAccountId", "")]).is_empty(),
        "no management account is fine"
    );
    // A 6th pre-prod account would become a source account: refused in every instance, the
    // 6th account's own included.
    let six = "333333333333,333333333334,333333333335,333333333336,333333333337,333333333338";
    for account in [SOURCE, "333333333338", PREPROD] {
        let e = eval(&t, account, "eu-west-1", &[("PreProdAccountIds", six)]);
        assert!(e.broken_rules().unwrap().is_empty(), "Rules cannot count");
        let error = config_of(&e).unwrap_err().to_string();
        assert!(error.contains("lists 6 accounts"), "{account}: {error}");
    }
    assert_eq!(
        eval(
            &t,
            "333333333338",
            "eu-west-1",
            &[("PreProdAccountIds", six)]
        )
        .role,
        Role::Source,
        "what it would have deployed as"
    );
    // Cold storage needs 90 days before deletion.
    assert!(
        config_error(
            BACKUP,
            &[
                ("CopyMoveToColdStorageAfterDays", "30"),
                ("CopyDeleteAfterDays", "119")
            ]
        )
        .contains("at least CopyMoveToColdStorageAfterDays + 90 = 30 + 90 = 120")
    );
    assert!(
        config_of(&eval(
            &t,
            BACKUP,
            "eu-west-1",
            &[
                ("CopyMoveToColdStorageAfterDays", "30"),
                ("CopyDeleteAfterDays", "120")
            ]
        ))
        .is_ok()
    );
    // A lock range that excludes the copies' retention makes every copy fail: refused in the
    // source accounts (which start the copies) as much as in the backup account.
    for account in [SOURCE, BACKUP] {
        let e = config_error(account, &[("LockMinRetentionDays", "36")]);
        assert!(
            e.contains("outside the central vault's Vault Lock range 36..unbounded"),
            "{e}"
        );
        let e = config_error(account, &[("LockMaxRetentionDays", "30")]);
        assert!(e.contains("7..30"), "{e}");
    }
    assert!(
        config_of(&eval(
            &t,
            SOURCE,
            "eu-west-1",
            &[("LockMinRetentionDays", "36"), ("VaultLockMode", "none")]
        ))
        .is_ok(),
        "no lock, no range"
    );
    // Everything that could be deployed waits for the check.
    let e = eval(&t, BACKUP, "eu-central-1", &[]);
    for resource in &e.resources {
        let r = &t.resources()[&resource.logical_id];
        let deploys_something = matches!(
            r.resource_type.as_str(),
            "Custom::VaultKey"
                | "Custom::ExistingKey"
                | "Custom::BackupRegionSettings"
                | "Custom::BackupGlobalSettings"
                | "AWS::Events::Rule"
                | "AWS::Lambda::EventSourceMapping"
        );
        if deploys_something {
            assert_eq!(
                r.depends_on,
                ["HandlerConfiguration"],
                "{}",
                resource.logical_id
            );
        }
    }
    // Vaults need a key, which needs the check; their policies and locks need the vault.
    let vault = e.properties("CentralVault").unwrap().unwrap();
    assert_eq!(
        vault["EncryptionKeyArn"],
        json!({"Fn::GetAtt": ["VaultKey", "KeyArn"]})
    );
    // The check runs again whenever a parameter it depends on changes.
    let check = e.properties("HandlerConfiguration").unwrap().unwrap();
    let listed = check["Parameters"].as_array().unwrap().len();
    assert!(listed >= 20, "{check:#}");
}

/// One rule for vault names: what the template's parameters admit is exactly what the
/// handler's parser (`VaultName`, the Backup API's `BackupVaultName` pattern) admits, so a
/// stack that deploys never hands the handler a name it rejects.
#[test]
fn vault_name_parameters_admit_exactly_what_the_handler_parses() {
    let samples = [
        "crossvault",
        "Default",
        "prod_vault-2",
        "ab",
        "a",
        "has.dot",
        "has space",
        "vault/1",
        "ümlaut",
        &"x".repeat(32),
        &"x".repeat(33),
        &"x".repeat(50),
        &"x".repeat(51),
    ];
    for name in ["VaultName", "SourceVaultName"] {
        let re = allowed_pattern(name);
        for s in samples {
            // VaultName also names IAM roles and the Lambda, so it is shorter: the parameter may
            // be stricter than the parser, never looser.
            let parses = crossvault_core::VaultName::new(s).is_ok();
            let admitted = re.is_match(s);
            if name == "SourceVaultName" {
                assert_eq!(
                    admitted, parses,
                    "{name} admits {s:?}: {admitted}, parser: {parses}"
                );
            } else {
                assert!(
                    !admitted || parses,
                    "{name} admits {s:?} but the handler rejects it"
                );
            }
        }
        assert!(!re.is_match("has.dot"), "{name} must refuse '.'");
    }
}

/// With NotificationScope organization, every handler publishes to one topic in the backup
/// account and backup region (one e-mail confirmation for the organization), which admits only
/// crossvault's handler roles of the organization; the per-instance topics stay for the alarms
/// and get no subscription.
#[test]
fn organization_notifications_go_to_one_topic_in_the_backup_account() {
    let t = template();
    let org = [
        ("NotificationScope", "organization"),
        ("NotificationEmail", "backup-team@example.com"),
    ];
    let org_topic = "arn:aws:sns:eu-central-1:222222222222:crossvault-org-notifications";
    for (account, region) in [
        (SOURCE, "eu-west-1"),
        (SOURCE, "us-east-1"),
        (PREPROD, "eu-west-1"),
        (BACKUP, "eu-west-1"),
        (BACKUP, "eu-central-1"),
    ] {
        let e = eval(&t, account, region, &org);
        assert_eq!(
            handler_environment(&e).unwrap()["CROSSVAULT_NOTIFY_TOPIC_ARN"],
            org_topic,
            "{account} {region}"
        );
        assert!(!e.exists("NotificationSubscription"), "{account} {region}");
        assert!(e.exists("NotificationTopic"), "the alarm's topic stays");
        let here = account == BACKUP && region == "eu-central-1";
        for id in [
            "OrganizationTopic",
            "OrganizationTopicPolicy",
            "OrganizationSubscription",
        ] {
            assert_eq!(e.exists(id), here, "{id} in {account} {region}");
        }
        let handler = e.properties("HandlerRole").unwrap().unwrap();
        let statements = handler["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap();
        let publish = statements.iter().find(|s| s["Sid"] == "Notify").unwrap();
        assert_eq!(publish["Resource"], org_topic);
        let key = statements
            .iter()
            .find(|s| s["Sid"] == "NotifyEncrypted")
            .unwrap();
        assert_eq!(
            key["Resource"],
            "arn:aws:kms:eu-central-1:222222222222:key/*"
        );
        assert_eq!(
            key["Condition"]["StringEquals"]["kms:ViaService"],
            "sns.eu-central-1.amazonaws.com"
        );
    }
    let e = eval(&t, BACKUP, "eu-central-1", &org);
    let policy = e.properties("OrganizationTopicPolicy").unwrap().unwrap();
    assert_eq!(
        policy["PolicyDocument"]["Statement"][0]["Condition"],
        json!({
            "StringEquals": {"aws:PrincipalOrgID": {"Fn::GetAtt": ["OrgInfo", "OrganizationId"]}},
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/crossvault-handler-*"}
        })
    );
    assert_eq!(
        e.properties("OrganizationSubscription").unwrap().unwrap()["Endpoint"],
        "backup-team@example.com"
    );
    let key = statement(
        &key_statements(&t, BACKUP, "eu-central-1", &org),
        "CrossvaultOrganizationNotifies",
    )
    .clone();
    assert_eq!(
        key["Condition"]["StringEquals"]["kms:ViaService"],
        "sns.eu-central-1.amazonaws.com"
    );
    // The default: a topic and a subscription per instance.
    let own = eval(
        &t,
        SOURCE,
        "eu-west-1",
        &[("NotificationEmail", "backup-team@example.com")],
    );
    assert!(own.exists("NotificationSubscription") && !own.exists("OrganizationTopic"));
    assert_eq!(
        handler_environment(&own).unwrap()["CROSSVAULT_NOTIFY_TOPIC_ARN"],
        "arn:aws:sns:eu-west-1:111111111111:crossvault-notifications"
    );
}

//! Shared test helpers: configurations for the contract's accounts and the shared fixtures.
#![allow(dead_code)]

use std::collections::BTreeMap;

use crossvault_core::config::vars;
use crossvault_core::{StackConfig, VaultArn};
use serde_json::Value;

pub const SOURCE: &str = "111111111111";
pub const BACKUP: &str = "222222222222";
pub const PREPROD: &str = "333333333333";
pub const COPY_ROLE: &str = "arn:aws:iam::111111111111:role/crossvault-copy";
pub const BACKUP_COPY_ROLE: &str = "arn:aws:iam::222222222222:role/crossvault-copy";

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/events");

/// The fixture file names.
pub const FIXTURE_NAMES: &[&str] = &[
    "backup-job-completed-ondemand-efs.json",
    "backup-job-completed-plan-rds.json",
    "copy-job-completed-to-backup-account.json",
    "copy-job-failed.json",
    "copy-job-running.json",
    "recovery-point-arrived-preprod.json",
    "restore-job-completed.json",
    "restore-job-completed-crossvault.json",
];

pub fn fixture(name: &str) -> Value {
    let path = format!("{FIXTURES}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn env(role: &str, account: &str, role_arn: &str) -> BTreeMap<String, String> {
    [
        (vars::ROLE, role),
        (vars::ACCOUNT_ID, account),
        (vars::BACKUP_ACCOUNT_ID, BACKUP),
        (vars::BACKUP_REGION, "eu-central-1"),
        (vars::BACKUP_REGION_ALTERNATE, "eu-west-1"),
        (vars::PREPROD_ACCOUNT_IDS, PREPROD),
        (vars::VAULT_NAME, "crossvault"),
        (vars::CENTRAL_VAULT_NAME, "crossvault"),
        (vars::PREPROD_VAULT_NAME, "crossvault"),
        (vars::COPY_ROLE_ARN, role_arn),
        (vars::COPY_DELETE_AFTER_DAYS, "35"),
        (vars::NEW_DELETE_AFTER_DAYS, "7"),
        (vars::COPY_TO_LOCAL_REGION, "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn build(mut env: BTreeMap<String, String>, overrides: &[(&str, &str)]) -> StackConfig {
    for (k, v) in overrides {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    StackConfig::from_env_map(&env).expect("test configuration is valid")
}

/// Source account 111111111111 (the stack the fixtures were emitted in).
pub fn source(overrides: &[(&str, &str)]) -> StackConfig {
    build(env("source", SOURCE, COPY_ROLE), overrides)
}

/// The backup account.
pub fn backup(overrides: &[(&str, &str)]) -> StackConfig {
    build(env("backup", BACKUP, BACKUP_COPY_ROLE), overrides)
}

/// The pre-prod account.
pub fn preprod(overrides: &[(&str, &str)]) -> StackConfig {
    build(env("preprod", PREPROD, ""), overrides)
}

pub fn vault(region: &str, account: &str) -> VaultArn {
    VaultArn::parse(&format!(
        "arn:aws:backup:{region}:{account}:backup-vault:crossvault"
    ))
    .unwrap()
}

/// Sets the value at a `/`-separated JSON pointer (the parent object must exist).
pub fn set(event: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    event
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent:?}"))
        .insert(key.to_owned(), value);
}

/// Removes a key from an object at a JSON pointer.
pub fn remove(event: &mut Value, parent: &str, key: &str) {
    event
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no {parent}"))
        .remove(key);
}

//! What the end-to-end tests share: an organization per test, and ways to read what AWS
//! shows (copy jobs, lifecycles, the request log) without looking inside the handler.

#![allow(dead_code)] // each test file uses a different part

use std::collections::BTreeSet;

use crossvault_tests::lambda::HANDLER_APP;
use crossvault_tests::org::{Org, OrgIds};
use crossvault_tests::runner::NightLog;
use crossvault_tests::story::Outcome;
use crossvault_tests::testbed::{ApiCall, CallFilter};

pub async fn org(tag: &str) -> Org {
    let url = crossvault_tests::require_testbed();
    Org::create(&url, OrgIds::unique(tag)).await.unwrap()
}

pub fn vault(account: &str, region: &str) -> String {
    Org::vault_arn(account, region, "crossvault")
}

/// The original of the night's backup of `db`.
pub fn original<'a>(night: &'a NightLog, db: &str) -> &'a str {
    night
        .backups
        .iter()
        .find(|b| b.spec.db_instance == db)
        .and_then(|b| b.recovery_point_arn.as_deref())
        .unwrap_or_else(|| panic!("no recovery point for {db}"))
}

/// `(destination vault, state, the landed copy's DeleteAfterDays)` of every copy of `rp`.
pub fn copies(outcome: &Outcome, rp: &str) -> BTreeSet<(String, String, Option<i64>)> {
    outcome
        .copies_of(rp)
        .into_iter()
        .map(|c| {
            let days = c
                .destination_recovery_point_arn
                .as_deref()
                .and_then(|a| outcome.point(a))
                .and_then(|p| p.delete_after_days);
            (c.destination_vault_arn.clone(), c.state.clone(), days)
        })
        .collect()
}

pub fn delete_days(outcome: &Outcome, rp: &str) -> Option<i64> {
    outcome.point(rp).and_then(|p| p.delete_after_days)
}

pub fn completed(vault: String, days: i64) -> (String, String, Option<i64>) {
    (vault, "COMPLETED".into(), Some(days))
}

/// The calls of `operation` the handlers made in `account` after request `since`.
pub async fn handler_calls(org: &Org, account: &str, operation: &str, since: u64) -> Vec<ApiCall> {
    org.testbed
        .requests(&CallFilter {
            account: Some(account),
            service: Some("backup"),
            operation: Some(operation),
            app: Some(HANDLER_APP),
            since,
            ..CallFilter::default()
        })
        .await
        .unwrap()
}

/// The current `DeleteAfterDays` of `rp` in `account`/`region`'s managed vault.
pub async fn current_days(org: &Org, account: &str, region: &str, rp: &str) -> Option<i64> {
    org.backup(account, region)
        .await
        .unwrap()
        .describe_recovery_point()
        .backup_vault_name("crossvault")
        .recovery_point_arn(rp)
        .send()
        .await
        .unwrap()
        .lifecycle
        .and_then(|l| l.delete_after_days)
}

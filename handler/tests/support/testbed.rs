//! A small emulated organization on the local test bed (`tests/testbed`, started by
//! `scripts/testbed start`, found through `CROSSVAULT_TESTBED_URL`) for the handler's
//! integration tests and benchmark: fresh account ids per use (the test bed is shared, never
//! reset), vaults, central vault policies, cross-account backup on, and the handler's real
//! pipeline for an account. Jobs and events are the test bed's; nothing is mocked.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_backup::types::Lifecycle;
use crossvault_core::StackConfig;
use crossvault_handler::clients::AwsClients;
use crossvault_handler::clock::Clock;
use crossvault_handler::pipeline::Pipeline;
use serde_json::{Value, json};

pub const SOURCE_REGION: &str = "eu-west-1";
pub const BACKUP_REGION: &str = "eu-central-1";
pub const VAULT: &str = "crossvault";

/// The test bed's URL; a missing test bed fails the test loudly.
pub fn url() -> String {
    match std::env::var("CROSSVAULT_TESTBED_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_owned(),
        _ => panic!(
            "CROSSVAULT_TESTBED_URL is not set: start the test bed (scripts/testbed start) and \
             export CROSSVAULT_TESTBED_URL=http://127.0.0.1:${{CROSSVAULT_TESTBED_PORT:-5123}}"
        ),
    }
}

/// `n` account ids nobody else on this test bed uses.
pub fn fresh_ids(n: usize) -> Vec<String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let taken = NEXT.fetch_add(n as u64, Ordering::SeqCst);
    let seed = micros
        .wrapping_mul(7)
        .wrapping_add(u64::from(std::process::id()) * 1_000_003)
        .wrapping_add(taken * 101);
    let base = 100_000_000_000 + seed % 800_000_000_000;
    (0..n as u64).map(|i| format!("{:012}", base + i)).collect()
}

/// The control API.
pub async fn control(method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let url = format!("{}/_testbed{path}", url());
    let mut request = reqwest::Client::new().request(method.clone(), &url);
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e} (is the test bed running?)"));
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert!(
        status.is_success(),
        "{method} {url} answered {status}: {value}"
    );
    value
}

/// An account's SDK configuration on the test bed in `region`: credentials of a role in the
/// account from the test bed's STS (they select the account, as in AWS).
pub async fn sdk(account: &str, region: &str) -> SdkConfig {
    let base = |credentials: aws_sdk_sts::config::Credentials, region: &str| {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(url())
            .region(Region::new(region.to_owned()))
            .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
                credentials,
            ))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .build()
    };
    let bootstrap = base(
        aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "tests"),
        region,
    );
    let out = aws_sdk_sts::Client::new(&bootstrap)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/crossvault"))
        .role_session_name("crossvault-handler-tests")
        .send()
        .await
        .expect("sts:AssumeRole on the test bed");
    let c = out.credentials.expect("credentials");
    base(
        aws_sdk_sts::config::Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "tests-assumed",
        ),
        region,
    )
}

pub async fn backup(account: &str, region: &str) -> aws_sdk_backup::Client {
    aws_sdk_backup::Client::new(&sdk(account, region).await)
}

/// A source account, the backup account and the management account of one organization, with
/// cross-account backup on, the source's vault and the central vaults (admitting the
/// organization) in both regions.
#[derive(Debug, Clone)]
pub struct Org {
    pub source: String,
    pub backup_account: String,
    pub management: String,
    pub organization_id: String,
}

impl Org {
    pub async fn create() -> Self {
        let ids = fresh_ids(3);
        let (source, backup_account, management) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
        let org = control(
            reqwest::Method::POST,
            "/organization",
            Some(json!({"managementAccountId": management, "accounts": [source, backup_account]})),
        )
        .await;
        let organization_id = org["organizationId"]
            .as_str()
            .expect("organization id")
            .to_owned();
        backup(&management, SOURCE_REGION)
            .await
            .update_global_settings()
            .global_settings("isCrossAccountBackupEnabled", "true")
            .send()
            .await
            .expect("backup:UpdateGlobalSettings as the management account");
        create_vault(&source, SOURCE_REGION, None).await;
        let policy = json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "AllowCopiesFromTheOrganization", "Effect": "Allow", "Principal": "*",
            "Action": "backup:CopyIntoBackupVault", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}}}]});
        for region in [SOURCE_REGION, BACKUP_REGION] {
            create_vault(&backup_account, region, Some(&policy)).await;
        }
        Self {
            source,
            backup_account,
            management,
            organization_id,
        }
    }

    /// The source stack's configuration, with `overrides`.
    pub fn source_config(&self, overrides: &[(&str, &str)]) -> StackConfig {
        self.config("source", &self.source, overrides)
    }

    /// The backup stack's configuration, with `overrides`.
    pub fn backup_config(&self, overrides: &[(&str, &str)]) -> StackConfig {
        self.config("backup", &self.backup_account, overrides)
    }

    fn config(&self, role: &str, account: &str, overrides: &[(&str, &str)]) -> StackConfig {
        let copy_role = format!("arn:aws:iam::{account}:role/crossvault-copy-{SOURCE_REGION}");
        let mut vars: Vec<(String, String)> = [
            ("CROSSVAULT_ROLE", role),
            ("CROSSVAULT_ACCOUNT_ID", account),
            ("CROSSVAULT_BACKUP_ACCOUNT_ID", self.backup_account.as_str()),
            ("CROSSVAULT_BACKUP_REGION", BACKUP_REGION),
            ("CROSSVAULT_BACKUP_REGION_ALTERNATE", SOURCE_REGION),
            ("CROSSVAULT_VAULT_NAME", VAULT),
            ("CROSSVAULT_CENTRAL_VAULT_NAME", VAULT),
            ("CROSSVAULT_PREPROD_VAULT_NAME", VAULT),
            ("CROSSVAULT_COPY_ROLE_ARN", copy_role.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        vars.extend(
            overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        StackConfig::from_iter(vars).expect("valid test configuration")
    }

    /// The real pipeline of `account` in `region`, deciding by `clock` when given.
    pub async fn pipeline(
        &self,
        account: &str,
        region: &str,
        config: StackConfig,
        clock: Option<Arc<dyn Clock>>,
    ) -> Pipeline {
        let clients = Arc::new(AwsClients::from_config(sdk(account, region).await));
        let p = Pipeline::new(clients, config, region.parse().unwrap());
        match clock {
            Some(clock) => p.with_clock(clock),
            None => p,
        }
    }

    /// The central vault ARN in `region`.
    pub fn central(&self, region: &str) -> String {
        format!(
            "arn:aws:backup:{region}:{}:backup-vault:{VAULT}",
            self.backup_account
        )
    }

    /// An on-demand EFS backup in the source account: the new recovery point.
    pub async fn backup_efs(&self, name: &str, lifecycle: Lifecycle) -> String {
        let out = backup(&self.source, SOURCE_REGION)
            .await
            .start_backup_job()
            .backup_vault_name(VAULT)
            .resource_arn(format!(
                "arn:aws:elasticfilesystem:{SOURCE_REGION}:{}:file-system/fs-{name}",
                self.source
            ))
            .iam_role_arn(format!(
                "arn:aws:iam::{}:role/service-role/AWSBackupDefaultServiceRole",
                self.source
            ))
            .lifecycle(lifecycle)
            .send()
            .await
            .expect("backup:StartBackupJob");
        out.recovery_point_arn.expect("a recovery point ARN")
    }

    /// Every event emitted in `account`/`region` of `detail_type` about `recovery_point`
    /// (`resources[0]`), in order.
    pub async fn events(
        &self,
        account: &str,
        region: &str,
        detail_type: &str,
        recovery_point: &str,
    ) -> Vec<Value> {
        let path = format!(
            "/events?account={account}&region={region}&detailType={}",
            detail_type.replace(' ', "%20")
        );
        control(reqwest::Method::GET, &path, None).await["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["resources"][0].as_str() == Some(recovery_point))
            .collect()
    }

    /// The source point's copy jobs.
    pub async fn copy_jobs(&self, recovery_point: &str) -> Vec<aws_sdk_backup::types::CopyJob> {
        backup(&self.source, SOURCE_REGION)
            .await
            .list_copy_jobs()
            .by_source_recovery_point_arn(recovery_point)
            .send()
            .await
            .expect("backup:ListCopyJobs")
            .copy_jobs
            .unwrap_or_default()
    }

    /// The original's lifecycle (DeleteAfterDays, MoveToColdStorageAfterDays).
    pub async fn lifecycle_of(&self, recovery_point: &str) -> (Option<i64>, Option<i64>) {
        let out = backup(&self.source, SOURCE_REGION)
            .await
            .describe_recovery_point()
            .backup_vault_name(VAULT)
            .recovery_point_arn(recovery_point)
            .send()
            .await
            .expect("backup:DescribeRecoveryPoint");
        let l = out.lifecycle.expect("a lifecycle");
        (l.delete_after_days, l.move_to_cold_storage_after_days)
    }

    /// Jobs of `account` progress only when told to (`manual`) or at once (`instant`).
    pub async fn job_mode(&self, account: &str, mode: &str) {
        control(
            reqwest::Method::POST,
            "/job-mode",
            Some(json!({"mode": mode, "accountId": account})),
        )
        .await;
    }
}

/// Creates a vault (and its access policy).
pub async fn create_vault(account: &str, region: &str, policy: Option<&Value>) {
    let client = backup(account, region).await;
    client
        .create_backup_vault()
        .backup_vault_name(VAULT)
        .send()
        .await
        .expect("backup:CreateBackupVault");
    if let Some(policy) = policy {
        client
            .put_backup_vault_access_policy()
            .backup_vault_name(VAULT)
            .policy(policy.to_string())
            .send()
            .await
            .expect("backup:PutBackupVaultAccessPolicy");
    }
}

/// Moves a test bed job one state on, or fails it.
pub async fn advance(job_id: &str) -> Value {
    control(
        reqwest::Method::POST,
        &format!("/jobs/{job_id}/advance"),
        None,
    )
    .await
}

pub async fn fail(job_id: &str, message: &str) -> Value {
    control(
        reqwest::Method::POST,
        &format!("/jobs/{job_id}/fail"),
        Some(json!({"statusMessage": message})),
    )
    .await
}

pub fn lifecycle(delete_after: i64, cold: Option<i64>) -> Lifecycle {
    Lifecycle::builder()
        .delete_after_days(delete_after)
        .set_move_to_cold_storage_after_days(cold)
        .build()
}

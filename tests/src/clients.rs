//! AWS clients per account and region, the way the handler gets them in AWS: credentials of a
//! role in that account. On the test bed, STS `AssumeRole` into
//! `arn:aws:iam::<ACCOUNT>:role/crossvault` returns keys that select the account (the trust
//! policy is not checked). The endpoint is the test bed's, for every service.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;

use crate::{Result, aws, err};

/// The role every emulated account is entered with.
pub const ROLE_NAME: &str = "crossvault";

/// The user-agent app name of the harness's own clients (`app/crossvault-harness` in the
/// test bed's request log; the handler's clients say `crossvault-handler`).
pub const HARNESS_APP: &str = "crossvault-harness";

/// Base configuration: the test bed endpoint, dummy keys, `region`.
async fn base_config(endpoint: &str, region: &str, credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .app_name(aws_config::AppName::new(HARNESS_APP).expect("a valid app name"))
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .load()
        .await
}

/// An account's credentials, obtained once through STS `AssumeRole`.
#[derive(Debug, Clone)]
pub struct AccountCredentials {
    pub account_id: String,
    credentials: Credentials,
    endpoint: String,
}

impl AccountCredentials {
    /// Assumes `arn:aws:iam::<account_id>:role/crossvault` on the test bed at `endpoint`.
    pub async fn assume(endpoint: &str, account_id: &str) -> Result<Self> {
        let bootstrap = base_config(
            endpoint,
            "us-east-1",
            Credentials::new("testing", "testing", None, None, "crossvault-tests"),
        )
        .await;
        let role_arn = format!("arn:aws:iam::{account_id}:role/{ROLE_NAME}");
        let out = aws_sdk_sts::Client::new(&bootstrap)
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("crossvault-tests")
            .send()
            .await
            .map_err(aws(&format!("sts:AssumeRole {role_arn}")))?;
        let c = out
            .credentials
            .ok_or_else(|| err(format!("sts:AssumeRole {role_arn} returned no credentials")))?;
        Ok(Self {
            account_id: account_id.to_owned(),
            credentials: Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                None,
                "crossvault-tests-assumed",
            ),
            endpoint: endpoint.to_owned(),
        })
    }

    /// An `SdkConfig` for this account in `region`.
    pub async fn config(&self, region: &str) -> SdkConfig {
        base_config(&self.endpoint, region, self.credentials.clone()).await
    }

    /// Checks the credentials select this account (`sts:GetCallerIdentity`).
    pub async fn verify(&self) -> Result<()> {
        let config = self.config("us-east-1").await;
        let me = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .map_err(aws("sts:GetCallerIdentity"))?;
        match me.account.as_deref() {
            Some(a) if a == self.account_id => Ok(()),
            other => Err(err(format!(
                "the assumed role's credentials select account {other:?}, not {}",
                self.account_id
            ))),
        }
    }
}

/// `rds:CreateDBInstance` through the RDS Query API, as the account. (The harness speaks the
/// Query protocol itself rather than pull in the large `aws-sdk-rds` crate for one call; the
/// test bed does not check signatures, so the request carries the account's access key in a
/// SigV4-shaped `Authorization` header, which is how moto picks both service and account.)
pub async fn create_db_instance(
    endpoint: &str,
    account: &AccountCredentials,
    region: &str,
    identifier: &str,
    tags: &[(String, String)],
) -> Result<String> {
    create_db_instance_with(endpoint, account, region, identifier, tags, false).await
}

/// [`create_db_instance`], encrypted when `encrypted`: `StorageEncrypted` without a
/// `KmsKeyId`, i.e. under the account's AWS managed key `aws/rds`, as RDS does it.
pub async fn create_db_instance_with(
    endpoint: &str,
    account: &AccountCredentials,
    region: &str,
    identifier: &str,
    tags: &[(String, String)],
    encrypted: bool,
) -> Result<String> {
    let mut form: Vec<(String, String)> = vec![
        ("Action".into(), "CreateDBInstance".into()),
        ("Version".into(), "2014-10-31".into()),
        ("DBInstanceIdentifier".into(), identifier.into()),
        ("DBInstanceClass".into(), "db.t3.micro".into()),
        ("Engine".into(), "postgres".into()),
        ("AllocatedStorage".into(), "20".into()),
        ("MasterUsername".into(), "crossvault".into()),
        ("MasterUserPassword".into(), "not-a-secret-1".into()),
    ];
    if encrypted {
        form.push(("StorageEncrypted".into(), "true".into()));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        form.push((format!("Tags.Tag.{}.Key", i + 1), k.clone()));
        form.push((format!("Tags.Tag.{}.Value", i + 1), v.clone()));
    }
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let key = account.credentials.access_key_id().to_owned();
    let date = chrono::Utc::now().format("%Y%m%d");
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header(
            reqwest::header::AUTHORIZATION,
            format!(
                "AWS4-HMAC-SHA256 Credential={key}/{date}/{region}/rds/aws4_request, SignedHeaders=host, Signature=0"
            ),
        )
        .header(
            "x-amz-security-token",
            account.credentials.session_token().unwrap_or_default(),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| err(format!("rds:CreateDBInstance {identifier}: {e}")))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(err(format!(
            "rds:CreateDBInstance {identifier} in {}/{region} answered {status}: {text}",
            account.account_id
        )));
    }
    let arn = format!(
        "arn:aws:rds:{region}:{}:db:{identifier}",
        account.account_id
    );
    if !text.contains(&arn) {
        return Err(err(format!(
            "rds:CreateDBInstance {identifier}: the answer does not name {arn}: {text}"
        )));
    }
    Ok(arn)
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

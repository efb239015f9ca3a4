//! The test bed's control API (`/_testbed/`, documented in `tests/testbed/README.md`).
//!
//! Only what the harness needs: health, organizations with given account ids, job mode, the
//! clock (read only: it is process-wide, and tests must not move it under each other) and the
//! emitted-events log.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Result, err};

/// A client for one test bed.
#[derive(Debug, Clone)]
pub struct Testbed {
    url: String,
    http: reqwest::Client,
}

/// An account to place in an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    pub id: String,
    pub name: String,
    /// An OU under the root (created if missing), or `None` for the root.
    pub ou: Option<String>,
}

/// The organization the test bed made (its answer to `POST /organization`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub organization_id: String,
    pub organization_arn: String,
    pub root_id: String,
    pub management_account_id: String,
    pub accounts: Vec<OrgAccount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgAccount {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub parent_id: String,
    #[serde(default)]
    pub org_path: String,
}

/// A test bed job's state (`GET /jobs/<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    pub job_id: String,
    pub kind: String,
    pub account_id: String,
    pub region: String,
    pub state: String,
    #[serde(default)]
    pub status_message: Option<String>,
}

impl Testbed {
    pub fn new(url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client builds");
        Self {
            url: url.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The AWS endpoint (every service).
    pub fn endpoint(&self) -> &str {
        &self.url
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let url = format!("{}/_testbed{path}", self.url);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| {
            err(format!(
                "test bed {method} {url}: {e}. Is it running? ({})",
                crate::HOW_TO_START
            ))
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| err(format!("test bed {method} {url}: reading the answer: {e}")))?;
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({"error": String::from_utf8_lossy(&bytes).into_owned()}));
        if !status.is_success() {
            return Err(err(format!(
                "test bed {method} {url} answered {status}: {}",
                value.get("error").unwrap_or(&value)
            )));
        }
        Ok(value)
    }

    /// Waits until `/health` answers (at most `timeout`).
    pub async fn wait_healthy(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.call(reqwest::Method::GET, "/health", None).await {
                Ok(_) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Creates (idempotently) an organization whose management account is `management`,
    /// with the given members.
    pub async fn create_organization(
        &self,
        management: &str,
        members: &[MemberSpec],
    ) -> Result<Organization> {
        let accounts: Vec<Value> = members
            .iter()
            .map(|m| {
                let mut a = json!({"id": m.id, "name": m.name});
                if let Some(ou) = &m.ou {
                    a["ou"] = json!(ou);
                }
                a
            })
            .collect();
        let value = self
            .call(
                reqwest::Method::POST,
                "/organization",
                Some(json!({"managementAccountId": management, "accounts": accounts})),
            )
            .await?;
        serde_json::from_value(value.clone())
            .map_err(|e| err(format!("test bed organization answer {value}: {e}")))
    }

    /// Sets the job mode ("instant" or "manual") for the jobs `account` owns.
    pub async fn set_job_mode(&self, mode: &str, account: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/job-mode",
            Some(json!({"mode": mode, "accountId": account})),
        )
        .await
        .map(|_| ())
    }

    pub async fn job(&self, job_id: &str) -> Result<JobState> {
        let value = self
            .call(reqwest::Method::GET, &format!("/jobs/{job_id}"), None)
            .await?;
        serde_json::from_value(value.clone())
            .map_err(|e| err(format!("test bed job answer {value}: {e}")))
    }

    /// The test bed's clock ("now" in RFC 3339).
    pub async fn now(&self) -> Result<chrono::DateTime<chrono::Utc>> {
        let value = self.call(reqwest::Method::GET, "/clock", None).await?;
        value
            .get("now")
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&chrono::Utc))
            .ok_or_else(|| err(format!("test bed clock answer {value} has no usable now")))
    }

    /// Every event the test bed emitted for `account` (and `region`), oldest first as logged.
    pub async fn events(&self, account: &str, region: Option<&str>) -> Result<Vec<Value>> {
        let mut path = format!("/events?account={account}");
        if let Some(region) = region {
            path.push_str(&format!("&region={region}"));
        }
        let value = self.call(reqwest::Method::GET, &path, None).await?;
        Ok(value
            .get("events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }
}

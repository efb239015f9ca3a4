//! The test bed's control API (`/_testbed/`, documented in `tests/testbed/README.md`).
//!
//! What the harness needs: health, organizations with given account ids, job progress
//! (instant, manual, or timed on the test bed clock), the clock of one organization (each test
//! has its own organization, so moving its clock never disturbs another test), event delivery
//! that is late, duplicated or reordered, faults on demand, and the logs of emitted events and
//! of API calls.

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

/// Test bed seconds a job takes from creation to its end, per kind, in timed mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobDurations {
    pub backup: f64,
    pub copy: f64,
    pub restore: f64,
}

impl Default for JobDurations {
    /// What the end-to-end tests use: a backup takes 10 minutes, a copy 30, a restore 20.
    fn default() -> Self {
        Self {
            backup: 600.0,
            copy: 1800.0,
            restore: 1200.0,
        }
    }
}

/// An organization's clock on the test bed, and its timed jobs (`GET`/`POST /clock`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockState {
    pub now: String,
    pub offset_seconds: f64,
    /// Timed jobs not finished yet.
    #[serde(default)]
    pub in_flight: u64,
    /// When the next step of a timed job is due.
    #[serde(default)]
    pub next_due_at: Option<String>,
    /// Job steps taken by this call.
    #[serde(default)]
    pub steps: u64,
}

/// In which order held events are released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOrder {
    Emitted,
    Reverse,
    Shuffle(u64),
}

/// A Backup call the test bed served (`GET /requests`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCall {
    pub seq: u64,
    /// When it was served, on the caller's organization's clock (RFC 3339).
    pub time: String,
    pub service: String,
    pub operation: String,
    pub account_id: String,
    pub region: String,
    #[serde(default)]
    pub idempotency_token: Option<String>,
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub error_code: Option<String>,
}

/// Which calls `requests` returns (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter<'a> {
    pub account: Option<&'a str>,
    pub region: Option<&'a str>,
    pub service: Option<&'a str>,
    pub operation: Option<&'a str>,
    pub app: Option<&'a str>,
    /// Only calls after this sequence number.
    pub since: u64,
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

    /// The jobs `account` owns take their steps on the test bed clock, over `durations`.
    pub async fn set_timed_jobs(&self, account: &str, durations: &JobDurations) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/job-mode",
            Some(json!({"mode": "timed", "accountId": account, "durations": {
                "backup": durations.backup, "copy": durations.copy, "restore": durations.restore}})),
        )
        .await
        .map(|_| ())
    }

    async fn clock_call(&self, body: Value) -> Result<ClockState> {
        let value = self
            .call(reqwest::Method::POST, "/clock", Some(body))
            .await?;
        serde_json::from_value(value.clone())
            .map_err(|e| err(format!("test bed clock answer {value}: {e}")))
    }

    /// The clock of `account`'s organization.
    pub async fn clock_of(&self, account: &str) -> Result<ClockState> {
        let value = self
            .call(
                reqwest::Method::GET,
                &format!("/clock?accountId={account}"),
                None,
            )
            .await?;
        serde_json::from_value(value.clone())
            .map_err(|e| err(format!("test bed clock answer {value}: {e}")))
    }

    /// Moves the clock of `account`'s organization `seconds` ahead; due job steps are taken.
    pub async fn advance_clock(&self, account: &str, seconds: f64) -> Result<ClockState> {
        self.clock_call(json!({"accountId": account, "advanceSeconds": seconds}))
            .await
    }

    /// Moves the clock of `account`'s organization to the next due step of its timed jobs,
    /// and `slack_seconds` beyond it (the steps due in that time are taken too).
    pub async fn clock_to_next_job(&self, account: &str, slack_seconds: f64) -> Result<ClockState> {
        self.clock_call(
            json!({"accountId": account, "toNextJob": true, "slackSeconds": slack_seconds}),
        )
        .await
    }

    /// Holds (`hold`) or delivers (`immediate`, each event `copies` times) the events of
    /// `account`'s organization.
    pub async fn set_event_delivery(&self, account: &str, mode: &str, copies: u32) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/events/delivery",
            Some(json!({"accountId": account, "mode": mode, "copies": copies})),
        )
        .await
        .map(|_| ())
    }

    /// Delivers the held events of `account`'s organization in `order`, the whole batch
    /// `copies` times. Returns the number of deliveries.
    pub async fn release_events(
        &self,
        account: &str,
        order: EventOrder,
        copies: u32,
    ) -> Result<u64> {
        let mut body = json!({"accountId": account, "copies": copies});
        match order {
            EventOrder::Emitted => body["order"] = json!("emitted"),
            EventOrder::Reverse => body["order"] = json!("reverse"),
            EventOrder::Shuffle(seed) => {
                body["order"] = json!("shuffle");
                body["seed"] = json!(seed);
            }
        }
        let value = self
            .call(reqwest::Method::POST, "/events/release", Some(body))
            .await?;
        value["delivered"]
            .as_u64()
            .ok_or_else(|| err(format!("test bed release answer {value}")))
    }

    /// How many events of `account`'s organization are held.
    pub async fn held_events(&self, account: &str) -> Result<u64> {
        let value = self
            .call(
                reqwest::Method::GET,
                &format!("/events/held?accountId={account}"),
                None,
            )
            .await?;
        value["held"]
            .as_u64()
            .ok_or_else(|| err(format!("test bed held answer {value}")))
    }

    /// The next `count` copy jobs out of `account` (every one when `None`) FAIL with
    /// `status_message` when they would complete; `destination` narrows it to one vault.
    pub async fn fail_copies(
        &self,
        account: Option<&str>,
        destination: Option<&str>,
        count: Option<u32>,
        status_message: &str,
    ) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/faults/copy-failures",
            Some(
                json!({"accountId": account, "destinationVaultArn": destination,
                "count": count, "statusMessage": status_message}),
            ),
        )
        .await
        .map(|_| ())
    }

    /// The next `count` calls of `operation` by `account` answer `code` with HTTP `status`.
    pub async fn inject_errors(
        &self,
        account: &str,
        operation: &str,
        count: u32,
        status: u16,
        code: &str,
    ) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/faults/errors",
            Some(
                json!({"accountId": account, "operation": operation, "count": count,
                "status": status, "code": code}),
            ),
        )
        .await
        .map(|_| ())
    }

    /// Throttles mutating Backup calls of every account in `account`'s organization to
    /// `rate_per_second` per account and region (`None` turns it off).
    pub async fn throttle(&self, account: &str, rate_per_second: Option<f64>) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/faults/throttling",
            Some(json!({"accountId": account, "ratePerSecond": rate_per_second})),
        )
        .await
        .map(|_| ())
    }

    /// Removes every fault of `account`'s organization (throttling) and `account`'s own (copy
    /// failures, errors).
    pub async fn clear_faults(&self, account: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/faults/clear",
            Some(json!({"accountId": account})),
        )
        .await
        .map(|_| ())
    }

    /// The API calls the test bed served that match `filter`, oldest first.
    pub async fn requests(&self, filter: &CallFilter<'_>) -> Result<Vec<ApiCall>> {
        let mut path = format!("/requests?since={}", filter.since);
        for (key, value) in [
            ("account", filter.account),
            ("region", filter.region),
            ("service", filter.service),
            ("operation", filter.operation),
            ("app", filter.app),
        ] {
            if let Some(value) = value {
                path.push_str(&format!("&{key}={value}"));
            }
        }
        let value = self.call(reqwest::Method::GET, &path, None).await?;
        serde_json::from_value(value["requests"].clone())
            .map_err(|e| err(format!("test bed requests answer: {e}")))
    }

    /// The sequence number of the last call served (to count what follows).
    pub async fn last_request(&self) -> Result<u64> {
        let value = self
            .call(reqwest::Method::GET, "/requests?account=000000000000", None)
            .await?;
        value["last"]
            .as_u64()
            .ok_or_else(|| err(format!("test bed requests answer {value}")))
    }

    /// Starts a backup job the way a backup plan does (`POST /plan-backup-jobs`); `body` as
    /// documented in tests/testbed/README.md. Returns the test bed's answer.
    pub async fn plan_backup_job(&self, body: Value) -> Result<Value> {
        self.call(reqwest::Method::POST, "/plan-backup-jobs", Some(body))
            .await
    }

    pub async fn job(&self, job_id: &str) -> Result<JobState> {
        let value = self
            .call(reqwest::Method::GET, &format!("/jobs/{job_id}"), None)
            .await?;
        serde_json::from_value(value.clone())
            .map_err(|e| err(format!("test bed job answer {value}: {e}")))
    }

    /// The clock of `account`'s organization ("now" in RFC 3339).
    pub async fn now_of(&self, account: &str) -> Result<chrono::DateTime<chrono::Utc>> {
        let value = self
            .call(
                reqwest::Method::GET,
                &format!("/clock?accountId={account}"),
                None,
            )
            .await?;
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

    /// A VPC, two subnets and the DB subnet group `name` in `account`/`region` (what a
    /// pre-prod account provides for restores).
    pub async fn create_db_subnet_group(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/rds/db-subnet-group",
            Some(json!({"accountId": account, "region": region, "name": name})),
        )
        .await
    }

    /// The next executions of SSM document `document` in `account` end with these
    /// `(status, message)` outcomes.
    pub async fn hook_outcomes(
        &self,
        account: &str,
        document: &str,
        outcomes: &[(&str, &str)],
    ) -> Result<()> {
        let outcomes: Vec<Value> = outcomes
            .iter()
            .map(|(status, message)| json!({"status": status, "message": message}))
            .collect();
        self.call(
            reqwest::Method::POST,
            "/automation/outcomes",
            Some(json!({"accountId": account, "document": document, "outcomes": outcomes})),
        )
        .await
        .map(|_| ())
    }

    /// Every (emulated) SSM Automation execution of `account`, with its parameters.
    pub async fn automation_executions(&self, account: &str) -> Result<Vec<Value>> {
        let value = self
            .call(
                reqwest::Method::GET,
                &format!("/automation/executions?accountId={account}"),
                None,
            )
            .await?;
        Ok(value
            .get("executions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }
}

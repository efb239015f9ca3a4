//! The pre-prod refresh as a user prepares it and as the organization shows it afterwards.
//!
//! Before crossvault is deployed, the pre-prod account gets what crossvault never creates on
//! its own: a DB subnet group for the restores, the masking hook (an SSM Automation document)
//! and, optionally, the Slack webhook URL in an SSM SecureString. [`prepare`] makes them in
//! every region and sets the refresh's StackSet parameters. Afterwards [`restores`],
//! [`stable_address`] and [`hook_status`] read back, through the real APIs, what the refresh
//! left: crossvault's restores (by their provenance tags), the stable address's SSM parameter
//! and the masking hook's executions. [`SlackStandIn`] is a local HTTP server standing in for
//! Slack's incoming webhook.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{DocumentType, ParameterType};
use crossvault_core::restore::naming::parameter_name;
use crossvault_core::restore::resource::{HOOK_EXECUTION, MARKER, SOURCE_RESOURCE, STAGE};
use crossvault_core::restore::settings::DEFAULT_PARAMETER_PREFIX;
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::org::{Org, REGIONS};
use crate::{Result, aws};

/// The DB subnet group the pre-prod restores go into.
pub const SUBNET_GROUP: &str = "preprod-db";
/// The security group the restores get.
pub const SECURITY_GROUP: &str = "sg-0preprod";
/// Where the Slack webhook URL is kept (an SSM SecureString in the pre-prod account).
pub const SLACK_PARAMETER: &str = "/crossvault/slack-webhook";
/// The path of the stand-in webhook (in Slack, the part of the URL that is the secret).
pub const SLACK_PATH: &str = "/services/T0/B0/not-a-real-secret";

/// The parameters crossvault passes to the masking hook (the document must declare them).
const HOOK_PARAMETERS: &[&str] = &[
    "ResourceArn",
    "ResourceType",
    "Endpoint",
    "SourceResourceArn",
    "RecoveryPointArn",
];

/// Prepares the pre-prod account in every region (DB subnet group, the masking document
/// `document`, the Slack webhook `slack_url` when given) and turns the refresh on in the
/// organization's parameters. Call before crossvault is installed or deployed.
pub async fn prepare(org: &mut Org, document: &str, slack_url: Option<&str>) -> Result<()> {
    let preprod = org.ids.preprod.clone();
    for region in REGIONS {
        org.testbed
            .create_db_subnet_group(&preprod, region, SUBNET_GROUP)
            .await?;
        let ssm = aws_sdk_ssm::Client::new(&org.sdk(&preprod, region).await?);
        let parameters: serde_json::Map<String, serde_json::Value> = HOOK_PARAMETERS
            .iter()
            .map(|p| ((*p).to_owned(), json!({"type": "String"})))
            .collect();
        // The user's masking: here one step that takes a second; in a real account, the SQL
        // that scrubs personal data from the new endpoint.
        ssm.create_document()
            .name(document)
            .document_type(DocumentType::Automation)
            .content(
                json!({"schemaVersion": "0.3", "parameters": parameters,
                       "mainSteps": [{"name": "mask", "action": "aws:sleep",
                                      "inputs": {"Duration": "PT1S"}}]})
                .to_string(),
            )
            .send()
            .await
            .map_err(aws("ssm:CreateDocument"))?;
        if let Some(url) = slack_url {
            ssm.put_parameter()
                .name(SLACK_PARAMETER)
                .r#type(ParameterType::SecureString)
                .value(url)
                .send()
                .await
                .map_err(aws("ssm:PutParameter (Slack webhook)"))?;
        }
    }
    for (k, v) in [
        ("RestoreOnArrival", "true"),
        ("RestoreMaskingHook", document),
        ("RestoreDBSubnetGroupName", SUBNET_GROUP),
        ("RestoreSecurityGroupIds", SECURITY_GROUP),
    ] {
        org.params.insert(k.to_owned(), v.to_owned());
    }
    if slack_url.is_some() {
        org.params
            .insert("SlackWebhookParameter".into(), SLACK_PARAMETER.into());
    }
    Ok(())
}

/// One of crossvault's restores, as `DescribeDBInstances` shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Restored {
    pub identifier: String,
    /// `address:port`.
    pub endpoint: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl Restored {
    /// The production resource it was restored from.
    pub fn source(&self) -> Option<&str> {
        self.tags.get(SOURCE_RESOURCE).map(String::as_str)
    }

    /// Its refresh stage (`restored`, `masking`, `promoted`, `hook-failed`, `retired`).
    pub fn stage(&self) -> &str {
        self.tags.get(STAGE).map_or("(untagged)", String::as_str)
    }

    /// The masking hook's execution id it records.
    pub fn hook_execution(&self) -> Option<&str> {
        self.tags.get(HOOK_EXECUTION).map(String::as_str)
    }
}

/// crossvault's restores (DB instances carrying its marker) in `account`/`region`, sorted.
pub async fn restores(org: &Org, account: &str, region: &str) -> Result<Vec<Restored>> {
    let rds = aws_sdk_rds::Client::new(&org.sdk(account, region).await?);
    let mut out = Vec::new();
    let mut pages = rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws("rds:DescribeDBInstances"))?;
        for db in page.db_instances.unwrap_or_default() {
            let tags: BTreeMap<String, String> = db
                .tag_list()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                .collect();
            if !tags.contains_key(MARKER) {
                continue;
            }
            out.push(Restored {
                identifier: db.db_instance_identifier().unwrap_or_default().to_owned(),
                endpoint: db.endpoint().and_then(|e| {
                    Some(format!("{}:{}", e.address()?, e.port().unwrap_or_default()))
                }),
                tags,
            });
        }
    }
    out.sort();
    Ok(out)
}

/// The stable address's parameter name for `source` (of `source_account`), with the default
/// prefix.
pub fn address_parameter(source_account: &str, source: &str) -> String {
    parameter_name(DEFAULT_PARAMETER_PREFIX, source_account, source)
}

/// The stable address of `source` (of `source_account`) in pre-prod `region`, if set.
pub async fn stable_address(
    org: &Org,
    region: &str,
    source_account: &str,
    source: &str,
) -> Result<Option<String>> {
    let ssm = aws_sdk_ssm::Client::new(&org.sdk(&org.ids.preprod, region).await?);
    match ssm
        .get_parameter()
        .name(address_parameter(source_account, source))
        .send()
        .await
    {
        Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws("ssm:GetParameter (stable address)")(e)),
    }
}

/// The status of masking hook execution `id` in pre-prod `region` (`GetAutomationExecution`).
pub async fn hook_status(org: &Org, region: &str, id: &str) -> Result<String> {
    let ssm = aws_sdk_ssm::Client::new(&org.sdk(&org.ids.preprod, region).await?);
    let out = ssm
        .get_automation_execution()
        .automation_execution_id(id)
        .send()
        .await
        .map_err(aws("ssm:GetAutomationExecution"))?;
    Ok(out
        .automation_execution
        .and_then(|x| x.automation_execution_status)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default())
}

/// A local HTTP server standing in for Slack's incoming webhook: it answers 200 to every POST
/// and keeps what it received.
pub struct SlackStandIn {
    server: MockServer,
}

impl SlackStandIn {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&server)
            .await;
        Self { server }
    }

    /// The webhook URL (what the user stores in the SecureString).
    pub fn url(&self) -> String {
        format!("{}{SLACK_PATH}", self.server.uri())
    }

    /// The `text` of every message received, in order.
    pub async fn texts(&self) -> Vec<String> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == SLACK_PATH)
            .map(|r| {
                serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|b| b["text"].as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// The next night for one production database: a day later, `spec`'s database (`resource_arn`,
/// created by the first night) is backed up again, as its backup plan does, and the night is
/// run until it settles.
pub async fn next_night(
    org: &Org,
    spec: &crate::runner::BackupSpec,
    resource_arn: &str,
) -> Result<crate::runner::NightLog> {
    org.advance_clock(86_400.0).await?;
    let answer = org
        .testbed
        .plan_backup_job(json!({
            "accountId": spec.account, "region": spec.region, "backupVaultName": "crossvault",
            "resourceArn": resource_arn, "lifecycle": {"DeleteAfterDays": spec.delete_after_days}
        }))
        .await?;
    let started = crate::runner::StartedBackup {
        spec: spec.clone(),
        resource_arn: resource_arn.to_owned(),
        backup_job_id: answer["jobId"].as_str().unwrap_or_default().to_owned(),
        recovery_point_arn: answer["recoveryPointArn"].as_str().map(str::to_owned),
        state: answer["state"].as_str().unwrap_or_default().to_owned(),
    };
    crate::runner::finish_night(org, vec![started]).await
}

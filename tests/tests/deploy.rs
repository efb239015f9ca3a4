//! `crossvault publish / plan / deploy / status / destroy / package / init` against the local
//! test bed: moto's S3, Organizations and CloudFormation StackSets (extended in
//! `tests/testbed/crossvault_testbed/stacksets.py` to behave as AWS's do).
//!
//! Each test builds its own organization with its own account ids. The CLI runs in-process
//! through `crossvault_stackset::run_with` — the same code path as the binary, with the
//! management account's credentials given instead of read from the environment — and every
//! request it sends is recorded, so the claims about requests are counted, not assumed.
//!
//! moto cannot run Lambda code, so nothing answers the custom resources of the management
//! account's plain stack; where a test needs that stack to finish, it plays the handler's answer
//! (SUCCESS to the stack's ResponseURL), which is what the deployed handler does in AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use aws_config::SdkConfig;
use crossvault_stackset::aws::{Environment, RecordedRequest, RequestLog, Timing};
use crossvault_stackset::template::{Pseudo, Template, custom_resources};
use crossvault_tests::clients::AccountCredentials;
use crossvault_tests::org::OrgIds;
use crossvault_tests::testbed::{MemberSpec, Organization, Testbed};
use serde_json::{Value, json};

const REGIONS: [&str; 3] = ["eu-west-1", "eu-central-1", "us-east-1"];

/// One organization: management, backup, pre-prod, two sources (one in a nested OU) and a
/// tooling account (the StackSets delegated administrator in the delegated-admin test).
struct Fixture {
    endpoint: String,
    ids: OrgIds,
    tooling: String,
    organization: Organization,
    management: AccountCredentials,
    dir: PathBuf,
}

impl Fixture {
    async fn new(tag: &str) -> Self {
        let endpoint = crossvault_tests::require_testbed();
        let testbed = Testbed::new(&endpoint);
        testbed.wait_healthy(Duration::from_secs(10)).await.unwrap();
        let ids = OrgIds::unique(tag);
        let tooling = format!("{}5555", &ids.management[..8]);
        let member = |id: &str, name: &str, ou: &str| MemberSpec {
            id: id.to_owned(),
            name: name.to_owned(),
            ou: Some(ou.to_owned()),
        };
        let organization = testbed
            .create_organization(
                &ids.management,
                &[
                    member(&ids.backup, "backup", "Backup"),
                    member(&ids.preprod, "pre-prod", "PreProd"),
                    member(&ids.sources[0], "workload-1", "Workloads"),
                    member(&ids.sources[1], "workload-2", "Workloads"),
                    member(&tooling, "tooling", "Infrastructure"),
                ],
            )
            .await
            .unwrap();
        let management = AccountCredentials::assume(&endpoint, &ids.management)
            .await
            .unwrap();
        // workload-2 moves into Workloads/Prod: service-managed targets reach nested OUs.
        let org = aws_sdk_organizations::Client::new(&management.config("us-east-1").await);
        let workloads = org
            .list_organizational_units_for_parent()
            .parent_id(&organization.root_id)
            .send()
            .await
            .unwrap()
            .organizational_units
            .unwrap_or_default()
            .into_iter()
            .find(|o| o.name.as_deref() == Some("Workloads"))
            .and_then(|o| o.id)
            .unwrap();
        let prod = org
            .create_organizational_unit()
            .parent_id(&workloads)
            .name("Prod")
            .send()
            .await
            .unwrap()
            .organizational_unit
            .and_then(|o| o.id)
            .unwrap();
        org.move_account()
            .account_id(&ids.sources[1])
            .source_parent_id(&workloads)
            .destination_parent_id(&prod)
            .send()
            .await
            .unwrap();
        let dir = std::env::temp_dir().join(format!("crossvault-deploy-{tag}-{}", ids.management));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A stand-in handler zip: moto stores the code without running it.
        std::fs::write(
            dir.join("bootstrap.zip"),
            zip_of(b"crossvault test handler"),
        )
        .unwrap();
        Self {
            endpoint,
            ids,
            tooling,
            organization,
            management,
            dir,
        }
    }

    fn prefix(&self) -> String {
        format!("cv-{}", self.ids.management)
    }

    fn parameters(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("BackupAccountId".to_owned(), self.ids.backup.clone()),
            ("BackupRegion".to_owned(), "eu-central-1".to_owned()),
            ("BackupRegionAlternate".to_owned(), "eu-west-1".to_owned()),
            ("PreProdAccountIds".to_owned(), self.ids.preprod.clone()),
            (
                "ManagementAccountId".to_owned(),
                self.ids.management.clone(),
            ),
            ("ArtifactBucketPrefix".to_owned(), self.prefix()),
        ])
    }

    /// Writes a config file; `extra` is appended (YAML).
    fn config(&self, name: &str, extra: &str) -> PathBuf {
        let p = self.parameters();
        let text = format!(
            "stack_set_name: crossvault\n\
             permission_model: service-managed\n\
             organizational_unit_ids: [{root}]\n\
             regions: [{regions}]\n\
             artifact_bucket_prefix: {prefix}\n\
             artifact: {zip}\n\
             parameters:\n  BackupAccountId: \"{backup}\"\n  BackupRegion: eu-central-1\n  \
             BackupRegionAlternate: eu-west-1\n  PreProdAccountIds: [\"{preprod}\"]\n  \
             ManagementAccountId: \"{management}\"\n{extra}",
            root = self.organization.root_id,
            regions = REGIONS.join(", "),
            prefix = self.prefix(),
            zip = self.dir.join("bootstrap.zip").display(),
            backup = p["BackupAccountId"],
            preprod = p["PreProdAccountIds"],
            management = p["ManagementAccountId"],
        );
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    async fn sdk(&self, account: &str) -> SdkConfig {
        AccountCredentials::assume(&self.endpoint, account)
            .await
            .unwrap()
            .config("eu-west-1")
            .await
    }

    /// Runs the CLI as `account`; returns (exit code, stdout, stderr).
    async fn run_as(
        &self,
        account: &str,
        args: &[&str],
        log: &RequestLog,
    ) -> (i32, String, String) {
        let env = Environment {
            sdk_config: Some(self.sdk(account).await),
            interceptors: vec![log.interceptor()],
            timing: Timing::immediate(),
        };
        let args: Vec<std::ffi::OsString> = std::iter::once("crossvault")
            .chain(args.iter().copied())
            .map(Into::into)
            .collect();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let code = crossvault_stackset::run_with(
                args,
                &mut out,
                &mut err,
                &env,
                crossvault_stackset::Colors::default(),
            );
            (
                code,
                String::from_utf8(out).unwrap(),
                String::from_utf8(err).unwrap(),
            )
        })
        .await
        .unwrap()
    }

    async fn run(&self, args: &[&str], log: &RequestLog) -> (i32, String, String) {
        self.run_as(&self.ids.management, args, log).await
    }

    /// The stack instances as CloudFormation reports them to the management account.
    async fn instances(&self) -> BTreeSet<(String, String, String)> {
        let cfn = aws_sdk_cloudformation::Client::new(&self.management.config("eu-west-1").await);
        cfn.list_stack_instances()
            .stack_set_name("crossvault")
            .send()
            .await
            .unwrap()
            .summaries
            .unwrap_or_default()
            .into_iter()
            .map(|s| {
                (
                    s.account.unwrap_or_default(),
                    s.region.unwrap_or_default(),
                    s.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Every StackSet target: all members but the management account, in every region.
    fn expected_targets(&self) -> BTreeSet<(String, String, String)> {
        let mut accounts = vec![
            self.ids.backup.clone(),
            self.ids.preprod.clone(),
            self.tooling.clone(),
        ];
        accounts.extend(self.ids.sources.iter().cloned());
        accounts
            .into_iter()
            .flat_map(|a| {
                REGIONS
                    .iter()
                    .map(move |r| (a.clone(), r.to_string(), "CURRENT".to_owned()))
            })
            .collect()
    }

    /// Replaces this run's ids with names, so output can be compared with a snapshot.
    fn normalize(&self, text: &str) -> String {
        let mut out = text.replace(&self.dir.display().to_string(), "<dir>");
        // The README's example ids (same length, so tables stay aligned).
        for (id, name) in [
            (&self.ids.management, "999999999999"),
            (&self.ids.backup, "222222222222"),
            (&self.ids.preprod, "333333333333"),
            (&self.ids.sources[0], "111111111111"),
            (&self.ids.sources[1], "444444444444"),
            (&self.tooling, "555555555555"),
        ] {
            out = out.replace(id.as_str(), name);
        }
        out = out.replace(&self.organization.organization_id, "<org>");
        out = out.replace(&self.organization.root_id, "<root>");
        let uuid =
            regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
                .unwrap();
        let out = uuid.replace_all(&out, "<uuid>");
        let ou = regex::Regex::new(r"ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}").unwrap();
        let out = ou.replace_all(&out, "<ou>");
        let operation = regex::Regex::new(r"crossvault-[a-z]+-[0-9a-f]{24}").unwrap();
        operation.replace_all(&out, "<operation>").into_owned()
    }

    /// Plays the handler's answer to the management stack's custom resources (moto cannot run
    /// the Lambda): SUCCESS for each, to the ResponseURL moto gave them, once the stack exists.
    fn answer_management_stack(&self, region: &'static str) -> tokio::task::JoinHandle<bool> {
        let endpoint = self.endpoint.clone();
        let management = self.ids.management.clone();
        let credentials = self.management.clone();
        let mut params = self.parameters();
        params.insert("ArtifactKey".into(), "x.zip".into());
        tokio::spawn(async move {
            let template = Template::parse(crossvault_stackset::deployment::TEMPLATE).unwrap();
            let eval = template
                .evaluate(&params, &Pseudo::new(&management, region))
                .unwrap();
            let logical_ids: Vec<String> = custom_resources(&eval)
                .unwrap()
                .into_iter()
                .map(|c| c.logical_id)
                .collect();
            let cfn = aws_sdk_cloudformation::Client::new(&credentials.config(region).await);
            let http = reqwest::Client::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            while tokio::time::Instant::now() < deadline {
                let stack = cfn
                    .describe_stacks()
                    .stack_name("crossvault-management")
                    .send()
                    .await
                    .ok()
                    .and_then(|o| o.stacks)
                    .and_then(|s| s.into_iter().next());
                if let Some(stack) = stack {
                    let status = stack.stack_status.map(|s| s.as_str().to_owned());
                    if status.as_deref() == Some("CREATE_COMPLETE") {
                        return true;
                    }
                    let stack_id = stack.stack_id.unwrap_or_default();
                    for id in &logical_ids {
                        let url = format!(
                            "{endpoint}/cloudformation_{region}/cfnresponse?stack={stack_id}"
                        );
                        let body = json!({"Status": "SUCCESS", "StackId": stack_id,
                            "LogicalResourceId": id, "PhysicalResourceId": format!("crossvault:{id}"),
                            "Data": {}});
                        let _ = http
                            .put(url)
                            .header("x-moto-account-id", &management)
                            // moto takes the region of an unsigned request from here.
                            .header("User-Agent", format!("crossvault-tests region/{region}"))
                            .body(body.to_string())
                            .send()
                            .await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        })
    }
}

fn zip_of(content: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file("bootstrap", zip::write::SimpleFileOptions::default())
        .unwrap();
    writer.write_all(content).unwrap();
    writer.finish().unwrap().into_inner()
}

fn cloudformation_writes(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| {
            r.service == "CloudFormation"
                && crossvault_stackset::aws::is_cloudformation_write(&r.operation)
        })
        .map(|r| r.operation.clone())
        .collect()
}

/// An error report's words, without miette's line wrapping and frame.
fn flat(text: &str) -> String {
    text.replace(['│', '×', '╰', '─', '▶'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn count(requests: &[RecordedRequest], service: &str, operation: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.service == service && r.operation == operation)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_sets_up_every_regions_bucket_and_uploads_once() {
    let fx = Fixture::new("publish").await;
    let config = fx.config("c.yaml", "");
    let log = RequestLog::new();
    let (code, out, err) = fx
        .run(
            &[
                "publish",
                "--config",
                config.to_str().unwrap(),
                "-q",
                "-o",
                "json",
            ],
            &log,
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let key = report["artifact_key"].as_str().unwrap().to_owned();
    let template_key = report["template_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("crossvault/bootstrap-arm64-") && key.ends_with(".zip"));
    let requests = log.requests();
    assert_eq!(count(&requests, "S3", "PutObject"), 2 * REGIONS.len());
    assert_eq!(count(&requests, "S3", "CreateBucket"), REGIONS.len());

    let zip = std::fs::read(fx.dir.join("bootstrap.zip")).unwrap();
    let sdk = fx.management.config("eu-west-1").await;
    for region in REGIONS {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .region(aws_sdk_s3::config::Region::new(region))
                .force_path_style(true)
                .build(),
        );
        let bucket = format!("{}-{region}", fx.prefix());
        let location = s3
            .get_bucket_location()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let constraint = location
            .location_constraint
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        assert!(
            constraint == region || (region == "us-east-1" && constraint.is_empty()),
            "{bucket} is in {constraint:?}"
        );
        let versioning = s3
            .get_bucket_versioning()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        assert_eq!(versioning.status.unwrap().as_str(), "Enabled");
        let encryption = s3
            .get_bucket_encryption()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let rule = &encryption
            .server_side_encryption_configuration
            .unwrap()
            .rules[0];
        assert_eq!(
            rule.apply_server_side_encryption_by_default
                .as_ref()
                .unwrap()
                .sse_algorithm
                .as_str(),
            "AES256"
        );
        let pab = s3
            .get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .unwrap()
            .public_access_block_configuration
            .unwrap();
        assert_eq!(
            (
                pab.block_public_acls,
                pab.ignore_public_acls,
                pab.block_public_policy,
                pab.restrict_public_buckets
            ),
            (Some(true), Some(true), Some(true), Some(true))
        );
        let ownership = s3
            .get_bucket_ownership_controls()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        assert_eq!(
            ownership.ownership_controls.unwrap().rules[0]
                .object_ownership
                .as_str(),
            "BucketOwnerEnforced"
        );
        let policy: Value = serde_json::from_str(
            &s3.get_bucket_policy()
                .bucket(&bucket)
                .send()
                .await
                .unwrap()
                .policy
                .unwrap(),
        )
        .unwrap();
        let org = &fx.organization.organization_id;
        let arn = format!("arn:aws:s3:::{bucket}");
        assert_eq!(
            policy,
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "DenyOutsideTheOrganization", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [arn, format!("{arn}/*")],
                 "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": org}}},
                {"Sid": "DenyWithoutTLS", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [arn, format!("{arn}/*")],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                {"Sid": "StackSetExecutionRolesRead", "Effect": "Allow", "Principal": "*",
                 "Action": "s3:GetObject", "Resource": format!("{arn}/*"),
                 "Condition": {"StringEquals": {"aws:PrincipalOrgID": org},
                               "ArnLike": {"aws:PrincipalArn": ["arn:*:iam::*:role/stacksets-exec-*"]}}}
            ]})
        );
        let object = s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            object.metadata.as_ref().unwrap()["sha256"],
            report["artifact_sha256"].as_str().unwrap()
        );
        assert_eq!(
            object.body.collect().await.unwrap().into_bytes().as_ref(),
            zip.as_slice()
        );
        let template = s3
            .get_object()
            .bucket(&bucket)
            .key(&template_key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            template.body.collect().await.unwrap().into_bytes().as_ref(),
            crossvault_stackset::deployment::TEMPLATE.as_bytes()
        );
    }

    // Again: everything is there and as configured, so nothing is written.
    log.clear();
    let (code, out, err) = fx
        .run(
            &["publish", "--config", config.to_str().unwrap(), "-q"],
            &log,
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 upload(s), 3 region(s)"), "{out}");
    let writes: Vec<String> = log
        .requests()
        .into_iter()
        .filter(|r| {
            r.service == "S3"
                && (r.operation.starts_with("Put") || r.operation.starts_with("Create"))
        })
        .map(|r| r.operation)
        .collect();
    assert!(writes.is_empty(), "second publish wrote {writes:?}");

    // An object under the content-hash key with other content is refused, not overwritten.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .region(aws_sdk_s3::config::Region::new("eu-central-1"))
            .force_path_style(true)
            .build(),
    );
    s3.put_object()
        .bucket(format!("{}-eu-central-1", fx.prefix()))
        .key(&key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"tampered"))
        .send()
        .await
        .unwrap();
    let (code, _, err) = fx
        .run(
            &["publish", "--config", config.to_str().unwrap(), "-q"],
            &log,
        )
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(flat(&err).contains("exists with other content"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_reaches_every_account_and_region_and_a_second_deploy_writes_nothing() {
    let fx = Fixture::new("deploy").await;
    let config = fx.config("c.yaml", "");
    let config = config.to_str().unwrap();

    // plan first: every target with its role, and nothing written.
    let log = RequestLog::new();
    let (code, plan, err) = fx.run(&["plan", "--config", config, "-q"], &log).await;
    assert_eq!(code, 0, "{err}");
    assert!(cloudformation_writes(&log.requests()).is_empty());
    insta::assert_snapshot!("plan_new_organization", fx.normalize(&plan));

    let answer = fx.answer_management_stack("eu-west-1");
    let log = RequestLog::new();
    let (code, out, err) = fx
        .run(
            &[
                "deploy",
                "--config",
                config,
                "-q",
                "-o",
                "json",
                "--timeout",
                "120s",
            ],
            &log,
        )
        .await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(
        answer.await.unwrap(),
        "the management stack never completed"
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["changed"], true);
    assert_eq!(report["stack_set"]["action"], "create");
    assert_eq!(
        report["management_stack"]["outcome"]["status"],
        "CREATE_COMPLETE"
    );
    assert_eq!(fx.instances().await, fx.expected_targets());

    let requests = log.requests();
    // Uploads grow with regions (two objects each), StackSet writes are one create and one
    // CreateStackInstances for all accounts in all regions, then the management stack.
    assert_eq!(count(&requests, "S3", "PutObject"), 2 * REGIONS.len());
    assert_eq!(
        cloudformation_writes(&requests),
        ["CreateStackSet", "CreateStackInstances", "CreateStack"]
    );
    let create = requests
        .iter()
        .find(|r| r.operation == "CreateStackSet")
        .unwrap();
    for field in [
        "PermissionModel=SERVICE_MANAGED",
        "AutoDeployment.Enabled=true",
        "AutoDeployment.RetainStacksOnAccountRemoval=true",
        "ManagedExecution.Active=true",
        "Capabilities.member.1=CAPABILITY_NAMED_IAM",
    ] {
        assert!(
            create.body.contains(field),
            "CreateStackSet lacks {field}: {}",
            create.body
        );
    }
    assert!(
        !create.body.contains("CallAs"),
        "no CallAs outside delegated admin"
    );
    let instances = requests
        .iter()
        .find(|r| r.operation == "CreateStackInstances")
        .unwrap();
    assert!(
        instances.body.contains(&format!(
            "DeploymentTargets.OrganizationalUnitIds.member.1={}",
            fx.organization.root_id
        )),
        "{}",
        instances.body
    );
    assert!(
        instances
            .body
            .contains("OperationPreferences.MaxConcurrentPercentage=25")
    );

    // The management account has no instance but its plain stack, with the management role.
    let mgmt_cfn = aws_sdk_cloudformation::Client::new(&fx.management.config("eu-west-1").await);
    let stack = mgmt_cfn
        .describe_stacks()
        .stack_name("crossvault-management")
        .send()
        .await
        .unwrap()
        .stacks
        .unwrap()
        .remove(0);
    let params: BTreeMap<String, String> = stack
        .parameters
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.parameter_key.unwrap(), p.parameter_value.unwrap()))
        .collect();
    assert_eq!(params["ManagementAccountId"], fx.ids.management);
    assert_eq!(
        params["ArtifactKey"],
        report["artifact_key"].as_str().unwrap()
    );

    // Nothing changed: no CloudFormation write at all, no upload, and the output says so.
    let log = RequestLog::new();
    let (code, out, err) = fx
        .run(
            &["deploy", "--config", config, "-q", "--timeout", "120s"],
            &log,
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let requests = log.requests();
    assert_eq!(cloudformation_writes(&requests), Vec::<String>::new());
    assert_eq!(count(&requests, "S3", "PutObject"), 0);
    assert!(
        out.starts_with("Nothing to change: StackSet crossvault, its 15 instance(s) and the management stack are as configured; no CloudFormation write call was made."),
        "{out}"
    );

    // A parameter change is one UpdateStackSet for every instance, and nothing else.
    let log = RequestLog::new();
    let (code, plan, _) = fx
        .run(
            &[
                "plan",
                "--config",
                config,
                "-q",
                "-p",
                "CopyDeleteAfterDays=40",
            ],
            &log,
        )
        .await;
    assert_eq!(code, 0);
    assert!(
        plan.contains("StackSet: update\n  - parameter CopyDeleteAfterDays: \"35\" -> \"40\""),
        "{plan}"
    );
    assert!(
        plan.contains("16 target(s): 0 new, 16 to update, 0 to redeploy, 0 unchanged"),
        "{plan}"
    );

    let (code, status, err) = fx.run(&["status", "--config", config, "-q"], &log).await;
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("status_after_deploy", fx.normalize(&status));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_instance_shows_in_the_table_with_its_reason_and_exit_3() {
    let fx = Fixture::new("failed").await;
    // A log group left over from an earlier install makes one instance's stack fail, as it
    // would in AWS.
    let response = reqwest::Client::new()
        .post(format!("{}/", fx.endpoint))
        .header("x-moto-account-id", &fx.ids.sources[0])
        .header("X-Amz-Target", "Logs_20140328.CreateLogGroup")
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-central-1/logs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(json!({"logGroupName": "/aws/lambda/crossvault-handler"}).to_string())
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );

    let config = fx.config("c.yaml", "management_stack:\n  deploy: false\n");
    let log = RequestLog::new();
    let (code, out, err) = fx
        .run(
            &[
                "deploy",
                "--config",
                config.to_str().unwrap(),
                "-q",
                "--timeout",
                "30s",
            ],
            &log,
        )
        .await;
    assert_eq!(code, 3, "stdout: {out}\nstderr: {err}");
    insta::assert_snapshot!("deploy_with_a_failed_instance", fx.normalize(&out));

    // status reports it too, and so does its exit code.
    let (code, status, _) = fx
        .run(
            &[
                "status",
                "--config",
                config.to_str().unwrap(),
                "-q",
                "-o",
                "json",
            ],
            &log,
        )
        .await;
    assert_eq!(code, 3);
    let status: Value = serde_json::from_str(&status).unwrap();
    let failed: Vec<&Value> = status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] != "CURRENT")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["account"], fx.ids.sources[0].as_str());
    assert_eq!(failed[0]["region"], "eu-central-1");
    assert!(
        failed[0]["status_reason"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{failed:?}"
    );

    // Fixed, the next deploy redeploys exactly the outdated instance.
    let response = reqwest::Client::new()
        .post(format!("{}/", fx.endpoint))
        .header("x-moto-account-id", &fx.ids.sources[0])
        .header("X-Amz-Target", "Logs_20140328.DeleteLogGroup")
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-central-1/logs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(json!({"logGroupName": "/aws/lambda/crossvault-handler"}).to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let (_, plan, _) = fx
        .run(&["plan", "--config", config.to_str().unwrap(), "-q"], &log)
        .await;
    assert!(
        plan.lines().any(|l| l.starts_with(&fx.ids.sources[0])
            && l.contains("eu-central-1")
            && l.contains("redeploy (outdated)")),
        "{plan}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delegated_admin_passes_call_as_on_every_stack_set_call() {
    let fx = Fixture::new("delegated").await;
    let config = fx.config(
        "c.yaml",
        &format!(
            "delegated_admin: true\nmanagement_stack:\n  role_arn: arn:aws:iam::{}:role/crossvault-deployer\n",
            fx.ids.management
        ),
    );
    let config = config.to_str().unwrap();

    // A member that administers nothing cannot even read the organization.
    let log = RequestLog::new();
    let (code, _, err) = fx
        .run_as(
            &fx.tooling,
            &["deploy", "--config", config, "-q", "--timeout", "1s"],
            &log,
        )
        .await;
    assert_eq!(code, 1, "{err}");
    assert!(flat(&err).contains("AccessDeniedException"), "{err}");
    assert!(flat(&err).contains("delegated administrator"), "{err}");

    // A delegated administrator of another service reads it, but CloudFormation refuses
    // CallAs=DELEGATED_ADMIN: AWS's answer, and help that says what to do.
    let org = aws_sdk_organizations::Client::new(&fx.management.config("us-east-1").await);
    org.register_delegated_administrator()
        .account_id(&fx.tooling)
        .service_principal("ssm.amazonaws.com")
        .send()
        .await
        .unwrap();
    let (code, _, err) = fx
        .run_as(
            &fx.tooling,
            &["deploy", "--config", config, "-q", "--timeout", "1s"],
            &log,
        )
        .await;
    assert_eq!(code, 1, "{err}");
    assert!(
        flat(&err).contains("Account used is not a delegated administrator"),
        "{err}"
    );
    assert!(
        flat(&err).contains("register-delegated-administrator"),
        "{err}"
    );
    insta::assert_snapshot!("error_not_a_delegated_administrator", fx.normalize(&err));
    assert!(cloudformation_writes(&log.requests()).is_empty());

    org.register_delegated_administrator()
        .account_id(&fx.tooling)
        .service_principal("member.org.stacksets.cloudformation.amazonaws.com")
        .send()
        .await
        .unwrap();

    let answer = fx.answer_management_stack("eu-west-1");
    let log = RequestLog::new();
    let (code, out, err) = fx
        .run_as(
            &fx.tooling,
            &["deploy", "--config", config, "-q", "--timeout", "120s"],
            &log,
        )
        .await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(answer.await.unwrap());
    let requests = log.requests();
    let stack_set_calls: Vec<&RecordedRequest> = requests
        .iter()
        .filter(|r| {
            r.service == "CloudFormation"
                && (r.operation.contains("StackSet") || r.operation.contains("StackInstance"))
        })
        .collect();
    assert!(stack_set_calls.len() >= 4, "{stack_set_calls:?}");
    for r in &stack_set_calls {
        assert!(
            r.body.contains("CallAs=DELEGATED_ADMIN"),
            "{} without CallAs: {}",
            r.operation,
            r.body
        );
    }
    // The StackSet lives in the management account.
    let mgmt_cfn = aws_sdk_cloudformation::Client::new(&fx.management.config("eu-west-1").await);
    mgmt_cfn
        .describe_stack_set()
        .stack_set_name("crossvault")
        .send()
        .await
        .expect("the StackSet is the management account's");
    assert_eq!(fx.instances().await, fx.expected_targets());
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_catches_what_would_deploy_but_not_work_and_deploy_refuses_it() {
    let fx = Fixture::new("findings").await;
    // Only the Workloads OU: the backup and pre-prod accounts are not targets; one region lacks
    // BackupRegion; CopyToLocalRegion needs the backup account everywhere; a template rule.
    let workloads = {
        let org = aws_sdk_organizations::Client::new(&fx.management.config("us-east-1").await);
        org.list_organizational_units_for_parent()
            .parent_id(&fx.organization.root_id)
            .send()
            .await
            .unwrap()
            .organizational_units
            .unwrap()
            .into_iter()
            .find(|o| o.name.as_deref() == Some("Workloads"))
            .and_then(|o| o.id)
            .unwrap()
    };
    let config = fx.config("c.yaml", "  CopyToLocalRegion: true\n");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            &format!("organizational_unit_ids: [{}]", fx.organization.root_id),
            &format!("organizational_unit_ids: [{workloads}]"),
        )
        .replace(
            &format!("regions: [{}]", REGIONS.join(", ")),
            "regions: [eu-west-1, us-east-1]",
        )
        .replace(
            "BackupRegionAlternate: eu-west-1",
            "BackupRegionAlternate: eu-central-1",
        );
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap();
    let log = RequestLog::new();
    let (code, plan, err) = fx.run(&["plan", "--config", config, "-q"], &log).await;
    assert_eq!(code, 3, "{err}");
    let plan = fx.normalize(&plan).replace(&workloads, "<workloads>");
    insta::assert_snapshot!("plan_with_findings", plan);

    let (code, out, err) = fx
        .run(
            &["deploy", "--config", config, "-q", "--timeout", "5s"],
            &log,
        )
        .await;
    assert_eq!(code, 2, "{out}");
    assert!(
        flat(&err).contains("crossvault deploy stopped before changing anything"),
        "{err}"
    );
    let writes: Vec<RecordedRequest> = log
        .requests()
        .into_iter()
        .filter(|r| {
            (r.service == "CloudFormation"
                && crossvault_stackset::aws::is_cloudformation_write(&r.operation))
                || (r.service == "S3"
                    && !r.operation.starts_with("Get")
                    && !r.operation.starts_with("Head"))
        })
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_asks_or_needs_yes_then_removes_instances_stack_set_and_management_stack() {
    let fx = Fixture::new("destroy").await;
    let config = fx.config("c.yaml", "");
    let config = config.to_str().unwrap();
    let answer = fx.answer_management_stack("eu-west-1");
    let log = RequestLog::new();
    let (code, out, err) = fx
        .run(
            &["deploy", "--config", config, "-q", "--timeout", "120s"],
            &log,
        )
        .await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(answer.await.unwrap());

    // Not on a terminal and no --yes: nothing is deleted.
    let log = RequestLog::new();
    let (code, _, err) = fx.run(&["destroy", "--config", config, "-q"], &log).await;
    assert_eq!(code, 2, "{err}");
    assert!(flat(&err).contains("pass --yes"), "{err}");
    assert!(cloudformation_writes(&log.requests()).is_empty());
    assert_eq!(fx.instances().await.len(), 15);

    let (code, out, err) = fx
        .run(&["destroy", "--config", config, "-q", "--yes"], &log)
        .await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    insta::assert_snapshot!("destroy", fx.normalize(&out));
    let mgmt_cfn = aws_sdk_cloudformation::Client::new(&fx.management.config("eu-west-1").await);
    let gone = mgmt_cfn
        .describe_stack_set()
        .stack_set_name("crossvault")
        .send()
        .await;
    assert!(
        gone.is_err()
            || gone
                .unwrap()
                .stack_set
                .and_then(|s| s.status)
                .map(|s| s.as_str().to_owned())
                == Some("DELETED".into())
    );
    // The instances' stacks are deleted in their accounts.
    let backup_cfn = aws_sdk_cloudformation::Client::new(&fx.sdk(&fx.ids.backup).await);
    let live: Vec<String> = backup_cfn
        .list_stacks()
        .send()
        .await
        .unwrap()
        .stack_summaries
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.stack_status.as_ref().map(|s| s.as_str()) != Some("DELETE_COMPLETE"))
        .filter_map(|s| s.stack_name)
        .collect();
    assert!(live.is_empty(), "{live:?}");
    // The artifact buckets stay without --purge-artifacts.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&fx.management.config("eu-west-1").await)
            .force_path_style(true)
            .build(),
    );
    s3.head_bucket()
        .bucket(format!("{}-eu-west-1", fx.prefix()))
        .send()
        .await
        .expect("the bucket stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn package_points_the_template_at_the_published_objects() {
    let fx = Fixture::new("package").await;
    let config = fx.config("c.yaml", "");
    let config = config.to_str().unwrap();
    let out_file = fx.dir.join("packaged.yaml");
    let log = RequestLog::new();
    // Not published yet: refused, naming the regions.
    let (code, _, err) = fx
        .run(
            &[
                "package",
                "--config",
                config,
                "--out",
                out_file.to_str().unwrap(),
                "-q",
            ],
            &log,
        )
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        flat(&err).contains("not published in eu-central-1, eu-west-1, us-east-1"),
        "{err}"
    );
    assert!(!out_file.exists());

    let (code, _, err) = fx.run(&["publish", "--config", config, "-q"], &log).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = fx
        .run(
            &[
                "package",
                "--config",
                config,
                "--out",
                out_file.to_str().unwrap(),
                "-q",
                "-o",
                "json",
            ],
            &log,
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let text = std::fs::read_to_string(&out_file).unwrap();
    let model = Template::parse(&text).unwrap();
    assert_eq!(
        model.parameters()["ArtifactKey"].default.as_deref(),
        report["artifact_key"].as_str()
    );
    assert_eq!(
        model.parameters()["ArtifactBucketPrefix"].default,
        Some(fx.prefix())
    );
    assert!(text.contains("AWS::CloudFormation::Interface"));
    let command = report["deploy_command"].as_str().unwrap();
    assert!(
        command.starts_with("aws cloudformation deploy --stack-name crossvault --template-file ")
            && command.contains("--capabilities CAPABILITY_NAMED_IAM")
            && command.contains(&format!("BackupAccountId={}", fx.ids.backup)),
        "{command}"
    );
    // The template is above the 51,200-byte TemplateBody limit: the command lets the CLI
    // upload it to the artifact bucket of the stack's region.
    assert!(text.len() > 51_200);
    assert!(
        command.contains(&format!(
            " --s3-bucket {}-{} --s3-prefix crossvault ",
            fx.prefix(),
            report["checked_regions"][0].as_str().unwrap()
        )),
        "{command}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn init_writes_a_starter_file_from_organizations_and_never_overwrites() {
    let fx = Fixture::new("init").await;
    let file = fx.dir.join("crossvault.config.yaml");
    let log = RequestLog::new();
    let (code, out, err) = fx
        .run(
            &[
                "init",
                "--out",
                file.to_str().unwrap(),
                "--region",
                "eu-west-1",
                "-q",
            ],
            &log,
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("fill in BackupRegionAlternate"), "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    insta::assert_snapshot!("init_starter_file", fx.normalize(&text));
    // It reads back as a valid config file.
    crossvault_stackset::config::ConfigFile::parse(&file, &text).unwrap();

    let (code, _, err) = fx
        .run(
            &[
                "init",
                "--out",
                file.to_str().unwrap(),
                "--region",
                "eu-west-1",
                "-q",
            ],
            &log,
        )
        .await;
    assert_eq!(code, 2);
    assert!(
        flat(&err).contains("init never overwrites a config file"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

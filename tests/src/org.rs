//! The emulated organization: a management account, the central backup account, a pre-prod
//! account and two source accounts, in two regions, with crossvault installed in each.
//!
//! Every test uses its own account ids ([`OrgIds::unique`]), so tests never share state and
//! nothing is ever reset: the test bed keeps one Organizations "world" per management account,
//! and one clock per organization.
//!
//! AWS's pace by default: every job of the organization is *timed* (CREATED and RUNNING first,
//! COMPLETED or FAILED when the organization's clock reaches its end; [`JobDurations`]), and
//! the handler's clock follows the organization's ([`TestbedClock`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use crossvault_core::Role;

use crate::clients::AccountCredentials;
use crate::clock::TestbedClock;
use crate::install::{self, CloudFormationStandIn, Installation, Overrides};
use crate::testbed::{ClockState, EventOrder, JobDurations, MemberSpec, Organization, Testbed};
use crate::{Result, err};

/// The event queues' visibility timeout in the harness (the template's is 6 × the function
/// timeout): a record the handler reported as failed comes back this soon.
pub const VISIBILITY_TIMEOUT_SECONDS: i32 = 1;

/// How far past the next job step the runner moves the clock: steps due within this much
/// test bed time are taken in one move (jobs started together finish together).
pub const CLOCK_SLACK_SECONDS: f64 = 60.0;

/// Resources live here; it is also `BackupRegionAlternate`.
pub const PRIMARY_REGION: &str = "eu-west-1";
/// `BackupRegion`: where the central copies go.
pub const BACKUP_REGION: &str = "eu-central-1";
pub const REGIONS: [&str; 2] = [PRIMARY_REGION, BACKUP_REGION];

/// The account ids of one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgIds {
    pub management: String,
    pub backup: String,
    pub preprod: String,
    pub sources: Vec<String>,
}

impl OrgIds {
    /// The ids of the shared contract and the README (999999999999 management, 222222222222
    /// backup, 333333333333 pre-prod, 111111111111 and 444444444444 sources). Only for a
    /// fresh test bed (the demo).
    pub fn contract() -> Self {
        Self {
            management: "999999999999".into(),
            backup: "222222222222".into(),
            preprod: "333333333333".into(),
            sources: vec!["111111111111".into(), "444444444444".into()],
        }
    }

    /// Ids no other test (or earlier run against the same test bed) uses: `7` + seven digits
    /// drawn from `tag`, the process and the time + a four-digit role suffix that echoes the
    /// contract's ids (`…9999` management, `…2222` backup, `…3333` pre-prod, `…1111` and
    /// `…4444` sources).
    pub fn unique(tag: &str) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        tag.hash(&mut h);
        std::process::id().hash(&mut h);
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .hash(&mut h);
        let stem = h.finish() % 10_000_000;
        let id = |suffix: &str| format!("7{stem:07}{suffix}");
        Self {
            management: id("9999"),
            backup: id("2222"),
            preprod: id("3333"),
            sources: vec![id("1111"), id("4444")],
        }
    }

    /// Every account, management first.
    pub fn all(&self) -> Vec<String> {
        let mut all = vec![
            self.management.clone(),
            self.backup.clone(),
            self.preprod.clone(),
        ];
        all.extend(self.sources.iter().cloned());
        all
    }

    /// The role a reader would give the account (for output; crossvault derives its own).
    pub fn label(&self, account: &str) -> String {
        if account == self.management {
            "management".into()
        } else if account == self.backup {
            "backup".into()
        } else if account == self.preprod {
            "pre-prod".into()
        } else if let Some(i) = self.sources.iter().position(|s| s == account) {
            format!("source {}", i + 1)
        } else {
            "outside the organization".into()
        }
    }
}

/// The StackSet parameters every instance gets (the same everywhere, as in a StackSet).
pub fn default_params(ids: &OrgIds) -> BTreeMap<String, String> {
    BTreeMap::from(
        [
            ("BackupAccountId", ids.backup.as_str()),
            ("BackupRegion", BACKUP_REGION),
            ("BackupRegionAlternate", PRIMARY_REGION),
            ("PreProdAccountIds", ids.preprod.as_str()),
            ("ManagementAccountId", ids.management.as_str()),
            ("ArtifactBucketPrefix", "crossvault-artifacts"),
            ("ArtifactKey", "crossvault/bootstrap-testbed.zip"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
}

/// The emulated organization.
pub struct Org {
    pub testbed: Testbed,
    pub ids: OrgIds,
    pub organization: Organization,
    pub params: BTreeMap<String, String>,
    credentials: BTreeMap<String, AccountCredentials>,
    pub installations: Vec<Installation>,
    pub cfn: CloudFormationStandIn,
    /// The organization's clock, as every handler reads it.
    pub clock: Arc<TestbedClock>,
}

impl Org {
    /// Creates the organization on the test bed at `url` (idempotent for the same ids) and
    /// enters every account through STS.
    pub async fn create(url: &str, ids: OrgIds) -> Result<Self> {
        let testbed = Testbed::new(url);
        testbed
            .wait_healthy(std::time::Duration::from_secs(10))
            .await?;
        let mut members = vec![
            MemberSpec {
                id: ids.backup.clone(),
                name: "backup".into(),
                ou: Some("Backup".into()),
            },
            MemberSpec {
                id: ids.preprod.clone(),
                name: "pre-prod".into(),
                ou: Some("PreProd".into()),
            },
        ];
        for (i, source) in ids.sources.iter().enumerate() {
            members.push(MemberSpec {
                id: source.clone(),
                name: format!("workload-{}", i + 1),
                ou: Some("Workloads".into()),
            });
        }
        let organization = testbed
            .create_organization(&ids.management, &members)
            .await?;
        let mut credentials = BTreeMap::new();
        for account in ids.all() {
            let c = AccountCredentials::assume(testbed.endpoint(), &account).await?;
            c.verify().await?;
            credentials.insert(account, c);
        }
        let org = Self {
            testbed,
            params: default_params(&ids),
            ids,
            organization,
            credentials,
            installations: Vec::new(),
            cfn: CloudFormationStandIn::start().await,
            clock: TestbedClock::new(),
        };
        org.set_job_durations(&JobDurations::default()).await?;
        let state = org.testbed.clock_of(&org.ids.management).await?;
        org.clock.follow(state.offset_seconds);
        Ok(org)
    }

    /// Every job of the organization takes `durations` of test bed time.
    pub async fn set_job_durations(&self, durations: &JobDurations) -> Result<()> {
        for account in self.ids.all() {
            self.testbed.set_timed_jobs(&account, durations).await?;
        }
        Ok(())
    }

    /// Every job of the organization runs to its end at once (the fastest, least AWS-like).
    pub async fn set_instant_jobs(&self) -> Result<()> {
        for account in self.ids.all() {
            self.testbed.set_job_mode("instant", &account).await?;
        }
        Ok(())
    }

    fn follow(&self, state: ClockState) -> ClockState {
        self.clock.follow(state.offset_seconds);
        state
    }

    /// Moves the organization's clock (and so every handler's) `seconds` ahead; job steps
    /// that fall due are taken, with their events.
    pub async fn advance_clock(&self, seconds: f64) -> Result<ClockState> {
        let state = self
            .testbed
            .advance_clock(&self.ids.management, seconds)
            .await?;
        Ok(self.follow(state))
    }

    /// Moves the organization's clock to the next due step of its timed jobs (and
    /// [`CLOCK_SLACK_SECONDS`] beyond it).
    pub async fn clock_to_next_job(&self) -> Result<ClockState> {
        let state = self
            .testbed
            .clock_to_next_job(&self.ids.management, CLOCK_SLACK_SECONDS)
            .await?;
        Ok(self.follow(state))
    }

    /// The organization's clock and its timed jobs.
    pub async fn clock_state(&self) -> Result<ClockState> {
        let state = self.testbed.clock_of(&self.ids.management).await?;
        Ok(self.follow(state))
    }

    /// "Now" on the organization's clock.
    pub async fn now(&self) -> Result<DateTime<Utc>> {
        self.testbed.now_of(&self.ids.management).await
    }

    /// Holds every event of the organization (emitted, not delivered) until released.
    pub async fn hold_events(&self) -> Result<()> {
        self.testbed
            .set_event_delivery(&self.ids.management, "hold", 1)
            .await
    }

    /// Delivers every event of the organization `copies` times, as it is emitted.
    pub async fn deliver_events(&self, copies: u32) -> Result<()> {
        self.testbed
            .set_event_delivery(&self.ids.management, "immediate", copies)
            .await
    }

    /// Delivers the held events in `order`, the whole batch `copies` times.
    pub async fn release_events(&self, order: EventOrder, copies: u32) -> Result<u64> {
        self.testbed
            .release_events(&self.ids.management, order, copies)
            .await
    }

    /// How many of the organization's events are held.
    pub async fn held_events(&self) -> Result<u64> {
        self.testbed.held_events(&self.ids.management).await
    }

    /// Throttles every account's mutating Backup calls to `rate_per_second` (per account and
    /// region), as AWS Backup's API quota does; `None` turns it off.
    pub async fn throttle(&self, rate_per_second: Option<f64>) -> Result<()> {
        self.testbed
            .throttle(&self.ids.management, rate_per_second)
            .await
    }

    pub fn credentials(&self, account: &str) -> Result<&AccountCredentials> {
        self.credentials
            .get(account)
            .ok_or_else(|| err(format!("account {account} is not in this organization")))
    }

    /// An `SdkConfig` for `account` in `region`.
    pub async fn sdk(&self, account: &str, region: &str) -> Result<SdkConfig> {
        Ok(self.credentials(account)?.config(region).await)
    }

    /// Installs crossvault everywhere, as the CLI would: the management account's plain stack
    /// (in the primary region) first, which turns cross-account backup on, then the StackSet
    /// instances in every other account and both regions.
    pub async fn install(&mut self) -> Result<()> {
        self.install_with(&Overrides::default()).await
    }

    pub async fn install_with(&mut self, overrides: &Overrides) -> Result<()> {
        let mut targets = vec![(self.ids.management.clone(), PRIMARY_REGION.to_owned())];
        for account in self.ids.all().into_iter().skip(1) {
            for region in REGIONS {
                targets.push((account.clone(), region.to_owned()));
            }
        }
        for (account, region) in targets {
            let sdk = self.sdk(&account, &region).await?;
            let installation = install::install(
                &self.cfn,
                sdk,
                &account,
                &region,
                &self.params,
                overrides,
                self.clock.clone(),
            )
            .await?;
            installation.shorten_visibility_timeout().await?;
            self.installations.push(installation);
        }
        Ok(())
    }

    /// crossvault in `account`/`region`.
    pub fn installation(&self, account: &str, region: &str) -> Result<&Installation> {
        self.installations
            .iter()
            .find(|i| i.account_id == account && i.region == region)
            .ok_or_else(|| err(format!("crossvault is not installed in {account}/{region}")))
    }

    /// The installations with an event queue (source, backup and pre-prod), in install order.
    pub fn with_queues(&self) -> impl Iterator<Item = &Installation> {
        self.installations.iter().filter(|i| i.queue_url.is_some())
    }

    /// The role crossvault took in `account` (from the template's conditions).
    pub fn role_of(&self, account: &str) -> Option<Role> {
        self.installations
            .iter()
            .find(|i| i.account_id == account)
            .map(|i| i.role)
    }

    /// A Backup client for `account` in `region`.
    pub async fn backup(&self, account: &str, region: &str) -> Result<aws_sdk_backup::Client> {
        Ok(aws_sdk_backup::Client::new(
            &self.sdk(account, region).await?,
        ))
    }

    /// The vault ARN `account`/`region`/`name`.
    pub fn vault_arn(account: &str, region: &str, name: &str) -> String {
        format!("arn:aws:backup:{region}:{account}:backup-vault:{name}")
    }
}

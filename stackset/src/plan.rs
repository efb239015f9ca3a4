//! What deploying would do, and what would deploy but not work.
//!
//! [`survey`] reads Organizations, the StackSet, its instances and the management stack;
//! [`make_plan`] is pure: from the configuration, the template and that survey it works out
//! every target account × region with its role and change, and the findings. `plan` prints it;
//! `deploy` refuses to start while it holds an error.

use std::collections::{BTreeMap, BTreeSet};

use crossvault_core::Role;
use serde::Serialize;

use crate::aws::Clients;
use crate::config::{Config, Permission};
use crate::deployment::{self, role_name};
use crate::error::{CliError, aws};
use crate::management::{self, CurrentStack, StackChange};
use crate::organization::Organization;
use crate::stackset::{self, CurrentStackSet, DesiredStackSet, Instance, StackSetChange};
use crate::template::{Pseudo, Template};

/// What AWS reports now.
#[derive(Debug, Clone, Serialize)]
pub struct Survey {
    /// The account crossvault runs as.
    pub caller_account: String,
    pub organization: Organization,
    pub stack_set: Option<CurrentStackSet>,
    pub instances: Vec<Instance>,
    pub management_stack: Option<CurrentStack>,
}

/// Reads everything the plan needs. No writes.
pub async fn survey(clients: &Clients, config: &Config) -> Result<Survey, CliError> {
    let caller = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(aws("sts:GetCallerIdentity"))?;
    let organization = Organization::read(&clients.organizations).await?;
    let stack_set = stackset::describe(clients, &config.stack_set_name).await?;
    let instances = if stack_set.is_some() {
        stackset::instances(clients, &config.stack_set_name).await?
    } else {
        Vec::new()
    };
    let management_stack = if config.management_stack.deploy {
        management::describe(clients, &config.management_stack.stack_name).await?
    } else {
        None
    };
    Ok(Survey {
        caller_account: caller.account.unwrap_or_default(),
        organization,
        stack_set,
        instances,
        management_stack,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Would deploy but not work (or not deploy at all): `deploy` refuses.
    Error,
    /// Works, but probably not as meant.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

/// How a target is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    StackSet,
    /// The management account's plain stack.
    Stack,
}

/// What happens to one account × region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A new stack instance (or the management stack, created).
    New,
    /// Updated with the StackSet (template or parameters changed).
    Update,
    /// Left OUTDATED by an earlier operation: deployed again.
    Redeploy,
    Nothing,
    /// An instance crossvault was not asked for (not in the targets): left alone.
    NotTargeted,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::New => "new instance",
            Self::Update => "update",
            Self::Redeploy => "redeploy (outdated)",
            Self::Nothing => "nothing",
            Self::NotTargeted => "not targeted (left alone)",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub account: String,
    pub account_name: String,
    pub region: String,
    pub role: String,
    pub via: Via,
    pub change: Change,
    /// The instance's status now (empty when there is none).
    pub status: String,
}

/// The plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stack_set_name: String,
    pub stack_set_region: String,
    pub permission_model: String,
    pub delegated_admin: bool,
    pub organization_id: String,
    pub management_account_id: String,
    pub artifact_key: String,
    pub stack_set: StackSetChange,
    pub management_stack: StackChange,
    pub rows: Vec<Row>,
    pub findings: Vec<Finding>,
    /// StackSet instances to create, (account, region).
    #[serde(skip)]
    pub new_instances: BTreeSet<(String, String)>,
    /// OUTDATED instances to deploy again.
    #[serde(skip)]
    pub redeploy: BTreeSet<(String, String)>,
    /// Every targeted account per region (to tell whole-OU creations from partial ones).
    #[serde(skip)]
    pub targets_by_region: BTreeMap<String, BTreeSet<String>>,
}

impl Plan {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// Whether deploying would call a CloudFormation write at all.
    pub fn changes_anything(&self) -> bool {
        self.stack_set != StackSetChange::Unchanged
            || !self.new_instances.is_empty()
            || !self.redeploy.is_empty()
            || matches!(
                self.management_stack,
                StackChange::Create | StackChange::Update { .. }
            )
    }
}

/// Inputs of [`make_plan`] besides the survey.
pub struct PlanInputs<'a> {
    pub config: &'a Config,
    pub template: &'a Template,
    pub desired: &'a DesiredStackSet,
    pub artifact_key: &'a str,
}

fn error(findings: &mut Vec<Finding>, message: String) {
    findings.push(Finding {
        severity: Severity::Error,
        message,
    });
}

fn warning(findings: &mut Vec<Finding>, message: String) {
    findings.push(Finding {
        severity: Severity::Warning,
        message,
    });
}

/// Works out the plan. Pure: no AWS calls.
pub fn make_plan(inputs: &PlanInputs<'_>, survey: &Survey) -> Result<Plan, CliError> {
    let config = inputs.config;
    let template = inputs.template;
    let params = &inputs.desired.parameters;
    let org = &survey.organization;
    let mut findings = Vec::new();

    // Who runs crossvault, and whether CloudFormation will let them.
    let is_management_caller = survey.caller_account == org.management_account_id;
    match (&config.permission, config.delegated_admin) {
        (Permission::ServiceManaged { .. }, false) if !is_management_caller => error(
            &mut findings,
            format!(
                "crossvault runs as account {}, which is not the management account {}: \
                 service-managed StackSets are managed from the management account or by a \
                 delegated administrator (set delegated_admin: true)",
                survey.caller_account, org.management_account_id
            ),
        ),
        (_, true) if is_management_caller => error(
            &mut findings,
            format!(
                "delegated_admin is set, but crossvault runs as the management account {}: \
                 CloudFormation refuses CallAs=DELEGATED_ADMIN from it (set delegated_admin: false)",
                org.management_account_id
            ),
        ),
        _ => {}
    }

    // The accounts the StackSet targets.
    let stack_set_accounts: BTreeSet<String> = match &config.permission {
        Permission::ServiceManaged {
            organizational_unit_ids,
            ..
        } => {
            for ou in organizational_unit_ids {
                if !org.has_parent(ou) {
                    error(
                        &mut findings,
                        format!(
                            "organizational_unit_ids: {ou} is not an OU or root of organization {}",
                            org.id
                        ),
                    );
                }
            }
            let under = org.accounts_under(organizational_unit_ids);
            if under.contains(&org.management_account_id) {
                warning(
                    &mut findings,
                    format!(
                        "the management account {} is under a targeted OU, but service-managed \
                         StackSets never deploy there; {}",
                        org.management_account_id,
                        if config.management_stack.deploy {
                            format!(
                                "crossvault deploys the plain stack {} in {} instead",
                                config.management_stack.stack_name, config.management_stack.region
                            )
                        } else {
                            "management_stack.deploy is false, so nothing is deployed there"
                                .to_owned()
                        }
                    ),
                );
            }
            under
                .into_iter()
                .filter(|a| *a != org.management_account_id)
                .filter(|a| org.accounts.get(a).is_some_and(|a| a.status == "ACTIVE"))
                .collect()
        }
        Permission::SelfManaged { accounts, .. } => {
            for a in accounts {
                match org.accounts.get(a) {
                    None => warning(
                        &mut findings,
                        format!(
                            "account {a} is not in organization {}: its copies are refused by \
                             the organization-scoped vault policies",
                            org.id
                        ),
                    ),
                    Some(acc) if acc.status != "ACTIVE" => warning(
                        &mut findings,
                        format!("account {a} is {} in Organizations", acc.status),
                    ),
                    _ => {}
                }
            }
            accounts.iter().cloned().collect()
        }
    };

    // The management account's plain stack.
    let management_covered_by_stack_set = stack_set_accounts.contains(&org.management_account_id);
    let management_target = config.management_stack.deploy && !management_covered_by_stack_set;
    let management_param = params
        .get("ManagementAccountId")
        .cloned()
        .unwrap_or_default();
    if (management_target || management_covered_by_stack_set)
        && management_param != org.management_account_id
    {
        error(
            &mut findings,
            format!(
                "parameters.ManagementAccountId is {:?}, but Organizations reports the \
                 management account {}: its stack would not get the management role (global \
                 settings), and cross-account copies stay off. Set ManagementAccountId: \"{}\"",
                management_param, org.management_account_id, org.management_account_id
            ),
        );
    } else if !config.management_stack.deploy && !management_covered_by_stack_set {
        warning(
            &mut findings,
            "management_stack.deploy is false and the StackSet does not cover the management \
             account: cross-account backup must be turned on some other way"
                .to_owned(),
        );
    }

    // The template's own rules.
    let any_account = stack_set_accounts
        .iter()
        .next()
        .cloned()
        .unwrap_or_else(|| org.management_account_id.clone());
    for broken in deployment::broken_rules(
        template,
        params,
        &Pseudo::new(&any_account, &config.regions[0]),
    )? {
        error(
            &mut findings,
            format!("CloudFormation would refuse the parameters: {broken}"),
        );
    }

    // The backup account must be where copies go.
    let backup = params.get("BackupAccountId").cloned().unwrap_or_default();
    let backup_region = params.get("BackupRegion").cloned().unwrap_or_default();
    let alternate = params
        .get("BackupRegionAlternate")
        .cloned()
        .unwrap_or_default();
    if !stack_set_accounts.contains(&backup) {
        error(
            &mut findings,
            format!(
                "the backup account {backup} (BackupAccountId) is not among the StackSet's \
                 targets: no central vault would receive the copies"
            ),
        );
    }
    for (name, region) in [
        ("BackupRegion", &backup_region),
        ("BackupRegionAlternate", &alternate),
    ] {
        if !config.regions.contains(region) {
            error(
                &mut findings,
                format!(
                    "{name} {region} is not one of `regions` ({}): the backup account gets no \
                     central vault there, so copies into it fail",
                    config.regions.join(", ")
                ),
            );
        }
    }
    for preprod in params
        .get("PreProdAccountIds")
        .map(|s| {
            s.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
    {
        if !stack_set_accounts.contains(&preprod) {
            warning(
                &mut findings,
                format!(
                    "the pre-prod account {preprod} is not among the StackSet's targets: copies \
                     of tagged resources to it would fail"
                ),
            );
        }
    }

    // Rows: every target account × region, then instances nobody asked for.
    let existing: BTreeMap<(String, String), &Instance> = survey
        .instances
        .iter()
        .map(|i| ((i.account.clone(), i.region.clone()), i))
        .collect();
    let stack_set_change =
        stackset::stack_set_change(inputs.desired, template, survey.stack_set.as_ref())?;
    let updating = matches!(stack_set_change, StackSetChange::Update { .. });
    let mut rows = Vec::new();
    let mut new_instances = BTreeSet::new();
    let mut redeploy = BTreeSet::new();
    let mut targets_by_region: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let name_of = |a: &str| {
        org.accounts
            .get(a)
            .map(|a| a.name.clone())
            .unwrap_or_default()
    };
    // Roles depend on the region only through the template's conditions; evaluate per pair.
    let mut roles: BTreeMap<(String, String), Role> = BTreeMap::new();
    for account in &stack_set_accounts {
        for region in &config.regions {
            let role = deployment::role_of(template, params, account, region)?;
            roles.insert((account.clone(), region.clone()), role);
            targets_by_region
                .entry(region.clone())
                .or_default()
                .insert(account.clone());
            let key = (account.clone(), region.clone());
            let (change, status) = match existing.get(&key) {
                None => {
                    new_instances.insert(key.clone());
                    (Change::New, String::new())
                }
                Some(i) if i.status == "OUTDATED" && !updating => {
                    redeploy.insert(key.clone());
                    (Change::Redeploy, status_text(i))
                }
                Some(i) if updating => (Change::Update, status_text(i)),
                Some(i) => (Change::Nothing, status_text(i)),
            };
            rows.push(Row {
                account: account.clone(),
                account_name: name_of(account),
                region: region.clone(),
                role: role_name(role).to_owned(),
                via: Via::StackSet,
                change,
                status,
            });
        }
    }
    for ((account, region), i) in &existing {
        if roles.contains_key(&(account.clone(), region.clone())) {
            continue;
        }
        let role = deployment::role_of(template, params, account, region)
            .map(role_name)
            .unwrap_or("?");
        warning(
            &mut findings,
            format!(
                "instance {account} {region} is not among the targets; crossvault leaves it \
                 alone (crossvault destroy removes every instance)"
            ),
        );
        rows.push(Row {
            account: account.clone(),
            account_name: name_of(account),
            region: region.clone(),
            role: role.to_owned(),
            via: Via::StackSet,
            change: Change::NotTargeted,
            status: status_text(i),
        });
        roles.insert(
            (account.clone(), region.clone()),
            deployment::role_of(template, params, account, region)?,
        );
    }
    for i in survey.instances.iter().filter(|i| i.status == "INOPERABLE") {
        warning(
            &mut findings,
            format!(
                "instance {} {} is INOPERABLE{}: CloudFormation cannot update it; delete it with \
                 retained stacks (aws cloudformation delete-stack-instances --retain-stacks) and \
                 deploy again",
                i.account,
                i.region,
                i.status_reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        );
    }

    // Regions whose sources copy within the region need the backup account there too.
    let local = params.get("CopyToLocalRegion").map(String::as_str) == Some("true");
    let two_hop = params
        .get("TwoHopResourceTypes")
        .is_some_and(|t| !t.trim().is_empty());
    if local || two_hop {
        let source_regions: BTreeSet<&String> = roles
            .iter()
            .filter(|(_, r)| **r == Role::Source)
            .map(|((_, region), _)| region)
            .collect();
        for region in source_regions {
            if !roles.contains_key(&(backup.clone(), region.clone())) {
                error(
                    &mut findings,
                    format!(
                        "source accounts run in {region}, but the backup account {backup} has no \
                         instance there, which {} needs",
                        if local {
                            "CopyToLocalRegion=true"
                        } else {
                            "TwoHopResourceTypes"
                        }
                    ),
                );
            }
        }
    }

    // The management stack.
    let management_change = if !config.management_stack.deploy {
        StackChange::Skipped {
            reason: "management_stack.deploy is false".into(),
        }
    } else if management_covered_by_stack_set {
        StackChange::Skipped {
            reason: format!(
                "the StackSet deploys to the management account {}",
                org.management_account_id
            ),
        }
    } else {
        let change = management::change(
            survey.management_stack.as_ref(),
            &inputs.desired.template_body,
            template,
            params,
        );
        if let StackChange::Blocked { reason } = &change {
            error(
                &mut findings,
                format!(
                    "the management stack {}: {reason}; delete it (aws cloudformation \
                     delete-stack --stack-name {}) and deploy again",
                    config.management_stack.stack_name, config.management_stack.stack_name
                ),
            );
        }
        if config.delegated_admin && config.management_stack.role_arn.is_none() {
            error(
                &mut findings,
                "crossvault runs as the delegated administrator, which cannot deploy the \
                 management account's stack: set management_stack.role_arn to a role in the \
                 management account, or management_stack.deploy: false and deploy it from there"
                    .to_owned(),
            );
        }
        let role = deployment::role_of(
            template,
            params,
            &org.management_account_id,
            &config.management_stack.region,
        )?;
        rows.push(Row {
            account: org.management_account_id.clone(),
            account_name: name_of(&org.management_account_id),
            region: config.management_stack.region.clone(),
            role: role_name(role).to_owned(),
            via: Via::Stack,
            change: match &change {
                StackChange::Create => Change::New,
                StackChange::Update { .. } => Change::Update,
                _ => Change::Nothing,
            },
            status: survey
                .management_stack
                .as_ref()
                .map(|s| s.status.clone())
                .unwrap_or_default(),
        });
        change
    };

    rows.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
    findings.sort_by_key(|f| f.severity);
    Ok(Plan {
        stack_set_name: config.stack_set_name.clone(),
        stack_set_region: config.stack_set_region.clone(),
        permission_model: config.permission.name().to_owned(),
        delegated_admin: config.delegated_admin,
        organization_id: org.id.clone(),
        management_account_id: org.management_account_id.clone(),
        artifact_key: inputs.artifact_key.to_owned(),
        stack_set: stack_set_change,
        management_stack: management_change,
        rows,
        findings,
        new_instances,
        redeploy,
        targets_by_region,
    })
}

fn status_text(i: &Instance) -> String {
    match &i.detailed_status {
        Some(d) if d != "SUCCEEDED" => format!("{} ({d})", i.status),
        _ => i.status.clone(),
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "StackSet {} in {} ({}{}), organization {}, management account {}",
            self.stack_set_name,
            self.stack_set_region,
            self.permission_model,
            if self.delegated_admin {
                ", as delegated administrator"
            } else {
                ""
            },
            self.organization_id,
            self.management_account_id
        )?;
        writeln!(f, "ArtifactKey {}", self.artifact_key)?;
        match &self.stack_set {
            StackSetChange::Create => writeln!(f, "StackSet: create")?,
            StackSetChange::Unchanged => writeln!(f, "StackSet: no change")?,
            StackSetChange::Update { reasons } => {
                writeln!(f, "StackSet: update")?;
                for r in reasons {
                    writeln!(f, "  - {r}")?;
                }
            }
        }
        match &self.management_stack {
            StackChange::Create => writeln!(f, "management stack: create")?,
            StackChange::Unchanged => writeln!(f, "management stack: no change")?,
            StackChange::Update { reasons } => {
                writeln!(f, "management stack: update")?;
                for r in reasons {
                    writeln!(f, "  - {r}")?;
                }
            }
            StackChange::Skipped { reason } => writeln!(f, "management stack: skipped ({reason})")?,
            StackChange::Blocked { reason } => writeln!(f, "management stack: blocked ({reason})")?,
        }
        writeln!(f)?;
        let mut t = crate::output::Table::new([
            "account",
            "name",
            "region",
            "role",
            "via",
            "change",
            "status now",
        ]);
        for r in &self.rows {
            t.row([
                r.account.clone(),
                r.account_name.clone(),
                r.region.clone(),
                r.role.clone(),
                match r.via {
                    Via::StackSet => "stack set".to_owned(),
                    Via::Stack => "plain stack".to_owned(),
                },
                match (r.via, &r.change) {
                    (Via::Stack, Change::New) => "new stack".to_owned(),
                    (_, change) => change.to_string(),
                },
                if r.status.is_empty() {
                    "-".to_owned()
                } else {
                    r.status.clone()
                },
            ]);
        }
        write!(f, "{t}")?;
        let count = |c: Change| self.rows.iter().filter(|r| r.change == c).count();
        write!(
            f,
            "\n{} target(s): {} new, {} to update, {} to redeploy, {} unchanged",
            self.rows
                .iter()
                .filter(|r| r.change != Change::NotTargeted)
                .count(),
            count(Change::New),
            count(Change::Update),
            count(Change::Redeploy),
            count(Change::Nothing)
        )?;
        if !self.findings.is_empty() {
            writeln!(f)?;
            for finding in &self.findings {
                write!(
                    f,
                    "\n{}: {}",
                    match finding.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    },
                    finding.message
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigFile, Loaded, Overrides};
    use crate::organization::{Account, Organization};
    use crate::stackset::DesiredStackSet;

    fn org() -> Organization {
        let account = |id: &str, name: &str| {
            (
                id.to_owned(),
                Account {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    status: "ACTIVE".to_owned(),
                    parent_id: "r-abcd".to_owned(),
                },
            )
        };
        Organization {
            id: "o-abcdefghij".into(),
            management_account_id: "999999999999".into(),
            root_id: "r-abcd".into(),
            ous: BTreeMap::new(),
            accounts: BTreeMap::from([
                account("999999999999", "management"),
                account("111111111111", "workload"),
                account("222222222222", "backup"),
            ]),
        }
    }

    fn plan_for(config_text: &str, survey_instances: Vec<Instance>) -> Plan {
        let path = std::path::PathBuf::from("crossvault.config.yaml");
        let loaded = Loaded {
            file: ConfigFile::parse(&path, config_text).unwrap(),
            path,
            text: config_text.to_owned(),
        };
        let config = Config::resolve(Some(&loaded), &Overrides::default()).unwrap();
        let template = Template::parse(crate::deployment::TEMPLATE).unwrap();
        let params = crate::deployment::stack_parameters(&config, "crossvault/x.zip");
        let desired = DesiredStackSet::new(&config, crate::deployment::TEMPLATE, params);
        let survey = Survey {
            caller_account: "999999999999".into(),
            organization: org(),
            stack_set: None,
            instances: survey_instances,
            management_stack: None,
        };
        make_plan(
            &PlanInputs {
                config: &config,
                template: &template,
                desired: &desired,
                artifact_key: "crossvault/x.zip",
            },
            &survey,
        )
        .unwrap()
    }

    const SELF_MANAGED: &str = "permission_model: self-managed\n\
        accounts: [\"999999999999\", \"111111111111\", \"222222222222\", \"444444444444\"]\n\
        regions: [eu-west-1, eu-central-1]\nartifact_bucket_prefix: crossvault-artifacts\n\
        parameters:\n  BackupAccountId: \"222222222222\"\n  BackupRegion: eu-central-1\n  \
        BackupRegionAlternate: eu-west-1\n  ManagementAccountId: \"999999999999\"\n";

    #[test]
    fn a_self_managed_stack_set_covering_the_management_account_needs_no_plain_stack() {
        let plan = plan_for(SELF_MANAGED, Vec::new());
        assert!(!plan.has_errors(), "{:?}", plan.findings);
        assert!(matches!(plan.management_stack, StackChange::Skipped { .. }));
        let management: Vec<&Row> = plan
            .rows
            .iter()
            .filter(|r| r.account == "999999999999")
            .collect();
        assert_eq!(management.len(), 2, "an instance in each region");
        assert!(
            management
                .iter()
                .all(|r| r.role == "management" && r.via == Via::StackSet)
        );
        assert_eq!(plan.new_instances.len(), 8);
        assert!(
            plan.findings.iter().any(|f| f.severity == Severity::Warning
                && f.message.contains("444444444444 is not in organization")),
            "{:?}",
            plan.findings
        );
    }

    #[test]
    fn outdated_instances_are_redeployed_and_untargeted_ones_left_alone() {
        let instance = |account: &str, region: &str, status: &str| Instance {
            account: account.into(),
            region: region.into(),
            status: status.into(),
            detailed_status: Some(
                if status == "CURRENT" {
                    "SUCCEEDED"
                } else {
                    "FAILED"
                }
                .into(),
            ),
            status_reason: None,
            drift_status: None,
            organizational_unit_id: None,
        };
        let plan = plan_for(
            SELF_MANAGED,
            vec![
                instance("111111111111", "eu-west-1", "OUTDATED"),
                instance("222222222222", "eu-west-1", "CURRENT"),
                instance("222222222222", "us-east-1", "CURRENT"),
            ],
        );
        // The StackSet itself is new here (no survey.stack_set), so nothing is "updated".
        assert_eq!(
            plan.redeploy,
            BTreeSet::from([("111111111111".to_owned(), "eu-west-1".to_owned())])
        );
        let extra = plan.rows.iter().find(|r| r.region == "us-east-1").unwrap();
        assert_eq!(extra.change, Change::NotTargeted);
        assert!(
            !plan
                .new_instances
                .contains(&("222222222222".to_owned(), "eu-west-1".to_owned()))
        );
    }
}

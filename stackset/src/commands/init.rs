//! `crossvault init`: a commented starter `crossvault.config.yaml` from what Organizations
//! reports. Never overwrites a file.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::aws::{ClientPlan, Clients, Environment, load_sdk_config};
use crate::cli::Global;
use crate::config::DEFAULT_FILE;
use crate::error::{CliError, aws};
use crate::organization::Organization;
use crate::output::{Progress, Report};

#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// The file to write.
    #[arg(long, default_value = DEFAULT_FILE, value_name = "FILE")]
    pub out: PathBuf,
    /// The StackSet's home region (default: the AWS region of the environment / profile).
    #[arg(long)]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub path: String,
    pub organization_id: String,
    pub management_account_id: String,
    pub accounts: usize,
    pub organizational_units: usize,
    /// Parameters init could not fill in; plan and deploy refuse until they are set.
    pub to_fill_in: Vec<String>,
}

impl Report for InitReport {}

impl std::fmt::Display for InitReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "wrote {} for organization {} (management account {}, {} account(s), {} OU(s))",
            self.path,
            self.organization_id,
            self.management_account_id,
            self.accounts,
            self.organizational_units
        )?;
        if self.to_fill_in.is_empty() {
            write!(f, "review it, then: crossvault plan")
        } else {
            write!(
                f,
                "fill in {} in it, then: crossvault plan",
                self.to_fill_in.join(", ")
            )
        }
    }
}

/// YAML-quotes a string.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The starter file's text.
pub fn starter(org: &Organization, region: &str) -> (String, Vec<String>) {
    let mut to_fill_in = Vec::new();
    let backup_guess: Vec<&crate::organization::Account> = org
        .accounts
        .values()
        .filter(|a| a.name.to_lowercase().contains("backup") && a.id != org.management_account_id)
        .collect();
    let preprod_guess: Vec<&crate::organization::Account> = org
        .accounts
        .values()
        .filter(|a| {
            let n = a.name.to_lowercase();
            (n.contains("preprod") || n.contains("pre-prod") || n.contains("staging"))
                && a.id != org.management_account_id
        })
        .take(5)
        .collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# crossvault configuration, written by `crossvault init` from organization {}",
        org.id
    );
    let _ = writeln!(
        s,
        "# (management account {}). `crossvault plan` checks it against Organizations",
        org.management_account_id
    );
    let _ = writeln!(
        s,
        "# and the StackSet; the crossvault README (\"The CLI\") explains every key."
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "stack_set_name: crossvault");
    let _ = writeln!(
        s,
        "# Where the StackSet lives; pinned so another AWS_REGION cannot make a second one."
    );
    let _ = writeln!(s, "stack_set_region: {region}");
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "# service-managed: Organizations deploys to every account under these OUs (never to"
    );
    let _ = writeln!(
        s,
        "# the management account: crossvault deploys a plain stack there) and follows accounts"
    );
    let _ = writeln!(
        s,
        "# as they join or leave. self-managed instead: `accounts: [...]` with your own roles."
    );
    let _ = writeln!(s, "permission_model: service-managed");
    let _ = writeln!(
        s,
        "organizational_unit_ids: [{}]   # the root; or some of the OUs listed below",
        org.root_id
    );
    let _ = writeln!(s, "auto_deployment: true");
    let _ = writeln!(
        s,
        "retain_stacks_on_account_removal: true   # an account that leaves keeps its vaults"
    );
    let _ = writeln!(
        s,
        "# delegated_admin: true   # when run from the StackSets delegated administrator"
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "# Every region with resources to back up; must include BackupRegion and BackupRegionAlternate."
    );
    let _ = writeln!(s, "regions: [{region}]");
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "# The handler zip goes to one bucket per region, <prefix>-<region> (names are global)."
    );
    let _ = writeln!(
        s,
        "artifact_bucket_prefix: crossvault-artifacts-{}",
        org.id.to_lowercase()
    );
    let _ = writeln!(
        s,
        "# artifact: target/lambda/crossvault/bootstrap.zip   # what `crossvault build` writes"
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "# operation_preferences:   # how CloudFormation rolls a change out"
    );
    let _ = writeln!(s, "#   region_concurrency: parallel");
    let _ = writeln!(s, "#   max_concurrent_percentage: 25");
    let _ = writeln!(s, "#   failure_tolerance_percentage: 10");
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "# The stack parameters (the template's README lists them all); `crossvault explain`"
    );
    let _ = writeln!(s, "# reads the same map.");
    let _ = writeln!(s, "parameters:");
    let _ = writeln!(
        s,
        "  ManagementAccountId: {}",
        q(&org.management_account_id)
    );
    match backup_guess.as_slice() {
        [one] => {
            let _ = writeln!(
                s,
                "  BackupAccountId: {}   # guessed from its name, {:?}: check",
                q(&one.id),
                one.name
            );
        }
        _ => {
            to_fill_in.push("BackupAccountId".to_owned());
            let _ = writeln!(
                s,
                "  BackupAccountId: \"\"   # FILL IN: the central backup account (accounts below)"
            );
        }
    }
    let _ = writeln!(s, "  BackupRegion: {region}   # where every copy goes");
    to_fill_in.push("BackupRegionAlternate".to_owned());
    let _ = writeln!(
        s,
        "  BackupRegionAlternate: \"\"   # FILL IN: a second region, for copies of resources in BackupRegion"
    );
    if preprod_guess.is_empty() {
        let _ = writeln!(
            s,
            "  # PreProdAccountIds: [\"...\"]   # accounts that get copies of tagged production resources"
        );
    } else {
        let ids: Vec<String> = preprod_guess.iter().map(|a| q(&a.id)).collect();
        let _ = writeln!(
            s,
            "  PreProdAccountIds: [{}]   # guessed from their names: check",
            ids.join(", ")
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "# Organizational units:");
    let _ = writeln!(s, "#   {}  root", org.root_id);
    let mut ous: Vec<(String, &str)> = org
        .ous
        .values()
        .map(|ou| (org.path_of(&ou.id), ou.id.as_str()))
        .collect();
    ous.sort();
    for (path, id) in ous {
        let _ = writeln!(s, "#   {id}  {path}");
    }
    let _ = writeln!(s, "# Accounts:");
    for a in org.accounts.values() {
        let note = if a.id == org.management_account_id {
            "  (management)".to_owned()
        } else if a.status != "ACTIVE" {
            format!("  ({})", a.status)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "#   {}  {}  {}{note}",
            a.id,
            a.name,
            org.path_of(&a.parent_id)
        );
    }
    (s, to_fill_in)
}

pub async fn run(
    args: &InitArgs,
    global: &Global,
    env: &Environment,
    progress: &Progress,
) -> Result<InitReport, CliError> {
    if args.out.exists() {
        return Err(CliError::Usage {
            message: format!(
                "{} exists; init never overwrites a config file",
                args.out.display()
            ),
            help: "edit it, or move it away and run init again (or --out another file)".into(),
        });
    }
    let sdk = match &env.sdk_config {
        Some(sdk) => sdk.clone(),
        None => load_sdk_config(&global.aws, args.region.as_deref()).await,
    };
    let region = args
        .region
        .clone()
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .ok_or_else(|| CliError::Usage {
            message: "no AWS region: init writes it as the StackSet's home region".into(),
            help: "pass --region, or set AWS_REGION / the profile's region".into(),
        })?;
    let clients = Clients::build(
        &sdk,
        &ClientPlan {
            stack_set_region: region.clone(),
            management_region: region.clone(),
            ..Default::default()
        },
        env,
    )
    .await?;
    progress.step("reading the organization");
    let org = Organization::read(&clients.organizations).await?;
    clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(aws("sts:GetCallerIdentity"))?;
    progress.finish();
    let (text, to_fill_in) = starter(&org, &region);
    // create_new: a file that appeared since the check above is not overwritten either.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&args.out)
        .map_err(|source| CliError::Read {
            path: args.out.display().to_string(),
            source,
        })?;
    use std::io::Write;
    file.write_all(text.as_bytes())
        .map_err(|source| CliError::Read {
            path: args.out.display().to_string(),
            source,
        })?;
    Ok(InitReport {
        path: args.out.display().to_string(),
        organization_id: org.id.clone(),
        management_account_id: org.management_account_id.clone(),
        accounts: org.accounts.len(),
        organizational_units: org.ous.len(),
        to_fill_in,
    })
}

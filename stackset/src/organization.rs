//! What Organizations reports: the organization, its OU tree and its accounts.
//!
//! Read by walking the tree (per parent: its OUs and its accounts), so the number of calls grows
//! with OUs and with accounts / 20 (Organizations' page size), never with one call per account.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{CliError, aws};

/// `aws(call)`, with help for the one refusal users meet here: a member account that is
/// neither the management account nor a delegated administrator.
fn read<E, R>(call: String) -> impl FnOnce(crate::error::SdkError<E, R>) -> CliError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug,
{
    move |e| match aws(call)(e) {
        CliError::Aws { call, message, .. } if message.starts_with("AccessDenied") => {
            CliError::Aws {
                call,
                message,
                help: "crossvault reads the organization's OUs and accounts, which Organizations \
                   allows the management account and delegated administrators: run crossvault \
                   from the management account, or from the account registered as StackSets \
                   delegated administrator with `delegated_admin: true`"
                    .into(),
            }
        }
        other => other,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// ACTIVE, SUSPENDED, PENDING_CLOSURE (Organizations' `Status`).
    pub status: String,
    pub parent_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrganizationalUnit {
    pub id: String,
    pub name: String,
    pub parent_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Organization {
    pub id: String,
    pub management_account_id: String,
    pub root_id: String,
    pub ous: BTreeMap<String, OrganizationalUnit>,
    pub accounts: BTreeMap<String, Account>,
}

impl Organization {
    /// Only the organization's id (for bucket policies): one call.
    pub async fn read_id(client: &aws_sdk_organizations::Client) -> Result<String, CliError> {
        client
            .describe_organization()
            .send()
            .await
            .map_err(aws("organizations:DescribeOrganization"))?
            .organization
            .and_then(|o| o.id)
            .ok_or_else(|| CliError::Aws {
                call: "organizations:DescribeOrganization".into(),
                message: "no organization in the answer".into(),
                help: "run crossvault with credentials of an account in an AWS Organization".into(),
            })
    }

    /// Reads the whole organization.
    pub async fn read(client: &aws_sdk_organizations::Client) -> Result<Self, CliError> {
        let described = client
            .describe_organization()
            .send()
            .await
            .map_err(aws("organizations:DescribeOrganization"))?;
        let org = described.organization.ok_or_else(|| CliError::Aws {
            call: "organizations:DescribeOrganization".into(),
            message: "no organization in the answer".into(),
            help: "run crossvault with credentials of an account in an AWS Organization".into(),
        })?;
        let roots = client
            .list_roots()
            .send()
            .await
            .map_err(read("organizations:ListRoots".into()))?;
        let root_id = roots
            .roots
            .unwrap_or_default()
            .into_iter()
            .find_map(|r| r.id)
            .ok_or_else(|| CliError::Aws {
                call: "organizations:ListRoots".into(),
                message: "the organization has no root".into(),
                help: "see AWS's answer".into(),
            })?;

        let mut ous = BTreeMap::new();
        let mut accounts = BTreeMap::new();
        let mut parents = vec![root_id.clone()];
        while let Some(parent) = parents.pop() {
            let mut pages = client
                .list_organizational_units_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(read(format!(
                    "organizations:ListOrganizationalUnitsForParent {parent}"
                )))?;
                for ou in page.organizational_units.unwrap_or_default() {
                    let Some(id) = ou.id else { continue };
                    parents.push(id.clone());
                    ous.insert(
                        id.clone(),
                        OrganizationalUnit {
                            id,
                            name: ou.name.unwrap_or_default(),
                            parent_id: parent.clone(),
                        },
                    );
                }
            }
            let mut pages = client
                .list_accounts_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(aws(format!("organizations:ListAccountsForParent {parent}")))?;
                for a in page.accounts.unwrap_or_default() {
                    let Some(id) = a.id else { continue };
                    accounts.insert(
                        id.clone(),
                        Account {
                            id,
                            name: a.name.unwrap_or_default(),
                            status: a
                                .status
                                .map(|s| s.as_str().to_owned())
                                .unwrap_or_else(|| "ACTIVE".to_owned()),
                            parent_id: parent.clone(),
                        },
                    );
                }
            }
        }
        Ok(Self {
            id: org.id.unwrap_or_default(),
            management_account_id: org.master_account_id.unwrap_or_default(),
            root_id,
            ous,
            accounts,
        })
    }

    /// Whether `id` names the root or an OU of this organization.
    pub fn has_parent(&self, id: &str) -> bool {
        id == self.root_id || self.ous.contains_key(id)
    }

    /// Every account under any of `parents` (the root or OUs), at any depth.
    pub fn accounts_under(&self, parents: &[String]) -> BTreeSet<String> {
        let mut wanted: BTreeSet<&str> = parents.iter().map(String::as_str).collect();
        // Close over descendants: an OU is wanted when its parent is.
        loop {
            let before = wanted.len();
            for ou in self.ous.values() {
                if wanted.contains(ou.parent_id.as_str()) {
                    wanted.insert(ou.id.as_str());
                }
            }
            if wanted.len() == before {
                break;
            }
        }
        self.accounts
            .values()
            .filter(|a| wanted.contains(a.parent_id.as_str()))
            .map(|a| a.id.clone())
            .collect()
    }

    /// `root/Workloads/Prod` for an account or OU id's parent chain.
    pub fn path_of(&self, parent_id: &str) -> String {
        let mut names = Vec::new();
        let mut id = parent_id.to_owned();
        while let Some(ou) = self.ous.get(&id) {
            names.push(ou.name.clone());
            id = ou.parent_id.clone();
        }
        names.push("root".into());
        names.reverse();
        names.join("/")
    }
}

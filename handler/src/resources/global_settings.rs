//! `Custom::BackupGlobalSettings`: the organization's cross-account backup switch.
//!
//! `UpdateGlobalSettings` works only in the Organizations management account (AWS docs),
//! so the kind checks where it runs first and fails with a reason that says where to deploy it.
//! Delete leaves the switch on: turning it off would fail every cross-account copy in the
//! organization, which is not something a stack deletion should do silently.

use std::collections::HashMap;

use crate::custom_resource::{OpResult, Outcome, Request, ResourceError, ResourceKind};

const CROSS_ACCOUNT: &str = "isCrossAccountBackupEnabled";

pub struct GlobalSettings {
    backup: aws_sdk_backup::Client,
    organizations: aws_sdk_organizations::Client,
}

impl GlobalSettings {
    pub fn new(
        backup: aws_sdk_backup::Client,
        organizations: aws_sdk_organizations::Client,
    ) -> Self {
        Self {
            backup,
            organizations,
        }
    }

    async fn apply(&self, req: &Request) -> Result<Outcome, ResourceError> {
        let enabled = req.props().bool_or("IsCrossAccountBackupEnabled", true)?;
        let org = self
            .organizations
            .describe_organization()
            .send()
            .await
            .map_err(|e| ResourceError::aws("organizations:DescribeOrganization", e))?;
        let management = org
            .organization
            .and_then(|o| o.master_account_id)
            .unwrap_or_default();
        if management != req.account_id {
            return Err(ResourceError::Invalid(format!(
                "Custom::BackupGlobalSettings works only in the Organizations management account \
                 ({management}); this stack runs in {}. Deploy crossvault there as a plain stack \
                 (`crossvault deploy` does), or leave this resource out of member accounts",
                req.account_id
            )));
        }
        let current = self
            .backup
            .describe_global_settings()
            .send()
            .await
            .map_err(|e| ResourceError::aws("backup:DescribeGlobalSettings", e))?
            .global_settings
            .unwrap_or_default();
        let wanted = enabled.to_string();
        if current.get(CROSS_ACCOUNT) == Some(&wanted) {
            return Ok(Outcome::with_note(format!(
                "cross-account backup already {wanted}"
            )));
        }
        self.backup
            .update_global_settings()
            .set_global_settings(Some(HashMap::from([(
                CROSS_ACCOUNT.to_owned(),
                wanted.clone(),
            )])))
            .send()
            .await
            .map_err(|e| ResourceError::aws("backup:UpdateGlobalSettings", e))?;
        Ok(Outcome::with_note(format!(
            "cross-account backup set to {wanted} (was {})",
            current.get(CROSS_ACCOUNT).map_or("unset", String::as_str)
        )))
    }
}

impl ResourceKind for GlobalSettings {
    fn resource_type(&self) -> &'static str {
        "Custom::BackupGlobalSettings"
    }

    fn id_name(&self) -> &'static str {
        "global-settings"
    }

    fn validate(&self, req: &Request) -> Result<(), ResourceError> {
        req.props().bool_or("IsCrossAccountBackupEnabled", true)?;
        Ok(())
    }

    fn create<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.apply(req))
    }

    fn delete<'a>(&'a self, _req: &'a Request) -> OpResult<'a> {
        Box::pin(async {
            Ok(Outcome::with_note(
                "cross-account backup is left on: turning it off would fail every \
                 cross-account copy in the organization",
            ))
        })
    }
}

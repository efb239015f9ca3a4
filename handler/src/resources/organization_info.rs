//! `Custom::OrganizationInfo`: the organization id and management account, looked up rather
//! than typed in, for the vault and key policies that admit "the organization only".

use serde_json::{Map, Value};

use crate::aws_error;
use crate::custom_resource::{OpResult, Outcome, Request, ResourceError, ResourceKind};

pub struct OrganizationInfo {
    client: aws_sdk_organizations::Client,
}

impl OrganizationInfo {
    pub fn new(client: aws_sdk_organizations::Client) -> Self {
        Self { client }
    }

    async fn look_up(&self) -> Result<Outcome, ResourceError> {
        let out = self
            .client
            .describe_organization()
            .send()
            .await
            .map_err(|e| {
                if aws_error::code(&e).as_deref() == Some("AWSOrganizationsNotInUseException") {
                    ResourceError::Invalid(
                        "this account is not a member of an AWS Organization; crossvault admits \
                     copies by organization id, so every account must belong to one"
                            .into(),
                    )
                } else {
                    ResourceError::aws("organizations:DescribeOrganization", e)
                }
            })?;
        let org = out.organization.ok_or_else(|| {
            ResourceError::Aws("DescribeOrganization returned no organization".into())
        })?;
        let field = |name: &str, v: Option<String>| {
            v.filter(|s| !s.is_empty()).ok_or_else(|| {
                ResourceError::Aws(format!("DescribeOrganization returned no {name}"))
            })
        };
        let mut data = Map::new();
        data.insert("OrganizationId".into(), Value::String(field("Id", org.id)?));
        data.insert(
            "OrganizationArn".into(),
            Value::String(field("Arn", org.arn)?),
        );
        data.insert(
            "ManagementAccountId".into(),
            Value::String(field("MasterAccountId", org.master_account_id)?),
        );
        Ok(Outcome {
            data,
            ..Outcome::default()
        })
    }
}

impl ResourceKind for OrganizationInfo {
    fn resource_type(&self) -> &'static str {
        "Custom::OrganizationInfo"
    }

    fn id_name(&self) -> &'static str {
        "organization-info"
    }

    fn create<'a>(&'a self, _req: &'a Request) -> OpResult<'a> {
        Box::pin(self.look_up())
    }

    fn delete<'a>(&'a self, _req: &'a Request) -> OpResult<'a> {
        Box::pin(async { Ok(Outcome::with_note("a look-up; nothing to delete")) })
    }
}

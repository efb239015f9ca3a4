//! `Custom::ExistingKey`: a key the user brings, named by alias (`KmsKeyAlias`), resolved in
//! each account and region. An alias travels across a StackSet where a key ARN cannot (keys are
//! per account and region), so one parameter value serves every instance.
//!
//! Only looked up and checked (customer managed, enabled, symmetric); its policy is the user's
//! and is never changed. Delete does nothing.

use crate::custom_resource::{OpResult, Outcome, Properties, Request, ResourceError, ResourceKind};
use crate::resources::vault_key::{KmsClient, alias_name, find, unusable};

pub struct ExistingKey {
    kms: KmsClient,
}

impl ExistingKey {
    pub fn new(kms: KmsClient) -> Self {
        Self { kms }
    }

    async fn resolve(&self, req: &Request) -> Result<Outcome, ResourceError> {
        let alias = alias_name(&req.props())?;
        let Some(key) = find(self.kms.get(), &alias).await? else {
            return Err(ResourceError::Invalid(format!(
                "no KMS key has the alias {alias} in account {} region {}; create the key and \
                 alias there first (KmsKeyAlias names a key in every account and region the \
                 stack runs in), or leave KmsKeyAlias empty to let crossvault create one",
                req.account_id, req.region
            )));
        };
        if let Some(problem) = unusable(&alias, &key) {
            return Err(ResourceError::Invalid(problem));
        }
        let mut data = serde_json::Map::new();
        data.insert("KeyArn".into(), key.arn().unwrap_or_default().into());
        data.insert("KeyId".into(), key.key_id().into());
        data.insert("AliasName".into(), alias.clone().into());
        Ok(Outcome {
            data,
            no_echo: false,
            note: Some(format!("{alias} is {}", key.key_id())),
        })
    }
}

impl ResourceKind for ExistingKey {
    fn resource_type(&self) -> &'static str {
        "Custom::ExistingKey"
    }

    fn id_name(&self) -> &'static str {
        "existing-key"
    }

    fn id_key(&self, props: &Properties<'_>) -> Result<Option<String>, ResourceError> {
        Ok(Some(alias_name(props)?))
    }

    fn validate(&self, req: &Request) -> Result<(), ResourceError> {
        alias_name(&req.props())?;
        Ok(())
    }

    fn create<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.resolve(req))
    }

    fn delete<'a>(&'a self, _req: &'a Request) -> OpResult<'a> {
        Box::pin(async { Ok(Outcome::with_note("your key; nothing to delete")) })
    }
}

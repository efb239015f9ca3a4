//! `Custom::BackupVault`: a vault crossvault owns (source, central or pre-prod), created when it
//! does not exist and adopted when it does.
//!
//! A native `AWS::Backup::BackupVault` with a fixed name fails with "already exists" when a
//! stack instance is created again after a deletion that retained the vault (a rolled-back first
//! create, an account removed and re-added by auto-deployment, a re-created StackSet). Adopting
//! the vault by name makes re-creation succeed.
//!
//! A vault's encryption key cannot change. An existing vault under another key than the one
//! asked for is refused with both keys named, on Create and on Update — never replaced.
//! Delete retains the vault (and everything in it).

use crate::aws_error::{self, ErrorClass};
use crate::custom_resource::{
    OpResult, Outcome, Properties, PropertyError, Request, ResourceError, ResourceKind,
};
use crate::resources::vault_policy::vault_name;

/// A KMS key ARN: `arn:<partition>:kms:<region>:<account>:key/<id>`.
fn key_arn(props: &Properties<'_>) -> Result<String, PropertyError> {
    let arn = props.string("EncryptionKeyArn")?;
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "kms"
        && parts[5]
            .strip_prefix("key/")
            .is_some_and(|id| !id.is_empty());
    if ok {
        Ok(arn)
    } else {
        Err(PropertyError::new(
            "EncryptionKeyArn",
            format!("{arn:?} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"),
        ))
    }
}

pub struct BackupVault {
    client: aws_sdk_backup::Client,
}

impl BackupVault {
    pub fn new(client: aws_sdk_backup::Client) -> Self {
        Self { client }
    }

    /// The key of the vault named `vault`, `None` when there is no such vault.
    async fn existing_key(&self, vault: &str) -> Result<Option<Option<String>>, ResourceError> {
        match self
            .client
            .describe_backup_vault()
            .backup_vault_name(vault)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.encryption_key_arn)),
            Err(e) if aws_error::classify(&e) == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(ResourceError::aws("backup:DescribeBackupVault", e)),
        }
    }

    fn adopt(
        req: &Request,
        vault: &str,
        wanted: &str,
        current: Option<String>,
    ) -> Result<Outcome, ResourceError> {
        match current {
            Some(current) if current == wanted => Ok(outcome(
                req,
                vault,
                format!("adopted existing vault {vault}"),
            )),
            current => Err(ResourceError::Invalid(format!(
                "vault {vault} exists in account {} region {}, encrypted with {}, and a vault's \
                 key cannot change; this stack asks for {wanted}. Give the stack that key again \
                 (the key crossvault created is found by its alias; a key you bring is named by \
                 KmsKeyAlias), or choose another VaultName",
                req.account_id,
                req.region,
                current.as_deref().unwrap_or("no key that AWS reports")
            ))),
        }
    }

    async fn converge(&self, req: &Request) -> Result<Outcome, ResourceError> {
        let props = req.props();
        let vault = vault_name(&props)?;
        let wanted = key_arn(&props)?;
        if let Some(current) = self.existing_key(&vault).await? {
            return Self::adopt(req, &vault, &wanted, current);
        }
        match self
            .client
            .create_backup_vault()
            .backup_vault_name(&vault)
            .encryption_key_arn(&wanted)
            .creator_request_id(format!("crossvault-{}", req.envelope.logical_resource_id))
            .send()
            .await
        {
            Ok(_) => Ok(outcome(
                req,
                &vault,
                format!("created vault {vault} encrypted with {wanted}"),
            )),
            // Created meanwhile (a duplicate delivery of this request): adopt it like any other.
            Err(e) if aws_error::code(&e).as_deref() == Some("AlreadyExistsException") => {
                let current = self.existing_key(&vault).await?.flatten();
                Self::adopt(req, &vault, &wanted, current)
            }
            Err(e) => Err(ResourceError::aws("backup:CreateBackupVault", e)),
        }
    }
}

fn outcome(req: &Request, vault: &str, note: String) -> Outcome {
    let mut data = serde_json::Map::new();
    data.insert("BackupVaultName".into(), vault.into());
    data.insert(
        "BackupVaultArn".into(),
        format!(
            "arn:{}:backup:{}:{}:backup-vault:{vault}",
            partition(&req.region),
            req.region,
            req.account_id
        )
        .into(),
    );
    Outcome {
        data,
        no_echo: false,
        note: Some(note),
    }
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

impl ResourceKind for BackupVault {
    fn resource_type(&self) -> &'static str {
        "Custom::BackupVault"
    }

    fn id_name(&self) -> &'static str {
        "backup-vault"
    }

    fn id_key(&self, props: &Properties<'_>) -> Result<Option<String>, ResourceError> {
        Ok(Some(vault_name(props)?))
    }

    fn validate(&self, req: &Request) -> Result<(), ResourceError> {
        let props = req.props();
        vault_name(&props)?;
        key_arn(&props)?;
        Ok(())
    }

    fn create<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.converge(req))
    }

    fn delete<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(async move {
            let vault = vault_name(&req.props()).unwrap_or_else(|_| "the vault".into());
            Ok(Outcome::with_note(format!(
                "{vault} retained with its recovery points; a stack created again adopts it"
            )))
        })
    }
}

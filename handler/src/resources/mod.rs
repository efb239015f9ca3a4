//! The custom-resource kinds: what CloudFormation cannot configure natively, and the vaults
//! and keys that must survive a stack's re-creation (created when missing, adopted when found).

pub mod backup_vault;
pub mod existing_key;
pub mod global_settings;
pub mod handler_configuration;
pub mod organization_info;
pub mod region_settings;
pub mod vault_key;
pub mod vault_lock;
pub mod vault_policy;

use std::sync::Arc;

use crate::clients::AwsClients;
use crate::custom_resource::ResourceKind;
use handler_configuration::HandlerConfiguration;
use vault_key::KmsClient;

/// Every kind this handler answers to, built on the shared clients; the configuration check
/// reads the Lambda's own environment.
pub fn all(clients: &AwsClients) -> Vec<Arc<dyn ResourceKind>> {
    with_configuration(clients, HandlerConfiguration::from_process())
}

/// Every kind, with the configuration check reading `configuration`'s environment (the test
/// harness, which plays CloudFormation in-process, gives it the template's).
pub fn with_configuration(
    clients: &AwsClients,
    configuration: HandlerConfiguration,
) -> Vec<Arc<dyn ResourceKind>> {
    vec![
        Arc::new(organization_info::OrganizationInfo::new(
            clients.organizations.clone(),
        )),
        Arc::new(region_settings::RegionSettings::new(clients.backup.clone())),
        Arc::new(global_settings::GlobalSettings::new(
            clients.backup.clone(),
            clients.organizations.clone(),
        )),
        Arc::new(vault_policy::VaultPolicy::new(clients.backup.clone())),
        Arc::new(vault_lock::VaultLock::new(clients.backup.clone())),
        Arc::new(backup_vault::BackupVault::new(clients.backup.clone())),
        Arc::new(vault_key::VaultKey::new(KmsClient::lazy(
            clients.sdk_config().clone(),
        ))),
        Arc::new(existing_key::ExistingKey::new(KmsClient::lazy(
            clients.sdk_config().clone(),
        ))),
        Arc::new(configuration),
    ]
}

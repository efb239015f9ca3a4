//! The custom-resource kinds: what CloudFormation cannot configure natively.

pub mod global_settings;
pub mod organization_info;
pub mod region_settings;
pub mod vault_lock;
pub mod vault_policy;

use std::sync::Arc;

use crate::clients::AwsClients;
use crate::custom_resource::ResourceKind;

/// Every kind this handler answers to, built on the shared clients.
pub fn all(clients: &AwsClients) -> Vec<Arc<dyn ResourceKind>> {
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
    ]
}

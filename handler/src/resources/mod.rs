//! The custom-resource kinds: what CloudFormation cannot configure natively.

pub mod organization_info;
pub mod region_settings;

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
    ]
}

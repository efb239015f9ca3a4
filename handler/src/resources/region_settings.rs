//! `Custom::BackupRegionSettings`: AWS Backup's per-region service opt-in and full-management
//! preferences, which CloudFormation has no resource for.
//!
//! Read-modify-write: only the resource types named in the properties are changed, so the
//! stack never switches off a type someone else turned on. Delete leaves the settings as they
//! are (turning services off on stack removal would silently stop tag-based backups).

use std::collections::{BTreeMap, HashMap};

use crate::custom_resource::{
    OpResult, Outcome, Properties, PropertyError, Request, ResourceError, ResourceKind,
};

/// Resource types `UpdateRegionSettings` accepts in `ResourceTypeOptInPreference`.
pub const OPT_IN_TYPES: &[&str] = &[
    "Aurora",
    "CloudFormation",
    "DocumentDB",
    "DSQL",
    "DynamoDB",
    "EBS",
    "EC2",
    "EFS",
    "EKS",
    "FSx",
    "Neptune",
    "RDS",
    "Redshift",
    "Redshift Serverless",
    "S3",
    "SAP HANA on Amazon EC2",
    "Storage Gateway",
    "Timestream",
    "VirtualMachine",
];

/// Types whose full AWS Backup management can be switched (`ResourceTypeManagementPreference`).
pub const MANAGEMENT_TYPES: &[&str] = &["DynamoDB", "EFS"];

const OPT_IN: &str = "ResourceTypeOptInPreference";
const MANAGEMENT: &str = "ResourceTypeManagementPreference";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preferences {
    pub opt_in: BTreeMap<String, bool>,
    pub management: BTreeMap<String, bool>,
}

impl Preferences {
    pub fn from_props(props: &Properties<'_>) -> Result<Self, PropertyError> {
        let opt_in = props.bool_map(OPT_IN)?.unwrap_or_default();
        let management = props.bool_map(MANAGEMENT)?.unwrap_or_default();
        check_keys(OPT_IN, &opt_in, OPT_IN_TYPES)?;
        check_keys(MANAGEMENT, &management, MANAGEMENT_TYPES)?;
        Ok(Self { opt_in, management })
    }
}

fn check_keys(
    name: &str,
    map: &BTreeMap<String, bool>,
    known: &[&str],
) -> Result<(), PropertyError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(PropertyError::new(
            format!("{name}.{unknown}"),
            format!(
                "unknown resource type {unknown:?}; AWS Backup accepts {}",
                known.join(", ")
            ),
        )),
    }
}

/// The settings to write: the current ones with the wanted keys overlaid. `None` when nothing
/// would change, so an unchanged stack update makes no mutating call.
pub fn merge(
    current_opt_in: &HashMap<String, bool>,
    current_management: &HashMap<String, bool>,
    wanted: &Preferences,
) -> Option<(HashMap<String, bool>, HashMap<String, bool>)> {
    let overlay = |current: &HashMap<String, bool>, wanted: &BTreeMap<String, bool>| {
        let mut merged = current.clone();
        merged.extend(wanted.iter().map(|(k, v)| (k.clone(), *v)));
        merged
    };
    let opt_in = overlay(current_opt_in, &wanted.opt_in);
    let management = overlay(current_management, &wanted.management);
    (opt_in != *current_opt_in || management != *current_management).then_some((opt_in, management))
}

pub struct RegionSettings {
    client: aws_sdk_backup::Client,
}

impl RegionSettings {
    pub fn new(client: aws_sdk_backup::Client) -> Self {
        Self { client }
    }

    async fn apply(&self, req: &Request) -> Result<Outcome, ResourceError> {
        let wanted = Preferences::from_props(&req.props())?;
        let current = self
            .client
            .describe_region_settings()
            .send()
            .await
            .map_err(|e| ResourceError::aws("backup:DescribeRegionSettings", e))?;
        let cur_opt_in = current.resource_type_opt_in_preference.unwrap_or_default();
        let cur_management = current
            .resource_type_management_preference
            .unwrap_or_default();
        let mut note = match merge(&cur_opt_in, &cur_management, &wanted) {
            None => "region settings already as wanted; nothing changed".to_owned(),
            Some((opt_in, management)) => {
                let mut call = self
                    .client
                    .update_region_settings()
                    .set_resource_type_opt_in_preference(Some(opt_in));
                if !wanted.management.is_empty() {
                    call = call.set_resource_type_management_preference(Some(management));
                }
                call.send()
                    .await
                    .map_err(|e| ResourceError::aws("backup:UpdateRegionSettings", e))?;
                format!(
                    "region settings updated: opt-in {:?}, full management {:?} (before: {:?}, {:?})",
                    wanted.opt_in,
                    wanted.management,
                    sorted(&cur_opt_in),
                    sorted(&cur_management)
                )
            }
        };
        if let Some(old) = req.old_props() {
            let old = Preferences::from_props(&old).unwrap_or_default();
            let dropped: Vec<_> = old
                .opt_in
                .keys()
                .chain(old.management.keys())
                .filter(|k| !wanted.opt_in.contains_key(*k) && !wanted.management.contains_key(*k))
                .collect();
            if !dropped.is_empty() {
                note.push_str(&format!(
                    "; no longer managed by this stack and left as they are: {dropped:?}"
                ));
            }
        }
        Ok(Outcome::with_note(note))
    }
}

fn sorted(m: &HashMap<String, bool>) -> BTreeMap<&String, &bool> {
    m.iter().collect()
}

impl ResourceKind for RegionSettings {
    fn resource_type(&self) -> &'static str {
        "Custom::BackupRegionSettings"
    }

    fn id_name(&self) -> &'static str {
        "region-settings"
    }

    fn validate(&self, req: &Request) -> Result<(), ResourceError> {
        Preferences::from_props(&req.props())?;
        Ok(())
    }

    fn create<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.apply(req))
    }

    fn delete<'a>(&'a self, _req: &'a Request) -> OpResult<'a> {
        Box::pin(async {
            Ok(Outcome::with_note(
                "AWS Backup region settings are left as they are: switching services off on \
                 stack deletion would silently stop tag-based backups",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_types_name_the_property_and_the_choices() {
        let m = json!({OPT_IN: {"RDS": "true", "Mainframe": "true"}});
        let err = Preferences::from_props(&Properties::new(m.as_object().unwrap())).unwrap_err();
        assert_eq!(err.path, "ResourceTypeOptInPreference.Mainframe");
        assert!(
            err.problem.contains("AWS Backup accepts Aurora"),
            "{}",
            err.problem
        );
        let m = json!({MANAGEMENT: {"RDS": "true"}});
        let err = Preferences::from_props(&Properties::new(m.as_object().unwrap())).unwrap_err();
        assert_eq!(err.path, "ResourceTypeManagementPreference.RDS");
    }

    #[test]
    fn merge_changes_only_the_given_keys() {
        let current = HashMap::from([("RDS".to_owned(), true), ("EBS".to_owned(), true)]);
        let wanted = Preferences {
            opt_in: BTreeMap::from([("EBS".into(), false), ("EFS".into(), true)]),
            management: BTreeMap::new(),
        };
        let (opt_in, management) = merge(&current, &HashMap::new(), &wanted).unwrap();
        assert_eq!(
            opt_in,
            HashMap::from([
                ("RDS".into(), true),
                ("EBS".into(), false),
                ("EFS".into(), true)
            ])
        );
        assert!(management.is_empty());
        let same = Preferences {
            opt_in: BTreeMap::from([("RDS".into(), true)]),
            management: BTreeMap::new(),
        };
        assert_eq!(
            merge(&current, &HashMap::new(), &same),
            None,
            "no change, no call"
        );
    }
}

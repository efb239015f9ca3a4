//! The `Metadata` of `StartRestoreJob`: AWS's own restore metadata of the point
//! (`GetRecoveryPointRestoreMetadata`, the production resource's configuration) with what must
//! change in pre-prod overridden from the parameters — never from tags or the point.
//!
//! | kind | set by crossvault | dropped |
//! |---|---|---|
//! | RDS instance | `DBInstanceIdentifier` (the restore's name), `DBSubnetGroupName` (required), `VpcSecurityGroupIds`, `DBInstanceClass`, `DBParameterGroupName`, `OptionGroupName` (when given), `PubliclyAccessible=false`, `DeletionProtection` (default false) | `AvailabilityZone` (a production account's zone name means another zone in pre-prod, and may lie outside the subnet group) |
//! | Aurora cluster | `DBClusterIdentifier`, `DBSubnetGroupName` (required), `VpcSecurityGroupIds`, `DBClusterParameterGroupName`, `DeletionProtection` | `AvailabilityZones` |
//! | DynamoDB table | `targetTableName` | |
//! | EFS file system | `newFileSystem=true`, `CreationToken` (the restore's name) | |
//!
//! Values are strings, lists JSON-encoded, as AWS documents them
//! (<https://docs.aws.amazon.com/aws-backup/latest/devguide/restoring-rds.html>).

use std::collections::BTreeMap;

use super::resource::RestoredKind;
use super::settings::RestoreSettings;

/// Why a restore cannot start (said before anything is started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannotStart(pub String);

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings serialise")
}

/// The metadata to restore `aws` (AWS's restore metadata) as `name`, a `kind`.
pub fn restore_metadata(
    kind: RestoredKind,
    aws: &BTreeMap<String, String>,
    settings: &RestoreSettings,
    name: &str,
) -> Result<BTreeMap<String, String>, CannotStart> {
    let mut m = aws.clone();
    fn put(m: &mut BTreeMap<String, String>, k: &str, v: String) {
        m.insert(k.to_owned(), v);
    }
    match kind {
        RestoredKind::RdsInstance | RestoredKind::AuroraCluster => {
            let Some(subnets) = &settings.db_subnet_group else {
                return Err(CannotStart(format!(
                    "no DB subnet group for the {kind}: set RestoreDBSubnetGroupName (the production \
                     account's {} does not exist in pre-prod, and crossvault never restores \
                     production data into a default VPC)",
                    aws.get("DBSubnetGroupName")
                        .map_or("subnet group".to_owned(), |g| format!("subnet group {g:?}"))
                )));
            };
            put(&mut m, "DBSubnetGroupName", subnets.clone());
            if !settings.security_group_ids.is_empty() {
                put(
                    &mut m,
                    "VpcSecurityGroupIds",
                    json_list(&settings.security_group_ids),
                );
            }
            put(
                &mut m,
                "DeletionProtection",
                settings.deletion_protection.to_string(),
            );
            if kind == RestoredKind::RdsInstance {
                put(&mut m, "DBInstanceIdentifier", name.to_owned());
                put(&mut m, "PubliclyAccessible", "false".to_owned());
                if let Some(class) = &settings.db_instance_class {
                    put(&mut m, "DBInstanceClass", class.clone());
                }
                if let Some(group) = &settings.db_parameter_group {
                    put(&mut m, "DBParameterGroupName", group.clone());
                }
                if let Some(group) = &settings.option_group {
                    put(&mut m, "OptionGroupName", group.clone());
                }
                m.remove("AvailabilityZone");
            } else {
                if settings.db_instance_class.is_none() {
                    return Err(CannotStart(
                        "no instance class for the Aurora restore's writer instance: set \
                         RestoreDBInstanceClass (AWS Backup restores an Aurora cluster without \
                         instances)"
                            .to_owned(),
                    ));
                }
                put(&mut m, "DBClusterIdentifier", name.to_owned());
                if let Some(group) = &settings.db_cluster_parameter_group {
                    put(&mut m, "DBClusterParameterGroupName", group.clone());
                }
                m.remove("AvailabilityZones");
                m.remove("DBInstanceIdentifier");
            }
        }
        RestoredKind::DynamoDbTable => put(&mut m, "targetTableName", name.to_owned()),
        RestoredKind::EfsFileSystem => {
            put(&mut m, "newFileSystem", "true".to_owned());
            put(&mut m, "CreationToken", name.to_owned());
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RestoreSettings {
        RestoreSettings {
            db_subnet_group: Some("preprod-db".into()),
            security_group_ids: vec!["sg-0a".into(), "sg-0b".into()],
            db_instance_class: Some("db.t4g.medium".into()),
            ..RestoreSettings::default()
        }
    }

    fn prod_rds() -> BTreeMap<String, String> {
        [
            ("DBInstanceIdentifier", "orders"),
            ("DBInstanceClass", "db.r6g.4xlarge"),
            ("DBSubnetGroupName", "prod-db"),
            ("VpcSecurityGroupIds", "[\"sg-prod\"]"),
            ("PubliclyAccessible", "true"),
            ("DeletionProtection", "true"),
            ("AvailabilityZone", "eu-west-1a"),
            ("MultiAZ", "true"),
            ("Engine", "postgres"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn rds_overrides_what_pre_prod_must_not_inherit() {
        let m = restore_metadata(
            RestoredKind::RdsInstance,
            &prod_rds(),
            &settings(),
            "orders-x",
        )
        .unwrap();
        assert_eq!(m["DBInstanceIdentifier"], "orders-x");
        assert_eq!(m["DBSubnetGroupName"], "preprod-db");
        assert_eq!(m["VpcSecurityGroupIds"], "[\"sg-0a\",\"sg-0b\"]");
        assert_eq!(m["DBInstanceClass"], "db.t4g.medium");
        assert_eq!(m["PubliclyAccessible"], "false");
        assert_eq!(m["DeletionProtection"], "false");
        assert!(!m.contains_key("AvailabilityZone"));
        // What pre-prod has no reason to change stays as production had it.
        assert_eq!(m["MultiAZ"], "true");
        assert_eq!(m["Engine"], "postgres");
    }

    #[test]
    fn rds_without_a_subnet_group_cannot_start() {
        let s = RestoreSettings {
            db_subnet_group: None,
            ..settings()
        };
        let e = restore_metadata(RestoredKind::RdsInstance, &prod_rds(), &s, "x").unwrap_err();
        assert!(e.0.contains("RestoreDBSubnetGroupName"), "{}", e.0);
        assert!(e.0.contains("\"prod-db\""), "{}", e.0);
    }

    #[test]
    fn aurora_needs_a_writer_class_and_gets_a_cluster_identifier() {
        let aws = BTreeMap::from([
            ("DBClusterIdentifier".to_owned(), "ledger".to_owned()),
            (
                "AvailabilityZones".to_owned(),
                "[\"eu-west-1a\"]".to_owned(),
            ),
            ("Engine".to_owned(), "aurora-postgresql".to_owned()),
        ]);
        let m =
            restore_metadata(RestoredKind::AuroraCluster, &aws, &settings(), "ledger-x").unwrap();
        assert_eq!(m["DBClusterIdentifier"], "ledger-x");
        assert!(!m.contains_key("AvailabilityZones"));
        assert!(!m.contains_key("PubliclyAccessible"));
        let s = RestoreSettings {
            db_instance_class: None,
            ..settings()
        };
        let e = restore_metadata(RestoredKind::AuroraCluster, &aws, &s, "x").unwrap_err();
        assert!(e.0.contains("RestoreDBInstanceClass"), "{}", e.0);
    }

    #[test]
    fn dynamodb_and_efs_get_new_names() {
        let aws = BTreeMap::from([("targetTableName".to_owned(), "carts".to_owned())]);
        let m =
            restore_metadata(RestoredKind::DynamoDbTable, &aws, &settings(), "carts-x").unwrap();
        assert_eq!(m["targetTableName"], "carts-x");
        let aws = BTreeMap::from([
            ("file-system-id".to_owned(), "fs-1".to_owned()),
            ("newFileSystem".to_owned(), "false".to_owned()),
        ]);
        let m =
            restore_metadata(RestoredKind::EfsFileSystem, &aws, &settings(), "files-x").unwrap();
        assert_eq!(m["newFileSystem"], "true");
        assert_eq!(m["CreationToken"], "files-x");
        assert_eq!(m["file-system-id"], "fs-1");
    }
}

"""The backed-up resources: resource types, recovery point ARNs, and real RDS objects.

RDS recovery points are real moto DB snapshots (``awsbackup:job-<uuid>`` for backups,
``awsbackup:copyjob-<uuid>`` for copies, the names AWS Backup uses) so the RDS API
shows what AWS would, and restores create real moto DB instances. Other types are
recorded by AWS Backup only, with ``arn:aws:backup:R:A:recovery-point:<uuid>`` ARNs;
their restores report a created-resource ARN without creating anything in moto.
"""

import json
import uuid
from dataclasses import dataclass

from moto.rds.exceptions import RDSClientError
from moto.rds.models import DBSnapshot, RDSBackend, rds_backends
from moto.rds.utils import merge_filters

from .errors import InvalidParameterValue


class ResourceFailure(Exception):
    """The job's work on the underlying resource failed; the message becomes StatusMessage."""


@dataclass(frozen=True)
class ParsedArn:
    service: str
    region: str
    account_id: str
    resource: str


def parse_arn(arn: str, what: str = "ARN") -> ParsedArn:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[2]:
        raise InvalidParameterValue(f"Invalid {what}: {arn}")
    return ParsedArn(parts[2], parts[3], parts[4], parts[5])


@dataclass(frozen=True)
class VaultArn:
    account_id: str
    region: str
    vault_name: str


def parse_vault_arn(arn: str) -> VaultArn:
    parsed = parse_arn(arn, "backup vault ARN")
    if parsed.service != "backup" or not parsed.resource.startswith("backup-vault:"):
        raise InvalidParameterValue(f"Invalid backup vault ARN: {arn}")
    return VaultArn(parsed.account_id, parsed.region, parsed.resource.removeprefix("backup-vault:"))


# (service, resource prefix) -> AWS Backup resource type
_TYPES = [
    ("rds", "db:", "RDS"),
    ("rds", "cluster:", "Aurora"),
    ("elasticfilesystem", "file-system/", "EFS"),
    ("dynamodb", "table/", "DynamoDB"),
    ("ec2", "volume/", "EBS"),
    ("ec2", "instance/", "EC2"),
    ("s3", "", "S3"),
    ("fsx", "file-system/", "FSx"),
    ("docdb", "cluster:", "DocumentDB"),
    ("neptune", "cluster:", "Neptune"),
]


def resource_type_of(resource_arn: str) -> str:
    arn = parse_arn(resource_arn, "resource ARN")
    for service, prefix, resource_type in _TYPES:
        if arn.service == service and arn.resource.startswith(prefix):
            return resource_type
    raise InvalidParameterValue(f"Resource type of {resource_arn} is not supported by AWS Backup")


def is_rds_instance(resource_arn: str) -> bool:
    return resource_type_of(resource_arn) == "RDS"


def backup_recovery_point_arn(region: str, account_id: str) -> str:
    return f"arn:aws:backup:{region}:{account_id}:recovery-point:{uuid.uuid4()}"


def continuous_recovery_point_arn(region: str, account_id: str, resource_arn: str) -> str:
    name = resource_arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return f"arn:aws:backup:{region}:{account_id}:recovery-point:continuous:{name}-{uuid.uuid4().hex[:8]}"


def rds_snapshot_arn(region: str, account_id: str, snapshot_id: str) -> str:
    return f"arn:aws:rds:{region}:{account_id}:snapshot:{snapshot_id}"


def snapshot_id_from_arn(arn: str) -> str:
    return parse_arn(arn).resource.removeprefix("snapshot:")


def create_rds_backup(
    account_id: str, region: str, db_arn: str, snapshot_id: str, kms_key_id: str | None
) -> dict[str, str]:
    """Snapshot the DB instance; returns the restore metadata of the recovery point."""
    backend = rds_backends[account_id][region]
    db_id = parse_arn(db_arn).resource.removeprefix("db:")
    if db_id not in backend.databases:
        raise ResourceFailure(f"DB instance {db_id} not found in {account_id} {region}")
    snapshot = backend.create_db_snapshot(db_id, snapshot_id, snapshot_type="awsbackup", kms_key_id=kms_key_id)
    return _restore_metadata(snapshot)


def copy_rds_backup(
    source_account: str,
    source_region: str,
    source_snapshot_id: str,
    dest_account: str,
    dest_region: str,
    snapshot_id: str,
    kms_key_id: str | None,
) -> None:
    """Create the copy directly in the destination backend: moto's CopyDBSnapshot only
    looks for the source snapshot in the caller's own account."""
    source = rds_backends[source_account][source_region].database_snapshots.get(source_snapshot_id)
    if source is None:
        raise ResourceFailure(f"Source DB snapshot {source_snapshot_id} not found")
    dest_backend = rds_backends[dest_account][dest_region]
    copy = DBSnapshot(
        dest_backend,
        source.database,
        snapshot_id,
        snapshot_type="awsbackup",
        tags=list(source.tags),
        original_created_at=source.original_snapshot_create_time,
        kms_key_id=kms_key_id or source.kms_key_id,
    )
    dest_backend.database_snapshots[copy.db_snapshot_identifier] = copy


def include_awsbackup_snapshots_in_lookups() -> None:
    """RDS finds an ``awsbackup`` snapshot by its identifier (DescribeDBSnapshots, restores);
    moto 5.2.1 only looks at automated and manual snapshots unless a type is given."""
    original = RDSBackend.describe_db_snapshots
    if getattr(original, "includes_awsbackup", False):
        return

    def describe_db_snapshots(
        self, db_instance_identifier, db_snapshot_identifier=None, snapshot_type=None, filters=None
    ):  # type: ignore[no-untyped-def]
        if db_snapshot_identifier and snapshot_type is None and "snapshot-type" not in (filters or {}):
            filters = merge_filters(filters, {"snapshot-type": ["automated", "manual", "awsbackup"]})
        return original(self, db_instance_identifier, db_snapshot_identifier, snapshot_type, filters)

    describe_db_snapshots.includes_awsbackup = True  # type: ignore[attr-defined]
    RDSBackend.describe_db_snapshots = describe_db_snapshots  # type: ignore[method-assign]


def delete_rds_backup(account_id: str, region: str, snapshot_id: str) -> None:
    rds_backends[account_id][region].database_snapshots.pop(snapshot_id, None)


# Restore metadata keys (RestoreDBInstanceFromDBSnapshot parameter names) -> moto kwargs.
_RESTORE_KEYS = {
    "DBInstanceIdentifier": ("db_instance_identifier", str),
    "DBInstanceClass": ("db_instance_class", str),
    "DBSubnetGroupName": ("db_subnet_group_name", str),
    "VpcSecurityGroupIds": ("vpc_security_group_ids", json.loads),
    "MultiAZ": ("multi_az", lambda v: v.lower() == "true"),
    "Port": ("port", int),
    "PubliclyAccessible": ("publicly_accessible", lambda v: v.lower() == "true"),
    "OptionGroupName": ("option_group_name", str),
    "DBParameterGroupName": ("db_parameter_group_name", str),
    "DeletionProtection": ("deletion_protection", lambda v: v.lower() == "true"),
    "AvailabilityZone": ("availability_zone", str),
    "StorageType": ("storage_type", str),
}


def restore_rds_instance(
    account_id: str, region: str, snapshot_id: str, metadata: dict[str, str], tags: dict[str, str] | None
) -> str:
    if not metadata.get("DBInstanceIdentifier"):
        raise ResourceFailure("Restore metadata must contain a DBInstanceIdentifier")
    overrides = {}
    for key, (kwarg, convert) in _RESTORE_KEYS.items():
        if metadata.get(key) not in (None, ""):
            try:
                overrides[kwarg] = convert(metadata[key])
            except ValueError as exc:
                raise ResourceFailure(f"Invalid restore metadata {key}: {exc}") from exc
    if tags:
        overrides["tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    backend = rds_backends[account_id][region]
    try:
        instance = backend.restore_db_instance_from_db_snapshot(snapshot_id, overrides)
    except RDSClientError as exc:
        raise ResourceFailure(f"RDS restore failed: {exc.message}") from exc
    return instance.db_instance_arn


def _restore_metadata(snapshot: DBSnapshot) -> dict[str, str]:
    """The instance's configuration, string-valued like AWS (lists JSON-encoded)."""
    db = snapshot.database

    def text(value: object) -> str:
        return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    metadata = {
        "DBInstanceIdentifier": db.db_instance_identifier,
        "DBInstanceClass": text(db.db_instance_class),
        "Engine": text(db.engine),
        "EngineVersion": text(db.engine_version),
        "Port": text(db.port),
        "MultiAZ": text(bool(db.multi_az)),
        "PubliclyAccessible": text(bool(db.publicly_accessible)),
        "StorageType": text(db.storage_type),
        # moto's DBInstance.db_subnet_group_name is write-only; the group object has the name.
        "DBSubnetGroupName": text(getattr(getattr(db, "db_subnet_group", None), "name", None)),
        "VpcSecurityGroupIds": json.dumps(list(db.vpc_security_group_ids or [])),
        "AvailabilityZone": text(db.availability_zone),
        "DeletionProtection": text(bool(db.deletion_protection)),
        "Encrypted": text(bool(snapshot.encrypted)),
    }
    if snapshot.kms_key_id:
        metadata["KmsKeyId"] = snapshot.kms_key_id
    return {k: v for k, v in metadata.items() if v != ""}


def generic_restore_metadata(resource_type: str, resource_arn: str) -> dict[str, str]:
    name = resource_arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    if resource_type == "EFS":
        return {
            "file-system-id": name,
            "newFileSystem": "true",
            "Encrypted": "true",
            "PerformanceMode": "generalPurpose",
        }
    if resource_type == "DynamoDB":
        return {"targetTableName": name, "encryptionType": "Default"}
    return {"ResourceName": name}


def generic_restored_resource_arn(resource_type: str, region: str, account_id: str, metadata: dict[str, str]) -> str:
    if resource_type == "EFS":
        return f"arn:aws:elasticfilesystem:{region}:{account_id}:file-system/fs-{uuid.uuid4().hex[:17]}"
    if resource_type == "DynamoDB":
        table = metadata.get("targetTableName") or f"restored-{uuid.uuid4().hex[:8]}"
        return f"arn:aws:dynamodb:{region}:{account_id}:table/{table}"
    if resource_type == "EBS":
        return f"arn:aws:ec2:{region}:{account_id}:volume/vol-{uuid.uuid4().hex[:17]}"
    return f"arn:aws:backup:{region}:{account_id}:restored-resource:{uuid.uuid4()}"

"""Restores that make real moto resources, and the events a pre-prod refresh waits for.

- **RDS** restores (``resources.restore_rds_instance``) create a moto DB instance from the
  point's DB snapshot; a ``DBSubnetGroupName`` that does not exist in the account fails the
  job as RDS would.
- **Aurora** backups record the cluster's configuration as the point's restore metadata
  (``DBClusterIdentifier``, ``Engine``, ``EngineVersion``, ``Port``, ``DBSubnetGroupName``,
  ``VpcSecurityGroupIds``, ``AvailabilityZones``, as AWS's Aurora restore metadata); a restore
  creates a moto DB cluster from that metadata and the job's overrides, **without instances**
  (AWS Backup restores an Aurora cluster alone).
- **DynamoDB** backups record the table's key schema; a restore creates a moto table
  ``targetTableName`` with it (the test bed keeps no items).
- **EFS** restores with ``newFileSystem=true`` create a moto file system (``CreationToken``).
- Every moto DB instance created (a restore, an Aurora writer) emits ``RDS DB Instance Event``
  ``RDS-EVENT-0005`` ("DB instance created", source ``aws.rds``) in its account and Region.

Not emulated: data (no rows, items or files are restored), point-in-time restores, restoring
into another account.
"""

import json
import uuid
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.ec2.models import ec2_backends
from moto.efs.models import efs_backends
from moto.rds.exceptions import RDSClientError
from moto.rds.models import RDSBackend, rds_backends

from . import clock, events
from .resources import ResourceFailure, parse_arn

RDS_SOURCE = "aws.rds"
RDS_INSTANCE_EVENT = "RDS DB Instance Event"

# source table ARN -> (key schema, attribute definitions) at its last backup
_TABLE_SCHEMAS: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]] = {}


def resource_tags(account_id: str, region: str, resource_arn: str) -> dict[str, str]:
    """The tags AWS Backup copies from a protected RDS instance or Aurora cluster to its new
    recovery point (an assumption: VERIFY; README "Pre-prod restores")."""
    parsed = parse_arn(resource_arn)
    if parsed.service != "rds":
        return {}
    kind, _, name = parsed.resource.partition(":")
    backend = rds_backends[account_id][region]
    resource = (backend.databases if kind == "db" else backend.clusters if kind == "cluster" else {}).get(name)
    return {t["Key"]: t["Value"] for t in (getattr(resource, "tags", None) or [])}


def tag_snapshot(account_id: str, region: str, snapshot_id: str, tags: dict[str, str]) -> None:
    """The recovery point's tags on its RDS snapshot too (copies carry the snapshot's tags)."""
    snapshot = rds_backends[account_id][region].database_snapshots.get(snapshot_id)
    if snapshot is not None and tags:
        snapshot.tags = [{"Key": k, "Value": v} for k, v in tags.items()]


def backup_metadata(resource_type: str, account_id: str, region: str, resource_arn: str) -> dict[str, str] | None:
    """The restore metadata of a new Aurora or DynamoDB backup, read from moto (None: another
    type, or a cluster or table moto does not have, which gets generic metadata as before)."""
    name = parse_arn(resource_arn).resource.split(":", 1)[-1].split("/", 1)[-1]
    if resource_type == "Aurora":
        cluster = rds_backends[account_id][region].clusters.get(name)
        if cluster is None:
            return None
        subnet_group = getattr(cluster, "db_subnet_group_name", None) or ""
        metadata = {
            "DBClusterIdentifier": name,
            "Engine": str(cluster.engine),
            "EngineVersion": str(cluster.engine_version or ""),
            "Port": str(cluster.port or ""),
            "DBSubnetGroupName": str(subnet_group),
            "VpcSecurityGroupIds": json.dumps(list(getattr(cluster, "vpc_security_group_ids", None) or [])),
            "AvailabilityZones": json.dumps(list(getattr(cluster, "availability_zones", None) or [])),
            "DeletionProtection": str(bool(getattr(cluster, "deletion_protection", False))).lower(),
        }
        return {k: v for k, v in metadata.items() if v != ""}
    if resource_type == "DynamoDB":
        table = dynamodb_backends[account_id][region].tables.get(name)
        if table is None:
            return None
        _TABLE_SCHEMAS[resource_arn] = (list(table.schema), list(table.attr))
        return {"targetTableName": name, "encryptionType": "Default"}
    return None


def restore(job: Any, point: Any) -> str | None:
    """Creates the restored resource of an Aurora, DynamoDB or EFS point; returns its ARN
    (None: a type the test bed restores without creating anything)."""
    metadata: dict[str, str] = job.metadata
    if point.resource_type == "Aurora":
        return _restore_cluster(job.account_id, job.region, metadata)
    if point.resource_type == "DynamoDB":
        return _restore_table(job.account_id, job.region, point.resource_arn, metadata)
    if point.resource_type == "EFS":
        return _restore_file_system(job.account_id, job.region, metadata)
    return None


def _restore_cluster(account_id: str, region: str, metadata: dict[str, str]) -> str:
    identifier = metadata.get("DBClusterIdentifier")
    if not identifier:
        raise ResourceFailure("Restore metadata must contain a DBClusterIdentifier")
    backend = rds_backends[account_id][region]
    if identifier in backend.clusters:
        raise ResourceFailure(f"DB cluster {identifier} already exists")
    subnet_group = metadata.get("DBSubnetGroupName")
    # "default" stands for the default VPC's group, which AWS has without creating it.
    if subnet_group and subnet_group != "default" and subnet_group not in backend.subnet_groups:
        raise ResourceFailure(f"DB subnet group {subnet_group} does not exist")
    kwargs: dict[str, Any] = {
        "db_cluster_identifier": identifier,
        "engine": metadata.get("Engine", "aurora-postgresql"),
        "engine_version": metadata.get("EngineVersion") or None,
        "db_subnet_group_name": subnet_group,
        "vpc_security_group_ids": json.loads(metadata.get("VpcSecurityGroupIds", "[]")),
        "deletion_protection": metadata.get("DeletionProtection", "false").lower() == "true",
        "master_username": "crossvault",
        "master_user_password": "restored-from-backup",
    }
    if metadata.get("Port"):
        kwargs["port"] = int(metadata["Port"])
    try:
        cluster = backend.create_db_cluster({k: v for k, v in kwargs.items() if v is not None})
    except RDSClientError as exc:
        raise ResourceFailure(f"Aurora restore failed: {exc.message}") from exc
    return cluster.db_cluster_arn


def _restore_table(account_id: str, region: str, source_arn: str, metadata: dict[str, str]) -> str:
    name = metadata.get("targetTableName")
    if not name:
        raise ResourceFailure("Restore metadata must contain a targetTableName")
    backend = dynamodb_backends[account_id][region]
    if name in backend.tables:
        raise ResourceFailure(f"Table already exists: {name}")
    schema, attributes = _TABLE_SCHEMAS.get(
        source_arn, ([{"AttributeName": "id", "KeyType": "HASH"}], [{"AttributeName": "id", "AttributeType": "S"}])
    )
    table = backend.create_table(
        name,
        schema=schema,
        throughput=None,
        attr=attributes,
        global_indexes=None,
        indexes=None,
        streams=None,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    return table.table_arn


def _restore_file_system(account_id: str, region: str, metadata: dict[str, str]) -> str:
    if metadata.get("newFileSystem", "false").lower() != "true":
        raise ResourceFailure("The test bed restores EFS only into a new file system (newFileSystem=true)")
    backend = efs_backends[account_id][region]
    fs = backend.create_file_system(
        creation_token=metadata.get("CreationToken") or f"restore-{uuid.uuid4().hex[:12]}",
        performance_mode=metadata.get("PerformanceMode", "generalPurpose"),
        encrypted=metadata.get("Encrypted", "true").lower() == "true",
        kms_key_id=metadata.get("KmsKeyId"),  # type: ignore[arg-type]
        throughput_mode="bursting",
        provisioned_throughput_in_mibps=None,  # type: ignore[arg-type]
        availability_zone_name=None,  # type: ignore[arg-type]
        backup=False,
        tags=[],
    )
    return fs.file_system_arn


def create_db_subnet_group(account_id: str, region: str, name: str) -> dict[str, Any]:
    """A VPC with two subnets and a DB subnet group over them (what a pre-prod account has)."""
    ec2 = ec2_backends[account_id][region]
    vpc = ec2.create_vpc("10.42.0.0/16")
    subnets = [
        ec2.create_subnet(vpc.id, f"10.42.{i}.0/24", availability_zone=f"{region}{zone}")
        for i, zone in enumerate(("a", "b"))
    ]
    group = rds_backends[account_id][region].create_subnet_group(name, "crossvault test bed", subnets, [])
    return {"name": name, "vpcId": vpc.id, "subnetIds": [s.id for s in subnets]}


def emit_instance_created_events() -> None:
    """Every DB instance moto creates emits RDS-EVENT-0005 (moto emits no RDS events)."""
    original = RDSBackend.create_db_instance
    if getattr(original, "emits_events", False):
        return

    def create_db_instance(self: RDSBackend, db_kwargs: dict[str, Any]) -> Any:
        instance = original(self, db_kwargs)
        events.emit(
            self.account_id,
            self.region_name,
            RDS_INSTANCE_EVENT,
            [instance.db_instance_arn],
            {
                "EventCategories": ["creation"],
                "SourceType": "DB_INSTANCE",
                "SourceArn": instance.db_instance_arn,
                "Date": clock.iso_millis(clock.now()),
                "Message": "DB instance created",
                "SourceIdentifier": instance.db_instance_identifier,
                "EventID": "RDS-EVENT-0005",
            },
            source=RDS_SOURCE,
        )
        return instance

    create_db_instance.emits_events = True  # type: ignore[attr-defined]
    RDSBackend.create_db_instance = create_db_instance  # type: ignore[method-assign]

"""RDS recovery points are real moto DB snapshots; restores create real DB instances."""

import json

import pytest
from botocore.exceptions import ClientError
from conftest import BACKUP_REGION, REGION, ROLE, allow_copy_into


def _rds_backup(world, account, vault_arn, **extra):
    backup = world.backup(account)
    started = backup.start_backup_job(
        BackupVaultName=vault_arn.rsplit(":", 1)[-1],
        ResourceArn=world.rds_instance(account),
        IamRoleArn=ROLE.format(account),
        **extra,
    )
    return started


def test_rds_backup_creates_an_awsbackup_db_snapshot(world):
    account = world.fresh_account()
    vault = world.vault(account)
    started = _rds_backup(world, account, vault)
    job_id = started["BackupJobId"]
    assert job_id == job_id.upper()
    snapshot_id = f"awsbackup:job-{job_id.lower()}"
    assert started["RecoveryPointArn"] == f"arn:aws:rds:{REGION}:{account}:snapshot:{snapshot_id}"
    snapshots = world.client("rds", account).describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"]
    assert [s["DBSnapshotArn"] for s in snapshots] == [started["RecoveryPointArn"]]
    assert snapshots[0]["SnapshotType"] == "awsbackup"
    job = world.backup(account).describe_backup_job(BackupJobId=job_id)
    assert job["State"] == "COMPLETED" and job["ResourceType"] == "RDS"


def test_rds_backup_of_a_missing_instance_fails_the_job(world):
    account = world.fresh_account()
    vault = world.vault(account)
    backup = world.backup(account)
    job_id = backup.start_backup_job(
        BackupVaultName=vault.rsplit(":", 1)[-1],
        ResourceArn=f"arn:aws:rds:{REGION}:{account}:db:ghost",
        IamRoleArn=ROLE.format(account),
    )["BackupJobId"]
    job = backup.describe_backup_job(BackupJobId=job_id)
    assert job["State"] == "FAILED"
    assert "ghost" in job["StatusMessage"]


def test_cross_account_rds_copy_creates_a_snapshot_in_the_destination(world):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    source_vault = world.vault(source)
    central_vault = world.vault(central, BACKUP_REGION, allow_copy_into({"AWS": source}))
    point = _rds_backup(world, source, source_vault)["RecoveryPointArn"]
    job = world.copy(source, point, source_vault, central_vault, Lifecycle={"DeleteAfterDays": 35})
    snapshot_id = f"awsbackup:copyjob-{job['CopyJobId'].lower()}"
    assert job["DestinationRecoveryPointArn"] == f"arn:aws:rds:{BACKUP_REGION}:{central}:snapshot:{snapshot_id}"
    snapshots = world.client("rds", central, BACKUP_REGION).describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)[
        "DBSnapshots"
    ]
    assert len(snapshots) == 1


def test_restore_metadata_is_string_valued(world):
    account = world.fresh_account()
    vault = world.vault(account)
    point = _rds_backup(world, account, vault)["RecoveryPointArn"]
    result = world.backup(account).get_recovery_point_restore_metadata(
        BackupVaultName=vault.rsplit(":", 1)[-1], RecoveryPointArn=point
    )
    metadata = result["RestoreMetadata"]
    assert result["ResourceType"] == "RDS" and result["BackupVaultArn"] == vault
    assert all(isinstance(v, str) for v in metadata.values())
    assert metadata["MultiAZ"] == "false"
    assert metadata["Engine"] == "postgres"
    assert isinstance(json.loads(metadata["VpcSecurityGroupIds"]), list)
    assert metadata["DBInstanceIdentifier"].startswith("db-")


def test_preprod_restore_of_a_copy_creates_a_db_instance(world):
    source, preprod = world.fresh_account(), world.fresh_account()
    world.organization([source, preprod])
    source_vault = world.vault(source)
    preprod_vault = world.vault(preprod, policy=allow_copy_into({"AWS": source}))
    point = _rds_backup(world, source, source_vault)["RecoveryPointArn"]
    copy_arn = world.copy(source, point, source_vault, preprod_vault)["DestinationRecoveryPointArn"]
    backup = world.backup(preprod)
    metadata = backup.get_recovery_point_restore_metadata(
        BackupVaultName=preprod_vault.rsplit(":", 1)[-1], RecoveryPointArn=copy_arn
    )["RestoreMetadata"]
    target = world.name("orders-restore")
    restore_id = backup.start_restore_job(
        RecoveryPointArn=copy_arn,
        Metadata=metadata | {"DBInstanceIdentifier": target, "MultiAZ": "false"},
        IamRoleArn=ROLE.format(preprod),
        ResourceType="RDS",
    )["RestoreJobId"]
    job = backup.describe_restore_job(RestoreJobId=restore_id)
    assert job["Status"] == "COMPLETED", job.get("StatusMessage")
    assert job["CreatedResourceArn"] == f"arn:aws:rds:{REGION}:{preprod}:db:{target}"
    instances = world.client("rds", preprod).describe_db_instances(DBInstanceIdentifier=target)["DBInstances"]
    assert instances[0]["Engine"] == "postgres"
    assert job["AccountId"] == preprod
    # A second restore into the same identifier fails like RDS would.
    again = backup.start_restore_job(
        RecoveryPointArn=copy_arn, Metadata={"DBInstanceIdentifier": target}, IamRoleArn=ROLE.format(preprod)
    )
    failed = backup.describe_restore_job(RestoreJobId=again["RestoreJobId"])
    assert failed["Status"] == "FAILED" and "already exists" in failed["StatusMessage"]


def test_restore_job_events_use_state_then_status(world, control):
    account = world.fresh_account()
    vault = world.vault(account)
    point = _rds_backup(world, account, vault)["RecoveryPointArn"]
    restore_id = world.backup(account).start_restore_job(
        RecoveryPointArn=point,
        Metadata={"DBInstanceIdentifier": world.name("restored")},
        IamRoleArn=ROLE.format(account),
    )["RestoreJobId"]
    logged = [
        e for e in control.ok("GET", f"/events?account={account}&detailType=Restore%20Job%20State%20Change")["events"]
    ]
    assert [e["detail"].get("state") for e in logged] == ["CREATED", None, None, None]
    assert [e["detail"].get("status") for e in logged] == [None, "PENDING", "RUNNING", "COMPLETED"]
    assert logged[-1]["detail"]["restoreJobId"] == restore_id
    assert logged[-1]["detail"]["createdResourceArn"].startswith(f"arn:aws:rds:{REGION}:{account}:db:restored-")
    assert logged[-1]["resources"] == [point]


def test_restore_only_from_the_callers_own_vaults(world):
    account, other = world.fresh_account(), world.fresh_account()
    point = _rds_backup(world, account, world.vault(account))["RecoveryPointArn"]
    with pytest.raises(ClientError) as error:
        world.backup(other).start_restore_job(RecoveryPointArn=point, Metadata={"DBInstanceIdentifier": "x"})
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_restore_idempotency_token(world):
    account = world.fresh_account()
    point = _rds_backup(world, account, world.vault(account))["RecoveryPointArn"]
    backup = world.backup(account)
    request = dict(
        RecoveryPointArn=point, Metadata={"DBInstanceIdentifier": world.name("r")}, IdempotencyToken="restore-1"
    )
    assert backup.start_restore_job(**request)["RestoreJobId"] == backup.start_restore_job(**request)["RestoreJobId"]
    assert len(backup.list_restore_jobs()["RestoreJobs"]) == 1


def test_deleting_an_rds_recovery_point_deletes_its_snapshot_and_tags(world):
    account = world.fresh_account()
    vault = world.vault(account)
    point = _rds_backup(world, account, vault, RecoveryPointTags={"team": "orders"})["RecoveryPointArn"]
    backup = world.backup(account)
    assert backup.list_tags(ResourceArn=point)["Tags"] == {"team": "orders"}
    backup.delete_recovery_point(BackupVaultName=vault.rsplit(":", 1)[-1], RecoveryPointArn=point)
    rds = world.client("rds", account)
    with pytest.raises(ClientError) as error:
        rds.describe_db_snapshots(DBSnapshotIdentifier=point.rsplit(":snapshot:", 1)[-1])
    assert error.value.response["Error"]["Code"] == "DBSnapshotNotFound"
    assert backup.list_tags(ResourceArn=point)["Tags"] == {}

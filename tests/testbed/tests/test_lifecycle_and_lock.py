"""Lifecycle rules, UpdateRecoveryPointLifecycle, and Vault Lock."""

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from conftest import REGION, ROLE


def _error(call):
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["Error"]["Code"]


def _name(arn):
    return arn.rsplit(":", 1)[-1]


def test_delete_after_days_must_exceed_cold_storage_by_90(world):
    account = world.fresh_account()
    vault = world.vault(account)
    assert (
        _error(
            lambda: world.efs_point(
                account, vault, Lifecycle={"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 119}
            )
        )
        == "InvalidParameterValueException"
    )
    point = world.efs_point(account, vault, Lifecycle={"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 120})
    backup = world.backup(account)
    assert (
        _error(
            lambda: backup.update_recovery_point_lifecycle(
                BackupVaultName=_name(vault),
                RecoveryPointArn=point,
                Lifecycle={"MoveToColdStorageAfterDays": 10, "DeleteAfterDays": 50},
            )
        )
        == "InvalidParameterValueException"
    )
    assert (
        _error(
            lambda: world.copy(
                account,
                point,
                vault,
                world.vault(account),
                Lifecycle={"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 2},
            )
        )
        == "InvalidParameterValueException"
    )


def test_update_lifecycle_returns_new_and_calculated_lifecycle(world):
    account = world.fresh_account()
    vault = world.vault(account)
    point = world.efs_point(account, vault, Lifecycle={"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 365})
    backup = world.backup(account)
    created = backup.describe_recovery_point(BackupVaultName=_name(vault), RecoveryPointArn=point)["CreationDate"]
    updated = backup.update_recovery_point_lifecycle(
        BackupVaultName=_name(vault), RecoveryPointArn=point, Lifecycle={"DeleteAfterDays": 7}
    )
    assert updated["BackupVaultArn"] == vault
    assert updated["RecoveryPointArn"] == point
    assert updated["Lifecycle"] == {"DeleteAfterDays": 7}
    # Days count from the creation date.
    assert updated["CalculatedLifecycle"] == {"DeleteAt": created + timedelta(days=7)}
    described = backup.describe_recovery_point(BackupVaultName=_name(vault), RecoveryPointArn=point)
    assert described["Lifecycle"] == {"DeleteAfterDays": 7}
    removed = backup.update_recovery_point_lifecycle(
        BackupVaultName=_name(vault),
        RecoveryPointArn=point,
        Lifecycle={"DeleteAfterDays": -1, "MoveToColdStorageAfterDays": -1},
    )
    assert removed["Lifecycle"] == {} and removed["CalculatedLifecycle"] == {}


def test_delete_after_event_is_not_an_input(world):
    account = world.fresh_account()
    vault = world.vault(account)
    point = world.efs_point(account, vault)
    assert (
        _error(
            lambda: world.backup(account).update_recovery_point_lifecycle(
                BackupVaultName=_name(vault),
                RecoveryPointArn=point,
                Lifecycle={"DeleteAfterEvent": "DELETE_AFTER_COPY"},
            )
        )
        == "InvalidParameterValueException"
    )


def test_describe_backup_vault_reports_the_lock(world):
    account = world.fresh_account()
    vault = world.vault(account)
    backup = world.backup(account)
    assert backup.describe_backup_vault(BackupVaultName=_name(vault))["Locked"] is False
    backup.put_backup_vault_lock_configuration(
        BackupVaultName=_name(vault), MinRetentionDays=7, MaxRetentionDays=3650, ChangeableForDays=3
    )
    described = backup.describe_backup_vault(BackupVaultName=_name(vault))
    assert described["Locked"] is True
    assert described["MinRetentionDays"] == 7 and described["MaxRetentionDays"] == 3650
    assert described["LockDate"] - described["CreationDate"] >= timedelta(days=3) - timedelta(seconds=5)
    assert "NumberOfRecoveryPoints" in described


def test_locked_vault_refuses_lifecycle_updates_and_deletes(world):
    account = world.fresh_account()
    vault = world.vault(account)
    point = world.efs_point(account, vault, Lifecycle={"DeleteAfterDays": 35})
    backup = world.backup(account)
    backup.put_backup_vault_lock_configuration(BackupVaultName=_name(vault), MinRetentionDays=7)
    assert (
        _error(
            lambda: backup.update_recovery_point_lifecycle(
                BackupVaultName=_name(vault), RecoveryPointArn=point, Lifecycle={"DeleteAfterDays": 10}
            )
        )
        == "InvalidRequestException"
    )
    assert (
        _error(lambda: backup.delete_recovery_point(BackupVaultName=_name(vault), RecoveryPointArn=point))
        == "InvalidRequestException"
    )
    # Governance mode: removing the lock is allowed, and then so is the delete.
    backup.delete_backup_vault_lock_configuration(BackupVaultName=_name(vault))
    backup.delete_recovery_point(BackupVaultName=_name(vault), RecoveryPointArn=point)
    assert backup.list_recovery_points_by_backup_vault(BackupVaultName=_name(vault))["RecoveryPoints"] == []


def test_backup_job_into_locked_vault_outside_range_fails(world):
    account = world.fresh_account()
    vault = world.vault(account)
    backup = world.backup(account)
    backup.put_backup_vault_lock_configuration(BackupVaultName=_name(vault), MinRetentionDays=30)
    job_id = backup.start_backup_job(
        BackupVaultName=_name(vault),
        ResourceArn=f"arn:aws:dynamodb:{REGION}:{account}:table/orders",
        IamRoleArn=ROLE.format(account),
        Lifecycle={"DeleteAfterDays": 7},
    )["BackupJobId"]
    job = backup.describe_backup_job(BackupJobId=job_id)
    assert job["State"] == "FAILED"
    assert "minimum retention (30 days)" in job["StatusMessage"]
    assert backup.list_recovery_points_by_backup_vault(BackupVaultName=_name(vault))["RecoveryPoints"] == []


def test_compliance_lock_is_immutable_after_cooling_off(world, control):
    account = world.fresh_account()
    vault = world.vault(account)
    backup = world.backup(account)
    backup.put_backup_vault_lock_configuration(BackupVaultName=_name(vault), MinRetentionDays=7, ChangeableForDays=3)
    # Within the cooling-off period the lock can still be changed or removed.
    backup.put_backup_vault_lock_configuration(BackupVaultName=_name(vault), MinRetentionDays=14, ChangeableForDays=3)
    control.ok(
        "POST", "/vault-lock/end-cooling-off", {"accountId": account, "region": REGION, "backupVaultName": _name(vault)}
    )
    assert (
        _error(lambda: backup.delete_backup_vault_lock_configuration(BackupVaultName=_name(vault)))
        == "InvalidRequestException"
    )
    assert (
        _error(lambda: backup.put_backup_vault_lock_configuration(BackupVaultName=_name(vault), MinRetentionDays=1))
        == "InvalidRequestException"
    )
    assert backup.describe_backup_vault(BackupVaultName=_name(vault))["MinRetentionDays"] == 14


def test_compliance_lock_cooling_off_follows_the_clock(world, control):
    account = world.fresh_account()
    vault = world.vault(account)
    backup = world.backup(account)
    backup.put_backup_vault_lock_configuration(BackupVaultName=_name(vault), MinRetentionDays=7, ChangeableForDays=3)
    original = control.ok("GET", "/clock")["offsetSeconds"]
    control.ok("POST", "/clock", {"offsetSeconds": original + 4 * 86400})
    try:
        assert (
            _error(lambda: backup.delete_backup_vault_lock_configuration(BackupVaultName=_name(vault)))
            == "InvalidRequestException"
        )
    finally:
        control.ok("POST", "/clock", {"offsetSeconds": original})


def test_lifecycle_sweep_deletes_expired_points(world, control):
    account = world.fresh_account()
    vault = world.vault(account)
    short = world.efs_point(account, vault, Lifecycle={"DeleteAfterDays": 1})
    kept = world.efs_point(account, vault, Lifecycle={"DeleteAfterDays": 30})
    original = control.ok("GET", "/clock")["offsetSeconds"]
    control.ok("POST", "/clock", {"offsetSeconds": original + 2 * 86400})
    try:
        assert control.ok("POST", "/lifecycle/sweep", {"accountId": account, "region": REGION}) == {
            "movedToCold": 0,
            "deleted": 1,
        }
    finally:
        control.ok("POST", "/clock", {"offsetSeconds": original})
    remaining = world.backup(account).list_recovery_points_by_backup_vault(BackupVaultName=_name(vault))[
        "RecoveryPoints"
    ]
    assert [p["RecoveryPointArn"] for p in remaining] == [kept]
    assert short != kept

"""Region settings (merge) and global settings (management account only)."""

import pytest
from botocore.exceptions import ClientError
from conftest import BACKUP_REGION, REGION


def test_region_settings_merge_and_are_per_region(world, control):
    account = world.fresh_account()
    backup = world.backup(account)
    before = backup.describe_region_settings()
    assert before["ResourceTypeOptInPreference"]["RDS"] is True
    backup.update_region_settings(
        ResourceTypeOptInPreference={"RDS": False}, ResourceTypeManagementPreference={"DynamoDB": True}
    )
    after = backup.describe_region_settings()
    assert after["ResourceTypeOptInPreference"] == before["ResourceTypeOptInPreference"] | {"RDS": False}
    assert after["ResourceTypeManagementPreference"] == {"DynamoDB": True, "EFS": True}
    assert world.backup(account, BACKUP_REGION).describe_region_settings()["ResourceTypeOptInPreference"]["RDS"] is True
    [event] = control.ok("GET", f"/events?account={account}&detailType=Region%20Setting%20State%20Change")["events"]
    assert event["region"] == REGION
    assert event["detail"]["ResourceTypeOptInPreference"] == {"RDS": False}
    assert event["detail"]["state"] == "MODIFIED"


def test_region_settings_reject_unknown_types(world):
    with pytest.raises(ClientError) as error:
        world.backup(world.fresh_account()).update_region_settings(ResourceTypeOptInPreference={"Lambda": True})
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_global_settings_outside_an_organization(world):
    with pytest.raises(ClientError) as error:
        world.backup(world.fresh_account()).describe_global_settings()
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"


def test_only_the_management_account_updates_global_settings(world):
    member = world.fresh_account()
    org = world.organization([member], cross_account=False)
    management = world.backup(org["managementAccountId"])
    assert world.backup(member).describe_global_settings()["GlobalSettings"]["isCrossAccountBackupEnabled"] == "false"
    with pytest.raises(ClientError) as error:
        world.backup(member).update_global_settings(GlobalSettings={"isCrossAccountBackupEnabled": "true"})
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    management.update_global_settings(GlobalSettings={"isCrossAccountBackupEnabled": "true"})
    described = world.backup(member).describe_global_settings()
    assert described["GlobalSettings"] == {
        "isCrossAccountBackupEnabled": "true",
        "isMpaEnabled": "false",
        "isDelegatedAdministratorEnabled": "false",
    }
    assert "LastUpdateTime" in described
    with pytest.raises(ClientError) as error:
        management.update_global_settings(GlobalSettings={"isCrossAccountBackupEnabled": "yes"})
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"

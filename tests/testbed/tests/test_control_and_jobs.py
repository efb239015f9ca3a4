"""Control API: organizations with given ids, manual job progress; and job listings."""

from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from conftest import BACKUP_REGION, REGION, ROLE


def test_organization_with_given_account_ids(world, control):
    management, prod, sandbox = world.fresh_account(), world.fresh_account(), world.fresh_account()
    body = {"managementAccountId": management, "accounts": [{"id": prod, "name": "prod", "ou": "Workloads"}, sandbox]}
    org = control.ok("POST", "/organization", body)
    assert org["managementAccountId"] == management
    listed = world.client("organizations", management).list_accounts()["Accounts"]
    assert {a["Id"] for a in listed} == {management, prod, sandbox}
    # Members see the same organization through moto's Organizations API.
    assert world.client("organizations", prod).describe_organization()["Organization"]["Id"] == org["organizationId"]
    workloads = next(ou for ou in org["organizationalUnits"] if ou["name"] == "Workloads")
    parents = world.client("organizations", management).list_parents(ChildId=prod)["Parents"]
    assert parents == [{"Id": workloads["id"], "Type": "ORGANIZATIONAL_UNIT"}]
    prod_entry = next(a for a in org["accounts"] if a["id"] == prod)
    assert prod_entry["orgPath"] == f"{org['organizationId']}/{org['rootId']}/{workloads['id']}/"
    # Idempotent: calling again returns the same organization.
    assert control.ok("POST", "/organization", body)["organizationId"] == org["organizationId"]


def test_account_cannot_join_two_organizations(world, control):
    member = world.fresh_account()
    world.organization([member])
    status, payload = control.call(
        "POST", "/organization", {"managementAccountId": world.fresh_account(), "accounts": [member]}
    )
    assert status == 409 and member in payload["error"]


def test_control_api_validates_input(control):
    status, payload = control.call("POST", "/organization", {"managementAccountId": "123"})
    assert status == 400 and "12-digit" in payload["error"]
    assert control.call("GET", "/nowhere")[0] == 404
    assert control.call("DELETE", "/health")[0] == 405


def test_manual_mode_advances_one_state_at_a_time(world, control):
    account = world.fresh_account()
    control.ok("POST", "/job-mode", {"mode": "manual", "accountId": account})
    source_vault, destination = world.vault(account), world.vault(account, BACKUP_REGION)
    started = world.backup(account).start_backup_job(
        BackupVaultName=source_vault.rsplit(":", 1)[-1],
        ResourceArn=f"arn:aws:dynamodb:{REGION}:{account}:table/orders",
        IamRoleArn=ROLE.format(account),
    )
    job_id = started["BackupJobId"]
    backup = world.backup(account)
    assert backup.describe_backup_job(BackupJobId=job_id)["State"] == "CREATED"
    assert control.ok("POST", f"/jobs/{job_id}/advance")["state"] == "RUNNING"
    assert (
        backup.list_recovery_points_by_backup_vault(BackupVaultName=source_vault.rsplit(":", 1)[-1])["RecoveryPoints"]
        == []
    )
    assert control.ok("POST", f"/jobs/{job_id}/advance")["state"] == "COMPLETED"
    assert control.call("POST", f"/jobs/{job_id}/advance")[0] == 409
    copy = world.copy(account, started["RecoveryPointArn"], source_vault, destination)
    assert copy["State"] == "CREATED"
    failed = control.ok("POST", f"/jobs/{copy['CopyJobId']}/fail", {"statusMessage": "Simulated network failure"})
    assert failed == {
        **failed,
        "state": "FAILED",
        "statusMessage": "Simulated network failure",
        "kind": "CopyJob",
        "accountId": account,
    }
    described = backup.describe_copy_job(CopyJobId=copy["CopyJobId"])["CopyJob"]
    assert described["State"] == "FAILED" and described["StatusMessage"] == "Simulated network failure"
    states = [
        e["detail"]["state"]
        for e in control.ok("GET", f"/events?account={account}&detailType=Copy%20Job%20State%20Change")["events"]
    ]
    assert states == ["CREATED", "FAILED"]
    # Other accounts keep the default (instant) mode.
    other = world.fresh_account()
    other_vault = world.vault(other)
    assert (
        world.copy(other, world.efs_point(other, other_vault), other_vault, world.vault(other, BACKUP_REGION))["State"]
        == "COMPLETED"
    )


def test_list_jobs_filters_and_pagination(world):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    source_vault = world.vault(source)
    good = world.vault(
        central,
        BACKUP_REGION,
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": source},
                    "Action": "backup:CopyIntoBackupVault",
                    "Resource": "*",
                }
            ],
        },
    )
    bad = world.vault(central, BACKUP_REGION)
    start = datetime.now(timezone.utc) - timedelta(minutes=1)
    points = [world.efs_point(source, source_vault) for _ in range(3)]
    for point in points:
        world.copy(source, point, source_vault, good)
    world.copy(source, points[0], source_vault, bad)
    backup = world.backup(source)

    assert len(backup.list_copy_jobs(ByState="COMPLETED")["CopyJobs"]) == 3
    assert len(backup.list_copy_jobs(ByState="FAILED")["CopyJobs"]) == 1
    assert len(backup.list_copy_jobs(ByDestinationVaultArn=bad)["CopyJobs"]) == 1
    assert len(backup.list_copy_jobs(ByCompleteAfter=start, ByCreatedAfter=start, ByAccountId=source)["CopyJobs"]) == 4
    assert backup.list_copy_jobs(ByCompleteBefore=start)["CopyJobs"] == []
    assert backup.list_copy_jobs(ByAccountId=central)["CopyJobs"] == []
    resource = backup.describe_recovery_point(
        BackupVaultName=source_vault.rsplit(":", 1)[-1], RecoveryPointArn=points[1]
    )["ResourceArn"]
    assert len(backup.list_copy_jobs(ByResourceArn=resource)["CopyJobs"]) == 1

    first = backup.list_copy_jobs(MaxResults=3)
    assert len(first["CopyJobs"]) == 3 and first["NextToken"]
    second = backup.list_copy_jobs(MaxResults=3, NextToken=first["NextToken"])
    assert len(second["CopyJobs"]) == 1 and "NextToken" not in second
    ids = [j["CopyJobId"] for j in first["CopyJobs"] + second["CopyJobs"]]
    assert len(set(ids)) == 4
    paginated = [
        j
        for page in backup.get_paginator("list_copy_jobs").paginate(PaginationConfig={"PageSize": 2})
        for j in page["CopyJobs"]
    ]
    assert len(paginated) == 4

    backups = backup.list_backup_jobs(
        ByBackupVaultName=source_vault.rsplit(":", 1)[-1],
        ByState="COMPLETED",
        ByResourceType="EFS",
        ByCompleteAfter=start,
    )
    assert len(backups["BackupJobs"]) == 3
    assert (
        backup.list_backup_jobs(ByResourceType="RDS", ByBackupVaultName=source_vault.rsplit(":", 1)[-1])["BackupJobs"]
        == []
    )
    by_resource = backup.list_recovery_points_by_resource(ResourceArn=resource)["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in by_resource] == [points[1]]
    with pytest.raises(ClientError) as error:
        backup.list_copy_jobs(NextToken="garbage!")
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"

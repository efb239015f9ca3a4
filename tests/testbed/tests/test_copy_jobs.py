"""StartCopyJob: where copies may go, what they inherit, and how a refused copy fails."""

import json
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from conftest import BACKUP_REGION, REGION, ROLE, allow_copy_into


def test_cross_account_cross_region_copy_lands_in_destination(world):
    source, central = world.fresh_account(), world.fresh_account()
    org = world.organization([source, central])
    source_vault = world.vault(source)
    central_vault = world.vault(central, BACKUP_REGION, allow_copy_into({"AWS": source}))
    point = world.efs_point(source, source_vault, RecoveryPointTags={"CopyToPreProd": "true"})

    job = world.copy(source, point, source_vault, central_vault, Lifecycle={"DeleteAfterDays": 35})

    assert job["State"] == "COMPLETED", job.get("StatusMessage")
    assert job["AccountId"] == source
    assert job["SourceRecoveryPointArn"] == point
    copy_arn = job["DestinationRecoveryPointArn"]
    assert copy_arn.startswith(f"arn:aws:backup:{BACKUP_REGION}:{central}:recovery-point:")
    central_backup = world.backup(central, BACKUP_REGION)
    copy = central_backup.describe_recovery_point(
        BackupVaultName=central_vault.rsplit(":", 1)[-1], RecoveryPointArn=copy_arn
    )
    original = world.backup(source).describe_recovery_point(
        BackupVaultName=source_vault.rsplit(":", 1)[-1], RecoveryPointArn=point
    )
    assert copy["CreationDate"] == original["CreationDate"]
    assert copy["Lifecycle"] == {"DeleteAfterDays": 35}
    assert copy["CalculatedLifecycle"]["DeleteAt"] == original["CreationDate"] + timedelta(days=35)
    assert copy["SourceBackupVaultArn"] == source_vault
    assert copy["ResourceArn"] == original["ResourceArn"]
    assert central_backup.list_tags(ResourceArn=copy_arn)["Tags"] == {"CopyToPreProd": "true"}
    assert org["organizationId"].startswith("o-")


def test_copy_without_lifecycle_inherits_the_source_lifecycle(world):
    account = world.fresh_account()
    source_vault, other_vault = world.vault(account), world.vault(account, BACKUP_REGION)
    point = world.efs_point(account, source_vault, Lifecycle={"MoveToColdStorageAfterDays": 10, "DeleteAfterDays": 120})

    job = world.copy(account, point, source_vault, other_vault)

    copy = world.backup(account, BACKUP_REGION).describe_recovery_point(
        BackupVaultName=other_vault.rsplit(":", 1)[-1], RecoveryPointArn=job["DestinationRecoveryPointArn"]
    )
    assert copy["Lifecycle"] == {"MoveToColdStorageAfterDays": 10, "DeleteAfterDays": 120}


@pytest.mark.parametrize(
    "principal",
    [
        {"AWS": "SOURCE"},
        {"AWS": "arn:aws:iam::SOURCE:root"},
        {"AWS": ["123456789012", "SOURCE"]},
        {"AWS": "arn:aws:iam::SOURCE:role/backup-copy-role"},
    ],
)
def test_destination_policy_principal_forms_allow_the_copy(world, principal):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    resolved = _replace(principal, "SOURCE", source)
    source_vault = world.vault(source)
    central_vault = world.vault(central, policy=allow_copy_into(resolved))
    job = world.copy(source, world.efs_point(source, source_vault), source_vault, central_vault)
    assert job["State"] == "COMPLETED", job.get("StatusMessage")


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}])
def test_a_wide_open_destination_policy_fails_cross_account_copies(world, principal):
    # AWS: an organization-wide vault policy must name the organization or OU, "if the
    # organization ID or OU ID isn't specified, then the cross-account copies fail".
    source, central = world.fresh_account(), world.fresh_account()
    org = world.organization([source, central])
    source_vault = world.vault(source)
    wide_open = world.vault(central, policy=allow_copy_into(principal))
    job = world.copy(source, world.efs_point(source, source_vault), source_vault, wide_open)
    assert job["State"] == "FAILED"
    assert job["StatusMessage"] == (
        "Access denied: the destination vault's access policy does not allow backup:CopyIntoBackupVault"
    )
    # The same statement scoped to the organization (either spelling of the key) admits it.
    for key in ("aws:PrincipalOrgID", "aws:PrincipalOrgId"):
        scoped = world.vault(central, policy=allow_copy_into(principal, {"StringEquals": {key: org["organizationId"]}}))
        job = world.copy(source, world.efs_point(source, source_vault), source_vault, scoped)
        assert job["State"] == "COMPLETED", (key, job.get("StatusMessage"))
    # Within one account no vault policy is needed, and a wide-open one does not get in the way.
    own = world.vault(source, policy=allow_copy_into(principal))
    assert world.copy(source, world.efs_point(source, source_vault), source_vault, own)["State"] == "COMPLETED"


def test_an_operator_the_test_bed_cannot_evaluate_fails_the_job_clearly(world):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    source_vault = world.vault(source)
    odd = world.vault(central, policy=allow_copy_into({"AWS": source}, {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}))
    job = world.copy(source, world.efs_point(source, source_vault), source_vault, odd)
    assert job["State"] == "FAILED"
    assert job["StatusMessage"].startswith(
        "The destination backup vault's access policy cannot be evaluated by the test bed: "
        "unsupported condition operator NumericLessThan"
    ), job["StatusMessage"]


def _replace(value, old, new):
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return {k: _replace(v, old, new) for k, v in value.items()}


@pytest.mark.parametrize(
    "action",
    [
        "backup:CopyIntoBackupVault",
        ["backup:StartCopyJob", "backup:CopyIntoBackupVault"],
        "backup:*",
        "BACKUP:copyintobackupvault",
    ],
)
def test_destination_policy_action_forms(world, action):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    source_vault = world.vault(source)
    central_vault = world.vault(central, policy=allow_copy_into({"AWS": source}, action=action))
    job = world.copy(source, world.efs_point(source, source_vault), source_vault, central_vault)
    assert job["State"] == "COMPLETED", job.get("StatusMessage")


def _refused(job, needle):
    assert job["State"] == "FAILED"
    assert needle in job["StatusMessage"]
    assert "DestinationRecoveryPointArn" not in job


def test_cross_account_copy_without_destination_policy_fails(world):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    source_vault, central_vault = world.vault(source), world.vault(central)
    job = world.copy(source, world.efs_point(source, source_vault), source_vault, central_vault)
    _refused(job, "does not allow backup:CopyIntoBackupVault")
    assert (
        world.backup(central).list_recovery_points_by_backup_vault(BackupVaultName=central_vault.rsplit(":", 1)[-1])[
            "RecoveryPoints"
        ]
        == []
    )


def test_policy_for_another_action_or_account_does_not_allow_the_copy(world):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    source_vault = world.vault(source)
    point = world.efs_point(source, source_vault)
    wrong_action = world.vault(central, policy=allow_copy_into({"AWS": source}, action="backup:CopyFromBackupVault"))
    wrong_account = world.vault(central, policy=allow_copy_into({"AWS": "123456789012"}))
    _refused(world.copy(source, point, source_vault, wrong_action), "CopyIntoBackupVault")
    _refused(world.copy(source, point, source_vault, wrong_account), "CopyIntoBackupVault")


def test_principal_org_id_condition(world):
    source, central = world.fresh_account(), world.fresh_account()
    org = world.organization([source, central])
    source_vault = world.vault(source)
    point = world.efs_point(source, source_vault)
    ours = world.vault(
        central, policy=allow_copy_into("*", {"StringEquals": {"aws:PrincipalOrgID": org["organizationId"]}})
    )
    theirs = world.vault(
        central, policy=allow_copy_into("*", {"StringEquals": {"aws:PrincipalOrgID": "o-someoneelse"}})
    )
    assert world.copy(source, point, source_vault, ours)["State"] == "COMPLETED"
    _refused(world.copy(source, point, source_vault, theirs), "CopyIntoBackupVault")


def test_principal_org_paths_condition(world):
    source, other, central = world.fresh_account(), world.fresh_account(), world.fresh_account()
    org = world.organization([{"id": source, "ou": "Production"}, {"id": other, "ou": "Sandbox"}, central])
    production = next(ou["id"] for ou in org["organizationalUnits"] if ou["name"] == "Production")
    path = f"{org['organizationId']}/{org['rootId']}/{production}/*"
    central_vault = world.vault(
        central, policy=allow_copy_into("*", {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [path]}})
    )
    for account, expected in ((source, "COMPLETED"), (other, "FAILED")):
        vault = world.vault(account)
        assert world.copy(account, world.efs_point(account, vault), vault, central_vault)["State"] == expected


def test_explicit_deny_beats_allow(world):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    document = allow_copy_into({"AWS": source})
    document["Statement"].append(
        {"Effect": "Deny", "Principal": "*", "Action": "backup:CopyIntoBackupVault", "Resource": "*"}
    )
    source_vault = world.vault(source)
    central_vault = world.vault(central, policy=document)
    _refused(
        world.copy(source, world.efs_point(source, source_vault), source_vault, central_vault), "CopyIntoBackupVault"
    )


def test_explicit_deny_applies_within_the_account(world):
    account = world.fresh_account()
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "backup:CopyIntoBackupVault", "Resource": "*"}],
    }
    source_vault, denied, plain = (
        world.vault(account),
        world.vault(account, BACKUP_REGION, deny),
        world.vault(account, BACKUP_REGION),
    )
    point = world.efs_point(account, source_vault)
    _refused(world.copy(account, point, source_vault, denied), "CopyIntoBackupVault")
    assert world.copy(account, point, source_vault, plain)["State"] == "COMPLETED"


def test_cross_account_copy_needs_the_same_organization(world):
    source, stranger = world.fresh_account(), world.fresh_account()
    world.organization([source])
    source_vault = world.vault(source)
    stranger_vault = world.vault(stranger, policy=allow_copy_into("*"))
    job = world.copy(source, world.efs_point(source, source_vault), source_vault, stranger_vault)
    _refused(job, "Both source and destination account must be a member of the same organization")


def test_cross_account_copy_needs_the_global_setting(world):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central], cross_account=False)
    source_vault = world.vault(source)
    central_vault = world.vault(central, policy=allow_copy_into({"AWS": source}))
    job = world.copy(source, world.efs_point(source, source_vault), source_vault, central_vault)
    _refused(job, "Cross-account backup is not enabled")


def test_source_vault_policy_pins_copy_targets(world):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    allowed = world.vault(central, BACKUP_REGION, allow_copy_into({"AWS": source}))
    elsewhere = world.vault(central, BACKUP_REGION, allow_copy_into({"AWS": source}))
    pin = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CrossvaultPinCopyTargets",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "backup:CopyFromBackupVault",
                "Resource": "*",
                "Condition": {"ForAllValues:ArnNotEquals": {"backup:CopyTargets": [allowed]}},
            }
        ],
    }
    source_vault = world.vault(source, policy=pin)
    point = world.efs_point(source, source_vault)
    assert world.copy(source, point, source_vault, allowed)["State"] == "COMPLETED"
    _refused(world.copy(source, point, source_vault, elsewhere), "CopyFromBackupVault")
    pin["Statement"][0]["Condition"] = {
        "ForAllValues:ArnNotLike": {"backup:CopyTargets": [f"arn:aws:backup:*:{central}:backup-vault:*"]}
    }
    world.backup(source).put_backup_vault_access_policy(
        BackupVaultName=source_vault.rsplit(":", 1)[-1], Policy=json.dumps(pin)
    )
    assert world.copy(source, point, source_vault, elsewhere)["State"] == "COMPLETED"
    _refused(world.copy(source, point, source_vault, world.vault(source, BACKUP_REGION)), "CopyFromBackupVault")


def test_destination_vault_lock_range_fails_the_copy(world):
    account = world.fresh_account()
    source_vault, locked = world.vault(account), world.vault(account, BACKUP_REGION)
    world.backup(account, BACKUP_REGION).put_backup_vault_lock_configuration(
        BackupVaultName=locked.rsplit(":", 1)[-1], MinRetentionDays=30, MaxRetentionDays=60
    )
    point = world.efs_point(account, source_vault)
    _refused(
        world.copy(account, point, source_vault, locked, Lifecycle={"DeleteAfterDays": 7}),
        "minimum retention (30 days)",
    )
    _refused(
        world.copy(account, point, source_vault, locked, Lifecycle={"DeleteAfterDays": 90}),
        "maximum retention (60 days)",
    )
    # No lifecycle at all means keep forever, which exceeds any maximum.
    _refused(world.copy(account, point, source_vault, locked), "unlimited")
    assert world.copy(account, point, source_vault, locked, Lifecycle={"DeleteAfterDays": 35})["State"] == "COMPLETED"


def test_missing_destination_vault_fails_the_copy(world):
    account = world.fresh_account()
    source_vault = world.vault(account)
    job = world.copy(
        account,
        world.efs_point(account, source_vault),
        source_vault,
        f"arn:aws:backup:{BACKUP_REGION}:{account}:backup-vault:nope",
    )
    _refused(job, "does not exist")


def test_recovery_point_must_be_in_the_source_vault(world):
    account = world.fresh_account()
    vault_a, vault_b = world.vault(account), world.vault(account)
    point = world.efs_point(account, vault_a)
    with pytest.raises(ClientError) as error:
        world.copy(account, point, vault_b, world.vault(account, BACKUP_REGION))
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_continuous_recovery_points_cannot_be_copied(world, control):
    account = world.fresh_account()
    vault = world.vault(account)
    job = control.ok(
        "POST",
        "/plan-backup-jobs",
        {
            "accountId": account,
            "region": REGION,
            "backupVaultName": vault.rsplit(":", 1)[-1],
            "resourceArn": world.rds_instance(account),
            "continuous": True,
        },
    )
    assert ":recovery-point:continuous:" in job["recoveryPointArn"]
    with pytest.raises(ClientError) as error:
        world.copy(account, job["recoveryPointArn"], vault, world.vault(account, BACKUP_REGION))
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "continuous" in error.value.response["Error"]["Message"]


def test_cold_points_cannot_be_copied_across_regions(world, control):
    account = world.fresh_account()
    vault = world.vault(account)
    point = world.efs_point(account, vault, Lifecycle={"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 91})
    original = control.ok("GET", "/clock")["offsetSeconds"]
    control.ok("POST", "/clock", {"offsetSeconds": original + 2 * 86400})
    try:
        assert control.ok("POST", "/lifecycle/sweep", {"accountId": account}) == {"movedToCold": 1, "deleted": 0}
    finally:
        control.ok("POST", "/clock", {"offsetSeconds": original})
    described = world.backup(account).describe_recovery_point(
        BackupVaultName=vault.rsplit(":", 1)[-1], RecoveryPointArn=point
    )
    assert described["StorageClass"] == "COLD"
    with pytest.raises(ClientError) as error:
        world.copy(account, point, vault, world.vault(account, BACKUP_REGION))
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    # Within the Region the cold point can still be copied.
    assert world.copy(account, point, vault, world.vault(account))["State"] == "COMPLETED"


def test_idempotency_token_returns_the_earlier_job(world):
    account = world.fresh_account()
    source_vault, destination = world.vault(account), world.vault(account, BACKUP_REGION)
    point = world.efs_point(account, source_vault)
    backup = world.backup(account)
    request = dict(
        RecoveryPointArn=point,
        SourceBackupVaultName=source_vault.rsplit(":", 1)[-1],
        DestinationBackupVaultArn=destination,
        IamRoleArn=ROLE.format(account),
        IdempotencyToken="token-1",
    )
    first = backup.start_copy_job(**request)["CopyJobId"]
    second = backup.start_copy_job(**request)["CopyJobId"]
    assert first == second
    assert len(backup.list_copy_jobs()["CopyJobs"]) == 1
    with pytest.raises(ClientError) as error:
        backup.start_copy_job(**(request | {"Lifecycle": {"DeleteAfterDays": 3}}))
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"


def test_vault_access_policy_round_trip(world):
    account = world.fresh_account()
    vault = world.vault(account)
    backup = world.backup(account)
    document = allow_copy_into({"AWS": "111111111111"})
    backup.put_backup_vault_access_policy(BackupVaultName=vault.rsplit(":", 1)[-1], Policy=json.dumps(document))
    got = backup.get_backup_vault_access_policy(BackupVaultName=vault.rsplit(":", 1)[-1])
    assert got["BackupVaultArn"] == vault and json.loads(got["Policy"]) == document
    backup.delete_backup_vault_access_policy(BackupVaultName=vault.rsplit(":", 1)[-1])
    with pytest.raises(ClientError) as error:
        backup.get_backup_vault_access_policy(BackupVaultName=vault.rsplit(":", 1)[-1])
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_backup_job_idempotency_token(world):
    account = world.fresh_account()
    vault = world.vault(account)
    backup = world.backup(account)
    request = dict(
        BackupVaultName=vault.rsplit(":", 1)[-1],
        ResourceArn=f"arn:aws:dynamodb:{REGION}:{account}:table/orders",
        IamRoleArn=ROLE.format(account),
        IdempotencyToken="backup-1",
    )
    first, second = backup.start_backup_job(**request), backup.start_backup_job(**request)
    assert first["BackupJobId"] == second["BackupJobId"]
    assert first["RecoveryPointArn"] == second["RecoveryPointArn"]
    assert len(backup.list_backup_jobs()["BackupJobs"]) == 1
    # The token is scoped to the account and Region.
    assert world.backup(account, BACKUP_REGION).list_backup_jobs()["BackupJobs"] == []

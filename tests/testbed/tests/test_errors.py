"""Errors are typed rest-json errors (header + JSON body), never moto's HTML 404."""

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError
from conftest import REGION, ROLE


def _code(call):
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


def test_wire_format_of_an_error(endpoint):
    request = urllib.request.Request(
        f"{endpoint}/backup-jobs/NOPE",
        headers={
            "x-moto-account-id": "555555555555",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/backup/aws4_request, SignedHeaders=host, Signature=x",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request)
    assert error.value.code == 400
    assert error.value.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert error.value.headers["Content-Type"] == "application/json"
    body = json.loads(error.value.read())
    assert body["__type"] == body["Code"] == "ResourceNotFoundException"
    assert "NOPE" in body["Message"]


def test_typed_errors_through_botocore(world):
    account = world.fresh_account()
    backup = world.backup(account)
    vault = world.vault(account).rsplit(":", 1)[-1]
    assert _code(lambda: backup.describe_backup_vault(BackupVaultName="missing"))[0] == "ResourceNotFoundException"
    assert _code(lambda: backup.describe_copy_job(CopyJobId="missing"))[0] == "ResourceNotFoundException"
    assert _code(lambda: backup.describe_restore_job(RestoreJobId="missing"))[0] == "ResourceNotFoundException"
    assert _code(lambda: backup.get_backup_vault_access_policy(BackupVaultName=vault))[0] == "ResourceNotFoundException"
    assert (
        _code(lambda: backup.put_backup_vault_access_policy(BackupVaultName=vault, Policy="{not json"))[0]
        == "InvalidParameterValueException"
    )
    assert (
        _code(
            lambda: backup.describe_recovery_point(
                BackupVaultName=vault, RecoveryPointArn=f"arn:aws:backup:{REGION}:{account}:recovery-point:nope"
            )
        )[0]
        == "ResourceNotFoundException"
    )


def test_missing_parameters_are_typed(endpoint, world):
    account = world.fresh_account()
    vault = world.vault(account).rsplit(":", 1)[-1]
    # botocore validates required members client-side; the Rust SDK does too, so talk HTTP.
    request = urllib.request.Request(
        f"{endpoint}/copy-jobs",
        data=json.dumps({"SourceBackupVaultName": vault}).encode(),
        method="PUT",
        headers={
            "x-moto-account-id": account,
            "Content-Type": "application/json",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/backup/aws4_request, SignedHeaders=host, Signature=x",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request)
    assert error.value.headers["x-amzn-errortype"] == "MissingParameterValueException"


def test_backup_job_for_a_resource_in_another_account_is_rejected(world):
    account = world.fresh_account()
    vault = world.vault(account).rsplit(":", 1)[-1]
    code, message = _code(
        lambda: world.backup(account).start_backup_job(
            BackupVaultName=vault,
            ResourceArn=f"arn:aws:elasticfilesystem:{REGION}:123456789012:file-system/fs-1",
            IamRoleArn=ROLE.format(account),
        )
    )
    assert code == "InvalidParameterValueException" and "123456789012" not in account and account in message


def test_unknown_resource_type_is_rejected(world):
    account = world.fresh_account()
    vault = world.vault(account).rsplit(":", 1)[-1]
    code, _ = _code(
        lambda: world.backup(account).start_backup_job(
            BackupVaultName=vault,
            ResourceArn=f"arn:aws:lambda:{REGION}:{account}:function:f",
            IamRoleArn=ROLE.format(account),
        )
    )
    assert code == "InvalidParameterValueException"


def test_vault_with_recovery_points_cannot_be_deleted(world):
    account = world.fresh_account()
    vault_arn = world.vault(account)
    world.efs_point(account, vault_arn)
    code, _ = _code(lambda: world.backup(account).delete_backup_vault(BackupVaultName=vault_arn.rsplit(":", 1)[-1]))
    assert code == "InvalidRequestException"

"""RDS backups keep the DB's key; an AWS managed key (aws/rds) blocks copies to other accounts,
a copy within the account takes the destination vault's key."""

from conftest import BACKUP_REGION, REGION, ROLE, allow_copy_into


def _db(world, account, **extra):
    return world.client("rds", account).create_db_instance(
        DBInstanceIdentifier=world.name("db"),
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="secret-password",
        AllocatedStorage=20,
        **extra,
    )["DBInstance"]["DBInstanceArn"]


def _backup(world, account, vault_arn, db_arn):
    backup = world.backup(account)
    job_id = backup.start_backup_job(
        BackupVaultName=vault_arn.rsplit(":", 1)[-1], ResourceArn=db_arn, IamRoleArn=ROLE.format(account)
    )["BackupJobId"]
    job = backup.describe_backup_job(BackupJobId=job_id)
    assert job["State"] == "COMPLETED", job
    return job["RecoveryPointArn"]


def _cmk_vault(world, account, region=REGION, policy=None):
    key = world.client("kms", account, region).create_key()["KeyMetadata"]["Arn"]
    name = world.name("vault")
    backup = world.backup(account, region)
    arn = backup.create_backup_vault(BackupVaultName=name, EncryptionKeyArn=key)["BackupVaultArn"]
    if policy is not None:
        import json

        backup.put_backup_vault_access_policy(BackupVaultName=name, Policy=json.dumps(policy))
    return arn, key


def _key_of(world, account, vault_arn, point, region=REGION):
    return (
        world.backup(account, region)
        .describe_recovery_point(BackupVaultName=vault_arn.rsplit(":", 1)[-1], RecoveryPointArn=point)
        .get("EncryptionKeyArn")
    )


def test_an_rds_backup_keeps_the_dbs_key_not_the_vaults(world):
    account = world.fresh_account()
    vault, vault_key = _cmk_vault(world, account)
    kms = world.client("kms", account)
    # Encrypted without a key: the account's AWS managed aws/rds key.
    point = _backup(world, account, vault, _db(world, account, StorageEncrypted=True))
    key = _key_of(world, account, vault, point)
    assert key != vault_key
    metadata = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert metadata["KeyManager"] == "AWS"
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=metadata["KeyId"])["Aliases"]] == ["alias/aws/rds"]
    assert kms.describe_key(KeyId="alias/aws/rds")["KeyMetadata"]["Arn"] == key
    # With a customer managed key: that key.
    own = kms.create_key()["KeyMetadata"]["Arn"]
    point = _backup(world, account, vault, _db(world, account, StorageEncrypted=True, KmsKeyId=own))
    assert _key_of(world, account, vault, point) == own
    assert kms.describe_key(KeyId=own)["KeyMetadata"]["KeyManager"] == "CUSTOMER"
    # Not encrypted: no key.
    point = _backup(world, account, vault, _db(world, account))
    assert _key_of(world, account, vault, point) is None


def test_aws_rds_points_are_refused_across_accounts_and_copied_within_under_the_vaults_key(world):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    source_vault, _ = _cmk_vault(world, source)
    reencrypt_vault, reencrypt_key = _cmk_vault(world, source)
    central_vault, central_key = _cmk_vault(world, central, BACKUP_REGION, allow_copy_into({"AWS": source}))
    point = _backup(world, source, source_vault, _db(world, source, StorageEncrypted=True))
    aws_rds = _key_of(world, source, source_vault, point)

    refused = world.copy(source, point, source_vault, central_vault, Lifecycle={"DeleteAfterDays": 35})
    assert refused["State"] == "FAILED"
    assert aws_rds in refused["StatusMessage"] and "alias/aws/rds" in refused["StatusMessage"]
    assert "DestinationRecoveryPointArn" not in refused

    within = world.copy(source, point, source_vault, reencrypt_vault, Lifecycle={"DeleteAfterDays": 35})
    assert within["State"] == "COMPLETED"
    assert within["DestinationEncryptionKeyArn"] == reencrypt_key
    copy = within["DestinationRecoveryPointArn"]
    assert _key_of(world, source, reencrypt_vault, copy) == reencrypt_key
    snapshot = copy.split(":snapshot:", 1)[1]
    rds = world.client("rds", source).describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"][0]
    assert rds["KmsKeyId"] == reencrypt_key
    assert within["IamRoleArn"] == ROLE.format(source)

    onward = world.copy(source, copy, reencrypt_vault, central_vault, Lifecycle={"DeleteAfterDays": 35})
    assert onward["State"] == "COMPLETED", onward
    assert _key_of(world, central, central_vault, onward["DestinationRecoveryPointArn"], BACKUP_REGION) == central_key


def test_copy_jobs_list_by_destination_vault_and_resource(world):
    account = world.fresh_account()
    source_vault, _ = _cmk_vault(world, account)
    reencrypt_vault, _ = _cmk_vault(world, account)
    db = _db(world, account, StorageEncrypted=True)
    other = _db(world, account, StorageEncrypted=True)
    points = [_backup(world, account, source_vault, d) for d in (db, other)]
    for point in points:
        world.copy(account, point, source_vault, reencrypt_vault)
    listed = world.backup(account).list_copy_jobs(ByDestinationVaultArn=reencrypt_vault, ByResourceArn=db)["CopyJobs"]
    assert [j["SourceRecoveryPointArn"] for j in listed] == [points[0]]

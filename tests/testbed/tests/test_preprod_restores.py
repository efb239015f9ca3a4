"""Pre-prod restores make real moto resources; the masking hook is an (emulated) SSM
Automation execution whose end is an EventBridge event; new DB instances emit RDS's event."""

import json

import pytest
from botocore.exceptions import ClientError
from conftest import REGION, ROLE

HOOK_PARAMETERS = ["ResourceArn", "ResourceType", "Endpoint", "SourceResourceArn", "RecoveryPointArn"]


def _document(world, account, name):
    content = {
        "schemaVersion": "0.3",
        "parameters": {p: {"type": "String"} for p in HOOK_PARAMETERS},
        "mainSteps": [{"name": "mask", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}}],
    }
    world.client("ssm", account).create_document(
        Name=name, Content=json.dumps(content), DocumentType="Automation", DocumentFormat="JSON"
    )


def _parameters(resource="arn:aws:rds:eu-west-1:1:db:x"):
    return {p: [resource if p == "ResourceArn" else "v"] for p in HOOK_PARAMETERS}


def test_a_hook_execution_ends_with_its_status_change_event(world, control):
    account = world.fresh_account()
    document = world.name("mask")
    _document(world, account, document)
    ssm = world.client("ssm", account)
    started = ssm.start_automation_execution(DocumentName=document, Parameters=_parameters(), ClientToken="8c3f6b2e-0d4a-4e55-9a2b-1f3c5d7e9a0b")
    execution = ssm.get_automation_execution(AutomationExecutionId=started["AutomationExecutionId"])
    assert execution["AutomationExecution"]["AutomationExecutionStatus"] == "Success"
    assert execution["AutomationExecution"]["Parameters"]["ResourceArn"] == ["arn:aws:rds:eu-west-1:1:db:x"]
    # The same client token is the same execution.
    again = ssm.start_automation_execution(DocumentName=document, Parameters=_parameters(), ClientToken="8c3f6b2e-0d4a-4e55-9a2b-1f3c5d7e9a0b")
    assert again["AutomationExecutionId"] == started["AutomationExecutionId"]
    logged = control.ok(
        "GET", f"/events?account={account}&detailType=EC2%20Automation%20Execution%20Status-change%20Notification"
    )["events"]
    assert [(e["source"], e["detail"]["Status"], e["detail"]["Definition"]) for e in logged] == [
        ("aws.ssm", "Success", document)
    ]


def test_hook_outcomes_and_manual_completion(world, control):
    account = world.fresh_account()
    document = world.name("mask")
    _document(world, account, document)
    control.ok(
        "POST",
        "/automation/outcomes",
        {"accountId": account, "document": document, "outcomes": [{"status": "Failed", "message": "UPDATE failed"}]},
    )
    ssm = world.client("ssm", account)
    failed = ssm.start_automation_execution(DocumentName=document, Parameters=_parameters())
    got = ssm.get_automation_execution(AutomationExecutionId=failed["AutomationExecutionId"])["AutomationExecution"]
    assert (got["AutomationExecutionStatus"], got["FailureMessage"]) == ("Failed", "UPDATE failed")
    control.ok("POST", "/automation/mode", {"accountId": account, "mode": "manual"})
    running = ssm.start_automation_execution(DocumentName=document, Parameters=_parameters())["AutomationExecutionId"]
    assert ssm.get_automation_execution(AutomationExecutionId=running)["AutomationExecution"][
        "AutomationExecutionStatus"
    ] == "InProgress"
    control.ok("POST", f"/automation/executions/{running}/complete", {"status": "Success"})
    status, _ = control.call("POST", f"/automation/executions/{running}/complete", {"status": "Success"})
    assert status == 409
    listed = control.ok("GET", f"/automation/executions?accountId={account}")["executions"]
    assert [e["AutomationExecutionStatus"] for e in listed] == ["Failed", "Success"]


def test_a_hook_must_be_an_automation_document_declaring_the_parameters(world):
    account = world.fresh_account()
    ssm = world.client("ssm", account)
    with pytest.raises(ClientError) as error:
        ssm.start_automation_execution(DocumentName="missing-doc", Parameters=_parameters())
    assert error.value.response["Error"]["Code"] == "InvalidDocument"
    document = world.name("mask")
    _document(world, account, document)
    with pytest.raises(ClientError) as error:
        ssm.start_automation_execution(DocumentName=document, Parameters={"Undeclared": ["x"]})
    assert error.value.response["Error"]["Code"] == "InvalidAutomationExecutionParametersException"


def test_a_restored_db_instance_lands_in_the_subnet_group_and_emits_rds_event_0005(world, control):
    account = world.fresh_account()
    vault = world.vault(account)
    control.ok("POST", "/rds/db-subnet-group", {"accountId": account, "region": REGION, "name": "preprod-db"})
    point = world.backup(account).start_backup_job(
        BackupVaultName=vault.rsplit(":", 1)[-1], ResourceArn=world.rds_instance(account), IamRoleArn=ROLE.format(account)
    )["RecoveryPointArn"]
    target = world.name("orders-r")
    backup = world.backup(account)
    job = backup.start_restore_job(
        RecoveryPointArn=point,
        Metadata={"DBInstanceIdentifier": target, "DBSubnetGroupName": "preprod-db"},
        IamRoleArn=ROLE.format(account),
    )
    assert backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])["Status"] == "COMPLETED"
    db = world.client("rds", account).describe_db_instances(DBInstanceIdentifier=target)["DBInstances"][0]
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == "preprod-db"
    created = [
        e
        for e in control.ok("GET", f"/events?account={account}&detailType=RDS%20DB%20Instance%20Event")["events"]
        if e["detail"]["SourceIdentifier"] == target
    ]
    assert [(e["source"], e["detail"]["EventID"]) for e in created] == [("aws.rds", "RDS-EVENT-0005")]
    # A subnet group that does not exist fails the restore as RDS would.
    bad = backup.start_restore_job(
        RecoveryPointArn=point,
        Metadata={"DBInstanceIdentifier": world.name("orders-s"), "DBSubnetGroupName": "missing"},
        IamRoleArn=ROLE.format(account),
    )
    failed = backup.describe_restore_job(RestoreJobId=bad["RestoreJobId"])
    assert failed["Status"] == "FAILED", failed


def test_aurora_dynamodb_and_efs_restores_create_real_resources(world):
    account = world.fresh_account()
    vault = world.vault(account)
    name = vault.rsplit(":", 1)[-1]
    backup = world.backup(account)
    rds = world.client("rds", account)
    cluster = rds.create_db_cluster(
        DBClusterIdentifier=world.name("ledger"), Engine="aurora-postgresql", MasterUsername="u", MasterUserPassword="password1"
    )["DBCluster"]
    table_name = world.name("carts")
    dynamodb = world.client("dynamodb", account)
    table = dynamodb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "cart", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "cart", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]
    efs = world.client("efs", account)
    fs = efs.create_file_system(CreationToken=world.name("files"))
    restored_cluster, restored_table = world.name("ledger-r"), world.name("carts-r")
    for resource_arn, metadata, check in [
        (
            cluster["DBClusterArn"],
            {"DBClusterIdentifier": restored_cluster},
            lambda arn: rds.describe_db_clusters(DBClusterIdentifier=arn.rsplit(":", 1)[-1])["DBClusters"][0],
        ),
        (
            table["TableArn"],
            {"targetTableName": restored_table},
            lambda arn: dynamodb.describe_table(TableName=arn.rsplit("/", 1)[-1])["Table"],
        ),
        (
            fs["FileSystemArn"],
            {"newFileSystem": "true", "CreationToken": world.name("files-r"), "file-system-id": fs["FileSystemId"]},
            lambda arn: efs.describe_file_systems(FileSystemId=arn.rsplit("/", 1)[-1])["FileSystems"][0],
        ),
    ]:
        point = backup.start_backup_job(BackupVaultName=name, ResourceArn=resource_arn, IamRoleArn=ROLE.format(account))[
            "RecoveryPointArn"
        ]
        aws_metadata = backup.get_recovery_point_restore_metadata(BackupVaultName=name, RecoveryPointArn=point)[
            "RestoreMetadata"
        ]
        job = backup.start_restore_job(
            RecoveryPointArn=point, Metadata=aws_metadata | metadata, IamRoleArn=ROLE.format(account)
        )
        described = backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])
        assert described["Status"] == "COMPLETED", described.get("StatusMessage")
        made = check(described["CreatedResourceArn"])
        assert made, described
    restored = dynamodb.describe_table(TableName=restored_table)
    assert restored["Table"]["KeySchema"] == [{"AttributeName": "cart", "KeyType": "HASH"}]
    made = rds.describe_db_clusters(DBClusterIdentifier=restored_cluster)["DBClusters"][0]
    assert made["Engine"] == "aurora-postgresql"
    assert made["DBClusterMembers"] == [], "AWS Backup restores an Aurora cluster without instances"

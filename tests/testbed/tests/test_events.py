"""Events: exact shapes, order, and the account/Region each one is emitted in,
read back through a real EventBridge rule and SQS queue in moto."""

import json

from conftest import BACKUP_REGION, REGION, ROLE, allow_copy_into


def _queue_for(world, account, region, pattern):
    """An EventBridge rule on the default bus of (account, region) routing to a new SQS queue."""
    sqs = world.client("sqs", account, region)
    queue_url = sqs.create_queue(QueueName=world.name("events"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = world.client("events", account, region)
    rule = world.name("rule")
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])

    def read():
        bodies = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return read


def test_copy_job_events_are_emitted_in_the_source_account_and_region(world):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    source_vault = world.vault(source)
    central_vault = world.vault(central, BACKUP_REGION, allow_copy_into({"AWS": source}))
    point = world.efs_point(source, source_vault)
    copy_events = _queue_for(
        world, source, REGION, {"source": ["aws.backup"], "detail-type": ["Copy Job State Change"]}
    )
    central_copy_events = _queue_for(
        world, central, BACKUP_REGION, {"source": ["aws.backup"], "detail-type": ["Copy Job State Change"]}
    )
    arrivals = _queue_for(
        world, central, BACKUP_REGION, {"source": ["aws.backup"], "detail-type": ["Recovery Point State Change"]}
    )

    job = world.copy(source, point, source_vault, central_vault, Lifecycle={"DeleteAfterDays": 35})

    received = copy_events()
    assert [e["detail"]["state"] for e in received] == ["CREATED", "RUNNING", "COMPLETED"]
    for event in received:
        assert event["source"] == "aws.backup"
        assert event["account"] == source
        assert event["region"] == REGION
        assert event["resources"] == [point]
    created, running, completed = (e["detail"] for e in received)
    assert set(created) == {"creationDate", "state", "sourceBackupVaultArn", "destinationBackupVaultArn"}
    assert running["destinationRecoveryPointArn"] == {}
    assert running["copyJobId"] == job["CopyJobId"]
    assert completed == {
        "copyJobId": job["CopyJobId"],
        "backupSizeInBytes": job["BackupSizeInBytes"],
        "creationDate": created["creationDate"],
        "completionDate": completed["completionDate"],
        "iamRoleArn": ROLE.format(source),
        "resourceArn": job["ResourceArn"],
        "resourceType": "EFS",
        "state": "COMPLETED",
        "sourceBackupVaultArn": source_vault,
        "destinationBackupVaultArn": central_vault,
        "destinationRecoveryPointArn": job["DestinationRecoveryPointArn"],
    }
    assert isinstance(completed["backupSizeInBytes"], int)
    assert central_copy_events() == []

    arrived = arrivals()
    assert len(arrived) == 1
    assert arrived[0]["account"] == central and arrived[0]["region"] == BACKUP_REGION
    assert arrived[0]["resources"] == [job["DestinationRecoveryPointArn"]]
    detail = arrived[0]["detail"]
    assert detail["status"] == "COMPLETED"
    assert detail["backupVaultArn"] == central_vault
    assert detail["isEncrypted"] == "true"
    assert detail["lifecycle"] == {"deleteAfterDays": 35}
    assert set(detail["calculatedLifeCycle"]) == {"deleteAt"}
    assert "createdBy" not in detail


def test_failed_copy_event_has_status_message_and_empty_destination(world):
    source, central = world.fresh_account(), world.fresh_account()
    world.organization([source, central])
    source_vault, central_vault = world.vault(source), world.vault(central)
    point = world.efs_point(source, source_vault)
    read = _queue_for(
        world,
        source,
        REGION,
        {"source": ["aws.backup"], "detail-type": ["Copy Job State Change"], "detail": {"state": ["FAILED"]}},
    )
    job = world.copy(source, point, source_vault, central_vault)
    [event] = read()
    assert event["detail"]["copyJobId"] == job["CopyJobId"]
    assert event["detail"]["destinationRecoveryPointArn"] == {}
    assert event["detail"]["statusMessage"] == job["StatusMessage"]
    assert "completionDate" not in event["detail"]


def test_on_demand_backup_job_events(world):
    account = world.fresh_account()
    vault = world.vault(account)
    read = _queue_for(
        world,
        account,
        REGION,
        {"source": ["aws.backup"], "detail-type": ["Backup Job State Change", "Recovery Point State Change"]},
    )
    point = world.efs_point(account, vault, Lifecycle={"DeleteAfterDays": 14})
    received = read()
    kinds = [(e["detail-type"], e["detail"].get("state") or e["detail"].get("status")) for e in received]
    assert kinds == [
        ("Backup Job State Change", "CREATED"),
        ("Backup Job State Change", "RUNNING"),
        ("Recovery Point State Change", "COMPLETED"),
        ("Backup Job State Change", "COMPLETED"),
    ]
    completed = received[-1]
    assert completed["resources"] == [point]
    detail = completed["detail"]
    # Sizes are strings in backup-job events, and on-demand jobs have no createdBy.
    assert detail["backupSizeInBytes"] == "1048576" and detail["bytesTransferred"] == "1048576"
    assert detail["percentDone"] == "100.0"
    assert "createdBy" not in detail
    assert detail["backupVaultName"] == vault.rsplit(":", 1)[-1]


def test_plan_backup_job_carries_created_by(world, control):
    account = world.fresh_account()
    vault = world.vault(account)
    backup = world.backup(account)
    plan = backup.create_backup_plan(
        BackupPlan={
            "BackupPlanName": world.name("plan"),
            "Rules": [{"RuleName": "daily", "TargetBackupVaultName": vault.rsplit(":", 1)[-1]}],
        }
    )
    read = _queue_for(
        world,
        account,
        REGION,
        {"source": ["aws.backup"], "detail-type": ["Backup Job State Change"], "detail": {"state": ["COMPLETED"]}},
    )
    started = control.ok(
        "POST",
        "/plan-backup-jobs",
        {
            "accountId": account,
            "region": REGION,
            "backupVaultName": vault.rsplit(":", 1)[-1],
            "resourceArn": world.rds_instance(account),
            "backupPlanId": plan["BackupPlanId"],
        },
    )
    [event] = read()
    created_by = event["detail"]["createdBy"]
    assert created_by["backupPlanId"] == plan["BackupPlanId"]
    assert created_by["backupPlanArn"] == plan["BackupPlanArn"]
    assert created_by["backupPlanVersion"] == plan["VersionId"]
    assert created_by["backupPlanRuleId"]
    job = backup.describe_backup_job(BackupJobId=started["jobId"])
    assert job["CreatedBy"]["BackupPlanId"] == plan["BackupPlanId"]
    assert job["CreatedBy"]["BackupRuleId"] == created_by["backupPlanRuleId"]


def test_event_log_control_call(world, control):
    account = world.fresh_account()
    point = world.efs_point(account, world.vault(account))
    logged = control.ok("GET", f"/events?account={account}&detailType=Recovery%20Point%20State%20Change")["events"]
    assert [e["resources"] for e in logged] == [[point]]

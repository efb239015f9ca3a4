"""AWS as it is: jobs that take time on the test bed clock, events late, twice or out of
order, copies that fail, throttling, bursts of 5xx, and the request log to count calls."""

import json
import time
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from conftest import BACKUP_REGION, REGION, ROLE, allow_copy_into


def _name(arn):
    return arn.rsplit(":", 1)[-1]


def _error(call):
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response


def _org_with_copy(world):
    """An organization (its own clock scope) with a source vault and a central vault."""
    source, central = world.fresh_account(), world.fresh_account()
    org = world.organization([source, central])
    source_vault = world.vault(source)
    central_vault = world.vault(
        central, BACKUP_REGION, allow_copy_into("*", {"StringEquals": {"aws:PrincipalOrgID": org["organizationId"]}})
    )
    return source, central, source_vault, central_vault


def test_timed_jobs_progress_on_their_organizations_clock_only(world, control):
    source, central, source_vault, central_vault = _org_with_copy(world)
    control.ok("POST", "/job-mode", {"mode": "timed", "accountId": source, "durations": {"backup": 600, "copy": 1800}})
    backup = world.backup(source)
    started = backup.start_backup_job(
        BackupVaultName=_name(source_vault),
        ResourceArn=f"arn:aws:elasticfilesystem:{REGION}:{source}:file-system/fs-timed",
        IamRoleArn=ROLE.format(source),
    )
    job_id = started["BackupJobId"]
    assert backup.describe_backup_job(BackupJobId=job_id)["State"] == "CREATED"
    before = control.ok("GET", f"/clock?accountId={source}")
    assert before["inFlight"] == 1
    # Steps are spread over the duration: RUNNING after 300 s, COMPLETED after 600 s.
    moved = control.ok("POST", "/clock", {"accountId": source, "advanceSeconds": 301})
    assert moved["steps"] == 1
    assert backup.describe_backup_job(BackupJobId=job_id)["State"] == "RUNNING"
    # Another organization's clock did not move.
    other = world.fresh_account()
    world.organization([other])
    assert control.ok("GET", f"/clock?accountId={other}")["offsetSeconds"] == 0
    moved = control.ok("POST", "/clock", {"accountId": source, "toNextJob": True})
    assert moved["steps"] == 1 and moved["inFlight"] == 0 and moved["nextDueAt"] is None
    described = backup.describe_backup_job(BackupJobId=job_id)
    assert described["State"] == "COMPLETED"
    # The job completed when it was due (creation + 600 s), not when the clock was moved.
    assert described["CompletionDate"] - described["CreationDate"] == timedelta(seconds=600)
    states = [
        e["detail"]["state"]
        for e in control.ok("GET", f"/events?account={source}&detailType=Backup%20Job%20State%20Change")["events"]
        if e["detail"].get("backupJobId") == job_id
    ]
    assert states == ["CREATED", "RUNNING", "COMPLETED"]

    # A copy takes its own time; reading it through the API after its due time shows it done.
    copy_id = backup.start_copy_job(
        RecoveryPointArn=started["RecoveryPointArn"],
        SourceBackupVaultName=_name(source_vault),
        DestinationBackupVaultArn=central_vault,
        IamRoleArn=ROLE.format(source),
    )["CopyJobId"]
    assert backup.describe_copy_job(CopyJobId=copy_id)["CopyJob"]["State"] == "CREATED"
    control.ok("POST", "/clock", {"accountId": source, "advanceSeconds": 1799})
    assert backup.describe_copy_job(CopyJobId=copy_id)["CopyJob"]["State"] == "RUNNING"
    clock = control.ok("GET", f"/clock?accountId={source}")
    control.ok("POST", "/clock", {"accountId": source, "offsetSeconds": clock["offsetSeconds"] + 2})
    assert backup.describe_copy_job(CopyJobId=copy_id)["CopyJob"]["State"] == "COMPLETED"
    # The scope's clock drives retention too: the copy's CalculatedLifecycle counts from the
    # source's creation date; its creation date is the source's.
    copy = world.backup(central, BACKUP_REGION).list_recovery_points_by_backup_vault(
        BackupVaultName=_name(central_vault)
    )["RecoveryPoints"][0]
    assert copy["CreationDate"] == described["CreationDate"]


def test_a_clock_move_with_slack_takes_the_steps_due_shortly_after_the_next(world, control):
    account = world.fresh_account()
    world.organization([account])
    vault = world.vault(account)
    control.ok("POST", "/job-mode", {"mode": "timed", "accountId": account, "durations": {"backup": 100}})
    backup = world.backup(account)
    ids = []
    for i in range(2):
        ids.append(
            backup.start_backup_job(
                BackupVaultName=_name(vault),
                ResourceArn=f"arn:aws:elasticfilesystem:{REGION}:{account}:file-system/fs-slack{i}",
                IamRoleArn=ROLE.format(account),
            )["BackupJobId"]
        )
        control.ok("POST", "/clock", {"accountId": account, "advanceSeconds": 10})
    # Next due: the first job's RUNNING step (50 s after it started, 30 s from now); the
    # second job's (10 s later) falls within the slack; the COMPLETED steps do not.
    moved = control.ok("POST", "/clock", {"accountId": account, "toNextJob": True, "slackSeconds": 15})
    assert moved["steps"] == 2 and moved["inFlight"] == 2
    assert [backup.describe_backup_job(BackupJobId=i)["State"] for i in ids] == ["RUNNING", "RUNNING"]
    assert control.call("POST", "/clock", {"accountId": account, "toNextJob": True, "slackSeconds": -1})[0] == 400


def test_clock_calls_validate_input(world, control):
    account = world.fresh_account()
    assert control.call("POST", "/clock", {"accountId": account})[0] == 400
    assert control.call("POST", "/clock", {"accountId": account, "advanceSeconds": -5})[0] == 400
    assert control.call("POST", "/clock", {"toNextJob": True})[0] == 400
    assert control.call("POST", "/job-mode", {"mode": "timed", "durations": {"scan": 5}})[0] == 400


def test_held_events_are_released_reversed_and_twice(world, control, client, name):
    account = world.fresh_account()
    world.organization([account])
    sqs = client("sqs", account)
    events = client("events", account)
    queue = sqs.create_queue(QueueName=name("q"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = name("rule")
    events.put_rule(Name=rule, EventPattern='{"source": ["aws.backup"]}')
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])

    control.ok("POST", "/events/delivery", {"accountId": account, "mode": "hold"})
    vault = world.vault(account)
    world.efs_point(account, vault)
    held = control.ok("GET", f"/events/held?accountId={account}")["held"]
    # Backup job CREATED, RUNNING, the recovery point, COMPLETED: emitted, not delivered.
    assert held == 4
    assert sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []) == []
    released = control.ok("POST", "/events/release", {"accountId": account, "order": "reverse", "copies": 2})
    assert released == {"scope": released["scope"], "delivered": 8, "held": 0}
    bodies = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    kinds = [
        (json.loads(b)["detail-type"], json.loads(b)["detail"].get("state") or json.loads(b)["detail"].get("status"))
        for b in bodies
    ]
    once = [
        ("Backup Job State Change", "COMPLETED"),
        ("Recovery Point State Change", "COMPLETED"),
        ("Backup Job State Change", "RUNNING"),
        ("Backup Job State Change", "CREATED"),
    ]
    assert kinds == once + once
    # Back to immediate delivery, each event twice.
    control.ok("POST", "/events/delivery", {"accountId": account, "mode": "immediate", "copies": 2})
    world.efs_point(account, vault)
    received = 0
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        received += len(messages)
        for m in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert received == 8


def test_copy_failures_on_demand(world, control):
    source, central, source_vault, central_vault = _org_with_copy(world)
    point = world.efs_point(source, source_vault)
    other_vault = world.vault(central, BACKUP_REGION, allow_copy_into({"AWS": source}))
    control.ok(
        "POST",
        "/faults/copy-failures",
        {"destinationVaultArn": central_vault, "statusMessage": "Copy job failed: the KMS key is disabled"},
    )
    control.ok("POST", "/faults/copy-failures", {"accountId": source, "count": 1, "statusMessage": "Once"})
    # The per-account failure (added last) is checked after the per-vault one; it applies once.
    failed = world.copy(source, point, source_vault, central_vault)
    assert (failed["State"], failed["StatusMessage"]) == ("FAILED", "Copy job failed: the KMS key is disabled")
    once = world.copy(source, point, source_vault, other_vault)
    assert (once["State"], once["StatusMessage"]) == ("FAILED", "Once")
    assert world.copy(source, point, source_vault, other_vault)["State"] == "COMPLETED"
    assert world.copy(source, point, source_vault, central_vault)["State"] == "FAILED"
    # Clearing an account's faults leaves a failure named by its destination vault only.
    control.ok("POST", "/faults/clear", {"accountId": source})
    assert world.copy(source, point, source_vault, central_vault)["State"] == "FAILED"
    control.ok("POST", "/faults/clear", {})
    assert world.copy(source, point, source_vault, central_vault)["State"] == "COMPLETED"


def test_throttling_of_mutating_calls_answers_throttling_exception(world, control):
    account = world.fresh_account()
    world.organization([account])
    vault = world.vault(account)
    control.ok("POST", "/faults/throttling", {"accountId": account, "ratePerSecond": 2, "burst": 2})
    backup = world.backup(account)
    arn = f"arn:aws:elasticfilesystem:{REGION}:{account}:file-system/fs-throttle"

    def start():
        return backup.start_backup_job(BackupVaultName=_name(vault), ResourceArn=arn, IamRoleArn=ROLE.format(account))

    start()
    start()
    response = _error(start)
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ThrottlingException"
    # Reads are not throttled; another Region of the account has its own bucket.
    for _ in range(5):
        backup.list_backup_jobs()
    world.backup(account, BACKUP_REGION).create_backup_vault(BackupVaultName="elsewhere")
    time.sleep(0.6)
    start()
    control.ok("POST", "/faults/throttling", {"accountId": account, "ratePerSecond": None})
    for _ in range(4):
        start()
    log = control.ok("GET", f"/requests?account={account}&operation=StartBackupJob")["requests"]
    assert [e["errorCode"] for e in log] == [None, None, "ThrottlingException", None, None, None, None, None]


def test_bursts_of_server_errors(world, control):
    account = world.fresh_account()
    vault = world.vault(account)
    backup = world.backup(account)
    control.ok("POST", "/faults/errors", {"operation": "ListBackupJobs", "accountId": account, "count": 2})
    control.ok(
        "POST",
        "/faults/errors",
        {"operation": "DescribeBackupVault", "accountId": account, "status": 500, "count": 1},
    )
    first = _error(backup.list_backup_jobs)
    assert (first["Error"]["Code"], first["ResponseMetadata"]["HTTPStatusCode"]) == ("ServiceUnavailableException", 503)
    assert _error(backup.list_backup_jobs)["Error"]["Code"] == "ServiceUnavailableException"
    assert backup.list_backup_jobs()["BackupJobs"] == []
    internal = _error(lambda: backup.describe_backup_vault(BackupVaultName=_name(vault)))
    assert (internal["Error"]["Code"], internal["ResponseMetadata"]["HTTPStatusCode"]) == ("InternalFailure", 500)
    assert backup.describe_backup_vault(BackupVaultName=_name(vault))["BackupVaultArn"] == vault
    control.ok(
        "POST",
        "/faults/errors",
        {"operation": "StartCopyJob", "accountId": account, "status": 403, "code": "AccessDeniedException"},
    )
    point = world.efs_point(account, vault)
    denied = _error(lambda: world.copy(account, point, vault, world.vault(account)))
    assert (denied["Error"]["Code"], denied["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDeniedException", 403)


def test_the_request_log_lists_calls_with_tokens(world, control):
    account = world.fresh_account()
    vault = world.vault(account)
    since = control.ok("GET", "/requests?account=000000000000")["last"]
    point = world.efs_point(account, vault)
    world.copy(account, point, vault, world.vault(account), IdempotencyToken="token-1")
    world.client("sqs", account).list_queues()
    log = control.ok("GET", f"/requests?account={account}&since={since}")["requests"]
    calls = [(e["service"], e["operation"], e["idempotencyToken"]) for e in log]
    assert ("backup", "StartCopyJob", "token-1") in calls
    # boto3 fills in an IdempotencyToken of its own for StartBackupJob.
    assert any(c[:2] == ("backup", "StartBackupJob") and c[2] for c in calls)
    assert ("sqs", "ListQueues", None) in calls
    assert all(e["accountId"] == account and e["region"] == REGION and e["status"] == 200 for e in log)
    assert [e["seq"] for e in log] == sorted(e["seq"] for e in log)
    copies = control.ok("GET", f"/requests?account={account}&since={since}&operation=StartCopyJob")["requests"]
    assert len(copies) == 1


def test_list_copy_jobs_by_source_point_with_the_fields_crossvault_reads(world, control):
    source, central, source_vault, central_vault = _org_with_copy(world)
    first, second = world.efs_point(source, source_vault), world.efs_point(source, source_vault)
    done = world.copy(source, first, source_vault, central_vault, Lifecycle={"DeleteAfterDays": 35})
    world.copy(source, second, source_vault, central_vault)
    listed = world.backup(source).list_copy_jobs(BySourceRecoveryPointArn=first)["CopyJobs"]
    assert [j["CopyJobId"] for j in listed] == [done["CopyJobId"]]
    job = listed[0]
    for field in (
        "StatusMessage",
        "CreationDate",
        "CompletionDate",
        "DestinationRecoveryPointArn",
        "SourceBackupVaultArn",
        "SourceRecoveryPointArn",
        "DestinationBackupVaultArn",
        "DestinationRecoveryPointLifecycle",
        "State",
        "AccountId",
        "IamRoleArn",
        "ResourceArn",
        "ResourceType",
        "DestinationVaultType",
    ):
        if field == "StatusMessage":
            assert field not in job  # a copy that completed without issues has none
            continue
        assert field in job, field
    assert job["DestinationRecoveryPointLifecycle"] == {"DeleteAfterDays": 35}
    assert job["SourceBackupVaultArn"] == source_vault
    # The copy's lifecycle, read where it landed (the destination account).
    landed = world.backup(central, BACKUP_REGION).describe_recovery_point(
        BackupVaultName=_name(central_vault), RecoveryPointArn=job["DestinationRecoveryPointArn"]
    )
    assert landed["Lifecycle"] == {"DeleteAfterDays": 35}
    assert landed["SourceBackupVaultArn"] == source_vault
    # A failed copy's StatusMessage comes with it in the listing.
    control.ok("POST", "/faults/copy-failures", {"accountId": source, "count": 1, "statusMessage": "Injected"})
    world.copy(source, first, source_vault, central_vault)
    states = {
        (j["State"], j.get("StatusMessage"))
        for j in world.backup(source).list_copy_jobs(BySourceRecoveryPointArn=first)["CopyJobs"]
    }
    assert states == {("COMPLETED", None), ("FAILED", "Injected")}


def test_a_plans_copy_action_starts_a_copy_job_created_by_the_plan(world, control):
    source, central, source_vault, central_vault = _org_with_copy(world)
    started = control.ok(
        "POST",
        "/plan-backup-jobs",
        {
            "accountId": source,
            "region": REGION,
            "backupVaultName": _name(source_vault),
            "resourceArn": f"arn:aws:elasticfilesystem:{REGION}:{source}:file-system/fs-plan",
            "lifecycle": {"DeleteAfterDays": 35},
            "copyActions": [{"destinationBackupVaultArn": central_vault, "lifecycle": {"DeleteAfterDays": 14}}],
        },
    )
    jobs = world.backup(source).list_copy_jobs(BySourceRecoveryPointArn=started["recoveryPointArn"])["CopyJobs"]
    assert len(jobs) == 1
    job = jobs[0]
    assert job["State"] == "COMPLETED"
    assert job["CreatedBy"]["BackupPlanId"] == started["createdBy"]["backupPlanId"]
    assert job["CreatedByBackupJobId"] == started["jobId"]
    assert job["DestinationRecoveryPointLifecycle"] == {"DeleteAfterDays": 14}
    # The copy's events follow the backup job's COMPLETED event, as in AWS.
    kinds = [
        (e["detail-type"], e["detail"].get("state") or e["detail"].get("status"))
        for e in control.ok("GET", f"/events?account={source}")["events"]
    ]
    assert kinds.index(("Backup Job State Change", "COMPLETED")) < kinds.index(("Copy Job State Change", "CREATED"))


def test_a_lone_minus_one_cold_setting_is_refused(world):
    # AWS documents -1 only as "remove the lifecycle" in both fields; crossvault sends both
    # fields with positive values (cold + 90) instead.
    account = world.fresh_account()
    vault = world.vault(account)
    point = world.efs_point(account, vault, Lifecycle={"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 365})
    backup = world.backup(account)
    refused = _error(
        lambda: backup.update_recovery_point_lifecycle(
            BackupVaultName=_name(vault),
            RecoveryPointArn=point,
            Lifecycle={"MoveToColdStorageAfterDays": -1, "DeleteAfterDays": 7},
        )
    )
    assert refused["Error"]["Code"] == "InvalidParameterValueException"
    kept = backup.update_recovery_point_lifecycle(
        BackupVaultName=_name(vault),
        RecoveryPointArn=point,
        Lifecycle={"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 120},
    )
    assert kept["Lifecycle"] == {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 120}

"""Backup, copy and restore jobs: their state machines, progress modes and events.

AWS runs a job asynchronously and reports each state change as an event. Here a job
is created in CREATED and then, by its owner account's mode:

- ``instant`` (the default): runs to its end at once, every state change still
  happening in order, each with its event;
- ``manual``: waits for the control API to advance it one state at a time;
- ``timed``: takes its steps at fixed moments of the test bed clock (a duration per
  kind of job, the steps spread evenly over it), when the clock of its scope reaches
  them: a control call moves the clock or ticks, and every Backup request ticks the
  caller's scope, so what a client reads is what AWS would show at that time.

The mode is chosen globally or per job-owning account so parallel tests do not
interfere.

A job's rules (vault policies, Vault Lock, organization settings) are checked when
it leaves CREATED, and its work (recovery point, copy, restored resource) is done
when it reaches COMPLETED; a violated rule or failed work makes the job FAILED with
a ``StatusMessage``, the way AWS reports such failures: the Start* call succeeds. A
failure injected through the control API takes effect when the job would complete.
"""

import heapq
import itertools
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from . import clock, events
from .clock import epoch, iso_millis
from .lifecycle import Lifecycle

CREATED, PENDING, RUNNING, COMPLETED, FAILED = "CREATED", "PENDING", "RUNNING", "COMPLETED", "FAILED"
TERMINAL = (COMPLETED, FAILED)

INSTANT, MANUAL, TIMED = "instant", "manual", "timed"
MODES = (INSTANT, MANUAL, TIMED)

# Test bed seconds from a job's creation to its end, per kind, in timed mode.
DEFAULT_DURATIONS = {"backup": 600.0, "copy": 1800.0, "restore": 1200.0}


@dataclass(frozen=True)
class Mode:
    name: str = INSTANT
    durations: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DURATIONS))


_mode_lock = threading.Lock()
_default_mode = Mode()
_mode_by_account: dict[str, Mode] = {}


def set_mode(mode: str, account_id: str | None = None, durations: dict[str, Any] | None = None) -> Mode:
    global _default_mode
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    chosen = dict(DEFAULT_DURATIONS)
    for kind, seconds in (durations or {}).items():
        if kind not in DEFAULT_DURATIONS:
            raise ValueError(f"durations: unknown job kind {kind!r} (one of {', '.join(DEFAULT_DURATIONS)})")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
            raise ValueError(f"durations.{kind} must be a number of seconds >= 0")
        chosen[kind] = float(seconds)
    value = Mode(mode, chosen)
    with _mode_lock:
        if account_id is None:
            _default_mode = value
        else:
            _mode_by_account[account_id] = value
    return value


def mode_of(account_id: str) -> Mode:
    with _mode_lock:
        return _mode_by_account.get(account_id, _default_mode)


def mode_for(account_id: str) -> str:
    return mode_of(account_id).name


class _Schedule:
    """Due steps of timed jobs, one heap per clock scope."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heaps: dict[str, list[tuple[datetime, int, "Job"]]] = {}
        self._sequence = itertools.count()

    def add(self, job: "Job") -> None:
        if job.next_due is None:
            return
        with self._lock:
            heapq.heappush(self._heaps.setdefault(job.scope, []), (job.next_due, next(self._sequence), job))

    def _live(self, scope: str) -> list[tuple[datetime, int, "Job"]]:
        heap = self._heaps.get(scope, [])
        # Entries go stale when a job is advanced or failed by hand.
        while heap and heap[0][2].next_due != heap[0][0]:
            heapq.heappop(heap)
        return heap

    def pop_due(self, scope: str, moment: datetime) -> "Job | None":
        with self._lock:
            heap = self._live(scope)
            if heap and heap[0][0] <= moment:
                return heapq.heappop(heap)[2]
            return None

    def next_due(self, scope: str) -> datetime | None:
        with self._lock:
            heap = self._live(scope)
            return heap[0][0] if heap else None

    def in_flight(self, scope: str) -> int:
        with self._lock:
            return len({id(job) for due, _, job in self._heaps.get(scope, []) if job.next_due == due})


SCHEDULE = _Schedule()


def tick(scope: str) -> int:
    """Take every step of the scope's timed jobs that is due by the scope's clock, in
    the order they fall due, each at the moment it was due. Returns the number of steps."""
    steps = 0
    while (job := SCHEDULE.pop_due(scope, clock.now_in(scope))) is not None:
        due = job.next_due
        assert due is not None
        with clock.in_scope(scope), clock.pinned(due):
            job.advance()
        SCHEDULE.add(job)
        steps += 1
    return steps


class JobFailure(Exception):
    """A rule or the job's work failed; the message becomes the job's StatusMessage."""


class JobRules(Protocol):
    """What a kind of job checks before it runs and does when it completes. The
    implementations live with the backends they need (``backend.py``)."""

    def check(self, job: Any) -> None:
        """Raise JobFailure if the job may not run."""

    def work(self, job: Any) -> None:
        """Produce the job's result; raise JobFailure if that fails."""

    def completed(self, job: Any) -> None:
        """What follows a COMPLETED job (a backup plan's copy actions)."""


def new_job_id() -> str:
    # AWS job ids are upper-case UUIDs; recovery point ARNs derived from them are lower-case.
    return str(uuid.uuid4()).upper()


@dataclass(kw_only=True)
class Job:
    job_id: str
    account_id: str
    region: str
    iam_role_arn: str
    resource_arn: str
    resource_type: str
    creation_date: datetime = field(default_factory=clock.now)
    state: str = CREATED
    status_message: str | None = None
    completion_date: datetime | None = None
    backup_size_in_bytes: int = 0
    rules: JobRules = field(repr=False, compare=False)
    # The request an IdempotencyToken was used with, to tell a retry from a misuse.
    request_fingerprint: str = ""
    # A StatusMessage the control API asked this job to fail with when it would complete.
    injected_failure: str | None = None
    # Timed mode: the moments of the remaining steps, and the clock scope they are read in.
    due_steps: list[datetime] = field(default_factory=list, repr=False, compare=False)
    scope: str = ""

    steps: ClassVar[tuple[str, ...]] = (CREATED, RUNNING, COMPLETED)
    detail_type: ClassVar[str]
    kind: ClassVar[str]

    def event_detail(self) -> dict[str, Any]:
        raise NotImplementedError

    def event_resources(self) -> list[str]:
        raise NotImplementedError

    # -- state machine -------------------------------------------------------

    @property
    def next_due(self) -> datetime | None:
        return self.due_steps[0] if self.due_steps and self.state not in TERMINAL else None

    def advance(self) -> None:
        """Move one state forward, running the rules on leaving CREATED and the work
        on reaching COMPLETED."""
        if self.state in TERMINAL:
            raise JobStateError(f"Job {self.job_id} is already {self.state}")
        if self.due_steps:
            self.due_steps.pop(0)
        target = self.steps[self.steps.index(self.state) + 1]
        try:
            if self.state == CREATED:
                self.rules.check(self)
            if target == COMPLETED:
                if self.injected_failure is not None:
                    raise JobFailure(self.injected_failure)
                self.rules.work(self)
        except JobFailure as failure:
            self.fail(str(failure))
            return
        self._enter(target)
        if target == COMPLETED:
            self.rules.completed(self)

    def fail(self, message: str) -> None:
        if self.state in TERMINAL:
            raise JobStateError(f"Job {self.job_id} is already {self.state}")
        self.status_message = message
        self.due_steps.clear()
        self._enter(FAILED)

    def run(self) -> None:
        """Announce the new job and, by its owner's mode, run it to its end now or
        schedule its steps on the test bed clock."""
        self._emit()
        mode = mode_of(self.account_id)
        if mode.name == INSTANT:
            while self.state not in TERMINAL:
                self.advance()
        elif mode.name == TIMED:
            duration = timedelta(seconds=mode.durations[self.kind])
            transitions = len(self.steps) - 1
            self.scope = clock.scope_of(self.account_id)
            self.due_steps = [self.creation_date + duration * k / transitions for k in range(1, transitions + 1)]
            SCHEDULE.add(self)

    def _enter(self, state: str) -> None:
        self.state = state
        if state in TERMINAL:
            self.completion_date = clock.now()
        self._emit()

    def _emit(self) -> None:
        events.emit(self.account_id, self.region, self.detail_type, self.event_resources(), self.event_detail())

    # -- API -----------------------------------------------------------------

    def common_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "AccountId": self.account_id,
            "ResourceArn": self.resource_arn,
            "ResourceType": self.resource_type,
            "ResourceName": self.resource_arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1],
            "IamRoleArn": self.iam_role_arn,
            "CreationDate": epoch(self.creation_date),
            "BackupSizeInBytes": self.backup_size_in_bytes,
            "IsParent": False,
        }
        if self.completion_date is not None:
            out["CompletionDate"] = epoch(self.completion_date)
        if self.status_message:
            out["StatusMessage"] = self.status_message
        return out


class JobStateError(Exception):
    """The control API asked for a transition a job cannot make."""


@dataclass(kw_only=True)
class BackupJob(Job):
    vault_name: str
    vault_arn: str
    recovery_point_arn: str
    lifecycle: Lifecycle
    encryption_key_arn: str | None
    recovery_point_tags: dict[str, str] = field(default_factory=dict)
    created_by: dict[str, str] | None = None
    continuous: bool = False
    # A backup plan rule's copy actions, started when the job COMPLETED (as AWS does).
    copy_actions: list[dict[str, Any]] = field(default_factory=list)
    detail_type: ClassVar[str] = events.BACKUP_JOB
    kind: ClassVar[str] = "backup"

    def percent_done(self) -> str:
        return "100.0" if self.state == COMPLETED else "0.0"

    def to_api(self) -> dict[str, Any]:
        out = self.common_api() | {
            "BackupJobId": self.job_id,
            "BackupVaultName": self.vault_name,
            "BackupVaultArn": self.vault_arn,
            "VaultType": "BACKUP_VAULT",
            "RecoveryPointArn": self.recovery_point_arn,
            "RecoveryPointLifecycle": self.lifecycle.to_api(),
            "IsEncrypted": True,
            "State": self.state,
            "PercentDone": self.percent_done(),
            "BytesTransferred": self.backup_size_in_bytes,
            "InitiationDate": epoch(self.creation_date),
            "BackupType": "",
        }
        if self.encryption_key_arn:
            out["EncryptionKeyArn"] = self.encryption_key_arn
        if self.created_by:
            out["CreatedBy"] = {
                "BackupPlanId": self.created_by["backupPlanId"],
                "BackupPlanArn": self.created_by["backupPlanArn"],
                "BackupPlanVersion": self.created_by["backupPlanVersion"],
                "BackupRuleId": self.created_by["backupPlanRuleId"],
            }
        return out

    def event_resources(self) -> list[str]:
        # The new recovery point is resources[0] once the job COMPLETED; before, the resource.
        return [self.recovery_point_arn if self.state == COMPLETED else self.resource_arn]

    def event_detail(self) -> dict[str, Any]:
        # Sizes are strings in backup-job events (AWS docs).
        detail: dict[str, Any] = {
            "backupJobId": self.job_id,
            "backupVaultName": self.vault_name,
            "backupVaultArn": self.vault_arn,
            "backupSizeInBytes": str(self.backup_size_in_bytes),
            "bytesTransferred": str(self.backup_size_in_bytes),
            "creationDate": iso_millis(self.creation_date),
            "iamRoleArn": self.iam_role_arn,
            "percentDone": self.percent_done(),
            "resourceArn": self.resource_arn,
            "resourceType": self.resource_type,
            "state": self.state,
        }
        if self.completion_date is not None:
            detail["completionDate"] = iso_millis(self.completion_date)
        if self.status_message:
            detail["statusMessage"] = self.status_message
        if self.created_by:
            detail["createdBy"] = dict(self.created_by)
        return detail


@dataclass(kw_only=True)
class CopyJob(Job):
    source_vault_arn: str
    source_recovery_point_arn: str
    destination_vault_arn: str
    lifecycle: Lifecycle
    destination_recovery_point_arn: str | None = None
    destination_encryption_key_arn: str | None = None
    # Set for a backup plan's copy action: the plan (RecoveryPointCreator) and its backup job.
    created_by: dict[str, str] | None = None
    created_by_backup_job_id: str | None = None
    detail_type: ClassVar[str] = events.COPY_JOB
    kind: ClassVar[str] = "copy"

    def to_api(self) -> dict[str, Any]:
        out = self.common_api() | {
            "CopyJobId": self.job_id,
            "SourceBackupVaultArn": self.source_vault_arn,
            "SourceRecoveryPointArn": self.source_recovery_point_arn,
            "DestinationBackupVaultArn": self.destination_vault_arn,
            "DestinationRecoveryPointLifecycle": self.lifecycle.to_api(),
            "DestinationVaultType": "BACKUP_VAULT",
            "State": self.state,
        }
        if self.destination_recovery_point_arn:
            out["DestinationRecoveryPointArn"] = self.destination_recovery_point_arn
        if self.destination_encryption_key_arn:
            out["DestinationEncryptionKeyArn"] = self.destination_encryption_key_arn
        if self.created_by:
            out["CreatedBy"] = {
                "BackupPlanId": self.created_by["backupPlanId"],
                "BackupPlanArn": self.created_by["backupPlanArn"],
                "BackupPlanVersion": self.created_by["backupPlanVersion"],
                "BackupRuleId": self.created_by["backupPlanRuleId"],
            }
        if self.created_by_backup_job_id:
            out["CreatedByBackupJobId"] = self.created_by_backup_job_id
        return out

    def event_resources(self) -> list[str]:
        return [self.source_recovery_point_arn]

    def event_detail(self) -> dict[str, Any]:
        vaults = {
            "sourceBackupVaultArn": self.source_vault_arn,
            "destinationBackupVaultArn": self.destination_vault_arn,
        }
        if self.state == CREATED:
            # The CREATED event carries only these four fields (AWS docs).
            return {"creationDate": iso_millis(self.creation_date), "state": self.state} | vaults
        # backupSizeInBytes is a number in copy-job events; the destination ARN is an
        # empty object until the copy COMPLETED.
        detail: dict[str, Any] = {
            "copyJobId": self.job_id,
            "backupSizeInBytes": self.backup_size_in_bytes,
            "creationDate": iso_millis(self.creation_date),
            "iamRoleArn": self.iam_role_arn,
            "resourceArn": self.resource_arn,
            "resourceType": self.resource_type,
            "state": self.state,
            **vaults,
            "destinationRecoveryPointArn": self.destination_recovery_point_arn if self.state == COMPLETED else {},
        }
        if self.state == COMPLETED and self.completion_date is not None:
            detail["completionDate"] = iso_millis(self.completion_date)
        if self.status_message:
            detail["statusMessage"] = self.status_message
        return detail


@dataclass(kw_only=True)
class RestoreJob(Job):
    recovery_point_arn: str
    vault_arn: str
    recovery_point_creation_date: datetime
    metadata: dict[str, str]
    copy_source_tags: bool = False
    created_resource_arn: str | None = None
    steps: ClassVar[tuple[str, ...]] = (CREATED, PENDING, RUNNING, COMPLETED)
    detail_type: ClassVar[str] = events.RESTORE_JOB
    kind: ClassVar[str] = "restore"

    def to_api(self) -> dict[str, Any]:
        out = self.common_api() | {
            "RestoreJobId": self.job_id,
            "RecoveryPointArn": self.recovery_point_arn,
            "SourceResourceArn": self.resource_arn,
            "BackupVaultArn": self.vault_arn,
            "Status": self.state,
            "PercentDone": "100.0" if self.state == COMPLETED else "0.0",
            "RecoveryPointCreationDate": epoch(self.recovery_point_creation_date),
        }
        for key in ("ResourceArn", "ResourceName"):
            out.pop(key)
        if self.created_resource_arn:
            out["CreatedResourceArn"] = self.created_resource_arn
        return out

    def event_resources(self) -> list[str]:
        return [self.recovery_point_arn]

    def event_detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "restoreJobId": self.job_id,
            "backupVaultArn": self.vault_arn,
            "recoveryPointArn": self.recovery_point_arn,
            "sourceResourceArn": self.resource_arn,
            "backupSizeInBytes": str(self.backup_size_in_bytes),
            "creationDate": iso_millis(self.creation_date),
            "percentDone": 100 if self.state == COMPLETED else 0,
            "iamRoleArn": self.iam_role_arn,
            "resourceType": self.resource_type,
        }
        # Restore events name their state "status", except in the CREATED event.
        detail["state" if self.state == CREATED else "status"] = self.state
        if self.completion_date is not None:
            detail["completionDate"] = iso_millis(self.completion_date)
        if self.created_resource_arn:
            detail["createdResourceArn"] = self.created_resource_arn
        if self.status_message:
            detail["statusMessage"] = self.status_message
        return detail

"""Backup, copy and restore jobs: their state machines, progress modes and events.

AWS runs a job asynchronously and reports each state change as an event. Here a job
is created in CREATED and then either runs to its end at once (``instant`` mode, the
default: every state change still happens, in order, each with its event) or waits
for the control API to advance it one state at a time (``manual`` mode, chosen
globally or per job-owning account so parallel tests do not interfere).

A job's rules (vault policies, Vault Lock, organization settings) are checked when
it leaves CREATED, and its work (recovery point, copy, restored resource) is done
when it reaches COMPLETED; a violated rule or failed work makes the job FAILED with
a ``StatusMessage``, the way AWS reports such failures: the Start* call succeeds.
"""

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from . import clock, events
from .clock import epoch, iso_millis
from .lifecycle import Lifecycle

CREATED, PENDING, RUNNING, COMPLETED, FAILED = "CREATED", "PENDING", "RUNNING", "COMPLETED", "FAILED"
TERMINAL = (COMPLETED, FAILED)

INSTANT, MANUAL = "instant", "manual"

_mode_lock = threading.Lock()
_default_mode = INSTANT
_mode_by_account: dict[str, str] = {}


def set_mode(mode: str, account_id: str | None = None) -> None:
    global _default_mode
    if mode not in (INSTANT, MANUAL):
        raise ValueError(f"mode must be {INSTANT!r} or {MANUAL!r}")
    with _mode_lock:
        if account_id is None:
            _default_mode = mode
        else:
            _mode_by_account[account_id] = mode


def mode_for(account_id: str) -> str:
    with _mode_lock:
        return _mode_by_account.get(account_id, _default_mode)


class JobFailure(Exception):
    """A rule or the job's work failed; the message becomes the job's StatusMessage."""


class JobRules(Protocol):
    """What a kind of job checks before it runs and does when it completes. The
    implementations live with the backends they need (``backend.py``)."""

    def check(self, job: Any) -> None:
        """Raise JobFailure if the job may not run."""

    def work(self, job: Any) -> None:
        """Produce the job's result; raise JobFailure if that fails."""


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

    steps: ClassVar[tuple[str, ...]] = (CREATED, RUNNING, COMPLETED)
    detail_type: ClassVar[str]

    def event_detail(self) -> dict[str, Any]:
        raise NotImplementedError

    def event_resources(self) -> list[str]:
        raise NotImplementedError

    # -- state machine -------------------------------------------------------

    def advance(self) -> None:
        """Move one state forward, running the rules on leaving CREATED and the work
        on reaching COMPLETED."""
        if self.state in TERMINAL:
            raise JobStateError(f"Job {self.job_id} is already {self.state}")
        target = self.steps[self.steps.index(self.state) + 1]
        try:
            if self.state == CREATED:
                self.rules.check(self)
            if target == COMPLETED:
                self.rules.work(self)
        except JobFailure as failure:
            self.fail(str(failure))
            return
        self._enter(target)

    def fail(self, message: str) -> None:
        if self.state in TERMINAL:
            raise JobStateError(f"Job {self.job_id} is already {self.state}")
        self.status_message = message
        self._enter(FAILED)

    def run(self) -> None:
        """Announce the new job and, in instant mode, run it to its end."""
        self._emit()
        if mode_for(self.account_id) == INSTANT:
            while self.state not in TERMINAL:
                self.advance()

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
    detail_type: ClassVar[str] = events.BACKUP_JOB

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
        # Sizes are strings in backup-job events (aws-facts §1).
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
    detail_type: ClassVar[str] = events.COPY_JOB

    def to_api(self) -> dict[str, Any]:
        out = self.common_api() | {
            "CopyJobId": self.job_id,
            "SourceBackupVaultArn": self.source_vault_arn,
            "SourceRecoveryPointArn": self.source_recovery_point_arn,
            "DestinationBackupVaultArn": self.destination_vault_arn,
            "DestinationRecoveryPointLifecycle": self.lifecycle.to_api(),
            "State": self.state,
        }
        if self.destination_recovery_point_arn:
            out["DestinationRecoveryPointArn"] = self.destination_recovery_point_arn
        return out

    def event_resources(self) -> list[str]:
        return [self.source_recovery_point_arn]

    def event_detail(self) -> dict[str, Any]:
        vaults = {
            "sourceBackupVaultArn": self.source_vault_arn,
            "destinationBackupVaultArn": self.destination_vault_arn,
        }
        if self.state == CREATED:
            # The CREATED event carries only these four fields (aws-facts §1).
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

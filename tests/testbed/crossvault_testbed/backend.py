"""moto's Backup backend, extended with recovery points, jobs, vault policies and settings.

One instance per account and region, like every moto backend: ``install()`` makes
moto's ``backup_backends`` build instances of :class:`ExtendedBackupBackend`, so the
vaults, plans and tags moto already manages share state with everything added here.
All entry points run under :data:`STATE_LOCK` (taken by the response and control
layers) because a single request may touch several accounts' backends.
"""

import base64
import json
import threading
from datetime import timedelta
from typing import Any

from moto.backup import urls as backup_urls
from moto.backup.models import BackupBackend, Vault

from . import clock, events, faults, managed_keys, policy, resources, settings
from .backends import all_backends
from .errors import (
    InvalidParameterValue,
    InvalidRequest,
    MissingParameterValue,
    ResourceNotFound,
)
from .job_rules import BACKUP_RULES, COPY_RULES, RESTORE_RULES
from .jobs import BackupJob, CopyJob, Job, RestoreJob, new_job_id
from .lifecycle import Lifecycle
from .recovery_points import COLD, WARM, RecoveryPoint

STATE_LOCK = threading.RLock()

# Types whose backups have no cold tier: AWS ignores MoveToColdStorageAfterDays for them.
NO_COLD_TIER = {"RDS", "Aurora", "DocumentDB", "Neptune"}


class ExtendedBackupBackend(BackupBackend):
    @property
    def _url_module(self) -> Any:
        # moto derives the URL module from the backend class's module name.
        return backup_urls

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.recovery_points: dict[str, RecoveryPoint] = {}
        self.vault_policies: dict[str, tuple[str, dict[str, Any]]] = {}
        self.backup_jobs: dict[str, BackupJob] = {}
        self.copy_jobs: dict[str, CopyJob] = {}
        self.restore_jobs: dict[str, RestoreJob] = {}
        # (operation, IdempotencyToken) -> the job the token started
        self.idempotency: dict[tuple[str, str], Job] = {}
        self.region_settings = settings.RegionSettings()

    # -- vaults ----------------------------------------------------------------

    def vault(self, name: str) -> Vault:
        if name not in self.vaults:
            raise ResourceNotFound(f"Backup vault {name} does not exist in {self.account_id} {self.region_name}")
        return self.vaults[name]

    def vault_api(self, vault: Vault) -> dict[str, Any]:
        out: dict[str, Any] = {
            "BackupVaultName": vault.backup_vault_name,
            "BackupVaultArn": vault.backup_vault_arn,
            "VaultType": "BACKUP_VAULT",
            "VaultState": "AVAILABLE",
            "CreationDate": vault.creation_date,
            "NumberOfRecoveryPoints": len(self.points_in(vault.backup_vault_name)),
            "Locked": vault.locked,
        }
        optional = {
            "EncryptionKeyArn": vault.encryption_key_arn,
            "CreatorRequestId": vault.creator_request_id,
            "MinRetentionDays": vault.min_retention_days,
            "MaxRetentionDays": vault.max_retention_days,
            "LockDate": vault.lock_date,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    def delete_backup_vault(self, backup_vault_name: str) -> None:
        self.vault(backup_vault_name)
        if self.points_in(backup_vault_name):
            raise InvalidRequest("Backup vault cannot be deleted because it contains recovery points")
        self.vault_policies.pop(backup_vault_name, None)
        super().delete_backup_vault(backup_vault_name)

    def put_backup_vault_lock_configuration(
        self,
        backup_vault_name: str,
        min_retention_days: int | None,
        max_retention_days: int | None,
        changeable_for_days: int | None,
    ) -> None:
        # moto's version reads the wall clock; the cooling-off must follow the test bed clock.
        vault = self.vault(backup_vault_name)
        self._refuse_if_lock_immutable(vault, "modified")
        if min_retention_days is not None and min_retention_days < 1:
            raise InvalidParameterValue("MinRetentionDays must be at least 1 day")
        if max_retention_days is not None and max_retention_days > 36500:
            raise InvalidParameterValue("MaxRetentionDays cannot exceed 36500 days")
        if None not in (min_retention_days, max_retention_days) and min_retention_days > max_retention_days:  # type: ignore[operator]
            raise InvalidParameterValue("MinRetentionDays cannot be greater than MaxRetentionDays")
        if changeable_for_days is not None and changeable_for_days < 3:
            raise InvalidParameterValue("ChangeableForDays must be at least 3 days")
        vault.locked = True
        vault.min_retention_days = min_retention_days
        vault.max_retention_days = max_retention_days
        vault.changeable_for_days = changeable_for_days
        vault.lock_date = (
            clock.epoch(clock.now() + timedelta(days=changeable_for_days)) if changeable_for_days is not None else None
        )

    def delete_backup_vault_lock_configuration(self, backup_vault_name: str) -> None:
        vault = self.vault(backup_vault_name)
        self._refuse_if_lock_immutable(vault, "deleted")
        vault.locked = False
        vault.min_retention_days = None
        vault.max_retention_days = None
        vault.lock_date = None
        vault.changeable_for_days = None

    @staticmethod
    def _refuse_if_lock_immutable(vault: Vault, verb: str) -> None:
        # Compliance mode: once the LockDate has passed, nobody can change or remove the lock.
        if vault.lock_date is not None and clock.epoch(clock.now()) >= vault.lock_date:
            raise InvalidRequest(
                f"Backup vault {vault.backup_vault_name} is locked in compliance mode; "
                f"the Vault Lock configuration is immutable and cannot be {verb}"
            )

    def end_lock_cooling_off(self, backup_vault_name: str) -> None:
        """Control API: make a compliance lock's LockDate pass now."""
        vault = self.vault(backup_vault_name)
        if vault.changeable_for_days is None:
            raise InvalidRequest(f"Backup vault {backup_vault_name} has no compliance-mode lock")
        vault.lock_date = clock.epoch(clock.now())

    # -- vault access policies ------------------------------------------------------

    def put_vault_policy(self, vault_name: str, document: str | None) -> None:
        self.vault(vault_name)
        if not document:
            raise MissingParameterValue("Policy is required")
        try:
            parsed = policy.parse(document)
        except policy.PolicyError as exc:
            raise InvalidParameterValue(str(exc)) from exc
        self.vault_policies[vault_name] = (document, parsed)

    def get_vault_policy(self, vault_name: str) -> str:
        self.vault(vault_name)
        if vault_name not in self.vault_policies:
            raise ResourceNotFound(f"Backup vault {vault_name} has no access policy")
        return self.vault_policies[vault_name][0]

    def delete_vault_policy(self, vault_name: str) -> None:
        self.vault(vault_name)
        self.vault_policies.pop(vault_name, None)

    def parsed_policy(self, vault_name: str) -> dict[str, Any] | None:
        entry = self.vault_policies.get(vault_name)
        return entry[1] if entry else None

    # -- recovery points --------------------------------------------------------------

    def points_in(self, vault_name: str) -> list[RecoveryPoint]:
        return [p for p in self.recovery_points.values() if p.vault_name == vault_name]

    def point(self, vault_name: str, arn: str) -> RecoveryPoint:
        self.vault(vault_name)
        found = self.recovery_points.get(arn)
        if found is None or found.vault_name != vault_name:
            raise ResourceNotFound(f"Recovery point {arn} not found in backup vault {vault_name}")
        return found

    def add_point(self, point: RecoveryPoint, tags: dict[str, str]) -> None:
        self.recovery_points[point.arn] = point
        if tags:
            self.tag_resource(point.arn, tags)
        events.emit(point.account_id, point.region, events.RECOVERY_POINT, [point.arn], point.state_change_detail())

    def update_lifecycle(self, vault_name: str, arn: str, lifecycle: dict[str, Any] | None) -> RecoveryPoint:
        if lifecycle is None:
            raise MissingParameterValue("Lifecycle is required")
        point = self.point(vault_name, arn)
        if self.vault(vault_name).locked:
            # AWS docs: the lock "prevents attempts to update the lifecycle"; the error
            # code is an assumption (VERIFY #2).
            raise InvalidRequest(
                f"Backup vault {vault_name} is protected by Vault Lock; the lifecycle of its recovery points cannot be updated"
            )
        if point.continuous:
            raise InvalidRequest("UpdateRecoveryPointLifecycle does not support continuous backups")
        new = Lifecycle.from_api(lifecycle)
        if (
            point.storage_class == COLD
            and new.move_to_cold_storage_after_days != point.lifecycle.move_to_cold_storage_after_days
        ):
            raise InvalidParameterValue(
                "MoveToColdStorageAfterDays cannot be changed after the recovery point moved to cold storage"
            )
        point.lifecycle = new
        return point

    def delete_point(self, vault_name: str, arn: str) -> None:
        point = self.point(vault_name, arn)
        if self.vault(vault_name).locked:
            raise InvalidRequest(
                f"Backup vault {vault_name} is protected by Vault Lock; its recovery points cannot be deleted"
            )
        self._remove_point(point)

    def _remove_point(self, point: RecoveryPoint) -> None:
        del self.recovery_points[point.arn]
        self.tagger.delete_all_tags_for_resource(point.arn)
        if point.rds_snapshot_id:
            resources.delete_rds_backup(self.account_id, self.region_name, point.rds_snapshot_id)

    def sweep_lifecycle(self) -> dict[str, int]:
        """Apply due lifecycle transitions, as AWS's lifecycle process does in the background:
        move points to cold storage and delete expired ones."""
        moved = deleted = 0
        now = clock.now_in(clock.scope_of(self.account_id))
        for point in list(self.recovery_points.values()):
            if (delete_at := point.lifecycle.delete_at(point.creation_date)) and delete_at <= now:
                self._remove_point(point)
                deleted += 1
            elif (
                point.storage_class == WARM
                and point.resource_type not in NO_COLD_TIER
                and (cold_at := point.lifecycle.cold_at(point.creation_date))
                and cold_at <= now
            ):
                point.storage_class = COLD
                moved += 1
        return {"movedToCold": moved, "deleted": deleted}

    def restore_metadata(self, vault_name: str, arn: str) -> tuple[Vault, RecoveryPoint]:
        return self.vault(vault_name), self.point(vault_name, arn)

    # -- jobs ----------------------------------------------------------------------------

    def _idempotent(self, operation: str, token: str | None, fingerprint: str) -> Job | None:
        if not token:
            return None
        earlier = self.idempotency.get((operation, token))
        if earlier is None:
            return None
        if earlier.request_fingerprint != fingerprint:
            raise InvalidRequest(f"IdempotencyToken {token} was already used with different parameters")
        return earlier

    def _remember(self, operation: str, token: str | None, job: Job) -> None:
        if token:
            self.idempotency[(operation, token)] = job

    def start_backup_job(
        self,
        params: dict[str, Any],
        created_by: dict[str, str] | None = None,
        continuous: bool = False,
        copy_actions: list[dict[str, Any]] | None = None,
    ) -> BackupJob:
        _require(params, "BackupVaultName", "ResourceArn", "IamRoleArn")
        token = params.get("IdempotencyToken")
        fingerprint = _fingerprint(params)
        if (earlier := self._idempotent("StartBackupJob", token, fingerprint)) is not None:
            return earlier  # type: ignore[return-value]
        vault = self.vault(params["BackupVaultName"])
        resource_arn = params["ResourceArn"]
        resource_type = resources.resource_type_of(resource_arn)
        arn = resources.parse_arn(resource_arn)
        if (arn.account_id, arn.region) != (self.account_id, self.region_name):
            raise InvalidParameterValue(
                f"Resource {resource_arn} is not in account {self.account_id} and region {self.region_name}"
            )
        job_id = new_job_id()
        if continuous:
            rp_arn = resources.continuous_recovery_point_arn(self.region_name, self.account_id, resource_arn)
        elif resource_type == "RDS":
            rp_arn = resources.rds_snapshot_arn(self.region_name, self.account_id, f"awsbackup:job-{job_id.lower()}")
        else:
            rp_arn = resources.backup_recovery_point_arn(self.region_name, self.account_id)
        job = BackupJob(
            job_id=job_id,
            account_id=self.account_id,
            region=self.region_name,
            iam_role_arn=params["IamRoleArn"],
            resource_arn=resource_arn,
            resource_type=resource_type,
            vault_name=vault.backup_vault_name,
            vault_arn=vault.backup_vault_arn,
            recovery_point_arn=rp_arn,
            lifecycle=Lifecycle.from_api(params.get("Lifecycle")),
            # RDS and Aurora backups keep the DB's own key (not fully managed by AWS Backup).
            encryption_key_arn=managed_keys.backup_key(
                self.account_id, self.region_name, resource_arn, resource_type, vault.encryption_key_arn
            ),
            recovery_point_tags=dict(params.get("RecoveryPointTags") or {}),
            created_by=created_by,
            continuous=continuous,
            copy_actions=list(copy_actions or []),
            rules=BACKUP_RULES,
            request_fingerprint=fingerprint,
        )
        self.backup_jobs[job_id] = job
        self._remember("StartBackupJob", token, job)
        job.run()
        return job

    def start_copy_job(
        self,
        params: dict[str, Any],
        created_by: dict[str, str] | None = None,
        created_by_backup_job_id: str | None = None,
    ) -> CopyJob:
        _require(params, "RecoveryPointArn", "SourceBackupVaultName", "DestinationBackupVaultArn", "IamRoleArn")
        token = params.get("IdempotencyToken")
        fingerprint = _fingerprint(params)
        if (earlier := self._idempotent("StartCopyJob", token, fingerprint)) is not None:
            return earlier  # type: ignore[return-value]
        source_vault = self.vault(params["SourceBackupVaultName"])
        source = self.point(source_vault.backup_vault_name, params["RecoveryPointArn"])
        destination = resources.parse_vault_arn(params["DestinationBackupVaultArn"])
        if source.continuous:
            raise InvalidRequest("StartCopyJob does not support continuous backups")
        crosses = (destination.account_id, destination.region) != (self.account_id, self.region_name)
        if source.storage_class == COLD and crosses:
            raise InvalidRequest("Recovery points in cold storage cannot be copied across Regions or accounts")
        lifecycle = Lifecycle.from_api(params["Lifecycle"]) if params.get("Lifecycle") else source.lifecycle
        job = CopyJob(
            job_id=new_job_id(),
            account_id=self.account_id,
            region=self.region_name,
            iam_role_arn=params["IamRoleArn"],
            resource_arn=source.resource_arn,
            resource_type=source.resource_type,
            source_vault_arn=source_vault.backup_vault_arn,
            source_recovery_point_arn=source.arn,
            destination_vault_arn=params["DestinationBackupVaultArn"],
            lifecycle=lifecycle,
            created_by=created_by,
            created_by_backup_job_id=created_by_backup_job_id,
            rules=COPY_RULES,
            request_fingerprint=fingerprint,
            injected_failure=faults.copy_failure_for(self.account_id, params["DestinationBackupVaultArn"]),
        )
        self.copy_jobs[job.job_id] = job
        self._remember("StartCopyJob", token, job)
        job.run()
        return job

    def start_restore_job(self, params: dict[str, Any]) -> RestoreJob:
        _require(params, "RecoveryPointArn", "Metadata")
        token = params.get("IdempotencyToken")
        fingerprint = _fingerprint(params)
        if (earlier := self._idempotent("StartRestoreJob", token, fingerprint)) is not None:
            return earlier  # type: ignore[return-value]
        point = self.recovery_points.get(params["RecoveryPointArn"])
        if point is None:
            # StartRestoreJob restores only from a vault of the caller's account and Region.
            raise ResourceNotFound(f"Recovery point {params['RecoveryPointArn']} not found")
        if params.get("ResourceType") and params["ResourceType"] != point.resource_type:
            raise InvalidParameterValue(
                f"ResourceType {params['ResourceType']} does not match the recovery point's type {point.resource_type}"
            )
        job = RestoreJob(
            job_id=new_job_id(),
            account_id=self.account_id,
            region=self.region_name,
            iam_role_arn=params.get("IamRoleArn") or "",
            resource_arn=point.resource_arn,
            resource_type=point.resource_type,
            recovery_point_arn=point.arn,
            vault_arn=point.vault_arn,
            recovery_point_creation_date=point.creation_date,
            metadata={k: str(v) for k, v in params["Metadata"].items()},
            copy_source_tags=bool(params.get("CopySourceTagsToRestoredResource")),
            backup_size_in_bytes=point.backup_size_in_bytes,
            rules=RESTORE_RULES,
            request_fingerprint=fingerprint,
        )
        self.restore_jobs[job.job_id] = job
        self._remember("StartRestoreJob", token, job)
        job.run()
        return job

    def job(self, table: dict[str, Any], job_id: str, kind: str) -> Any:
        if job_id not in table:
            raise ResourceNotFound(f"{kind} job {job_id} not found")
        return table[job_id]


def _require(params: dict[str, Any], *names: str) -> None:
    for name in names:
        if params.get(name) in (None, ""):
            raise MissingParameterValue(f"{name} is required")


def _fingerprint(params: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in params.items() if k != "IdempotencyToken"}, sort_keys=True)


# -- listings ---------------------------------------------------------------------------------


def paginate(items: list[Any], next_token: str | None, max_results: str | None) -> tuple[list[Any], str | None]:
    """Newest-first pages with an opaque offset token."""
    limit = 1000
    if max_results is not None:
        try:
            limit = int(max_results)
        except ValueError:
            raise InvalidParameterValue("MaxResults must be an integer") from None
        if not 1 <= limit <= 1000:
            raise InvalidParameterValue("MaxResults must be between 1 and 1000")
    start = 0
    if next_token:
        try:
            start = int(base64.urlsafe_b64decode(next_token.encode()).decode().removeprefix("offset:"))
        except ValueError:
            raise InvalidParameterValue("Invalid NextToken") from None
    page = items[start : start + limit]
    end = start + len(page)
    token = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else None
    return page, token


def find_job(job_id: str) -> Job:
    for backend in all_backends():
        for table in (backend.backup_jobs, backend.copy_jobs, backend.restore_jobs):
            if job_id in table:
                return table[job_id]
    raise ResourceNotFound(f"Job {job_id} not found")

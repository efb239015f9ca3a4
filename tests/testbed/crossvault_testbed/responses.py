"""rest-json handlers for the AWS Backup operations the test bed adds to moto.

moto resolves an incoming request to an operation name from botocore's service model
(method + URI) and calls the snake_case method of that name on the response class;
:mod:`crossvault_testbed.install` routes every Backup URL to this subclass.
"""

import json
from typing import Any
from urllib.parse import unquote

from moto.backup.responses import BackupResponse
from moto.core.responses import BaseResponse

from . import clock, events, faults, jobs, requestlog, settings
from .backend import STATE_LOCK, ExtendedBackupBackend, paginate
from .errors import BackupError, InvalidParameterValue
from .jobs import Job

# moto's own dispatch, before install() wraps it with the request log for every service.
ORIGINAL_CALL_ACTION = BaseResponse.call_action


class ExtendedBackupResponse(BackupResponse):
    @property
    def backup_backend(self) -> ExtendedBackupBackend:  # type: ignore[override]
        return super().backup_backend  # type: ignore[return-value]

    def call_action(self):  # type: ignore[no-untyped-def]
        account, region, operation = self.current_account, self.region, self._get_action()
        # One request can read and write several accounts' backends (a copy job).
        with STATE_LOCK:
            scope = clock.scope_of(account)
            with clock.in_scope(scope):
                entry = requestlog.record(
                    "backup", operation, account, region, requestlog.token_of(self.body), requestlog.app_of(self.headers)
                )
                # What the caller reads is what AWS would show at the scope's time.
                jobs.tick(scope)
                error = faults.api_fault_for(operation, account, region)
                if error is None and faults.throttled(operation, account, region):
                    error = faults.throttling_error()
                if error is not None:
                    status, headers, body = self._error_response(error)
                else:
                    status, headers, body = ORIGINAL_CALL_ACTION(self)
        requestlog.finish(entry, status, headers)
        return status, headers, body

    def _error_response(self, error: BackupError):  # type: ignore[no-untyped-def]
        headers = dict(self.response_headers)
        headers.update(dict(error.get_headers()))
        headers["status"] = str(error.code)
        return error.code, headers, error.description

    # -- request helpers ---------------------------------------------------------------

    def _uri(self, name: str) -> str:
        assert self.uri_match is not None
        return unquote(self.uri_match.group(name))

    def _json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            body = json.loads(self.body)
        except ValueError:
            raise InvalidParameterValue("Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise InvalidParameterValue("Request body must be a JSON object")
        return body

    def _query(self, name: str) -> str | None:
        values = self.querystring.get(name)
        return values[0] if values else None

    @staticmethod
    def _out(value: dict[str, Any]) -> str:
        return json.dumps(value)

    def _page(self, items: list[Any], key: str) -> str:
        page, token = paginate(items, self._query("nextToken"), self._query("maxResults"))
        out: dict[str, Any] = {key: page}
        if token:
            out["NextToken"] = token
        return self._out(out)

    def _time_filter(self, name: str):  # type: ignore[no-untyped-def]
        value = self._query(name)
        if value is None:
            return None
        try:
            return clock.parse_timestamp(value)
        except ValueError:
            raise InvalidParameterValue(f"Invalid timestamp for {name}: {value}") from None

    def _job_filters(self, jobs: list[Job], state_attr: str = "state", state_param: str = "state") -> list[Job]:
        created_after = self._time_filter("createdAfter")
        created_before = self._time_filter("createdBefore")
        complete_after = self._time_filter("completeAfter")
        complete_before = self._time_filter("completeBefore")
        wanted = {
            "account_id": self._query("accountId"),
            "resource_type": self._query("resourceType"),
            state_attr: self._query(state_param),
        }
        selected = []
        for job in jobs:
            if any(v is not None and getattr(job, k) != v for k, v in wanted.items()):
                continue
            if created_after and job.creation_date <= created_after:
                continue
            if created_before and job.creation_date >= created_before:
                continue
            if (complete_after or complete_before) and job.completion_date is None:
                continue
            if complete_after and job.completion_date <= complete_after:  # type: ignore[operator]
                continue
            if complete_before and job.completion_date >= complete_before:  # type: ignore[operator]
                continue
            selected.append(job)
        return sorted(selected, key=lambda j: j.creation_date, reverse=True)

    # -- vaults -------------------------------------------------------------------------

    def describe_backup_vault(self) -> str:  # type: ignore[override]
        backend = self.backup_backend
        return self._out(backend.vault_api(backend.vault(self._uri("backupVaultName"))))

    def list_backup_vaults(self) -> str:
        backend = self.backup_backend
        return self._page([backend.vault_api(v) for v in backend.vaults.values()], "BackupVaultList")

    def put_backup_vault_access_policy(self) -> str:
        self.backup_backend.put_vault_policy(self._uri("backupVaultName"), self._json().get("Policy"))
        return ""

    def get_backup_vault_access_policy(self) -> str:
        backend = self.backup_backend
        name = self._uri("backupVaultName")
        document = backend.get_vault_policy(name)
        return self._out(
            {"BackupVaultName": name, "BackupVaultArn": backend.vault(name).backup_vault_arn, "Policy": document}
        )

    def delete_backup_vault_access_policy(self) -> str:
        self.backup_backend.delete_vault_policy(self._uri("backupVaultName"))
        return ""

    # -- recovery points -----------------------------------------------------------------

    def list_recovery_points_by_backup_vault(self) -> str:
        backend = self.backup_backend
        points = backend.points_in(backend.vault(self._uri("backupVaultName")).backup_vault_name)
        resource_arn, resource_type = self._query("resourceArn"), self._query("resourceType")
        plan_id = self._query("backupPlanId")
        after, before = self._time_filter("createdAfter"), self._time_filter("createdBefore")
        selected = [
            p
            for p in points
            if (resource_arn is None or p.resource_arn == resource_arn)
            and (resource_type is None or p.resource_type == resource_type)
            and (plan_id is None or (p.created_by or {}).get("backupPlanId") == plan_id)
            and (after is None or p.creation_date > after)
            and (before is None or p.creation_date < before)
        ]
        selected.sort(key=lambda p: p.creation_date, reverse=True)
        return self._page([p.to_api() for p in selected], "RecoveryPoints")

    def list_recovery_points_by_resource(self) -> str:
        resource_arn = self._uri("resourceArn")
        points = [p for p in self.backup_backend.recovery_points.values() if p.resource_arn == resource_arn]
        points.sort(key=lambda p: p.creation_date, reverse=True)
        return self._page([p.to_by_resource_api() for p in points], "RecoveryPoints")

    def describe_recovery_point(self) -> str:
        point = self.backup_backend.point(self._uri("backupVaultName"), self._uri("recoveryPointArn"))
        return self._out(point.to_api())

    def update_recovery_point_lifecycle(self) -> str:
        point = self.backup_backend.update_lifecycle(
            self._uri("backupVaultName"), self._uri("recoveryPointArn"), self._json().get("Lifecycle")
        )
        return self._out(
            {
                "BackupVaultArn": point.vault_arn,
                "RecoveryPointArn": point.arn,
                "Lifecycle": point.lifecycle.to_api(),
                "CalculatedLifecycle": point.lifecycle.calculated_api(point.creation_date),
            }
        )

    def delete_recovery_point(self) -> str:
        self.backup_backend.delete_point(self._uri("backupVaultName"), self._uri("recoveryPointArn"))
        return ""

    def get_recovery_point_restore_metadata(self) -> str:
        vault, point = self.backup_backend.restore_metadata(self._uri("backupVaultName"), self._uri("recoveryPointArn"))
        return self._out(
            {
                "BackupVaultArn": vault.backup_vault_arn,
                "RecoveryPointArn": point.arn,
                "ResourceType": point.resource_type,
                "RestoreMetadata": dict(point.restore_metadata),
            }
        )

    # -- jobs ------------------------------------------------------------------------------

    def start_backup_job(self) -> str:
        job = self.backup_backend.start_backup_job(self._json())
        return self._out(
            {
                "BackupJobId": job.job_id,
                "RecoveryPointArn": job.recovery_point_arn,
                "CreationDate": clock.epoch(job.creation_date),
                "IsParent": False,
            }
        )

    def describe_backup_job(self) -> str:
        backend = self.backup_backend
        return self._out(backend.job(backend.backup_jobs, self._uri("backupJobId"), "Backup").to_api())

    def list_backup_jobs(self) -> str:
        jobs = self._job_filters(list(self.backup_backend.backup_jobs.values()))
        vault, resource_arn = self._query("backupVaultName"), self._query("resourceArn")
        jobs = [
            j
            for j in jobs
            if (vault is None or j.vault_name == vault) and (resource_arn is None or j.resource_arn == resource_arn)
        ]
        return self._page([j.to_api() for j in jobs], "BackupJobs")

    def start_copy_job(self) -> str:
        job = self.backup_backend.start_copy_job(self._json())
        return self._out({"CopyJobId": job.job_id, "CreationDate": clock.epoch(job.creation_date), "IsParent": False})

    def describe_copy_job(self) -> str:
        backend = self.backup_backend
        return self._out({"CopyJob": backend.job(backend.copy_jobs, self._uri("copyJobId"), "Copy").to_api()})

    def list_copy_jobs(self) -> str:
        jobs = self._job_filters(list(self.backup_backend.copy_jobs.values()))
        destination, resource_arn = self._query("destinationVaultArn"), self._query("resourceArn")
        source_point = self._query("sourceRecoveryPointArn")
        jobs = [
            j
            for j in jobs
            if (destination is None or j.destination_vault_arn == destination)
            and (resource_arn is None or j.resource_arn == resource_arn)
            and (source_point is None or j.source_recovery_point_arn == source_point)
        ]
        return self._page([j.to_api() for j in jobs], "CopyJobs")

    def start_restore_job(self) -> str:
        job = self.backup_backend.start_restore_job(self._json())
        return self._out({"RestoreJobId": job.job_id})

    def describe_restore_job(self) -> str:
        backend = self.backup_backend
        return self._out(backend.job(backend.restore_jobs, self._uri("restoreJobId"), "Restore").to_api())

    def list_restore_jobs(self) -> str:
        jobs = self._job_filters(list(self.backup_backend.restore_jobs.values()), state_param="status")
        return self._page([j.to_api() for j in jobs], "RestoreJobs")

    # -- settings ------------------------------------------------------------------------------

    def describe_region_settings(self) -> str:
        current = self.backup_backend.region_settings
        return self._out(
            {
                "ResourceTypeOptInPreference": dict(current.opt_in),
                "ResourceTypeManagementPreference": dict(current.management),
            }
        )

    def update_region_settings(self) -> str:
        body = self._json()
        opt_in = body.get("ResourceTypeOptInPreference")
        management = body.get("ResourceTypeManagementPreference")
        self.backup_backend.region_settings.update(opt_in, management)
        detail: dict[str, Any] = {"modifiedAt": clock.iso_millis(clock.now()), "state": "MODIFIED"}
        if opt_in is not None:
            detail["ResourceTypeOptInPreference"] = opt_in
        if management is not None:
            detail["ResourceTypeManagementPreference"] = management
        events.emit(self.current_account, self.region, events.REGION_SETTING, [], detail)
        return ""

    def describe_global_settings(self) -> str:
        current = settings.describe_global(self.current_account)
        out: dict[str, Any] = {"GlobalSettings": dict(current.values)}
        if current.last_update is not None:
            out["LastUpdateTime"] = clock.epoch(current.last_update)
        return self._out(out)

    def update_global_settings(self) -> str:
        settings.update_global(self.current_account, self._json().get("GlobalSettings"))
        return ""

"""What each kind of job checks before it runs and does when it completes.

The checks are AWS Backup's rules for where a recovery point may go (organization
membership, the cross-account global setting, source and destination vault access
policies, Vault Lock retention ranges); the work creates the recovery point, the copy
(in the destination account and Region) or the restored resource.
"""

from moto.backup.models import Vault

from . import clock, managed_keys, organization, policy, resources, restores, settings
from .backends import backend_for
from .jobs import BackupJob, CopyJob, Job, JobFailure, RestoreJob
from .lifecycle import Lifecycle
from .recovery_points import RecoveryPoint

DEFAULT_BACKUP_SIZE = 1_048_576


def retention_violation(vault: Vault, lifecycle: Lifecycle) -> str | None:
    """Why a new point with this lifecycle may not enter a locked vault, if it may not."""
    if not vault.locked:
        return None
    days = lifecycle.delete_after_days
    low, high = vault.min_retention_days, vault.max_retention_days
    if low is not None and days is not None and days < low:
        return f"The retention period ({days} days) is shorter than the backup vault's Vault Lock minimum retention ({low} days)"
    if high is not None and (days is None or days > high):
        retention = "unlimited" if days is None else f"{days} days"
        return f"The retention period ({retention}) is longer than the backup vault's Vault Lock maximum retention ({high} days)"
    return None


def _point_from_job(job: BackupJob, rds_snapshot_id: str | None, metadata: dict[str, str]) -> RecoveryPoint:
    now = clock.now()
    return RecoveryPoint(
        arn=job.recovery_point_arn,
        account_id=job.account_id,
        region=job.region,
        vault_name=job.vault_name,
        vault_arn=job.vault_arn,
        resource_arn=job.resource_arn,
        resource_type=job.resource_type,
        iam_role_arn=job.iam_role_arn,
        creation_date=job.creation_date,
        completion_date=now,
        lifecycle=job.lifecycle,
        encryption_key_arn=job.encryption_key_arn,
        backup_size_in_bytes=job.backup_size_in_bytes,
        created_by=job.created_by,
        continuous=job.continuous,
        rds_snapshot_id=rds_snapshot_id,
        restore_metadata=metadata,
    )


class _BackupRules:
    def check(self, job: BackupJob) -> None:
        backend = backend_for(job.account_id, job.region)
        vault = backend.vaults.get(job.vault_name)
        if vault is None:
            raise JobFailure(f"Backup vault {job.vault_name} no longer exists")
        if (violation := retention_violation(vault, job.lifecycle)) is not None:
            raise JobFailure(violation)

    def work(self, job: BackupJob) -> None:
        backend = backend_for(job.account_id, job.region)
        job.backup_size_in_bytes = DEFAULT_BACKUP_SIZE
        snapshot_id = None
        if job.resource_type == "RDS" and not job.continuous:
            snapshot_id = resources.snapshot_id_from_arn(job.recovery_point_arn)
            try:
                metadata = resources.create_rds_backup(
                    job.account_id, job.region, job.resource_arn, snapshot_id, job.encryption_key_arn
                )
            except resources.ResourceFailure as exc:
                raise JobFailure(str(exc)) from exc
        else:
            try:
                captured = restores.backup_metadata(job.resource_type, job.account_id, job.region, job.resource_arn)
            except resources.ResourceFailure as exc:
                raise JobFailure(str(exc)) from exc
            metadata = captured or resources.generic_restore_metadata(job.resource_type, job.resource_arn)
        # AWS Backup copies the resource's tags to its recovery point (VERIFY); the job's
        # RecoveryPointTags come on top.
        tags = restores.resource_tags(job.account_id, job.region, job.resource_arn) | job.recovery_point_tags
        if snapshot_id:
            restores.tag_snapshot(job.account_id, job.region, snapshot_id, tags)
        backend.add_point(_point_from_job(job, snapshot_id, metadata), tags)

    def completed(self, job: BackupJob) -> None:
        # A backup plan rule's copy actions start when its backup job completed, in the
        # backup's account and Region, with the plan's role; the copy job carries CreatedBy.
        if not job.copy_actions:
            return
        backend = backend_for(job.account_id, job.region)
        for action in job.copy_actions:
            params = {
                "RecoveryPointArn": job.recovery_point_arn,
                "SourceBackupVaultName": job.vault_name,
                "DestinationBackupVaultArn": action["DestinationBackupVaultArn"],
                "IamRoleArn": job.iam_role_arn,
            }
            if action.get("Lifecycle"):
                params["Lifecycle"] = action["Lifecycle"]
            backend.start_copy_job(params, created_by=job.created_by, created_by_backup_job_id=job.job_id)


class _CopyRules:
    def check(self, job: CopyJob) -> None:
        source_backend = backend_for(job.account_id, job.region)
        destination = resources.parse_vault_arn(job.destination_vault_arn)
        destination_vault = backend_for(destination.account_id, destination.region).vaults.get(destination.vault_name)
        if destination_vault is None:
            raise JobFailure(f"Destination backup vault {job.destination_vault_arn} does not exist")
        caller = organization.membership(job.account_id)
        cross_account = destination.account_id != job.account_id
        if cross_account:
            target = organization.membership(destination.account_id)
            if caller is None or target is None or caller.organization_id != target.organization_id:
                raise JobFailure("Both source and destination account must be a member of the same organization")
            if not settings.cross_account_backup_enabled(caller.organization_id):
                raise JobFailure(
                    "Cross-account backup is not enabled for the organization (isCrossAccountBackupEnabled)"
                )
            source_point = source_backend.recovery_points.get(job.source_recovery_point_arn)
            refusal = managed_keys.cross_account_refusal(source_point.encryption_key_arn if source_point else None)
            if refusal is not None:
                raise JobFailure(refusal)
        context = {
            "aws:PrincipalAccount": [job.account_id],
            "aws:PrincipalArn": [job.iam_role_arn],
        }
        if caller is not None:
            context["aws:PrincipalOrgID"] = [caller.organization_id]
            context["aws:PrincipalOrgPaths"] = [caller.org_path]
        source_vault_name = job.source_vault_arn.rsplit(":", 1)[-1]
        copy_from = _evaluate(
            "source",
            source_backend.parsed_policy(source_vault_name),
            _request(
                "backup:CopyFromBackupVault",
                job.source_recovery_point_arn,
                job,
                context | {"backup:CopyTargets": [job.destination_vault_arn]},
            ),
        )
        if copy_from.effect == policy.DENY:
            raise JobFailure(
                f"Access denied: the source backup vault's access policy denies backup:CopyFromBackupVault to {job.destination_vault_arn}"
            )
        # An org-wide Allow ("*") admits other accounts only when it names the
        # organization or an OU (see policy.py).
        copy_into = _evaluate(
            "destination",
            backend_for(destination.account_id, destination.region).parsed_policy(destination.vault_name),
            _request("backup:CopyIntoBackupVault", job.destination_vault_arn, job, context),
            org_scoped_wildcards=cross_account,
        )
        # Within an account the copy role's IAM permissions suffice; across accounts the
        # destination vault's policy must allow the copy. An explicit Deny always wins.
        if copy_into.effect == policy.DENY or (cross_account and not copy_into.allowed):
            raise JobFailure(
                "Access denied: the destination vault's access policy does not allow backup:CopyIntoBackupVault"
            )
        if (violation := retention_violation(destination_vault, job.lifecycle)) is not None:
            raise JobFailure(violation)

    def completed(self, job: CopyJob) -> None:
        pass

    def work(self, job: CopyJob) -> None:
        source_backend = backend_for(job.account_id, job.region)
        source = source_backend.recovery_points.get(job.source_recovery_point_arn)
        if source is None:
            raise JobFailure(f"Source recovery point {job.source_recovery_point_arn} no longer exists")
        destination = resources.parse_vault_arn(job.destination_vault_arn)
        destination_backend = backend_for(destination.account_id, destination.region)
        destination_vault = destination_backend.vaults.get(destination.vault_name)
        if destination_vault is None:
            raise JobFailure(f"Destination backup vault {job.destination_vault_arn} no longer exists")
        snapshot_id = None
        if source.rds_snapshot_id:
            snapshot_id = f"awsbackup:copyjob-{job.job_id.lower()}"
            arn = resources.rds_snapshot_arn(destination.region, destination.account_id, snapshot_id)
            try:
                resources.copy_rds_backup(
                    job.account_id,
                    job.region,
                    source.rds_snapshot_id,
                    destination.account_id,
                    destination.region,
                    snapshot_id,
                    destination_vault.encryption_key_arn,
                )
            except resources.ResourceFailure as exc:
                raise JobFailure(str(exc)) from exc
        else:
            arn = resources.backup_recovery_point_arn(destination.region, destination.account_id)
        job.backup_size_in_bytes = source.backup_size_in_bytes
        job.destination_recovery_point_arn = arn
        job.destination_encryption_key_arn = destination_vault.encryption_key_arn
        copy = RecoveryPoint(
            arn=arn,
            account_id=destination.account_id,
            region=destination.region,
            vault_name=destination_vault.backup_vault_name,
            vault_arn=destination_vault.backup_vault_arn,
            resource_arn=source.resource_arn,
            resource_type=source.resource_type,
            iam_role_arn=job.iam_role_arn,
            # A copy keeps the source's creation date; its retention counts from there.
            creation_date=source.creation_date,
            completion_date=clock.now(),
            lifecycle=job.lifecycle,
            encryption_key_arn=destination_vault.encryption_key_arn,
            backup_size_in_bytes=source.backup_size_in_bytes,
            source_backup_vault_arn=job.source_vault_arn,
            rds_snapshot_id=snapshot_id,
            restore_metadata=dict(source.restore_metadata),
        )
        # Copies carry the source recovery point's tags. The Recovery Point State Change
        # of the copy is emitted in the destination vault's account and Region (VERIFY #1).
        destination_backend.add_point(copy, source_backend.list_tags(source.arn))


class _RestoreRules:
    def completed(self, job: RestoreJob) -> None:
        pass

    def check(self, job: RestoreJob) -> None:
        if job.recovery_point_arn not in backend_for(job.account_id, job.region).recovery_points:
            raise JobFailure(f"Recovery point {job.recovery_point_arn} no longer exists")

    def work(self, job: RestoreJob) -> None:
        backend = backend_for(job.account_id, job.region)
        point = backend.recovery_points.get(job.recovery_point_arn)
        if point is None:
            raise JobFailure(f"Recovery point {job.recovery_point_arn} no longer exists")
        if point.continuous:
            raise JobFailure("The test bed does not emulate restores of continuous recovery points")
        if point.rds_snapshot_id:
            tags = backend.list_tags(point.arn) if job.copy_source_tags else None
            try:
                job.created_resource_arn = resources.restore_rds_instance(
                    job.account_id, job.region, point.rds_snapshot_id, job.metadata, tags
                )
            except resources.ResourceFailure as exc:
                raise JobFailure(str(exc)) from exc
        else:
            try:
                created = restores.restore(job, point)
            except resources.ResourceFailure as exc:
                raise JobFailure(str(exc)) from exc
            job.created_resource_arn = created or resources.generic_restored_resource_arn(
                point.resource_type, job.region, job.account_id, job.metadata
            )
        point.last_restore_time = clock.now()


BACKUP_RULES = _BackupRules()
COPY_RULES = _CopyRules()
RESTORE_RULES = _RestoreRules()


def _evaluate(
    which: str, document: dict | None, request: policy.Request, *, org_scoped_wildcards: bool = False
) -> policy.Decision:
    try:
        return policy.evaluate(document, request, org_scoped_wildcards=org_scoped_wildcards)
    except policy.UnsupportedPolicy as exc:
        raise JobFailure(
            f"The {which} backup vault's access policy cannot be evaluated by the test bed: {exc} "
            f"(supported: String*, Arn*, Bool, Null, with ForAnyValue:/ForAllValues: and IfExists)"
        ) from exc


def _request(action: str, resource: str, job: Job, context: dict[str, list[str]]) -> policy.Request:
    return policy.Request(
        action=action,
        resource=resource,
        principal_account=job.account_id,
        principal_arn=job.iam_role_arn,
        context=context,
    )

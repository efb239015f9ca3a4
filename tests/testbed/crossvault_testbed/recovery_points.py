"""Recovery points: what a vault holds, and their API and event representations."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import epoch, iso_millis
from .lifecycle import Lifecycle

WARM = "WARM"
COLD = "COLD"


@dataclass
class RecoveryPoint:
    arn: str
    account_id: str
    region: str
    vault_name: str
    vault_arn: str
    resource_arn: str
    resource_type: str
    iam_role_arn: str
    creation_date: datetime
    completion_date: datetime
    lifecycle: Lifecycle
    encryption_key_arn: str | None
    backup_size_in_bytes: int
    created_by: dict[str, str] | None = None
    source_backup_vault_arn: str | None = None
    continuous: bool = False
    storage_class: str = WARM
    status: str = "COMPLETED"
    last_restore_time: datetime | None = None
    # Name of the RDS DB snapshot behind an RDS recovery point (None for other types).
    rds_snapshot_id: str | None = None
    # What GetRecoveryPointRestoreMetadata returns: the resource's configuration at backup time.
    restore_metadata: dict[str, str] = field(default_factory=dict)

    @property
    def resource_name(self) -> str:
        return self.resource_arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]

    def to_api(self) -> dict[str, Any]:
        """DescribeRecoveryPoint and ListRecoveryPointsByBackupVault members."""
        out: dict[str, Any] = {
            "RecoveryPointArn": self.arn,
            "BackupVaultName": self.vault_name,
            "BackupVaultArn": self.vault_arn,
            "ResourceArn": self.resource_arn,
            "ResourceType": self.resource_type,
            "ResourceName": self.resource_name,
            "IamRoleArn": self.iam_role_arn,
            "Status": self.status,
            "CreationDate": epoch(self.creation_date),
            "InitiationDate": epoch(self.creation_date),
            "CompletionDate": epoch(self.completion_date),
            "BackupSizeInBytes": self.backup_size_in_bytes,
            "Lifecycle": self.lifecycle.to_api(),
            "CalculatedLifecycle": self.lifecycle.calculated_api(self.creation_date),
            "IsEncrypted": True,
            "StorageClass": self.storage_class,
            "IsParent": False,
            "VaultType": "BACKUP_VAULT",
        }
        if self.encryption_key_arn:
            out["EncryptionKeyArn"] = self.encryption_key_arn
        if self.created_by:
            out["CreatedBy"] = self.created_by_api()
        if self.source_backup_vault_arn:
            out["SourceBackupVaultArn"] = self.source_backup_vault_arn
        if self.last_restore_time:
            out["LastRestoreTime"] = epoch(self.last_restore_time)
        return out

    def to_by_resource_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "RecoveryPointArn": self.arn,
            "CreationDate": epoch(self.creation_date),
            "Status": self.status,
            "BackupSizeBytes": self.backup_size_in_bytes,
            "BackupVaultName": self.vault_name,
            "IsParent": False,
            "ResourceName": self.resource_name,
            "VaultType": "BACKUP_VAULT",
        }
        if self.encryption_key_arn:
            out["EncryptionKeyArn"] = self.encryption_key_arn
        return out

    def created_by_api(self) -> dict[str, str]:
        assert self.created_by is not None
        # The event names the rule "backupPlanRuleId"; the API shape calls it BackupRuleId.
        return {
            "BackupPlanId": self.created_by["backupPlanId"],
            "BackupPlanArn": self.created_by["backupPlanArn"],
            "BackupPlanVersion": self.created_by["backupPlanVersion"],
            "BackupRuleId": self.created_by["backupPlanRuleId"],
        }

    def state_change_detail(self) -> dict[str, Any]:
        """``Recovery Point State Change`` detail: ``status``, camelCase lifecycle,
        ``calculatedLifeCycle`` with a capital C, ``isEncrypted`` as a string."""
        detail: dict[str, Any] = {
            "backupVaultName": self.vault_name,
            "backupVaultArn": self.vault_arn,
            "creationDate": iso_millis(self.creation_date),
            "completionDate": iso_millis(self.completion_date),
            "iamRoleArn": self.iam_role_arn,
            "resourceType": self.resource_type,
            "resourceArn": self.resource_arn,
            "status": self.status,
            "isEncrypted": "true",
            "storageClass": self.storage_class,
            "lifecycle": self.lifecycle.to_event(),
        }
        calculated = {}
        if (cold := self.lifecycle.cold_at(self.creation_date)) is not None:
            calculated["moveToColdStorageAt"] = iso_millis(cold)
        if (delete := self.lifecycle.delete_at(self.creation_date)) is not None:
            calculated["deleteAt"] = iso_millis(delete)
        detail["calculatedLifeCycle"] = calculated
        if self.created_by:
            detail["createdBy"] = dict(self.created_by)
        return detail

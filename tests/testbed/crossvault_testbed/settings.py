"""Region settings (per account and region) and global settings (per organization).

Assumption (weakly documented): ``UpdateRegionSettings`` *merges* — only the
resource types named in the request change, every other preference keeps its value.
"""

import threading
from dataclasses import dataclass, field
from datetime import datetime

from . import clock, organization
from .errors import InvalidParameterValue, InvalidRequest, MissingParameterValue

# Resource types of ResourceTypeOptInPreference and their defaults in a new account.
OPT_IN_DEFAULTS = {
    "Aurora": True,
    "CloudFormation": True,
    "DocumentDB": True,
    "DSQL": False,
    "DynamoDB": True,
    "EBS": True,
    "EC2": True,
    "EFS": True,
    "EKS": False,
    "FSx": True,
    "Neptune": True,
    "RDS": True,
    "Redshift": True,
    "Redshift Serverless": False,
    "S3": True,
    "SAP HANA on Amazon EC2": True,
    "Storage Gateway": True,
    "Timestream": True,
    "VirtualMachine": True,
}
# Only DynamoDB and EFS have a full-management preference.
MANAGEMENT_DEFAULTS = {"DynamoDB": False, "EFS": True}

GLOBAL_SETTING_KEYS = ("isCrossAccountBackupEnabled", "isMpaEnabled", "isDelegatedAdministratorEnabled")


@dataclass
class RegionSettings:
    opt_in: dict[str, bool] = field(default_factory=lambda: dict(OPT_IN_DEFAULTS))
    management: dict[str, bool] = field(default_factory=lambda: dict(MANAGEMENT_DEFAULTS))

    def update(self, opt_in: dict[str, bool] | None, management: dict[str, bool] | None) -> None:
        if opt_in is None and management is None:
            raise MissingParameterValue(
                "Either ResourceTypeOptInPreference or ResourceTypeManagementPreference is required"
            )
        _check(opt_in or {}, self.opt_in, "ResourceTypeOptInPreference")
        _check(management or {}, self.management, "ResourceTypeManagementPreference")
        self.opt_in.update(opt_in or {})
        self.management.update(management or {})


def _check(given: dict[str, bool], known: dict[str, bool], name: str) -> None:
    for key, value in given.items():
        if key not in known:
            raise InvalidParameterValue(f"Invalid resource type {key!r} in {name}")
        if not isinstance(value, bool):
            raise InvalidParameterValue(f"{name} values must be booleans")


@dataclass
class GlobalSettings:
    values: dict[str, str] = field(default_factory=lambda: {k: "false" for k in GLOBAL_SETTING_KEYS})
    last_update: datetime | None = None


# Keyed by organization id: the settings are organization-wide, not per account.
_global: dict[str, GlobalSettings] = {}
_global_lock = threading.Lock()


def _membership_or_fail(account_id: str) -> organization.Membership:
    member = organization.membership(account_id)
    if member is None:
        raise InvalidRequest(
            f"Account {account_id} is not a member of an AWS Organization; global settings are not available"
        )
    return member


def describe_global(account_id: str) -> GlobalSettings:
    member = _membership_or_fail(account_id)
    with _global_lock:
        return _global.setdefault(member.organization_id, GlobalSettings())


def update_global(account_id: str, values: dict[str, str] | None) -> None:
    if not values:
        raise MissingParameterValue("GlobalSettings is required")
    member = _membership_or_fail(account_id)
    if member.management_account_id != account_id:
        raise InvalidRequest("Global settings can only be updated by the management account of the organization")
    for key, value in values.items():
        if key not in GLOBAL_SETTING_KEYS:
            raise InvalidParameterValue(f"Invalid global setting {key!r}")
        if value not in ("true", "false"):
            raise InvalidParameterValue(f'Global setting {key} must be "true" or "false"')
    with _global_lock:
        settings = _global.setdefault(member.organization_id, GlobalSettings())
        settings.values.update(values)
        settings.last_update = clock.now()


def cross_account_backup_enabled(organization_id: str) -> bool:
    with _global_lock:
        settings = _global.get(organization_id)
        return settings is not None and settings.values["isCrossAccountBackupEnabled"] == "true"

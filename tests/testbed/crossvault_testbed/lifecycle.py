"""Recovery point lifecycle: validation and the dates it implies.

Rules (AWS docs): days count from the recovery point's CreationDate; when both
are set, ``DeleteAfterDays`` must be at least ``MoveToColdStorageAfterDays + 90``;
``-1`` in both removes the lifecycle (keep forever); ``DeleteAfterEvent`` is not
valid as an input.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .clock import epoch
from .errors import InvalidParameterValue

COLD_STORAGE_MINIMUM_DAYS = 90


@dataclass(frozen=True)
class Lifecycle:
    delete_after_days: int | None = None
    move_to_cold_storage_after_days: int | None = None
    opt_in_to_archive: bool | None = None

    @classmethod
    def from_api(cls, value: dict[str, Any] | None) -> "Lifecycle":
        value = value or {}
        if "DeleteAfterEvent" in value:
            raise InvalidParameterValue("DeleteAfterEvent is not valid as an input")
        delete = _days(value, "DeleteAfterDays")
        cold = _days(value, "MoveToColdStorageAfterDays")
        if delete == -1 and cold == -1:
            return cls(opt_in_to_archive=value.get("OptInToArchiveForSupportedResources"))
        if -1 in (delete, cold):
            raise InvalidParameterValue(
                "Set both DeleteAfterDays and MoveToColdStorageAfterDays to -1 to remove the lifecycle"
            )
        if delete is not None and cold is not None and delete < cold + COLD_STORAGE_MINIMUM_DAYS:
            raise InvalidParameterValue(
                f"Invalid lifecycle. DeleteAfterDays ({delete}) must be at least "
                f"{COLD_STORAGE_MINIMUM_DAYS} days greater than MoveToColdStorageAfterDays ({cold})"
            )
        return cls(delete, cold, value.get("OptInToArchiveForSupportedResources"))

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.move_to_cold_storage_after_days is not None:
            out["MoveToColdStorageAfterDays"] = self.move_to_cold_storage_after_days
        if self.delete_after_days is not None:
            out["DeleteAfterDays"] = self.delete_after_days
        if self.opt_in_to_archive is not None:
            out["OptInToArchiveForSupportedResources"] = self.opt_in_to_archive
        return out

    def to_event(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.move_to_cold_storage_after_days is not None:
            out["moveToColdStorageAfterDays"] = self.move_to_cold_storage_after_days
        if self.delete_after_days is not None:
            out["deleteAfterDays"] = self.delete_after_days
        return out

    def delete_at(self, created: datetime) -> datetime | None:
        if self.delete_after_days is None:
            return None
        return created + timedelta(days=self.delete_after_days)

    def cold_at(self, created: datetime) -> datetime | None:
        if self.move_to_cold_storage_after_days is None:
            return None
        return created + timedelta(days=self.move_to_cold_storage_after_days)

    def calculated_api(self, created: datetime) -> dict[str, float]:
        out = {}
        if (cold := self.cold_at(created)) is not None:
            out["MoveToColdStorageAt"] = epoch(cold)
        if (delete := self.delete_at(created)) is not None:
            out["DeleteAt"] = epoch(delete)
        return out


def _days(value: dict[str, Any], key: str) -> int | None:
    days = value.get(key)
    if days is None:
        return None
    if not isinstance(days, int) or isinstance(days, bool) or (days < 1 and days != -1):
        raise InvalidParameterValue(f"{key} must be a positive number of days (or -1), got {days!r}")
    return days

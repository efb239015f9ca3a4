"""Lookup of the extended Backup backends that install() makes moto build."""

from typing import TYPE_CHECKING

from moto.backup.models import backup_backends

if TYPE_CHECKING:
    from .backend import ExtendedBackupBackend


def backend_for(account_id: str, region: str) -> "ExtendedBackupBackend":
    return backup_backends[account_id][region]  # type: ignore[return-value]


def all_backends() -> list["ExtendedBackupBackend"]:
    return [backend for _, _, backend in backup_backends.iter_backends()]  # type: ignore[misc]

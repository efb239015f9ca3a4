"""Faults on demand, set through the control API: AWS is not always kind.

- **Copy failures**: the next N copy jobs (or every one) out of an account, or into a
  destination vault, FAIL with a given ``StatusMessage`` when they would complete.
- **API errors**: the next N calls of a Backup operation (optionally of one account
  and Region) answer with a given error code and HTTP status, e.g. a burst of
  ``ServiceUnavailableException`` (503) or ``InternalFailure`` (500), or an
  ``AccessDeniedException`` (403).
- **Throttling**: mutating Backup calls (``Start*``, ``Update*``, ``Put*``,
  ``Delete*``, ``Create*``, ...) are limited per account and Region by a token bucket
  (AWS Backup's API quota is about five mutating calls per second; AWS docs); a call
  over the limit answers ``ThrottlingException`` with HTTP 400, the way AWS's rest-json
  services do, so an SDK's retry classifies it as throttling. Enabled per clock scope
  (an organization), measured on the wall clock: it is about request rates, not about
  the test bed's time.
"""

import threading
import time
from dataclasses import dataclass

from . import clock
from .errors import BackupError

MUTATING_PREFIXES = ("Start", "Update", "Put", "Delete", "Create", "Stop", "Cancel", "Tag", "Untag")

_lock = threading.Lock()


class ApiError(BackupError):
    """An error of any code and HTTP status, in AWS Backup's rest-json error shape."""

    def __init__(self, code: str, status: int, message: str):
        self.error_code = code
        self.status = status
        super().__init__(message)


def throttling_error() -> ApiError:
    return ApiError("ThrottlingException", 400, "Rate exceeded")


@dataclass
class CopyFailure:
    status_message: str
    account_id: str | None
    destination_vault_arn: str | None
    # None: every matching copy fails until the faults are cleared.
    remaining: int | None

    def matches(self, account_id: str, destination_vault_arn: str) -> bool:
        return self.account_id in (None, account_id) and self.destination_vault_arn in (None, destination_vault_arn)


@dataclass
class ApiFault:
    operation: str
    code: str
    status: int
    message: str
    account_id: str | None
    region: str | None
    remaining: int

    def matches(self, operation: str, account_id: str, region: str) -> bool:
        return (
            self.operation == operation
            and self.account_id in (None, account_id)
            and self.region in (None, region)
            and self.remaining > 0
        )


@dataclass
class Throttle:
    rate_per_second: float
    burst: float


_copy_failures: list[CopyFailure] = []
_api_faults: list[ApiFault] = []
_throttles: dict[str, Throttle] = {}
# (account, region) -> (tokens, monotonic time of the last refill)
_buckets: dict[tuple[str, str], tuple[float, float]] = {}


def add_copy_failure(
    status_message: str, account_id: str | None, destination_vault_arn: str | None, count: int | None
) -> CopyFailure:
    failure = CopyFailure(status_message, account_id, destination_vault_arn, count)
    with _lock:
        _copy_failures.append(failure)
    return failure


def copy_failure_for(account_id: str, destination_vault_arn: str) -> str | None:
    """The StatusMessage a new copy job must fail with, if a copy failure matches it
    (counting it against the failure's remaining number)."""
    with _lock:
        for failure in _copy_failures:
            if not failure.matches(account_id, destination_vault_arn):
                continue
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    _copy_failures.remove(failure)
            return failure.status_message
    return None


def add_api_fault(fault: ApiFault) -> None:
    with _lock:
        _api_faults.append(fault)


def api_fault_for(operation: str, account_id: str, region: str) -> ApiError | None:
    with _lock:
        for fault in _api_faults:
            if fault.matches(operation, account_id, region):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    _api_faults.remove(fault)
                return ApiError(fault.code, fault.status, fault.message)
    return None


def is_mutating(operation: str) -> bool:
    return operation.startswith(MUTATING_PREFIXES)


def set_throttling(scope: str, rate_per_second: float | None, burst: float | None) -> None:
    with _lock:
        if rate_per_second is None:
            _throttles.pop(scope, None)
        else:
            _throttles[scope] = Throttle(rate_per_second, burst if burst is not None else rate_per_second)


def throttled(operation: str, account_id: str, region: str) -> bool:
    """Takes a token for a mutating call; True when the account and Region have none left."""
    if not is_mutating(operation):
        return False
    with _lock:
        if not _throttles:
            return False
    scope = clock.scope_of(account_id)
    with _lock:
        throttle = _throttles.get(scope)
        if throttle is None:
            return False
        now = time.monotonic()
        tokens, last = _buckets.get((account_id, region), (throttle.burst, now))
        tokens = min(throttle.burst, tokens + (now - last) * throttle.rate_per_second)
        if tokens < 1:
            _buckets[(account_id, region)] = (tokens, now)
            return True
        _buckets[(account_id, region)] = (tokens - 1, now)
        return False


def clear(account_id: str | None = None) -> None:
    """Remove every fault (of one account's scope, or all)."""
    with _lock:
        if account_id is None:
            _copy_failures.clear()
            _api_faults.clear()
            _throttles.clear()
            _buckets.clear()
            return
    scope = clock.scope_of(account_id)
    with _lock:
        _throttles.pop(scope, None)
        _copy_failures[:] = [f for f in _copy_failures if f.account_id != account_id]
        _api_faults[:] = [f for f in _api_faults if f.account_id != account_id]

"""The test bed's clock: real UTC time plus an offset that tests can move.

Retention (``CalculatedLifecycle``), Vault Lock cooling-off (``LockDate``), timed jobs,
event times and the lifecycle sweep all read this clock, so a test can jump days ahead
without waiting.

Offsets are kept per *clock scope*: the organization an account belongs to (every
account of one organization shares one time, as the accounts of one AWS Organization
do), or the account itself when it is in none. A scope without an offset of its own
follows the process-wide offset. Tests build their own organization, so moving its
clock never disturbs a test running next to it.

Which scope "now" is read in is carried by a context variable: the response layer
enters the caller's scope for every request, the control API the scope of the account
it is asked about. While a timed job takes a step that was due at a given moment,
:func:`pinned` makes "now" that moment, so completion dates, new recovery points and
events carry the time the step was due, not the time the test moved the clock.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone

from . import organization

_lock = threading.Lock()
_offset = timedelta(0)
_scope_offsets: dict[str, timedelta] = {}
_current_scope: ContextVar[str | None] = ContextVar("crossvault_testbed_clock_scope", default=None)
_pinned: ContextVar[datetime | None] = ContextVar("crossvault_testbed_clock_pinned", default=None)


def scope_of(account_id: str) -> str:
    """The clock scope of an account: its organization, else the account itself."""
    member = organization.membership(account_id)
    return f"org:{member.organization_id}" if member is not None else f"account:{account_id}"


def current_scope() -> str | None:
    return _current_scope.get()


@contextmanager
def in_scope(scope: str | None) -> Iterator[None]:
    token = _current_scope.set(scope)
    try:
        yield
    finally:
        _current_scope.reset(token)


@contextmanager
def pinned(moment: datetime) -> Iterator[None]:
    token = _pinned.set(moment)
    try:
        yield
    finally:
        _pinned.reset(token)


def _offset_for(scope: str | None) -> timedelta:
    with _lock:
        if scope is not None and scope in _scope_offsets:
            return _scope_offsets[scope]
        return _offset


def now_in(scope: str | None) -> datetime:
    return datetime.now(timezone.utc) + _offset_for(scope)


def now() -> datetime:
    moment = _pinned.get()
    if moment is not None:
        return moment
    return now_in(_current_scope.get())


def set_offset(seconds: float, scope: str | None = None) -> None:
    """Set the offset of ``scope`` (or the process-wide one)."""
    global _offset
    with _lock:
        if scope is None:
            _offset = timedelta(seconds=seconds)
        else:
            _scope_offsets[scope] = timedelta(seconds=seconds)


def offset_seconds(scope: str | None = None) -> float:
    return _offset_for(scope).total_seconds()


def epoch(moment: datetime) -> float:
    """Seconds since the epoch, the way rest-json serialises timestamps."""
    return moment.timestamp()


def iso_millis(moment: datetime) -> str:
    """``2026-03-02T03:41:02.870Z``: the timestamp format of AWS Backup event details."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (f"{moment.microsecond // 1000:03d}Z")


def parse_timestamp(value: str) -> datetime:
    """Parse a query-string timestamp: ISO-8601 (botocore, the Rust SDK) or epoch seconds."""
    try:
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed

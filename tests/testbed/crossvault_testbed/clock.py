"""The test bed's clock: real UTC time plus an offset that tests can move.

Retention (``CalculatedLifecycle``), Vault Lock cooling-off (``LockDate``) and the
lifecycle sweep all read this clock, so a test can jump days ahead without waiting.
The offset is process-wide: it only ever matters to tests that look at
absolute dates, and those should compare against ``now()`` as reported by the
control API rather than the wall clock.
"""

import threading
from datetime import datetime, timedelta, timezone

_lock = threading.Lock()
_offset = timedelta(0)


def now() -> datetime:
    with _lock:
        return datetime.now(timezone.utc) + _offset


def set_offset(seconds: float) -> None:
    global _offset
    with _lock:
        _offset = timedelta(seconds=seconds)


def offset_seconds() -> float:
    with _lock:
        return _offset.total_seconds()


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

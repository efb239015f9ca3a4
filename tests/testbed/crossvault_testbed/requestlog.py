"""A log of the API calls the test bed served, so tests can count what a client did.

One entry per request to any service moto serves (Backup, SQS, SNS, tagging, ...):
sequence number, service, operation, calling account and Region, HTTP status, error
code, the request's ``IdempotencyToken`` (when it has one) and the ``app/<name>`` the
client put in its user agent (how a test tells the handler's calls from its own).
Bounded: the last 200 000 calls.
"""

import itertools
import json
import re
import threading
from collections import deque
from typing import Any

from . import clock

_lock = threading.Lock()
_log: deque[dict[str, Any]] = deque(maxlen=200_000)
_sequence = itertools.count(1)
_APP = re.compile(r"(?:^|\s)app/([^\s]+)")


def app_of(headers: Any) -> str | None:
    for name in ("x-amz-user-agent", "user-agent"):
        value = headers.get(name) if headers is not None else None
        if value and (match := _APP.search(value)):
            return match.group(1)
    return None


def token_of(body: Any) -> str | None:
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        return None
    token = parsed.get("IdempotencyToken") if isinstance(parsed, dict) else None
    return token if isinstance(token, str) else None


def record(service: str, operation: str, account_id: str, region: str, token: str | None, app: str | None) -> dict:
    entry = {
        "seq": 0,
        "time": clock.iso_millis(clock.now()),
        "service": service,
        "operation": operation,
        "accountId": account_id,
        "region": region,
        "idempotencyToken": token,
        "app": app,
        "status": None,
        "errorCode": None,
    }
    with _lock:
        entry["seq"] = next(_sequence)
        _log.append(entry)
    return entry


def finish(entry: dict, status: int, headers: dict[str, Any] | None) -> None:
    entry["status"] = int(status)
    if int(status) >= 300 and headers:
        code = headers.get("X-Amzn-ErrorType") or headers.get("x-amzn-errortype")
        entry["errorCode"] = str(code).split(":", 1)[0] if code else None


def last_sequence() -> int:
    with _lock:
        return _log[-1]["seq"] if _log else 0


def listed(filters: dict[str, str | None], since: int = 0) -> list[dict[str, Any]]:
    with _lock:
        entries = list(_log)
    return [
        dict(e)
        for e in entries
        if e["seq"] > since and all(value is None or str(e.get(key)) == value for key, value in filters.items())
    ]

"""Delivery of AWS Backup events (and the SSM and RDS events a pre-prod refresh waits for) to moto's EventBridge, in the emitting account/region.

Events go straight into moto's events backend of that account and region (the
``default`` bus), so rules with patterns route them to SQS and other targets exactly
as for ``PutEvents``. A bounded log of everything emitted is kept for debugging
through the control API.

AWS delivers events "in a best-effort manner" (AWS docs): late, twice, out of
order. Per clock scope (an organization) the control API can have every event
delivered N times, or *held* (emitted and logged, not delivered) until a release
delivers the held events in the order asked for (as emitted, reversed, shuffled),
each N times.
"""

import json
import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from moto.events.models import events_backends

from . import clock

SOURCE = "aws.backup"
BACKUP_JOB = "Backup Job State Change"
COPY_JOB = "Copy Job State Change"
RESTORE_JOB = "Restore Job State Change"
RECOVERY_POINT = "Recovery Point State Change"
REGION_SETTING = "Region Setting State Change"

IMMEDIATE, HOLD = "immediate", "hold"
ORDERS = ("emitted", "reverse", "shuffle")

_log: deque[dict[str, Any]] = deque(maxlen=10_000)
_log_lock = threading.Lock()


@dataclass(frozen=True)
class Delivery:
    mode: str = IMMEDIATE
    copies: int = 1


_delivery: dict[str, Delivery] = {}
# scope -> (event, epoch seconds of its time), in emission order
_held: dict[str, list[tuple[dict[str, Any], float]]] = {}


def set_delivery(scope: str, mode: str, copies: int) -> Delivery:
    if mode not in (IMMEDIATE, HOLD):
        raise ValueError(f"mode must be {IMMEDIATE!r} or {HOLD!r}")
    if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= 10:
        raise ValueError("copies must be a whole number from 1 to 10")
    setting = Delivery(mode, copies)
    with _log_lock:
        _delivery[scope] = setting
    return setting


def _deliver(event: dict[str, Any], epoch: float) -> None:
    events_backends[event["account"]][event["region"]].put_events(
        [
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Resources": event["resources"],
                "Detail": json.dumps(event["detail"]),
                "Time": epoch,
            }
        ]
    )


def emit(
    account_id: str,
    region: str,
    detail_type: str,
    resources: list[str],
    detail: dict[str, Any],
    source: str = SOURCE,
) -> None:
    moment = clock.now()
    event = {
        "account": account_id,
        "region": region,
        "detail-type": detail_type,
        "source": source,
        "time": clock.iso_millis(moment),
        "resources": resources,
        "detail": detail,
    }
    scope = clock.scope_of(account_id)
    with _log_lock:
        _log.append(event)
        setting = _delivery.get(scope, Delivery())
        if setting.mode == HOLD:
            _held.setdefault(scope, []).append((event, clock.epoch(moment)))
            return
    for _ in range(setting.copies):
        _deliver(event, clock.epoch(moment))


def held(scope: str) -> int:
    with _log_lock:
        return len(_held.get(scope, []))


def release(scope: str, order: str = "emitted", copies: int = 1, seed: int | None = None) -> int:
    """Deliver the scope's held events in ``order``, the whole batch ``copies`` times; returns how
    many deliveries were made. The scope keeps its delivery mode."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}")
    if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= 10:
        raise ValueError("copies must be a whole number from 1 to 10")
    with _log_lock:
        batch = _held.pop(scope, [])
    if order == "reverse":
        batch.reverse()
    elif order == "shuffle":
        random.Random(seed).shuffle(batch)
    # The whole batch, then the whole batch again: a duplicate arrives after others.
    for _ in range(copies):
        for event, epoch in batch:
            _deliver(event, epoch)
    return len(batch) * copies


def emitted(
    account_id: str | None = None,
    region: str | None = None,
    detail_type: str | None = None,
) -> list[dict[str, Any]]:
    with _log_lock:
        return [
            event
            for event in _log
            if (account_id is None or event["account"] == account_id)
            and (region is None or event["region"] == region)
            and (detail_type is None or event["detail-type"] == detail_type)
        ]

"""Delivery of AWS Backup events to moto's EventBridge, in the emitting account/region.

Events go straight into moto's events backend of that account and region (the
``default`` bus), so rules with patterns route them to SQS and other targets exactly
as for ``PutEvents``. A bounded log of everything emitted is kept for debugging
through the control API.
"""

import json
import threading
from collections import deque
from typing import Any

from moto.events.models import events_backends

from . import clock

SOURCE = "aws.backup"
BACKUP_JOB = "Backup Job State Change"
COPY_JOB = "Copy Job State Change"
RESTORE_JOB = "Restore Job State Change"
RECOVERY_POINT = "Recovery Point State Change"
REGION_SETTING = "Region Setting State Change"

_log: deque[dict[str, Any]] = deque(maxlen=10_000)
_log_lock = threading.Lock()


def emit(
    account_id: str,
    region: str,
    detail_type: str,
    resources: list[str],
    detail: dict[str, Any],
) -> None:
    moment = clock.now()
    events_backends[account_id][region].put_events(
        [
            {
                "Source": SOURCE,
                "DetailType": detail_type,
                "Resources": resources,
                "Detail": json.dumps(detail),
                "Time": clock.epoch(moment),
            }
        ]
    )
    with _log_lock:
        _log.append(
            {
                "account": account_id,
                "region": region,
                "detail-type": detail_type,
                "source": SOURCE,
                "time": clock.iso_millis(moment),
                "resources": resources,
                "detail": detail,
            }
        )


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

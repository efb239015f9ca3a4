"""Control calls for the pre-prod refresh (see tests/testbed/README.md, "Pre-prod restores").

- ``POST /rds/db-subnet-group`` {accountId, region, name}: a VPC, two subnets and a DB subnet
  group (what a pre-prod account provides for restores).
- ``POST /automation/mode`` {accountId, mode}: ``instant`` (default: an execution ends at once)
  or ``manual`` (it stays InProgress until completed).
- ``POST /automation/outcomes`` {accountId, document, outcomes: [{status, message}]}: how the
  next executions of that document end (Success by default).
- ``POST /automation/executions/<id>/complete`` {status, message}: end a manual execution.
- ``GET /automation/executions?accountId=``: every execution, with its parameters.
"""

import re
from typing import Any

from werkzeug.wrappers import Request

from . import automation, restores
from .control import ControlError, _account, _body, _field

_STATUSES = ("Success", "Failed", "TimedOut", "Cancelled")


def create_db_subnet_group(request: Request) -> dict[str, Any]:
    body = _body(request)
    account = _account(_field(body, "accountId"), "accountId")
    return restores.create_db_subnet_group(account, _field(body, "region"), _field(body, "name"))


def set_mode(request: Request) -> dict[str, Any]:
    body = _body(request)
    account = _account(_field(body, "accountId"), "accountId")
    try:
        automation.set_mode(account, _field(body, "mode"))
    except ValueError as exc:
        raise ControlError(str(exc)) from exc
    return {"accountId": account, "mode": body["mode"]}


def _status(value: Any) -> str:
    if value not in _STATUSES:
        raise ControlError(f"status must be one of {', '.join(_STATUSES)}")
    return value


def add_outcomes(request: Request) -> dict[str, Any]:
    body = _body(request)
    account = _account(_field(body, "accountId"), "accountId")
    outcomes = [(_status(o.get("status")), o.get("message")) for o in _field(body, "outcomes")]
    queued = automation.add_outcomes(account, _field(body, "document"), outcomes)
    return {"accountId": account, "document": body["document"], "queued": queued}


def complete(request: Request, execution_id: str) -> dict[str, Any]:
    body = _body(request)
    try:
        execution = automation.finish(execution_id, _status(body.get("status", "Success")), body.get("message"))
    except automation.AutomationError as exc:
        raise ControlError(exc.message, exc.status) from exc
    return execution.to_api()


def list_executions(request: Request) -> dict[str, Any]:
    account = request.args.get("accountId")
    return {
        "executions": [
            e.to_api() | {"AccountId": e.account_id, "Region": e.region} for e in automation.executions(account)
        ]
    }


ROUTES = [
    ("POST", re.compile(r"^/rds/db-subnet-group$"), create_db_subnet_group),
    ("POST", re.compile(r"^/automation/mode$"), set_mode),
    ("POST", re.compile(r"^/automation/outcomes$"), add_outcomes),
    ("POST", re.compile(r"^/automation/executions/(?P<execution_id>[^/]+)/complete$"), complete),
    ("GET", re.compile(r"^/automation/executions$"), list_executions),
]

"""SSM Automation executions, as far as a masking hook needs them (moto 5.2.1 has none).

- ``StartAutomationExecution``: the document must exist (moto's documents of the account, or
  of the account an ARN names) and be of type Automation; every parameter passed must be
  declared by the document (``InvalidAutomationExecutionParametersException`` otherwise); a
  repeated ``ClientToken`` returns the earlier execution. The execution runs no steps: it ends
  ``Success``, or as the control API told it to end for that document, at once — or, in
  ``manual`` mode, stays ``InProgress`` until completed through the control API.
- ``GetAutomationExecution``: id, document, status, the parameters it was started with,
  ``FailureMessage``, start and end times.
- Every end emits ``EC2 Automation Execution Status-change Notification`` (source ``aws.ssm``,
  ``detail.ExecutionId``, ``Definition``, ``Status``) in the account and Region that started
  it.
"""

import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import yaml
from moto.ssm.models import ssm_backends
from moto.ssm.responses import SimpleSystemManagerResponse

from . import clock, events

SSM_SOURCE = "aws.ssm"
STATUS_CHANGE = "EC2 Automation Execution Status-change Notification"
INSTANT, MANUAL = "instant", "manual"

_lock = threading.RLock()


@dataclass
class Execution:
    execution_id: str
    account_id: str
    region: str
    document: str
    parameters: dict[str, list[str]]
    started: float
    status: str = "InProgress"
    failure_message: str | None = None
    ended: float | None = None
    client_token: str | None = None
    outcome: tuple[str, str | None] = ("Success", None)

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "AutomationExecutionId": self.execution_id,
            "DocumentName": self.document,
            "DocumentVersion": "1",
            "AutomationExecutionStatus": self.status,
            "ExecutionStartTime": self.started,
            "Parameters": self.parameters,
            "Mode": "Auto",
        }
        if self.ended is not None:
            out["ExecutionEndTime"] = self.ended
        if self.failure_message:
            out["FailureMessage"] = self.failure_message
        return out


@dataclass
class _Account:
    mode: str = INSTANT
    # document name -> outcomes for its next executions
    outcomes: dict[str, deque[tuple[str, str | None]]] = field(default_factory=dict)


_executions: dict[str, Execution] = {}
_tokens: dict[tuple[str, str, str], str] = {}
_accounts: dict[str, _Account] = {}


class AutomationError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _document(account_id: str, region: str, name: str) -> tuple[str, dict[str, Any]]:
    """(document name, its parameters) of a document given by name or ARN."""
    owner = account_id
    if name.startswith("arn:"):
        parts = name.split(":")
        region, owner, name = parts[3], parts[4], name.split(":document/", 1)[1]
    documents = ssm_backends[owner][region]._documents.get(name)
    if documents is None:
        raise AutomationError("InvalidDocument", f"Document with name {name} does not exist.")
    latest = documents.get_default_version()
    if latest.document_type != "Automation":
        raise AutomationError("InvalidDocument", f"Document {name} is not an Automation document")
    content = latest.content
    try:
        parsed = json.loads(content)
    except ValueError:
        parsed = yaml.safe_load(content)
    return name, dict((parsed or {}).get("parameters") or {})


def start(account_id: str, region: str, body: dict[str, Any]) -> str:
    name = body.get("DocumentName")
    if not name:
        raise AutomationError("ValidationException", "DocumentName is required")
    parameters = {k: list(v) for k, v in (body.get("Parameters") or {}).items()}
    token = body.get("ClientToken")
    with _lock:
        if token and (account_id, region, token) in _tokens:
            return _tokens[(account_id, region, token)]
        document, declared = _document(account_id, region, name)
        undeclared = sorted(set(parameters) - set(declared))
        if undeclared:
            raise AutomationError(
                "InvalidAutomationExecutionParametersException",
                f"Parameters {undeclared} are not declared by document {document}",
            )
        missing = sorted(k for k, v in declared.items() if "default" not in (v or {}) and k not in parameters)
        if missing:
            raise AutomationError(
                "InvalidAutomationExecutionParametersException",
                f"Parameters {missing} are required by document {document}",
            )
        setting = _accounts.setdefault(account_id, _Account())
        queue = setting.outcomes.get(document)
        outcome = queue.popleft() if queue else ("Success", None)
        execution = Execution(
            execution_id=str(uuid.uuid4()),
            account_id=account_id,
            region=region,
            document=document,
            parameters=parameters,
            started=clock.epoch(clock.now()),
            client_token=token,
            outcome=outcome,
        )
        _executions[execution.execution_id] = execution
        if token:
            _tokens[(account_id, region, token)] = execution.execution_id
        if setting.mode == INSTANT:
            finish(execution.execution_id, *outcome)
        return execution.execution_id


def finish(execution_id: str, status: str, message: str | None = None) -> Execution:
    with _lock:
        execution = _executions.get(execution_id)
        if execution is None:
            raise AutomationError("AutomationExecutionNotFoundException", f"Execution {execution_id} not found", 404)
        if execution.status != "InProgress":
            raise AutomationError("Conflict", f"Execution {execution_id} already ended {execution.status}", 409)
        execution.status = status
        execution.failure_message = message if status != "Success" else None
        execution.ended = clock.epoch(clock.now())
    events.emit(
        execution.account_id,
        execution.region,
        STATUS_CHANGE,
        [
            f"arn:aws:ssm:{execution.region}:{execution.account_id}:automation-execution/{execution.execution_id}",
            f"arn:aws:ssm:{execution.region}:{execution.account_id}:automation-definition/{execution.document}:1",
        ],
        {
            "ExecutionId": execution.execution_id,
            "Definition": execution.document,
            "DefinitionVersion": 1.0,
            "Status": status,
            "StartTime": "",
            "EndTime": "",
            "Time": 0.0,
            "ExecutedBy": "crossvault-testbed",
        },
        source=SSM_SOURCE,
    )
    return execution


def get(account_id: str, execution_id: str) -> Execution:
    with _lock:
        execution = _executions.get(execution_id)
    if execution is None or execution.account_id != account_id:
        raise AutomationError(
            "AutomationExecutionNotFoundException", f"Automation execution {execution_id} does not exist."
        )
    return execution


def set_mode(account_id: str, mode: str) -> None:
    if mode not in (INSTANT, MANUAL):
        raise ValueError(f"mode must be {INSTANT!r} or {MANUAL!r}")
    with _lock:
        _accounts.setdefault(account_id, _Account()).mode = mode


def add_outcomes(account_id: str, document: str, outcomes: list[tuple[str, str | None]]) -> int:
    with _lock:
        queue = _accounts.setdefault(account_id, _Account()).outcomes.setdefault(document, deque())
        queue.extend(outcomes)
        return len(queue)


def executions(account_id: str | None = None) -> list[Execution]:
    with _lock:
        return [e for e in _executions.values() if account_id is None or e.account_id == account_id]


def _error(error: AutomationError) -> tuple[int, dict[str, str], str]:
    return (
        error.status,
        {"status": str(error.status), "x-amzn-errortype": error.code, "content-type": "application/x-amz-json-1.1"},
        json.dumps({"__type": error.code, "message": error.message}),
    )


def install() -> None:
    """Adds the two operations to moto's SSM responses."""

    def start_automation_execution(self: SimpleSystemManagerResponse) -> Any:
        try:
            execution_id = start(self.current_account, self.region, json.loads(self.body or "{}"))
        except AutomationError as exc:
            return _error(exc)
        return json.dumps({"AutomationExecutionId": execution_id})

    def get_automation_execution(self: SimpleSystemManagerResponse) -> Any:
        body = json.loads(self.body or "{}")
        try:
            execution = get(self.current_account, body.get("AutomationExecutionId", ""))
        except AutomationError as exc:
            return _error(exc)
        return json.dumps({"AutomationExecution": execution.to_api()})

    SimpleSystemManagerResponse.start_automation_execution = start_automation_execution  # type: ignore[attr-defined]
    SimpleSystemManagerResponse.get_automation_execution = get_automation_execution  # type: ignore[attr-defined]

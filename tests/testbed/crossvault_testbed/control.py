"""The test bed's control API under ``/_testbed/`` (JSON over HTTP, same port as moto).

It does what tests need and AWS has no API for: an organization with chosen account
ids, job progress by hand or on the test bed clock, a movable clock per organization,
plan-created backup jobs (with copy actions), the lifecycle sweep, event delivery that
is late, duplicated or out of order, faults on demand, and logs of emitted events and
of API calls. See tests/testbed/README.md for every call.
"""

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from . import clock, events, faults, jobs, organization, requestlog
from .backend import STATE_LOCK, find_job
from .backends import all_backends, backend_for
from .errors import BackupError

_log = logging.getLogger("crossvault_testbed.control")
PREFIX = "/_testbed"
ACCOUNT_ID = re.compile(r"^\d{12}$")


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _body(request: Request) -> dict[str, Any]:
    # get_data, not .data: curl -d sends a form content type, and the body is JSON anyway.
    raw = request.get_data()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ControlError("body must be JSON") from None
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def _field(body: dict[str, Any], name: str) -> Any:
    if body.get(name) in (None, ""):
        raise ControlError(f"{name} is required")
    return body[name]


def _account(value: Any, name: str) -> str:
    if not isinstance(value, str) or not ACCOUNT_ID.match(value):
        raise ControlError(f"{name} must be a 12-digit account id")
    return value


def health(request: Request) -> dict[str, Any]:
    return {"status": "ok"}


def create_organization(request: Request) -> dict[str, Any]:
    body = _body(request)
    management = _account(_field(body, "managementAccountId"), "managementAccountId")
    members = []
    for entry in body.get("accounts", []):
        member = {"id": entry} if isinstance(entry, str) else dict(entry)
        _account(member.get("id"), "accounts[].id")
        members.append(member)
    try:
        return organization.ensure_organization(management, members)
    except organization.OrganizationConflict as exc:
        raise ControlError(str(exc), 409) from exc


def _scope(body_or_args: Any) -> str | None:
    """The clock scope a control call is about: that of ``accountId``, or None (global)."""
    account = body_or_args.get("accountId")
    return clock.scope_of(_account(account, "accountId")) if account else None


def _schedule_state(scope: str | None) -> dict[str, Any]:
    if scope is None:
        return {}
    due = jobs.SCHEDULE.next_due(scope)
    return {
        "inFlight": jobs.SCHEDULE.in_flight(scope),
        "nextDueAt": clock.iso_millis(due) if due is not None else None,
    }


def _clock_state(scope: str | None) -> dict[str, Any]:
    return {
        "now": clock.iso_millis(clock.now_in(scope)),
        "offsetSeconds": clock.offset_seconds(scope),
        "scope": scope,
    } | _schedule_state(scope)


def get_clock(request: Request) -> dict[str, Any]:
    return _clock_state(_scope(request.args))


def _number(body: dict[str, Any], name: str) -> float:
    value = body[name]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ControlError(f"{name} must be a number")
    return float(value)


def set_clock(request: Request) -> dict[str, Any]:
    """Move a scope's clock (or the global one): to an offset, by some seconds, or to the
    next due step of its timed jobs; then take every step that fell due."""
    body = _body(request)
    scope = _scope(body)
    chosen = [k for k in ("offsetSeconds", "advanceSeconds", "toNextJob") if body.get(k) is not None and body[k] is not False]
    if len(chosen) != 1:
        raise ControlError("give exactly one of offsetSeconds, advanceSeconds, toNextJob")
    current = clock.offset_seconds(scope)
    if chosen[0] == "offsetSeconds":
        offset = _number(body, "offsetSeconds")
    elif chosen[0] == "advanceSeconds":
        seconds = _number(body, "advanceSeconds")
        if seconds < 0:
            raise ControlError("advanceSeconds must not be negative: the clock does not go back")
        offset = current + seconds
    else:
        if scope is None:
            raise ControlError("toNextJob needs an accountId (timed jobs are scheduled per organization)")
        due = jobs.SCHEDULE.next_due(scope)
        now = clock.now_in(scope)
        # slackSeconds: also take the steps that fall due shortly after (one move for jobs
        # started together instead of one per job).
        slack = _number(body, "slackSeconds") if body.get("slackSeconds") is not None else 0.0
        if slack < 0:
            raise ControlError("slackSeconds must not be negative")
        offset = current + max(0.0, (due - now).total_seconds()) + slack if due is not None else current
    clock.set_offset(offset, scope)
    steps = jobs.tick(scope) if scope is not None else 0
    return _clock_state(scope) | {"steps": steps}


def tick(request: Request) -> dict[str, Any]:
    scope = _scope(_body(request))
    if scope is None:
        raise ControlError("accountId is required")
    return _clock_state(scope) | {"steps": jobs.tick(scope)}


def set_job_mode(request: Request) -> dict[str, Any]:
    body = _body(request)
    account = _account(body["accountId"], "accountId") if body.get("accountId") else None
    durations = body.get("durations")
    if durations is not None and not isinstance(durations, dict):
        raise ControlError("durations must be an object of seconds per job kind")
    try:
        mode = jobs.set_mode(_field(body, "mode"), account, durations)
    except ValueError as exc:
        raise ControlError(str(exc)) from exc
    return {"mode": mode.name, "accountId": account, "durations": mode.durations}


def _job_state(job: jobs.Job) -> dict[str, Any]:
    return {
        "jobId": job.job_id,
        "kind": type(job).__name__,
        "accountId": job.account_id,
        "region": job.region,
        "state": job.state,
        "statusMessage": job.status_message,
    }


def get_job(request: Request, job_id: str) -> dict[str, Any]:
    return _job_state(find_job(job_id))


def advance_job(request: Request, job_id: str) -> dict[str, Any]:
    job = find_job(job_id)
    try:
        job.advance()
    except jobs.JobStateError as exc:
        raise ControlError(str(exc), 409) from exc
    return _job_state(job)


def fail_job(request: Request, job_id: str) -> dict[str, Any]:
    job = find_job(job_id)
    message = _body(request).get("statusMessage") or "Job failed (failed by the test bed control API)"
    try:
        job.fail(message)
    except jobs.JobStateError as exc:
        raise ControlError(str(exc), 409) from exc
    return _job_state(job)


def plan_backup_job(request: Request) -> dict[str, Any]:
    """A backup job as a backup plan starts it: the job and its events carry createdBy."""
    body = _body(request)
    account = _account(_field(body, "accountId"), "accountId")
    region = _field(body, "region")
    backend = backend_for(account, region)
    plan_id = body.get("backupPlanId")
    plan = backend.plans.get(plan_id) if plan_id else None
    if plan_id and plan is None:
        raise ControlError(f"backup plan {plan_id} not found in {account} {region}", 404)
    if plan is not None:
        created_by = {
            "backupPlanId": plan.backup_plan_id,
            "backupPlanArn": plan.backup_plan_arn,
            "backupPlanVersion": plan.version_id,
            "backupPlanRuleId": body.get("backupPlanRuleId") or plan.backup_plan["Rules"][0]["RuleId"],
        }
    else:
        synthetic_id = jobs.new_job_id().lower()
        created_by = {
            "backupPlanId": synthetic_id,
            "backupPlanArn": f"arn:aws:backup:{region}:{account}:backup-plan:{synthetic_id}",
            "backupPlanVersion": "testbed-plan-version",
            "backupPlanRuleId": body.get("backupPlanRuleId") or jobs.new_job_id().lower(),
        }
    params = {
        "BackupVaultName": _field(body, "backupVaultName"),
        "ResourceArn": _field(body, "resourceArn"),
        "IamRoleArn": body.get("iamRoleArn") or f"arn:aws:iam::{account}:role/service-role/AWSBackupDefaultServiceRole",
    }
    if body.get("lifecycle"):
        params["Lifecycle"] = body["lifecycle"]
    if body.get("recoveryPointTags"):
        params["RecoveryPointTags"] = body["recoveryPointTags"]
    copy_actions = _copy_actions(body.get("copyActions"), plan)
    # On the organization's clock, as a StartBackupJob call from the account would be.
    with clock.in_scope(clock.scope_of(account)):
        job = backend.start_backup_job(
            params, created_by=created_by, continuous=bool(body.get("continuous")), copy_actions=copy_actions
        )
    return _job_state(job) | {"recoveryPointArn": job.recovery_point_arn, "createdBy": created_by}


def _copy_actions(given: Any, plan: Any) -> list[dict[str, Any]]:
    """The rule's copy actions: given in the call, else the named moto plan's first rule's."""
    if given is None and plan is not None:
        given = [
            {"destinationBackupVaultArn": a.get("DestinationBackupVaultArn"), "lifecycle": a.get("Lifecycle")}
            for a in plan.backup_plan["Rules"][0].get("CopyActions") or []
        ]
    if given is None:
        return []
    if not isinstance(given, list):
        raise ControlError("copyActions must be a list")
    actions = []
    for action in given:
        if not isinstance(action, dict) or not action.get("destinationBackupVaultArn"):
            raise ControlError("every copy action needs a destinationBackupVaultArn")
        entry: dict[str, Any] = {"DestinationBackupVaultArn": action["destinationBackupVaultArn"]}
        if action.get("lifecycle"):
            entry["Lifecycle"] = action["lifecycle"]
        actions.append(entry)
    return actions


def end_lock_cooling_off(request: Request) -> dict[str, Any]:
    body = _body(request)
    backend = backend_for(_account(_field(body, "accountId"), "accountId"), _field(body, "region"))
    backend.end_lock_cooling_off(_field(body, "backupVaultName"))
    return backend.vault_api(backend.vault(body["backupVaultName"]))


def sweep_lifecycle(request: Request) -> dict[str, Any]:
    body = _body(request)
    totals = {"movedToCold": 0, "deleted": 0}
    for backend in all_backends():
        if body.get("accountId") not in (None, backend.account_id):
            continue
        if body.get("region") not in (None, backend.region_name):
            continue
        for key, count in backend.sweep_lifecycle().items():
            totals[key] += count
    return totals


def list_events(request: Request) -> dict[str, Any]:
    args = request.args
    return {"events": events.emitted(args.get("account"), args.get("region"), args.get("detailType"))}


def set_event_delivery(request: Request) -> dict[str, Any]:
    body = _body(request)
    scope = _scope(body)
    if scope is None:
        raise ControlError("accountId is required")
    try:
        setting = events.set_delivery(scope, _field(body, "mode"), body.get("copies", 1))
    except ValueError as exc:
        raise ControlError(str(exc)) from exc
    return {"scope": scope, "mode": setting.mode, "copies": setting.copies, "held": events.held(scope)}


def release_events(request: Request) -> dict[str, Any]:
    body = _body(request)
    scope = _scope(body)
    if scope is None:
        raise ControlError("accountId is required")
    try:
        delivered = events.release(scope, body.get("order", "emitted"), body.get("copies", 1), body.get("seed"))
    except ValueError as exc:
        raise ControlError(str(exc)) from exc
    return {"scope": scope, "delivered": delivered, "held": events.held(scope)}


def held_events(request: Request) -> dict[str, Any]:
    scope = _scope(request.args)
    if scope is None:
        raise ControlError("accountId is required")
    return {"scope": scope, "held": events.held(scope)}


def _count(body: dict[str, Any], name: str, default: int | None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ControlError(f"{name} must be a whole number >= 1")
    return value


def add_copy_failure(request: Request) -> dict[str, Any]:
    body = _body(request)
    account = _account(body["accountId"], "accountId") if body.get("accountId") else None
    destination = body.get("destinationVaultArn")
    if account is None and not destination:
        raise ControlError("give accountId (the copying account) or destinationVaultArn, or both")
    failure = faults.add_copy_failure(
        body.get("statusMessage") or "Copy job failed (failed by the test bed)",
        account,
        destination,
        _count(body, "count", None),
    )
    return {
        "statusMessage": failure.status_message,
        "accountId": failure.account_id,
        "destinationVaultArn": failure.destination_vault_arn,
        "count": failure.remaining,
    }


def add_api_fault(request: Request) -> dict[str, Any]:
    body = _body(request)
    status = body.get("status", 503)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise ControlError("status must be an HTTP error status (400-599)")
    fault = faults.ApiFault(
        operation=_field(body, "operation"),
        code=body.get("code") or ("ServiceUnavailableException" if status == 503 else "InternalFailure"),
        status=status,
        message=body.get("message") or "Injected by the test bed",
        account_id=_account(body["accountId"], "accountId") if body.get("accountId") else None,
        region=body.get("region"),
        remaining=_count(body, "count", 1) or 1,
    )
    faults.add_api_fault(fault)
    return {"operation": fault.operation, "code": fault.code, "status": fault.status, "count": fault.remaining}


def set_throttling(request: Request) -> dict[str, Any]:
    body = _body(request)
    scope = _scope(body)
    if scope is None:
        raise ControlError("accountId is required (throttling is set per organization)")
    rate = body.get("ratePerSecond")
    burst = body.get("burst")
    for name, value in (("ratePerSecond", rate), ("burst", burst)):
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0):
            raise ControlError(f"{name} must be a positive number (or null to turn throttling off)")
    faults.set_throttling(scope, rate, burst)
    return {"scope": scope, "ratePerSecond": rate, "burst": burst if burst is not None else rate}


def clear_faults(request: Request) -> dict[str, Any]:
    body = _body(request)
    account = _account(body["accountId"], "accountId") if body.get("accountId") else None
    faults.clear(account)
    return {"cleared": True, "accountId": account}


def list_requests(request: Request) -> dict[str, Any]:
    args = request.args
    try:
        since = int(args.get("since", "0"))
    except ValueError:
        raise ControlError("since must be a sequence number") from None
    filters = {
        "accountId": args.get("account"),
        "region": args.get("region"),
        "service": args.get("service"),
        "operation": args.get("operation"),
        "app": args.get("app"),
    }
    return {"requests": requestlog.listed(filters, since), "last": requestlog.last_sequence()}


Handler = Callable[..., dict[str, Any]]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"^/health$"), health),
    ("POST", re.compile(r"^/organization$"), create_organization),
    ("GET", re.compile(r"^/clock$"), get_clock),
    ("POST", re.compile(r"^/clock$"), set_clock),
    ("POST", re.compile(r"^/job-mode$"), set_job_mode),
    ("GET", re.compile(r"^/jobs/(?P<job_id>[^/]+)$"), get_job),
    ("POST", re.compile(r"^/jobs/(?P<job_id>[^/]+)/advance$"), advance_job),
    ("POST", re.compile(r"^/jobs/(?P<job_id>[^/]+)/fail$"), fail_job),
    ("POST", re.compile(r"^/plan-backup-jobs$"), plan_backup_job),
    ("POST", re.compile(r"^/vault-lock/end-cooling-off$"), end_lock_cooling_off),
    ("POST", re.compile(r"^/lifecycle/sweep$"), sweep_lifecycle),
    ("GET", re.compile(r"^/events$"), list_events),
    ("POST", re.compile(r"^/tick$"), tick),
    ("POST", re.compile(r"^/events/delivery$"), set_event_delivery),
    ("POST", re.compile(r"^/events/release$"), release_events),
    ("GET", re.compile(r"^/events/held$"), held_events),
    ("POST", re.compile(r"^/faults/copy-failures$"), add_copy_failure),
    ("POST", re.compile(r"^/faults/errors$"), add_api_fault),
    ("POST", re.compile(r"^/faults/throttling$"), set_throttling),
    ("POST", re.compile(r"^/faults/clear$"), clear_faults),
    ("GET", re.compile(r"^/requests$"), list_requests),
]

# The pre-prod refresh's calls live with it (it imports this module's helpers).
from .restore_control import ROUTES as _RESTORE_ROUTES  # noqa: E402

ROUTES.extend(_RESTORE_ROUTES)


def _respond(status: int, payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def control_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    request = Request(environ)
    path = request.path.removeprefix(PREFIX)
    matched_path = False
    response = None
    for method, pattern, handler in ROUTES:
        match = pattern.match(path)
        if not match:
            continue
        matched_path = True
        if method != request.method:
            continue
        try:
            with STATE_LOCK:
                response = _respond(200, handler(request, **match.groupdict()))
        except ControlError as exc:
            response = _respond(exc.status, {"error": str(exc)})
        except BackupError as exc:
            response = _respond(exc.code or 400, {"error": exc.error_code, "message": exc.message})
        except HTTPException as exc:
            response = _respond(exc.code or 400, {"error": exc.description})
        except Exception as exc:  # a bug in the test bed: report it as JSON, keep serving
            _log.exception("control call %s %s failed", request.method, request.path)
            response = _respond(500, {"error": f"{type(exc).__name__}: {exc}"})
        break
    if response is None:
        status = 405 if matched_path else 404
        response = _respond(status, {"error": f"no control call {request.method} {request.path}"})
    return response(environ, start_response)


class TestbedApplication:
    """WSGI front: ``/_testbed/`` goes to the control API, everything else to moto."""

    def __init__(self, moto_app: Callable[..., Any]):
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return control_app(environ, start_response)
        return self.moto_app(environ, start_response)

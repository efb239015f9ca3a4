"""The test bed's control API under ``/_testbed/`` (JSON over HTTP, same port as moto).

It does what tests need and AWS has no API for: an organization with chosen account
ids, job progress by hand, a movable clock, plan-created backup jobs, the lifecycle
sweep, and a log of emitted events. See tests/testbed/README.md for every call.
"""

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from . import clock, events, jobs, organization
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


def get_clock(request: Request) -> dict[str, Any]:
    return {"now": clock.iso_millis(clock.now()), "offsetSeconds": clock.offset_seconds()}


def set_clock(request: Request) -> dict[str, Any]:
    offset = _field(_body(request), "offsetSeconds")
    if not isinstance(offset, (int, float)) or isinstance(offset, bool):
        raise ControlError("offsetSeconds must be a number")
    clock.set_offset(offset)
    return get_clock(request)


def set_job_mode(request: Request) -> dict[str, Any]:
    body = _body(request)
    account = _account(body["accountId"], "accountId") if body.get("accountId") else None
    try:
        jobs.set_mode(_field(body, "mode"), account)
    except ValueError as exc:
        raise ControlError(str(exc)) from exc
    return {"mode": body["mode"], "accountId": account}


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
    job = backend.start_backup_job(params, created_by=created_by, continuous=bool(body.get("continuous")))
    return _job_state(job) | {"recoveryPointArn": job.recovery_point_arn, "createdBy": created_by}


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
]


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

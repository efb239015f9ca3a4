"""CloudFormation StackSets closer to AWS than moto 5.2.1's, for crossvault's CLI tests.

Imported once (``install.py``); importing applies the changes to moto's classes. What changes,
each an AWS behaviour moto lacks (the StackSets API reference):

- ``DescribeStackSet`` reports what ``CreateStackSet`` / ``UpdateStackSet`` set:
  ``Capabilities``, ``AutoDeployment``, ``ManagedExecution`` (moto: none, null, always false).
- Service-managed targets: OUs expand to every account below them at any depth (moto: one
  level), **never the management account**, and ``AccountFilterType`` INTERSECTION /
  DIFFERENCE / UNION with ``Accounts`` is applied; instances carry their
  ``OrganizationalUnitId``.
- An instance whose stack cannot be created fails alone, as in AWS: its status is OUTDATED with
  ``DetailedStatus`` FAILED and the reason; the operation ends FAILED; the call itself succeeds
  (moto: the whole request fails with the stack's error, in the wrong protocol).
- ``ListStackSetOperationResults`` reports each account/region's own status and reason.
- ``DeleteStackInstances`` takes ``DeploymentTargets`` (service-managed) and ``RetainStacks``.
- ``CallAs=DELEGATED_ADMIN``: allowed only for an account registered as delegated
  administrator for ``member.org.stacksets.cloudformation.amazonaws.com``, and the StackSet then
  lives in the management account; otherwise ``ValidationError`` "Account used is not a
  delegated administrator" (as AWS answers).
- ``TemplateURL`` in path style on the test bed's own endpoint
  (``http://127.0.0.1:<port>/<bucket>/<key>``, what a client with a custom S3 endpoint builds)
  is read from that bucket, as AWS reads its path-style ``https://s3.<region>.amazonaws.com/<bucket>/<key>``
  (moto: takes the host's first label for the bucket).
- The short form ``!Condition Name`` inside a condition (``!And [!Condition A, ...]``) refers to
  that condition, as in AWS (moto's YAML loader makes it ``Fn::Condition``, which its condition
  evaluator does not know, so every ``!And`` with one is false).

Operations still succeed or fail at once (no RUNNING state), as in moto.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import StackInstance, StackInstances, StackSet, cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult
from moto.moto_api._internal import mock_random
from moto.organizations.models import FakeDelegatedAdministrator

from .organization import management_backend_of

STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"

# AWS lets an account be the StackSets delegated administrator; moto 5.2.1 refuses the principal.
if STACKSETS_PRINCIPAL not in FakeDelegatedAdministrator.SUPPORTED_SERVICES:
    FakeDelegatedAdministrator.SUPPORTED_SERVICES.append(STACKSETS_PRINCIPAL)


# --- what DescribeStackSet reports -------------------------------------------------------------


def _managed_execution(self: StackSet) -> dict[str, Any]:
    return {"Active": bool(getattr(self, "_cv_managed_execution", False))}


StackSet.managed_execution = property(_managed_execution)  # type: ignore[assignment]


def _record_settings(stackset: StackSet, params: dict[str, Any], creating: bool) -> None:
    if "Capabilities" in params or creating:
        stackset.capabilities = list(params.get("Capabilities") or [])
    auto = params.get("AutoDeployment")
    if auto is not None:
        stackset.auto_deployment = {
            "Enabled": str(auto.get("Enabled", False)).lower() == "true",
            "RetainStacksOnAccountRemoval": str(auto.get("RetainStacksOnAccountRemoval", False)).lower() == "true",
        }
    elif creating:
        stackset.auto_deployment = (
            {"Enabled": False, "RetainStacksOnAccountRemoval": False}
            if stackset.permission_model == "SERVICE_MANAGED"
            else None
        )
    managed = params.get("ManagedExecution")
    if managed is not None:
        stackset._cv_managed_execution = str(managed.get("Active", False)).lower() == "true"


# --- CallAs ------------------------------------------------------------------------------------


def _cloudformation_backend(self: CloudFormationResponse) -> Any:
    account = self.current_account
    if self._get_param("CallAs") == "DELEGATED_ADMIN":
        management = management_backend_of(account)
        registered = management is not None and any(
            admin.account.id == account and STACKSETS_PRINCIPAL in admin.services
            for admin in management.admins
        )
        if not registered:
            raise ValidationError(message="Account used is not a delegated administrator")
        account = management.org.master_account_id
    return cloudformation_backends[account][self.region]


CloudFormationResponse.cloudformation_backend = property(_cloudformation_backend)  # type: ignore[assignment]


def _wrap_settings(name: str, creating: bool) -> None:
    original = getattr(CloudFormationResponse, name)

    def wrapped(self: CloudFormationResponse) -> ActionResult:
        result = original(self)
        stackset = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
        _record_settings(stackset, self._get_params(), creating)
        return result

    setattr(CloudFormationResponse, name, wrapped)


_wrap_settings("create_stack_set", creating=True)
_wrap_settings("update_stack_set", creating=False)


# --- targets -----------------------------------------------------------------------------------


def _service_managed_targets(instances: StackInstances, targets: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(account, OU it is deployed through) for DeploymentTargets, as AWS expands them."""
    org_backend = instances.org_backend
    management = org_backend.org.master_account_id if org_backend.org else None
    requested = list(targets.get("OrganizationalUnitIds") or [])
    wanted: dict[str, str] = {ou: ou for ou in requested}
    changed = True
    while changed:
        changed = False
        for ou in org_backend.ou:
            if ou.parent_id in wanted and ou.id not in wanted:
                wanted[ou.id] = wanted[ou.parent_id]
                changed = True
    found = [
        (account.id, wanted[account.parent_id])
        for account in org_backend.accounts
        if account.parent_id in wanted and account.id != management and account.status == "ACTIVE"
    ]
    accounts = set(targets.get("Accounts") or [])
    kind = targets.get("AccountFilterType") or ("INTERSECTION" if accounts else "NONE")
    if kind == "INTERSECTION":
        found = [f for f in found if f[0] in accounts]
    elif kind == "DIFFERENCE":
        found = [f for f in found if f[0] not in accounts]
    elif kind == "UNION":
        found += [(a, None) for a in sorted(accounts) if all(a != f[0] for f in found)]
    return found


class FailedInstance:
    """An instance whose stack could not be created: kept, OUTDATED, with the reason."""

    def __init__(self, account_id: str, region_name: str, stackset_id: str, stack_name: str, reason: str, ou: str | None):
        self.account_id = account_id
        self.region_name = region_name
        self.stackset_id = stackset_id
        self.stack_name = stack_name
        self.parameters: list[dict[str, Any]] = []
        self.reason = reason
        self._cv_ou = ou

    def delete(self) -> None:
        pass

    def to_dict(self) -> dict[str, Any]:
        out = {
            "StackId": cfn_models.generate_stack_id(self.stack_name, self.region_name, self.account_id),
            "StackSetId": self.stackset_id,
            "Region": self.region_name,
            "Account": self.account_id,
            "Status": "OUTDATED",
            "StatusReason": self.reason,
            "ParameterOverrides": self.parameters,
            "StackInstanceStatus": {"DetailedStatus": "FAILED"},
        }
        if self._cv_ou:
            out["OrganizationalUnitId"] = self._cv_ou
        return out


def _instance_init(
    self: StackInstance,
    account_id: str,
    region_name: str,
    stackset_id: str,
    stack_name: str,
    name: str,
    template: str,
    parameters: list[dict[str, Any]] | dict[str, str] | None,
    permission_model: str,
) -> None:
    """An instance's stack is an ordinary stack of the target account, named as AWS names it
    (moto keeps service-managed ones outside the backend, where custom resources cannot find
    their stack and fail)."""
    self.account_id = account_id
    self.region_name = region_name
    self.stackset_id = stackset_id
    self.stack_name = stack_name
    self.name = name
    self.template = template
    self.parameters = parameters or []
    self.permission_model = permission_model
    if isinstance(parameters, dict):
        params = dict(parameters)
    else:
        params = {p["ParameterKey"]: p["ParameterValue"] for p in (parameters or [])}
    self.stack = cloudformation_backends[account_id][region_name].create_stack(
        name=f"StackSet-{name}-{mock_random.uuid4()}", template=template, parameters=params
    )


def _instance_delete(self: StackInstance) -> None:
    cloudformation_backends[self.account_id][self.region_name].delete_stack(self.stack.stack_id)


StackInstance.__init__ = _instance_init  # type: ignore[method-assign]
StackInstance.delete = _instance_delete  # type: ignore[method-assign]

_original_to_dict = StackInstance.to_dict


def _instance_to_dict(self: StackInstance) -> dict[str, Any]:
    out = _original_to_dict(self)
    ou = getattr(self, "_cv_ou", None)
    if ou:
        out["OrganizationalUnitId"] = ou
    return out


StackInstance.to_dict = _instance_to_dict  # type: ignore[method-assign]


def _reason(error: Exception) -> str:
    code = getattr(error, "error_type", None) or getattr(error, "code", None) or type(error).__name__
    message = getattr(error, "message", None) or str(error)
    return f"Stack creation failed: {code}: {message}"


def _create_stack_instances(
    self: StackSet,
    accounts: list[str],
    regions: list[str],
    deployment_targets: dict[str, Any] | None,
    parameters: list[dict[str, Any]],
) -> str:
    if self.permission_model == "SERVICE_MANAGED":
        if not deployment_targets or "OrganizationalUnitIds" not in deployment_targets:
            raise ValidationError(
                message="StackSets with SERVICE_MANAGED permission model can only have OrganizationalUnit as target"
            )
        pairs = _service_managed_targets(self.instances, deployment_targets)
    else:
        if deployment_targets and "OrganizationalUnitIds" in deployment_targets:
            raise ValidationError(message="StackSets with SELF_MANAGED permission model can only have accounts as target")
        pairs = [(a, None) for a in (accounts or (deployment_targets or {}).get("Accounts") or [])]
    for region in regions:
        for account, _ in pairs:
            if self.instances.get_instance(account, region) is not None:
                raise ValidationError(message=f"Stack instance for account {account} in {region} already exists")
    params = parameters or self.parameters
    results: dict[str, dict[str, str]] = {}
    for region in regions:
        for account, ou in pairs:
            key = f"{account}/{region}"
            try:
                instance: Any = StackInstance(
                    account_id=account,
                    region_name=region,
                    stackset_id=self.id,
                    stack_name=self.instances.stack_name,
                    name=self.name,
                    template=self.template,
                    parameters=params,
                    permission_model=self.permission_model,
                )
                instance._cv_ou = ou
                results[key] = {"Status": "SUCCEEDED"}
            except Exception as error:  # noqa: BLE001 - any stack error fails this instance only
                reason = _reason(error)
                instance = FailedInstance(account, region, self.id, self.instances.stack_name, reason, ou)
                results[key] = {"Status": "FAILED", "StatusReason": reason}
            self.instances.stack_instances.append(instance)
    operation_id = str(mock_random.uuid4())
    failed = any(r["Status"] == "FAILED" for r in results.values())
    operation = self._create_operation(
        operation_id=operation_id,
        action="CREATE",
        status="FAILED" if failed else "SUCCEEDED",
        accounts=sorted({a for a, _ in pairs}),
        regions=regions,
    )
    operation["Results"] = results
    if failed:
        operation["StatusReason"] = "Stack instances failed: " + ", ".join(k for k, r in results.items() if r["Status"] == "FAILED")
    return operation_id


StackSet.create_stack_instances = _create_stack_instances  # type: ignore[method-assign]


def _get_instance(self: StackInstances, account: str, region: str) -> Any:
    for instance in self.stack_instances:
        if instance.region_name == region and instance.account_id == account:
            return instance
    return None


StackInstances.get_instance = _get_instance  # type: ignore[method-assign]


def _delete_stack_instances(self: CloudFormationResponse) -> ActionResult:
    params = self._get_params()
    stackset = self.cloudformation_backend.describe_stack_set(params["StackSetName"])
    regions = list(params.get("Regions") or [])
    targets = params.get("DeploymentTargets")
    if stackset.permission_model == "SERVICE_MANAGED":
        if not targets or "OrganizationalUnitIds" not in targets:
            raise ValidationError(message="StackSets with SERVICE_MANAGED permission model can only have OrganizationalUnit as target")
        accounts = {a for a, _ in _service_managed_targets(stackset.instances, targets)}
        # Instances deployed through these OUs go even if their account has moved since.
        ous = set(targets["OrganizationalUnitIds"])
        accounts |= {
            i.account_id for i in stackset.instances.stack_instances if getattr(i, "_cv_ou", None) in ous
        }
    else:
        accounts = set(params.get("Accounts") or [])
    retain = str(params.get("RetainStacks", "false")).lower() == "true"
    doomed = [i for i in stackset.instances.stack_instances if i.region_name in regions and i.account_id in accounts]
    for instance in doomed:
        if not retain:
            instance.delete()
        stackset.instances.stack_instances.remove(instance)
    operation_id = params.get("OperationId") or str(mock_random.uuid4())
    operation = stackset._create_operation(
        operation_id=operation_id,
        action="DELETE",
        status="SUCCEEDED",
        accounts=sorted(accounts),
        regions=regions,
    )
    operation["Results"] = {f"{i.account_id}/{i.region_name}": {"Status": "SUCCEEDED"} for i in doomed}
    return ActionResult({"OperationId": operation_id})


CloudFormationResponse.delete_stack_instances = _delete_stack_instances  # type: ignore[method-assign]


def _list_stack_set_operation_results(self: CloudFormationResponse) -> ActionResult:
    operation = self.cloudformation_backend.list_stack_set_operation_results(
        self._get_param("StackSetName"), self._get_param("OperationId")
    )
    results = operation.get("Results")
    summaries = []
    if results is None:
        for instance in operation["Instances"]:
            for account, region in instance.items():
                summaries.append({"Account": account, "Region": region, "Status": operation["Status"]})
    else:
        for key, result in results.items():
            account, region = key.split("/", 1)
            summaries.append({"Account": account, "Region": region, **result})
    return ActionResult({"Summaries": summaries})


CloudFormationResponse.list_stack_set_operation_results = _list_stack_set_operation_results  # type: ignore[method-assign]


def _describe_stack_set_operation(self: CloudFormationResponse) -> ActionResult:
    from moto.cloudformation.responses import StackSetOperationDTO

    stackset, operation = self.cloudformation_backend.describe_stack_set_operation(
        self._get_param("StackSetName"), self._get_param("OperationId")
    )
    dto = StackSetOperationDTO(operation, stackset)
    dto.status_reason = operation.get("StatusReason")
    return ActionResult({"StackSetOperation": dto})


CloudFormationResponse.describe_stack_set_operation = _describe_stack_set_operation  # type: ignore[method-assign]


# --- artifact bucket policies ----------------------------------------------------------------
#
# moto 5.2.1 evaluates a bucket policy for object requests without any request context, so a
# Deny conditioned on aws:PrincipalOrgID (the pattern of AWS's staging buckets, and of
# crossvault's) denies everyone. Here the policy is evaluated with the caller's context, by the
# test bed's own evaluator: aws:PrincipalAccount, aws:PrincipalArn (the role for assumed-role
# keys), aws:PrincipalOrgID and aws:PrincipalOrgPaths from moto's organization, and
# aws:SecureTransport "true" (the test bed stands in for AWS's HTTPS endpoints).

import threading  # noqa: E402

from moto.s3.models import FakeBucket  # noqa: E402
from moto.s3.responses import S3Response  # noqa: E402
from moto.sts.models import sts_backends  # noqa: E402

from . import policy as _policy  # noqa: E402
from .organization import membership  # noqa: E402

_current = threading.local()
_original_setup_class = S3Response.setup_class


def _setup_class(self: S3Response, request: Any, full_url: str, headers: Any) -> None:
    _original_setup_class(self, request, full_url, headers)
    _current.response = self


S3Response.setup_class = _setup_class  # type: ignore[method-assign]


def _caller() -> tuple[str, str] | None:
    response = getattr(_current, "response", None)
    if response is None:
        return None
    account = response.current_account
    principal = f"arn:aws:iam::{account}:root"
    try:
        key = response.get_access_key()
    except Exception:  # noqa: BLE001 - unsigned request: the account alone
        key = None
    if key:
        assumed = sts_backends[account]["aws"].get_assumed_role_from_access_key(key)
        if assumed is not None:
            principal = assumed.role_arn
    return account, principal


def _get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    from moto.iam.access_control import PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    caller = _caller()
    if caller is None:
        return _original_get_permission(self, action, resource)
    account, principal = caller
    context: dict[str, list[str]] = {
        "aws:PrincipalAccount": [account],
        "aws:PrincipalArn": [principal],
        "aws:SecureTransport": ["true"],
    }
    member = membership(account)
    if member is not None:
        context["aws:PrincipalOrgID"] = [member.organization_id]
        context["aws:PrincipalOrgPaths"] = [member.org_path]
    decision = _policy.evaluate(
        _policy.parse(self.policy.decode()),
        _policy.Request(
            action=action,
            resource=resource,
            principal_account=account,
            principal_arn=principal,
            context=context,
        ),
    )
    if decision.effect == _policy.DENY:
        return PermissionResult.DENIED
    if decision.effect == _policy.ALLOW:
        return PermissionResult.PERMITTED
    return PermissionResult.NEUTRAL


_original_get_permission = FakeBucket.get_permission
FakeBucket.get_permission = _get_permission  # type: ignore[method-assign]


# moto 5.2.1 answers GetBucketVersioning with a <GetBucketVersioningResponse> root; S3 (and the
# strict Rust SDK) use <VersioningConfiguration>.
_original_get_bucket_versioning = S3Response.get_bucket_versioning


def _get_bucket_versioning(self: S3Response) -> Any:
    status, headers, body = _original_get_bucket_versioning(self)
    if isinstance(body, bytes):
        body = body.replace(b"GetBucketVersioningResponse", b"VersioningConfiguration")
    elif isinstance(body, str):
        body = body.replace("GetBucketVersioningResponse", "VersioningConfiguration")
    return status, headers, body


S3Response.get_bucket_versioning = _get_bucket_versioning  # type: ignore[method-assign]


# moto 5.2.1 reports a CommaDelimitedList stack parameter as Python's repr of the list
# ("['a', 'b']"); CloudFormation reports it as given, "a,b".
def _parameter_list(self: cfn_models.Stack) -> list[dict[str, Any]]:
    no_echo = self.resource_map.no_echo_parameter_keys
    return [
        {
            "ParameterKey": k,
            "ParameterValue": "****" if k in no_echo else (",".join(v) if isinstance(v, list) else v),
        }
        for k, v in self.resource_map.resolved_parameters.items()
    ]


cfn_models.Stack.parameter_list = property(_parameter_list)  # type: ignore[assignment]


# --- Organizations for a delegated administrator -----------------------------------------------
#
# A member account that is a delegated administrator for any service may call Organizations'
# read operations (List*, Describe*); moto 5.2.1 answers them from the member's own, empty
# backend. They are answered from the management account's backend here, and any other member
# gets AccessDeniedException, as in AWS.

from moto.organizations.exceptions import OrganizationsClientError  # noqa: E402
from moto.organizations.responses import OrganizationsResponse  # noqa: E402

_original_organizations_backend = OrganizationsResponse.organizations_backend


def _organizations_backend(self: OrganizationsResponse) -> Any:
    own = _original_organizations_backend.fget(self)  # type: ignore[attr-defined]
    if own.org is not None:
        return own
    action = (self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
    if not (action.startswith("List") or action.startswith("Describe")):
        return own
    management = management_backend_of(self.current_account)
    if management is None or action == "DescribeOrganization":
        return own
    if any(a.account.id == self.current_account for a in management.admins):
        return management
    raise OrganizationsClientError("AccessDeniedException", "You don't have permissions to access this resource.")


OrganizationsResponse.organizations_backend = property(_organizations_backend)  # type: ignore[assignment]


# -- TemplateURL on a custom endpoint ------------------------------------------------------

from urllib.parse import urlparse, urlunparse  # noqa: E402

from moto.cloudformation import responses as _cfn_responses  # noqa: E402
from moto.cloudformation import utils as _cfn_utils  # noqa: E402

_moto_get_stack_from_s3_url = _cfn_utils.get_stack_from_s3_url


def _get_stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
    parts = urlparse(template_url)
    host = parts.hostname or ""
    if parts.port is not None or host.replace(".", "").isdigit():
        # moto reads "localhost" URLs path-style; a custom endpoint is path-style too.
        template_url = urlunparse(parts._replace(netloc="localhost"))
    return _moto_get_stack_from_s3_url(template_url, account_id, partition)


_cfn_utils.get_stack_from_s3_url = _get_stack_from_s3_url
_cfn_responses.get_stack_from_s3_url = _get_stack_from_s3_url  # imported there by name


# -- !Condition inside conditions ----------------------------------------------------------

from moto.cloudformation import parsing as _cfn_parsing  # noqa: E402

_moto_parse_condition = _cfn_parsing.parse_condition


def _parse_condition(condition: Any, resources_map: Any, condition_map: Any) -> bool:
    if isinstance(condition, dict) and list(condition) == ["Fn::Condition"]:
        return bool(condition_map[condition["Fn::Condition"]])
    return _moto_parse_condition(condition, resources_map, condition_map)


# load_conditions and parse_condition's own recursion look the name up in the module.
_cfn_parsing.parse_condition = _parse_condition

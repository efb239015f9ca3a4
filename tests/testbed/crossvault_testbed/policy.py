"""Evaluation of backup vault access policies (resource-based IAM policies).

Only what vault policies use is modelled: Effect, Principal/NotPrincipal, Action/
NotAction (with IAM wildcards, so ``backup:*`` matches every backup action),
Resource/NotResource and the condition operators of the String, Arn, Bool and Null
families with the ``ForAnyValue:``/``ForAllValues:`` set prefixes and the
``IfExists`` suffix. As in IAM, an explicit Deny beats any Allow, a request no
statement allows is implicitly denied, and condition keys are case-insensitive
(``aws:PrincipalOrgId`` is ``aws:PrincipalOrgID``).

An operator outside these families raises :class:`UnsupportedPolicy` when it is
evaluated: the caller turns it into a clear refusal, never a server error.

Cross-account copies into a vault follow what AWS documents for organization-wide
vault policies: an Allow for every principal (``"*"``) grants them only when the
statement names the organization or OU (an ``aws:PrincipalOrgID`` or
``aws:PrincipalOrgPaths`` condition); "if the organization ID or OU ID isn't
specified, then the cross-account copies fail" (AWS re:Post, "How can I resolve the
Access Denied error when trying to create a cross-account copy in AWS Backup?").
Pass ``org_scoped_wildcards=True`` for that evaluation.
"""

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any

ALLOW = "Allow"
DENY = "Deny"
IMPLICIT_DENY = "ImplicitDeny"


@dataclass(frozen=True)
class Request:
    """Who asks for what. ``principal_arn`` is the IAM role the job runs as."""

    action: str
    resource: str
    principal_account: str
    principal_arn: str
    context: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    effect: str
    statement_id: str | None = None

    @property
    def allowed(self) -> bool:
        return self.effect == ALLOW


class PolicyError(ValueError):
    """The document is not a policy we can evaluate."""


class UnsupportedPolicy(PolicyError):
    """The policy uses an element the test bed does not evaluate (a condition operator)."""

    def __init__(self, operator: str):
        super().__init__(f"unsupported condition operator {operator}")
        self.operator = operator


ORG_CONDITION_KEYS = ("aws:principalorgid", "aws:principalorgpaths")


def parse(document: str) -> dict[str, Any]:
    try:
        parsed = json.loads(document)
    except ValueError as exc:
        raise PolicyError(f"Policy is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict) or "Statement" not in parsed:
        raise PolicyError("Policy must be a JSON object with a Statement")
    statements = _as_list(parsed["Statement"])
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") not in (
            ALLOW,
            DENY,
        ):
            raise PolicyError("Every statement needs an Effect of Allow or Deny")
        if not any(k in statement for k in ("Action", "NotAction")):
            raise PolicyError("Every statement needs an Action or NotAction")
    return parsed


def evaluate(document: dict[str, Any] | None, request: Request, *, org_scoped_wildcards: bool = False) -> Decision:
    """The policy's answer to ``request``. With ``org_scoped_wildcards``, an Allow for
    every principal counts only if it is conditioned on the organization or an OU."""
    if document is None:
        return Decision(IMPLICIT_DENY)
    context = {key.lower(): values for key, values in request.context.items()}
    allowed_by: Decision | None = None
    for statement in _as_list(document.get("Statement")):
        if not _statement_applies(statement, request, context):
            continue
        decision = Decision(statement["Effect"], statement.get("Sid"))
        if decision.effect == DENY:
            return decision
        if org_scoped_wildcards and _wildcard_principal(statement) and not _org_scoped(statement):
            continue
        allowed_by = allowed_by or decision
    return allowed_by or Decision(IMPLICIT_DENY)


def _wildcard_principal(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))


def _org_scoped(statement: dict[str, Any]) -> bool:
    return any(
        key.lower() in ORG_CONDITION_KEYS
        for clauses in statement.get("Condition", {}).values()
        if isinstance(clauses, dict)
        for key in clauses
    )


def _statement_applies(statement: dict[str, Any], request: Request, context: dict[str, list[str]]) -> bool:
    return (
        _principal_matches(statement, request)
        and _matches_element(statement, "Action", request.action, ignore_case=True)
        and _matches_element(statement, "Resource", request.resource, ignore_case=False)
        and _conditions_hold(statement.get("Condition", {}), context)
    )


def _principal_matches(statement: dict[str, Any], request: Request) -> bool:
    if "Principal" in statement:
        return _principal_in(statement["Principal"], request)
    if "NotPrincipal" in statement:
        return not _principal_in(statement["NotPrincipal"], request)
    return False


def _principal_in(principal: Any, request: Request) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for entry in _as_list(principal.get("AWS")):
        if entry == "*":
            return True
        # An account id or its root ARN stands for every principal of the account.
        if entry in (request.principal_account, f"arn:aws:iam::{request.principal_account}:root"):
            return True
        if entry == request.principal_arn:
            return True
    return False


def _matches_element(statement: dict[str, Any], name: str, value: str, *, ignore_case: bool) -> bool:
    if name in statement:
        return any(_wildcard(p, value, ignore_case) for p in _as_list(statement[name]))
    if f"Not{name}" in statement:
        return not any(_wildcard(p, value, ignore_case) for p in _as_list(statement[f"Not{name}"]))
    # A statement without Resource applies to the resource the policy is attached to.
    return name == "Resource"


def _wildcard(pattern: str, value: str, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    return re.fullmatch(fnmatch.translate(pattern).removesuffix(r"\Z"), value) is not None


def _conditions_hold(conditions: dict[str, Any], context: dict[str, list[str]]) -> bool:
    # ``context`` has lower-case keys: IAM condition keys are case-insensitive.
    for operator, clauses in conditions.items():
        for key, expected in clauses.items():
            if not _condition_holds(operator, context.get(key.lower()), _as_list(expected)):
                return False
    return True


_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _condition_holds(operator: str, actual: list[str] | None, expected: list[Any]) -> bool:
    set_operator = None
    if ":" in operator:
        set_operator, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    expected = [str(e) for e in expected]

    if operator == "Null":
        return (actual is None) == (expected[0].lower() == "true")

    compare = _comparator(operator)
    negated = operator in _NEGATED

    def one(value: str) -> bool:
        hit = any(compare(value, e) for e in expected)
        return not hit if negated else hit

    if set_operator == "ForAnyValue":
        return bool(actual) and any(one(v) for v in actual)
    if set_operator == "ForAllValues":
        return all(one(v) for v in actual or [])
    if actual is None:
        # IAM: a missing key fails a positive operator and satisfies a negated one.
        return if_exists or negated
    return all(one(v) for v in actual) if negated else any(one(v) for v in actual)


def _comparator(operator: str):  # type: ignore[no-untyped-def]
    base = operator.replace("Not", "")
    if base == "StringEquals" or base == "ArnEquals":
        return lambda a, e: a == e
    if base == "StringEqualsIgnoreCase":
        return lambda a, e: a.lower() == e.lower()
    if base in ("StringLike", "ArnLike"):
        return lambda a, e: _wildcard(e, a, ignore_case=False)
    if base == "Bool":
        return lambda a, e: a.lower() == e.lower()
    raise UnsupportedPolicy(operator)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]

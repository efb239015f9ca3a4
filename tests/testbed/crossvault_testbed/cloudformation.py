"""CloudFormation stacks that wait for their custom resources, as AWS's do.

moto 5.2.1 creates every resource of a stack at once: a custom resource's request goes to a
Lambda that cannot run without Docker, and whatever reads its attributes (``!GetAtt
VaultKey.KeyArn``) is created at the same moment with the attribute missing (moto resolves it
to nothing and drops the property). AWS creates a resource only once everything it refers to
(``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` variables, in the branches its conditions take) and
everything in its ``DependsOn`` is complete, and a custom resource is complete when its
response arrives. Imported once (``install.py``); importing applies, to moto's classes:

- **Dependency order with waiting**: a stack's resources are created as their dependencies
  complete; a custom resource completes when its SUCCESS response arrives, and the resources
  waiting for it are created then, with its ``Data`` for their ``Fn::GetAtt``.
- **The response URL** ``/cloudformation_<region>/cfnresponse?stack=<stack ARN>`` finds its
  stack by that ARN (account and Region), as AWS's presigned URL needs no credentials; the
  body is the custom-resource response JSON. SUCCESS records ``Data`` and the
  ``PhysicalResourceId``; FAILED fails the resource and the stack (``CREATE_FAILED``, with
  AWS's reasons). A ``Fn::GetAtt`` of a key the response's ``Data`` lacks fails the resource
  that reads it, as in AWS. Rollback is not emulated: a failed stack stays ``CREATE_FAILED``
  (what AWS shows with rollback disabled), resources created so far are kept.
- **What the stack reports**: ``ListStackResources`` / ``DescribeStackResources`` list the
  resources started so far (not those still waiting, nor false-condition ones), each with its
  own status (a custom resource awaiting its response ``CREATE_IN_PROGRESS``, a failed one
  ``CREATE_FAILED`` with the reason); ``Outputs`` appear once the stack is complete.
- **SQS event source mappings are not run**: moto receives from the queue on every
  ``SendMessage`` and invokes the function, which it cannot run; the mapping is kept and
  reported as created (``ListEventSourceMappings``), and the queue's messages stay for
  whoever plays the mapping (the end-to-end harness).

- **A schedule rule matches no event**: moto 5.2.1 treats a rule without ``EventPattern`` as
  matching every event, so each ``aws.backup`` event reached the reconcile schedule's Lambda
  target (and failed, moto delivers to no function); in AWS a schedule rule only fires on its
  schedule.

- **A template is parsed once**: moto parses a stack's template with PyYAML's pure-Python
  loader for every stack (about 0.7 s for crossvault's 60 KB template, so most of a StackSet
  deployment's time); the parse of each distinct template body is kept (a bounded cache) and
  every stack gets its own copy, so nothing is shared between stacks.

- **``AWS::NoValue`` in a list removes the item**: moto 5.2.1 resolves it to ``null`` inside
  lists (``[arn, !If [Cond, arn2, !Ref AWS::NoValue]]`` became ``[arn, null]``, an event pattern
  that also matches events without the field); AWS removes the item.

Updates and deletions are moto's own.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import OrderedDict
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.custom_model import CustomModel
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import Event, Stack, cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse, StackResourceDTO
from moto.ec2.models import ec2_backends
from moto.ec2.models.core import TaggedEC2Resource
from moto.events.models import Rule
from moto.sqs.models import sqs_backends

# Responses arrive on the server's threads; one stack's waiting resources are created by one.
_lock = threading.RLock()

_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")

# --- dependencies ------------------------------------------------------------------------------


def _live(resource_map: parsing.ResourceMap, logical_id: str) -> bool:
    condition = resource_map._resource_json_map[logical_id].get("Condition")
    return not condition or bool(resource_map.lazy_condition_map[condition])


def _walk(value: Any, resource_map: parsing.ResourceMap, refs: set[str], atts: set[tuple[str, str]]) -> None:
    """The resources `value` refers to, following only the branches its conditions take."""
    if isinstance(value, list):
        for item in value:
            _walk(item, resource_map, refs, atts)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and isinstance(arg, str):
            refs.add(arg)
            return
        if key == "Fn::GetAtt":
            parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
            if len(parts) == 2 and isinstance(parts[0], str):
                refs.add(parts[0])
                atts.add((parts[0], str(parts[1])))
            return
        if key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            taken = arg[1] if resource_map.lazy_condition_map[arg[0]] else arg[2]
            _walk(taken, resource_map, refs, atts)
            return
        if key == "Fn::Sub":
            template, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
            for name in _SUB_VARIABLE.findall(str(template)):
                head, _, attribute = name.partition(".")
                if name in variables or head in variables:
                    continue
                refs.add(head)
                if attribute:
                    atts.add((head, attribute))
            _walk(variables, resource_map, refs, atts)
            return
    for item in value.values():
        _walk(item, resource_map, refs, atts)


def _dependencies(resource_map: parsing.ResourceMap, logical_id: str) -> tuple[set[str], set[tuple[str, str]]]:
    """(resources `logical_id` waits for, the attributes it reads of them)."""
    resource_json = resource_map._resource_json_map[logical_id]
    refs: set[str] = set()
    atts: set[tuple[str, str]] = set()
    for key, value in resource_json.items():
        if key not in ("DependsOn", "Condition", "Type", "DeletionPolicy", "UpdateReplacePolicy"):
            _walk(value, resource_map, refs, atts)
    depends_on = resource_json.get("DependsOn") or []
    refs.update([depends_on] if isinstance(depends_on, str) else depends_on)
    resources = resource_map._resource_json_map
    return {r for r in refs if r in resources and r != logical_id}, {a for a in atts if a[0] in resources}


def _complete(resource_map: parsing.ResourceMap, logical_id: str) -> bool:
    if logical_id not in resource_map._cv_done:
        return False
    instance = resource_map._parsed_resources.get(logical_id)
    # A type moto does not model is skipped by moto: nothing to wait for.
    return instance is None or instance.is_created()


# --- creation ----------------------------------------------------------------------------------


def _create(self: parsing.ResourceMap, template: dict[str, Any]) -> bool:
    """moto's ``ResourceMap.create``, creating only what nothing pending holds back."""
    self._template = template
    self._resource_json_map = template["Resources"]
    self.tags.update(
        {
            "aws:cloudformation:stack-name": self["AWS::StackName"],
            "aws:cloudformation:stack-id": self["AWS::StackId"],
        }
    )
    self._cv_done = set()
    self._cv_failed = None
    self._cv_pending = [logical_id for logical_id in self._resource_json_map if _live(self, logical_id)]
    return _advance(self, raise_errors=True)


def _fail(resource_map: parsing.ResourceMap, logical_id: str, reason: str) -> None:
    resource_map._cv_failed = (logical_id, reason)


def _advance(resource_map: parsing.ResourceMap, raise_errors: bool) -> bool:
    """Creates every pending resource whose dependencies are complete, until none is left that
    can be; True when the whole stack is complete. ``raise_errors``: a resource that cannot
    be created raises (stack creation, where the caller reports it) instead of failing it."""
    with _lock:
        progressed = True
        while progressed and resource_map._cv_failed is None:
            progressed = False
            for logical_id in list(resource_map._cv_pending):
                refs, atts = _dependencies(resource_map, logical_id)
                if any(not _complete(resource_map, r) for r in refs):
                    continue
                for ref, attribute in sorted(atts):
                    custom = resource_map._parsed_resources.get(ref)
                    if isinstance(custom, CustomModel) and attribute not in (custom.data or {}):
                        _fail(
                            resource_map,
                            logical_id,
                            f"CustomResource attribute error: Vendor response doesn't contain {attribute} key "
                            f"in object {resource_map.stack_id}|{ref}|{custom.request_id}",
                        )
                        return False
                try:
                    instance = resource_map[logical_id]
                except Exception as error:  # noqa: BLE001 - any model error fails this resource
                    if raise_errors:
                        raise
                    _fail(resource_map, logical_id, getattr(error, "message", None) or str(error))
                    return False
                if isinstance(instance, TaggedEC2Resource):
                    resource_map.tags["aws:cloudformation:logical-id"] = logical_id
                    backend = ec2_backends[resource_map._account_id][resource_map._region_name]
                    backend.create_tags([instance.physical_resource_id], resource_map.tags)
                resource_map._cv_pending.remove(logical_id)
                resource_map._cv_done.add(logical_id)
                progressed = True
        if resource_map._cv_failed is not None:
            return False
        return not resource_map._cv_pending and all(_complete(resource_map, r) for r in resource_map._cv_done)


def _creation_complete(self: parsing.ResourceMap) -> bool:
    # moto's iterates ``self[...]``, which would create the waiting resources on the spot.
    if not hasattr(self, "_cv_pending"):
        return True
    return self._cv_failed is None and not self._cv_pending and all(_complete(self, r) for r in self._cv_done)


parsing.ResourceMap.create = _create  # type: ignore[method-assign]
parsing.ResourceMap.creation_complete = _creation_complete  # type: ignore[method-assign]


def _resource_event(stack: Stack, logical_id: str, status: str, reason: str | None) -> None:
    resource_json = stack.resource_map._resource_json_map.get(logical_id, {})
    instance = stack.resource_map._parsed_resources.get(logical_id)
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=getattr(instance, "physical_resource_id", "") or "",
            resource_type=resource_json.get("Type", ""),
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def _verify_readiness(self: Stack) -> None:
    """After a custom resource's response: create what waited for it, then complete or fail."""
    if self.status != "CREATE_IN_PROGRESS":
        return
    resource_map = self.resource_map
    if _advance(resource_map, raise_errors=False):
        self.mark_creation_complete()
    elif resource_map._cv_failed is not None:
        logical_id, reason = resource_map._cv_failed
        _resource_event(self, logical_id, "CREATE_FAILED", reason)
        self.status = "CREATE_FAILED"
        self.stack_status_reason = f"The following resource(s) failed to create: [{logical_id}]. "
        self._add_stack_event("CREATE_FAILED", resource_status_reason=self.stack_status_reason)


Stack.verify_readiness = _verify_readiness  # type: ignore[method-assign]


# --- the response URL --------------------------------------------------------------------------

_STACK_ARN = re.compile(r"^arn:aws[\w-]*:cloudformation:(?P<region>[\w-]+):(?P<account>\d{12}):stack/")


def _process_cfn_response(self: CloudFormationResponse) -> tuple[int, dict[str, Any], str]:
    stack_id = (self.querystring.get("stack") or [""])[0]
    match = _STACK_ARN.match(stack_id)
    if match is None:
        raise ValidationError(message=f"the response URL names no stack ARN: stack={stack_id!r}")
    try:
        body = json.loads(self.body or "{}")
    except ValueError:
        raise ValidationError(message="a custom resource response must be JSON") from None
    backend = cloudformation_backends[match["account"]][match["region"]]
    with _lock:
        stack = backend.get_stack(stack_id)
        logical_id = body.get("LogicalResourceId")
        custom = stack.custom_resources.get(logical_id)
        if custom is None:
            raise ValidationError(message=f"stack {stack_id} awaits no response for {logical_id!r}")
        if custom.is_created() or getattr(custom, "_cv_failed", False) or stack.status != "CREATE_IN_PROGRESS":
            # AWS takes the first response; later ones change nothing.
            return 200, {"status": 200}, "{}"
        if body.get("PhysicalResourceId"):
            custom.resource_name = body["PhysicalResourceId"]
        if body.get("Status") == "SUCCESS":
            custom.set_data(body.get("Data") or {})
        else:
            custom._cv_failed = True
            _fail(
                stack.resource_map,
                logical_id,
                "Received response status [FAILED] from custom resource. Message returned: "
                + str(body.get("Reason") or "(none)"),
            )
        stack.verify_readiness()
    return 200, {"status": 200}, "{}"


CloudFormationResponse.process_cfn_response = _process_cfn_response  # type: ignore[method-assign]


# --- what the stack reports --------------------------------------------------------------------


def _stack_resources(self: Stack) -> list[Any]:
    resource_map = self.resource_map
    parsed = resource_map._parsed_resources
    # moto's iterates the lazy map, creating whatever was not created yet.
    return [parsed[r] for r in resource_map._resource_json_map if r in parsed and parsed[r] is not None]


Stack.stack_resources = property(_stack_resources)  # type: ignore[assignment]


def _resource_status(stack: Stack, resource: Any) -> tuple[str, str | None]:
    failed = getattr(stack.resource_map, "_cv_failed", None)
    logical_id = getattr(resource, "logical_resource_id", None)
    if failed is not None and failed[0] == logical_id:
        return "CREATE_FAILED", failed[1]
    if isinstance(resource, CustomModel) and not resource.is_created():
        return "CREATE_IN_PROGRESS", None
    if stack.status.startswith("CREATE_"):
        return "CREATE_COMPLETE", None
    return stack.status, None


_original_dto_init = StackResourceDTO.__init__


def _dto_init(self: StackResourceDTO, stack: Stack, resource: Any) -> None:
    _original_dto_init(self, stack, resource)
    self.resource_status, self.resource_status_reason = _resource_status(stack, resource)


StackResourceDTO.__init__ = _dto_init  # type: ignore[method-assign]


def _list_stack_resources(self: CloudFormationResponse) -> Any:
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    summaries = []
    for resource in stack.stack_resources:
        status, reason = _resource_status(stack, resource)
        summary = {
            "ResourceStatus": status,
            "LogicalResourceId": getattr(resource, "logical_resource_id", ""),
            "LastUpdateTimestamp": "2011-06-21T20:15:58Z",
            "PhysicalResourceId": getattr(resource, "physical_resource_id", ""),
            "ResourceType": getattr(resource, "cf_resource_type", ""),
        }
        if reason:
            summary["ResourceStatusReason"] = reason
        summaries.append(summary)
    return cfn_responses.ActionResult({"StackResourceSummaries": summaries})


CloudFormationResponse.list_stack_resources = _list_stack_resources  # type: ignore[method-assign]

_original_outputs = Stack.outputs


def _outputs(self: Stack) -> Any:
    # Resolving them earlier would create waiting resources, and AWS shows none before then.
    if self.status in ("CREATE_IN_PROGRESS", "CREATE_FAILED"):
        return None
    return _original_outputs.fget(self)  # type: ignore[attr-defined]


Stack.outputs = property(_outputs)  # type: ignore[assignment]


# --- event source mappings ---------------------------------------------------------------------

_original_create_event_source_mapping = LambdaBackend.create_event_source_mapping


def _create_event_source_mapping(self: LambdaBackend, spec: dict[str, Any]) -> Any:
    esm = _original_create_event_source_mapping(self, spec)
    for queue in sqs_backends[self.account_id][self.region_name].queues.values():
        if queue.queue_arn == esm.event_source_arn:
            queue.lambda_event_source_mappings.pop(esm.function_arn, None)
    return esm


LambdaBackend.create_event_source_mapping = _create_event_source_mapping  # type: ignore[method-assign]



# --- schedule rules ----------------------------------------------------------------------------

_original_send_to_targets = Rule.send_to_targets


def _send_to_targets(self: Rule, *args: Any, **kwargs: Any) -> None:
    if self.scheduled_expression and not self.event_pattern.get_pattern():
        return
    _original_send_to_targets(self, *args, **kwargs)


Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]


# --- template parsing ----------------------------------------------------------------------------

_parse_template = Stack.parse_template
_parsed: OrderedDict[str, Any] = OrderedDict()
_PARSED_KEPT = 16


def _parse_template_once(template: str) -> dict[str, Any]:
    with _lock:
        parsed = _parsed.get(template)
        if parsed is None:
            parsed = _parse_template(template)
            _parsed[template] = parsed
            while len(_parsed) > _PARSED_KEPT:
                _parsed.popitem(last=False)
        else:
            _parsed.move_to_end(template)
        # moto fills in missing keys of the dict it is given (``Properties``); each stack its own.
        return copy.deepcopy(parsed)


Stack.parse_template = staticmethod(_parse_template_once)  # type: ignore[method-assign]


# --- AWS::NoValue in lists ------------------------------------------------------------------------

_clean_json = parsing.clean_json


def _is_no_value(item: Any, resources_map: parsing.ResourceMap) -> bool:
    if not isinstance(item, dict):
        return False
    if item.get("Ref") == "AWS::NoValue":
        return True
    branch = item.get("Fn::If")
    if isinstance(branch, list) and len(branch) == 3:
        condition, when_true, when_false = branch
        taken = when_true if resources_map.lazy_condition_map[condition] else when_false
        return _is_no_value(taken, resources_map)
    return False


def _clean_json_without_no_value(resource_json: Any, resources_map: parsing.ResourceMap) -> Any:
    if isinstance(resource_json, list):
        return [
            _clean_json(item, resources_map)
            for item in resource_json
            if not _is_no_value(item, resources_map)
        ]
    return _clean_json(resource_json, resources_map)


# moto's clean_json recurses through the module's global, so nested lists are covered too.
parsing.clean_json = _clean_json_without_no_value

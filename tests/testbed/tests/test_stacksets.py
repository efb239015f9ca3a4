"""StackSets, artifact bucket policies and Organizations reads as AWS runs them
(crossvault_testbed/stacksets.py)."""

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

TEMPLATE = json.dumps(
    {
        "Parameters": {"Name": {"Type": "String"}},
        "Resources": {"Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Ref": "Name"}}}},
    }
)


def org(control: Any, management: str, members: dict[str, str]) -> dict[str, Any]:
    return control.ok(
        "POST",
        "/organization",
        {"managementAccountId": management, "accounts": [{"id": a, "ou": ou} for a, ou in members.items()]},
    )


def test_service_managed_targets_skip_the_management_account_and_reach_nested_ous(client, control, accounts):
    management, a, b = accounts(), accounts(), accounts()
    organization = org(control, management, {a: "Workloads", b: "Workloads"})
    orgs = client("organizations", management)
    workloads = next(o["id"] for o in organization["organizationalUnits"] if o["name"] == "Workloads")
    prod = orgs.create_organizational_unit(ParentId=workloads, Name="Prod")["OrganizationalUnit"]["Id"]
    orgs.move_account(AccountId=b, SourceParentId=workloads, DestinationParentId=prod)
    cfn = client("cloudformation", management)
    cfn.create_stack_set(
        StackSetName="s",
        TemplateBody=TEMPLATE,
        Parameters=[{"ParameterKey": "Name", "ParameterValue": "g"}],
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
        ManagedExecution={"Active": True},
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    described = cfn.describe_stack_set(StackSetName="s")["StackSet"]
    assert described["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert described["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert described["ManagedExecution"] == {"Active": True}

    op = cfn.create_stack_instances(
        StackSetName="s", DeploymentTargets={"OrganizationalUnitIds": [organization["rootId"]]}, Regions=["eu-west-1"]
    )["OperationId"]
    instances = cfn.list_stack_instances(StackSetName="s")["Summaries"]
    assert sorted(i["Account"] for i in instances) == sorted([a, b]), "never the management account"
    assert {i["OrganizationalUnitId"] for i in instances} == {organization["rootId"]}
    assert cfn.describe_stack_set_operation(StackSetName="s", OperationId=op)["StackSetOperation"]["Status"] == "SUCCEEDED"
    # Each instance is an ordinary stack of its account.
    stacks = client("cloudformation", b).list_stacks()["StackSummaries"]
    assert [s["StackName"].startswith("StackSet-s-") for s in stacks] == [True]

    cfn.delete_stack_instances(
        StackSetName="s",
        DeploymentTargets={"OrganizationalUnitIds": [organization["rootId"]]},
        Regions=["eu-west-1"],
        RetainStacks=False,
    )
    assert cfn.list_stack_instances(StackSetName="s")["Summaries"] == []


def test_an_instance_that_cannot_be_created_fails_alone(client, control, accounts):
    management, a, b = accounts(), accounts(), accounts()
    org(control, management, {a: "W", b: "W"})
    client("logs", b).create_log_group(logGroupName="taken")
    cfn = client("cloudformation", management)
    cfn.create_stack_set(StackSetName="f", TemplateBody=TEMPLATE, Parameters=[{"ParameterKey": "Name", "ParameterValue": "taken"}])
    op = cfn.create_stack_instances(StackSetName="f", Accounts=[a, b], Regions=["eu-west-1"])["OperationId"]
    operation = cfn.describe_stack_set_operation(StackSetName="f", OperationId=op)["StackSetOperation"]
    assert operation["Status"] == "FAILED"
    results = {r["Account"]: r for r in cfn.list_stack_set_operation_results(StackSetName="f", OperationId=op)["Summaries"]}
    assert results[a]["Status"] == "SUCCEEDED"
    assert results[b]["Status"] == "FAILED"
    assert "already exists" in results[b]["StatusReason"]
    failed = next(i for i in cfn.list_stack_instances(StackSetName="f")["Summaries"] if i["Account"] == b)
    assert failed["Status"] == "OUTDATED"
    assert failed["StackInstanceStatus"] == {"DetailedStatus": "FAILED"}


def test_call_as_delegated_admin_needs_registration_and_reaches_the_management_account(client, control, accounts):
    management, admin = accounts(), accounts()
    org(control, management, {admin: "Infra"})
    cfn = client("cloudformation", admin)
    with pytest.raises(ClientError) as refused:
        cfn.describe_stack_set(StackSetName="d", CallAs="DELEGATED_ADMIN")
    assert refused.value.response["Error"]["Message"] == "Account used is not a delegated administrator"
    # Organizations reads are refused to a member that administers nothing.
    with pytest.raises(ClientError) as denied:
        client("organizations", admin).list_roots()
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"

    client("organizations", management).register_delegated_administrator(
        AccountId=admin, ServicePrincipal="member.org.stacksets.cloudformation.amazonaws.com"
    )
    assert client("organizations", admin).list_roots()["Roots"]
    cfn.create_stack_set(StackSetName="d", TemplateBody=TEMPLATE, PermissionModel="SERVICE_MANAGED", CallAs="DELEGATED_ADMIN")
    assert client("cloudformation", management).describe_stack_set(StackSetName="d")["StackSet"]["StackSetName"] == "d"


def test_bucket_policy_conditions_see_the_callers_organization(client, control, accounts):
    management, member, outsider = accounts(), accounts(), accounts()
    organization = org(control, management, {member: "W"})
    s3 = client("s3", management)
    bucket = f"cv-artifacts-{management}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"code")
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                        "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": organization["organizationId"]}},
                    },
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            }
        ),
    )
    assert client("s3", member).get_object(Bucket=bucket, Key="k")["Body"].read() == b"code"
    with pytest.raises(ClientError) as refused:
        client("s3", outsider).get_object(Bucket=bucket, Key="k")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_get_bucket_versioning_has_s3s_root_element(client, accounts, endpoint):
    account = accounts()
    s3 = client("s3", account)
    s3.create_bucket(Bucket=f"cv-versioned-{account}", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=f"cv-versioned-{account}", VersioningConfiguration={"Status": "Enabled"})
    bodies = []
    s3.meta.events.register("after-call.s3.GetBucketVersioning", lambda http_response, **_: bodies.append(http_response.text))
    assert s3.get_bucket_versioning(Bucket=f"cv-versioned-{account}")["Status"] == "Enabled"
    assert "<VersioningConfiguration" in bodies[0]


def test_stack_parameters_report_lists_as_given(client, accounts):
    account = accounts()
    cfn = client("cloudformation", account)
    template = json.dumps(
        {"Parameters": {"Ids": {"Type": "CommaDelimitedList"}}, "Resources": {"G": {"Type": "AWS::Logs::LogGroup"}}}
    )
    cfn.create_stack(StackName="p", TemplateBody=template, Parameters=[{"ParameterKey": "Ids", "ParameterValue": "a,b"}])
    params = cfn.describe_stacks(StackName="p")["Stacks"][0]["Parameters"]
    assert params == [{"ParameterKey": "Ids", "ParameterValue": "a,b"}]


# Short-form YAML, as crossvault's template is written: a condition that names another with
# !Condition inside !And, and a resource reading an attribute of a conditional one.
CONDITIONAL_TEMPLATE = """
Parameters:
  Backup: {Type: String}
  Existing: {Type: String, Default: ""}
Conditions:
  IsBackup: !Equals [!Ref AWS::AccountId, !Ref Backup]
  IsSource: !Not [!Condition IsBackup]
  CreateOwn: !And [!Condition IsSource, !Equals [!Ref Existing, ""]]
Resources:
  Own:
    Type: AWS::Logs::LogGroup
    Condition: CreateOwn
    Properties: {LogGroupName: own}
  Reader:
    Type: AWS::Logs::LogGroup
    Condition: IsSource
    Properties: {LogGroupName: !If [CreateOwn, !Join ["-", [!Ref Own, reader]], existing-reader]}
"""


def test_a_condition_naming_another_with_the_short_form_is_evaluated(client, accounts):
    source, backup = accounts(), accounts()
    cfn = client("cloudformation", source)
    cfn.create_stack(
        StackName="c", TemplateBody=CONDITIONAL_TEMPLATE, Parameters=[{"ParameterKey": "Backup", "ParameterValue": backup}]
    )
    created = {r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName="c")["StackResourceSummaries"]}
    assert created == {"Own", "Reader"}
    groups = {g["logGroupName"] for g in client("logs", source).describe_log_groups()["logGroups"]}
    assert {"own", "own-reader"} <= groups

    in_backup = client("cloudformation", backup)
    in_backup.create_stack(
        StackName="c", TemplateBody=CONDITIONAL_TEMPLATE, Parameters=[{"ParameterKey": "Backup", "ParameterValue": backup}]
    )
    created = {r["LogicalResourceId"] for r in in_backup.list_stack_resources(StackName="c")["StackResourceSummaries"]}
    assert not created & {"Own", "Reader"}
    assert client("logs", backup).describe_log_groups()["logGroups"] == []


def test_a_template_url_on_the_test_beds_own_endpoint_is_read_path_style(client, accounts, endpoint):
    account = accounts()
    s3 = client("s3", account)
    bucket = f"cv-templates-{account}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=bucket, Key="t/template.json", Body=TEMPLATE.encode())
    cfn = client("cloudformation", account)
    cfn.create_stack_set(
        StackSetName="by-url",
        TemplateURL=f"{endpoint}/{bucket}/t/template.json",
        Parameters=[{"ParameterKey": "Name", "ParameterValue": "g"}],
    )
    assert json.loads(cfn.describe_stack_set(StackSetName="by-url")["StackSet"]["TemplateBody"]) == json.loads(TEMPLATE)

"""Stacks that wait for their custom resources, the response URL, and event source mappings
left to whoever plays them (crossvault_testbed/cloudformation.py)."""

import json
import urllib.request
from typing import Any

# A function for the custom resource's ServiceToken, a custom resource whose attribute a topic
# reads (as crossvault's NotificationTopic reads VaultKey.KeyArn), a queue nothing waits for,
# and a queue with an event source mapping to the function.
TEMPLATE = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Sub "cf-${AWS::Region}"
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
  Function:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: cf-handler
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code: {ZipFile: "def handler(event, context): pass"}
  Key:
    Type: Custom::Key
    Properties:
      ServiceToken: !GetAtt Function.Arn
      Alias: alias/cf
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: cf-topic
      KmsMasterKeyId: !GetAtt Key.KeyArn
  Independent:
    Type: AWS::SQS::Queue
    Properties: {QueueName: cf-independent}
  Events:
    Type: AWS::SQS::Queue
    Properties: {QueueName: cf-events}
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Events.Arn
      FunctionName: !Ref Function
      BatchSize: 10
Outputs:
  KeyArn:
    Value: !GetAtt Key.KeyArn
"""

KEY_ARN = "arn:aws:kms:eu-west-1:{}:key/0e9d2a5c-0000-4000-8000-000000000001"


def respond(endpoint: str, stack_id: str, body: dict[str, Any]) -> int:
    """PUT a custom-resource response as the handler does: no credentials, no account header,
    an empty content type."""
    region = stack_id.split(":")[3]
    request = urllib.request.Request(
        f"{endpoint}/cloudformation_{region}/cfnresponse?stack={stack_id}",
        data=json.dumps({"StackId": stack_id, "RequestId": "r-1", **body}).encode(),
        method="PUT",
        headers={"Content-Type": ""},
    )
    with urllib.request.urlopen(request) as response:
        return response.status


def resources(cfn: Any, stack_id: str) -> dict[str, tuple[str, str | None]]:
    summaries = cfn.list_stack_resources(StackName=stack_id)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: (s["ResourceStatus"], s.get("ResourceStatusReason")) for s in summaries}


def stack(cfn: Any, stack_id: str) -> dict[str, Any]:
    return cfn.describe_stacks(StackName=stack_id)["Stacks"][0]


def test_a_resource_reading_a_custom_resources_attribute_waits_for_its_response(client, accounts, endpoint):
    account = accounts()
    cfn = client("cloudformation", account)
    stack_id = cfn.create_stack(StackName="waits", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_NAMED_IAM"])["StackId"]

    assert stack(cfn, stack_id)["StackStatus"] == "CREATE_IN_PROGRESS"
    assert "Outputs" not in stack(cfn, stack_id)
    assert resources(cfn, stack_id) == {
        "Role": ("CREATE_COMPLETE", None),
        "Function": ("CREATE_COMPLETE", None),
        "Key": ("CREATE_IN_PROGRESS", None),
        "Independent": ("CREATE_COMPLETE", None),
        "Events": ("CREATE_COMPLETE", None),
        "Mapping": ("CREATE_COMPLETE", None),
    }
    sns = client("sns", account)
    assert sns.list_topics()["Topics"] == []

    key_arn = KEY_ARN.format(account)
    status = respond(
        endpoint,
        stack_id,
        {"Status": "SUCCESS", "LogicalResourceId": "Key", "PhysicalResourceId": "key-1", "Data": {"KeyArn": key_arn}},
    )
    assert status == 200

    described = stack(cfn, stack_id)
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert described["Outputs"] == [{"OutputKey": "KeyArn", "OutputValue": key_arn}]
    assert {k: v[0] for k, v in resources(cfn, stack_id).items()} == {
        k: "CREATE_COMPLETE" for k in ("Role", "Function", "Key", "Topic", "Independent", "Events", "Mapping")
    }
    key = cfn.describe_stack_resource(StackName=stack_id, LogicalResourceId="Key")["StackResourceDetail"]
    assert key["PhysicalResourceId"] == "key-1"
    topic_arn = f"arn:aws:sns:eu-west-1:{account}:cf-topic"
    assert sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["KmsMasterKeyId"] == key_arn

    # A second response changes nothing.
    assert respond(endpoint, stack_id, {"Status": "FAILED", "LogicalResourceId": "Key", "Reason": "late"}) == 200
    assert stack(cfn, stack_id)["StackStatus"] == "CREATE_COMPLETE"


def test_a_failed_response_fails_the_resource_and_the_stack(client, accounts, endpoint):
    account = accounts()
    cfn = client("cloudformation", account)
    stack_id = cfn.create_stack(StackName="fails", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_NAMED_IAM"])["StackId"]

    respond(endpoint, stack_id, {"Status": "FAILED", "LogicalResourceId": "Key", "Reason": "the alias is taken"})

    described = stack(cfn, stack_id)
    assert described["StackStatus"] == "CREATE_FAILED"
    assert described["StackStatusReason"] == "The following resource(s) failed to create: [Key]. "
    listed = resources(cfn, stack_id)
    assert listed["Key"] == (
        "CREATE_FAILED",
        "Received response status [FAILED] from custom resource. Message returned: the alias is taken",
    )
    assert "Topic" not in listed
    assert client("sns", account).list_topics()["Topics"] == []
    failures = [
        e
        for e in cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        if e["ResourceStatus"] == "CREATE_FAILED" and e["LogicalResourceId"] == "Key"
    ]
    assert len(failures) == 1


def test_an_attribute_the_response_lacks_fails_the_resource_reading_it(client, accounts, endpoint):
    account = accounts()
    cfn = client("cloudformation", account)
    stack_id = cfn.create_stack(StackName="lacks", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_NAMED_IAM"])["StackId"]

    respond(endpoint, stack_id, {"Status": "SUCCESS", "LogicalResourceId": "Key", "PhysicalResourceId": "k", "Data": {}})

    assert stack(cfn, stack_id)["StackStatus"] == "CREATE_FAILED"
    assert client("sns", account).list_topics()["Topics"] == []
    reason = next(
        e["ResourceStatusReason"]
        for e in cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        if e["ResourceStatus"] == "CREATE_FAILED" and e["LogicalResourceId"] == "Topic"
    )
    assert reason.startswith("CustomResource attribute error: Vendor response doesn't contain KeyArn key")


def test_a_response_for_no_waiting_resource_is_refused(client, accounts, endpoint):
    account = accounts()
    cfn = client("cloudformation", account)
    stack_id = cfn.create_stack(StackName="unknown", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_NAMED_IAM"])["StackId"]
    try:
        respond(endpoint, stack_id, {"Status": "SUCCESS", "LogicalResourceId": "Topic", "Data": {}})
        raise AssertionError("a response for a resource that awaits none was accepted")
    except urllib.error.HTTPError as error:
        assert error.code == 400
    assert stack(cfn, stack_id)["StackStatus"] == "CREATE_IN_PROGRESS"


def test_an_sqs_event_source_mapping_is_kept_but_not_run(client, accounts):
    account = accounts()
    cfn = client("cloudformation", account)
    cfn.create_stack(StackName="mapping", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_NAMED_IAM"])
    mappings = client("lambda", account).list_event_source_mappings()["EventSourceMappings"]
    assert [(m["EventSourceArn"], m["BatchSize"]) for m in mappings] == [
        (f"arn:aws:sqs:eu-west-1:{account}:cf-events", 10)
    ]
    sqs = client("sqs", account)
    url = sqs.get_queue_url(QueueName="cf-events")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="event")
    received = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in received] == [("event", "1")]


def test_a_schedule_rule_matches_no_event(client, accounts):
    account = accounts()
    events = client("events", account)
    sqs = client("sqs", account)
    url = sqs.create_queue(QueueName="scheduled-or-not")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="schedule", ScheduleExpression="rate(6 hours)")
    events.put_targets(
        Rule="schedule", Targets=[{"Id": "handler", "Arn": f"arn:aws:lambda:eu-west-1:{account}:function:none"}]
    )
    events.put_rule(Name="pattern", EventPattern=json.dumps({"source": ["test.source"]}))
    events.put_targets(Rule="pattern", Targets=[{"Id": "queue", "Arn": queue_arn}])

    answer = events.put_events(Entries=[{"Source": "test.source", "DetailType": "t", "Detail": "{}"}])

    assert answer["FailedEntryCount"] == 0
    assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1


NO_VALUE_TEMPLATE = """
Parameters:
  Extra: {Type: String, AllowedValues: ["yes", "no"]}
Conditions:
  WithExtra: !Equals [!Ref Extra, "yes"]
Resources:
  Rule:
    Type: AWS::Events::Rule
    Properties:
      Name: !Sub "novalue-${Extra}"
      EventPattern:
        source: [aws.backup]
        detail:
          sourceBackupVaultArn:
            - first
            - !If [WithExtra, second, !Ref AWS::NoValue]
            - !Ref AWS::NoValue
"""


def test_no_value_in_a_list_removes_the_item(client, accounts):
    account = accounts()
    cfn = client("cloudformation", account)
    events = client("events", account)
    for extra, expected in (("yes", ["first", "second"]), ("no", ["first"])):
        cfn.create_stack(
            StackName=f"novalue-{extra}",
            TemplateBody=NO_VALUE_TEMPLATE,
            Parameters=[{"ParameterKey": "Extra", "ParameterValue": extra}],
        )
        pattern = json.loads(events.describe_rule(Name=f"novalue-{extra}")["EventPattern"])
        assert pattern["detail"]["sourceBackupVaultArn"] == expected

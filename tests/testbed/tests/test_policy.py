"""Unit tests of vault access policy evaluation (no server)."""

from crossvault_testbed import policy

REQUEST = policy.Request(
    action="backup:CopyIntoBackupVault",
    resource="arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault",
    principal_account="111111111111",
    principal_arn="arn:aws:iam::111111111111:role/copy",
    context={"aws:PrincipalOrgID": ["o-abc"], "aws:PrincipalOrgPaths": ["o-abc/r-1/ou-1-prod/"]},
)


def _doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(**extra):
    return {"Effect": "Allow", "Principal": "*", "Action": "backup:CopyIntoBackupVault"} | extra


def test_no_policy_is_an_implicit_deny():
    assert policy.evaluate(None, REQUEST).effect == policy.IMPLICIT_DENY


def test_resource_and_not_action():
    assert policy.evaluate(_doc(_allow(Resource="arn:aws:backup:*:222222222222:backup-vault:*")), REQUEST).allowed
    assert not policy.evaluate(_doc(_allow(Resource="arn:aws:backup:*:333333333333:backup-vault:*")), REQUEST).allowed
    not_action = {"Effect": "Allow", "Principal": "*", "NotAction": "backup:DeleteRecoveryPoint"}
    assert policy.evaluate(_doc(not_action), REQUEST).allowed


def test_not_principal_and_service_principal():
    assert not policy.evaluate(
        _doc({"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "*"}), REQUEST
    ).allowed
    deny_others = {"Effect": "Deny", "NotPrincipal": {"AWS": "111111111111"}, "Action": "backup:*"}
    assert policy.evaluate(_doc(_allow(), deny_others), REQUEST).allowed


def test_condition_operators():
    cases = [
        ({"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}, True),
        ({"StringEquals": {"aws:PrincipalOrgID": ["o-x", "o-abc"]}}, True),
        ({"StringNotEquals": {"aws:PrincipalOrgID": "o-abc"}}, False),
        ({"StringEquals": {"aws:SourceVpc": "vpc-1"}}, False),
        ({"StringNotEquals": {"aws:SourceVpc": "vpc-1"}}, True),
        ({"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}}, True),
        ({"Null": {"aws:SourceVpc": "true"}}, True),
        ({"Null": {"aws:PrincipalOrgID": "true"}}, False),
        ({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-abc/r-1/ou-1-prod/*"}}, True),
        ({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-abc/r-1/ou-1-dev/*"}}, False),
        ({"ForAllValues:StringLike": {"aws:Missing": "x"}}, True),
        ({"ForAnyValue:StringLike": {"aws:Missing": "x"}}, False),
        ({"StringEqualsIgnoreCase": {"aws:PrincipalOrgID": "O-ABC"}}, True),
    ]
    for condition, expected in cases:
        assert policy.evaluate(_doc(_allow(Condition=condition)), REQUEST).allowed is expected, condition


def test_copy_targets_pinning_with_set_operators():
    targets = ["arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault"]
    request = policy.Request("backup:CopyFromBackupVault", "rp", "111111111111", "r", {"backup:CopyTargets": targets})
    pin = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "backup:CopyFromBackupVault",
        "Condition": {"ForAllValues:ArnNotEquals": {"backup:CopyTargets": targets}},
    }
    assert policy.evaluate(_doc(pin), request).effect == policy.IMPLICIT_DENY
    elsewhere = policy.Request(
        "backup:CopyFromBackupVault",
        "rp",
        "111111111111",
        "r",
        {"backup:CopyTargets": ["arn:aws:backup:eu-west-1:9:backup-vault:x"]},
    )
    assert policy.evaluate(_doc(pin), elsewhere).effect == policy.DENY


def test_invalid_documents_are_rejected():
    for document in [
        "not json",
        "[]",
        '{"Statement": [{"Effect": "Maybe", "Action": "x"}]}',
        '{"Statement": [{"Effect": "Allow"}]}',
    ]:
        try:
            policy.parse(document)
        except policy.PolicyError:
            continue
        raise AssertionError(f"accepted {document}")


def test_condition_keys_are_case_insensitive():
    for key in ("aws:PrincipalOrgID", "aws:PrincipalOrgId", "AWS:principalorgid"):
        assert policy.evaluate(_doc(_allow(Condition={"StringEquals": {key: "o-abc"}})), REQUEST).allowed, key
    assert not policy.evaluate(_doc(_allow(Condition={"StringEquals": {"aws:principalorgid": "o-x"}})), REQUEST).allowed


def test_a_wildcard_allow_admits_other_accounts_only_when_scoped_to_the_organization():
    wide_open = _doc(_allow())
    assert policy.evaluate(wide_open, REQUEST).allowed
    assert not policy.evaluate(wide_open, REQUEST, org_scoped_wildcards=True).allowed
    scoped = _doc(_allow(Condition={"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-abc/*"}}))
    assert policy.evaluate(scoped, REQUEST, org_scoped_wildcards=True).allowed
    named = _doc({"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "backup:CopyIntoBackupVault"})
    assert policy.evaluate(named, REQUEST, org_scoped_wildcards=True).allowed


def test_an_unsupported_operator_is_reported_not_crashed_on():
    document = _doc(_allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}))
    try:
        policy.evaluate(document, REQUEST)
    except policy.UnsupportedPolicy as exc:
        assert exc.operator == "DateGreaterThan"
    else:
        raise AssertionError("evaluated an operator the test bed does not know")

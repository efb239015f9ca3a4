//! The template's pre-prod restore: what exists with restores on, which events reach the
//! handler, and which misconfigurations are refused before anything deploys.

use serde_json::{Value as Json, json};

use super::{PREPROD, SOURCE, config_of, delivering_rules, eval, template};

const HOOK_LAMBDA: &str = "arn:aws:lambda:eu-west-1:333333333333:function:mask";

fn statement<'a>(handler: &'a Json, sid: &str) -> Option<&'a Json> {
    handler["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
}

#[test]
fn restores_on_in_pre_prod_bring_the_restore_role_and_the_refresh_rules() {
    let t = template();
    let e = eval(
        &t,
        PREPROD,
        "eu-west-1",
        &[
            ("RestoreOnArrival", "true"),
            ("RestoreMaskingHook", "crossvault-mask"),
        ],
    );
    let role = e.properties("RestoreRole").unwrap().unwrap();
    assert_eq!(role["RoleName"], "crossvault-restore-eu-west-1");
    assert_eq!(
        role["ManagedPolicyArns"],
        json!(["arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"])
    );
    assert!(role.get("Policies").is_none());
    let handler = e.properties("HandlerRole").unwrap().unwrap();
    let pass = statement(&handler, "PassRestoreRole").unwrap();
    assert_eq!(
        pass["Resource"],
        "arn:aws:iam::333333333333:role/crossvault-restore-eu-west-1"
    );
    assert_eq!(
        pass["Condition"],
        json!({"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}})
    );
    // Only crossvault's tags are written, only crossvault-marked resources deleted.
    assert_eq!(
        statement(&handler, "TagRestores").unwrap()["Condition"],
        json!({"ForAllValues:StringLike": {"aws:TagKeys": ["crossvault:*"]}})
    );
    assert_eq!(
        statement(&handler, "DeleteOwnRestores").unwrap()["Condition"],
        json!({"StringEquals": {"aws:ResourceTag/crossvault:restore": "v1"}})
    );
    assert_eq!(
        statement(&handler, "MaskingHook").unwrap()["Resource"][0],
        "arn:aws:ssm:eu-west-1:333333333333:automation-definition/crossvault-mask:*"
    );
    assert_eq!(
        statement(&handler, "StableAddress").unwrap()["Resource"],
        "arn:aws:ssm:eu-west-1:333333333333:parameter/crossvault/preprod/*"
    );
    assert!(statement(&handler, "StableCname").is_none());
    let config = config_of(&e).unwrap();
    assert!(config.restore.on_arrival);
    assert_eq!(
        config.restore.role_arn.as_deref(),
        Some("arn:aws:iam::333333333333:role/crossvault-restore-eu-west-1")
    );
    assert_eq!(
        config.restore.hook_document.as_deref(),
        Some("crossvault-mask")
    );
    // The hook's completion and new DB instances reach the queue.
    let hook_done = json!({"version": "0", "id": "1", "source": "aws.ssm",
        "detail-type": "EC2 Automation Execution Status-change Notification",
        "account": PREPROD, "region": "eu-west-1", "time": "2026-03-02T07:00:00Z", "resources": [],
        "detail": {"ExecutionId": "x", "Definition": "crossvault-mask", "Status": "Success"}});
    assert_eq!(delivering_rules(&e, &hook_done), ["RestoreHookRule"]);
    let mut other_document = hook_done.clone();
    other_document["detail"]["Definition"] = json!("AWS-RestartEC2Instance");
    assert!(delivering_rules(&e, &other_document).is_empty());
    let mut running = hook_done.clone();
    running["detail"]["Status"] = json!("InProgress");
    assert!(delivering_rules(&e, &running).is_empty());
    let created = json!({"version": "0", "id": "2", "source": "aws.rds", "detail-type": "RDS DB Instance Event",
        "account": PREPROD, "region": "eu-west-1", "time": "2026-03-02T07:00:00Z", "resources": [],
        "detail": {"EventID": "RDS-EVENT-0005", "SourceIdentifier": "orders-x"}});
    assert_eq!(delivering_rules(&e, &created), ["RestoreInstanceRule"]);
    let queue = e.properties("EventQueuePolicy").unwrap().unwrap();
    let sources =
        queue["PolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
            .to_string();
    for rule in ["RestoreInstanceRule", "RestoreHookRule"] {
        assert!(
            sources.contains(rule),
            "{rule} may send to the queue: {sources}"
        );
    }
}

#[test]
fn a_lambda_hook_runs_through_crossvaults_document() {
    let t = template();
    let e = eval(
        &t,
        PREPROD,
        "eu-west-1",
        &[
            ("RestoreOnArrival", "true"),
            ("RestoreMaskingHook", HOOK_LAMBDA),
        ],
    );
    let document = e.properties("RestoreHookDocument").unwrap().unwrap();
    assert_eq!(document["Name"], "crossvault-restore-hook");
    assert_eq!(document["DocumentType"], "Automation");
    let content = &document["Content"];
    assert_eq!(
        content["assumeRole"],
        "arn:aws:iam::333333333333:role/crossvault-restore-hook-eu-west-1"
    );
    for parameter in [
        "ResourceArn",
        "ResourceType",
        "Endpoint",
        "SourceResourceArn",
        "RecoveryPointArn",
    ] {
        assert!(
            content["parameters"].get(parameter).is_some(),
            "{parameter}"
        );
    }
    assert_eq!(
        content["mainSteps"][0]["inputs"]["InputPayload"]["FunctionName"],
        HOOK_LAMBDA
    );
    let script = content["mainSteps"][0]["inputs"]["Script"]
        .as_str()
        .unwrap();
    assert!(
        script.contains("FunctionError") && script.contains("raise"),
        "{script}"
    );
    let hook_role = e.properties("RestoreHookRole").unwrap().unwrap();
    assert_eq!(
        hook_role["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"],
        HOOK_LAMBDA
    );
    let config = config_of(&e).unwrap();
    assert_eq!(
        config.restore.hook_document.as_deref(),
        Some("crossvault-restore-hook")
    );
    let handler = e.properties("HandlerRole").unwrap().unwrap();
    assert_eq!(
        statement(&handler, "PassHookRole").unwrap()["Condition"],
        json!({"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}})
    );
    // A document of yours runs as the role you name, if any; without one nothing is passed.
    let yours = eval(
        &t,
        PREPROD,
        "eu-west-1",
        &[
            ("RestoreOnArrival", "true"),
            ("RestoreMaskingHook", "mask"),
            (
                "RestoreMaskingHookRoleArn",
                "arn:aws:iam::333333333333:role/masker",
            ),
        ],
    );
    assert!(!yours.exists("RestoreHookDocument"));
    let handler = yours.properties("HandlerRole").unwrap().unwrap();
    assert_eq!(
        statement(&handler, "PassYourHookRole").unwrap()["Resource"],
        "arn:aws:iam::333333333333:role/masker"
    );
}

/// A document given by ARN (e.g. shared from another account): its completion event may
/// name it by ARN or by name; both reach the queue, another document's does not.
#[test]
fn a_hook_document_given_by_arn_is_matched_by_arn_and_by_name() {
    let t = template();
    let arn = "arn:aws:ssm:eu-west-1:555555555555:document/central-mask";
    let e = eval(
        &t,
        PREPROD,
        "eu-west-1",
        &[("RestoreOnArrival", "true"), ("RestoreMaskingHook", arn)],
    );
    let done = |definition: &str| {
        json!({"version": "0", "id": "1", "source": "aws.ssm",
            "detail-type": "EC2 Automation Execution Status-change Notification",
            "account": PREPROD, "region": "eu-west-1", "time": "2026-03-02T07:00:00Z",
            "resources": [],
            "detail": {"ExecutionId": "x", "Definition": definition, "Status": "Failed"}})
    };
    assert_eq!(delivering_rules(&e, &done(arn)), ["RestoreHookRule"]);
    assert_eq!(
        delivering_rules(&e, &done("central-mask")),
        ["RestoreHookRule"]
    );
    assert!(delivering_rules(&e, &done("other-mask")).is_empty());
}

#[test]
fn restores_exist_only_in_pre_prod_and_only_when_switched_on() {
    let t = template();
    let on = [("RestoreOnArrival", "true"), ("RestoreMaskingHook", "mask")];
    for (account, extra) in [(SOURCE, &on[..]), (PREPROD, &[][..])] {
        let e = eval(&t, account, "eu-west-1", extra);
        for id in [
            "RestoreRole",
            "RestoreInstanceRule",
            "RestoreHookRule",
            "RestoreHookDocument",
        ] {
            assert!(!e.exists(id), "{id} in {account} {extra:?}");
        }
        assert!(!config_of(&e).unwrap().restore.on_arrival);
    }
}

#[test]
fn restores_without_masking_are_refused_unless_accepted() {
    let t = template();
    let e = eval(&t, PREPROD, "eu-west-1", &[("RestoreOnArrival", "true")]);
    let error = config_of(&e).unwrap_err().to_string();
    assert!(error.contains("RestoreUnmasked"), "{error}");
    assert!(
        config_of(&eval(
            &t,
            PREPROD,
            "eu-west-1",
            &[("RestoreOnArrival", "true"), ("RestoreUnmasked", "true")]
        ))
        .is_ok()
    );
    // Half a DNS configuration is refused too.
    let e = eval(
        &t,
        PREPROD,
        "eu-west-1",
        &[
            ("RestoreOnArrival", "true"),
            ("RestoreUnmasked", "true"),
            ("RestoreHostedZoneId", "Z0PREPROD"),
        ],
    );
    assert!(
        config_of(&e)
            .unwrap_err()
            .to_string()
            .contains("CROSSVAULT_RESTORE_DNS_DOMAIN")
    );
}

#[test]
fn slack_reads_only_its_parameter() {
    let t = template();
    let e = eval(
        &t,
        SOURCE,
        "eu-west-1",
        &[("SlackWebhookParameter", "/team/slack")],
    );
    let handler = e.properties("HandlerRole").unwrap().unwrap();
    assert_eq!(
        statement(&handler, "SlackWebhook").unwrap()["Resource"],
        "arn:aws:ssm:eu-west-1:111111111111:parameter/team/slack"
    );
    assert!(statement(&handler, "SlackWebhookSecret").is_none());
    let e = eval(
        &t,
        SOURCE,
        "eu-west-1",
        &[(
            "SlackWebhookParameter",
            "/aws/reference/secretsmanager/team-slack",
        )],
    );
    let handler = e.properties("HandlerRole").unwrap().unwrap();
    assert_eq!(
        statement(&handler, "SlackWebhookSecret").unwrap()["Resource"],
        "arn:aws:secretsmanager:eu-west-1:111111111111:secret:team-slack-??????"
    );
}

//! The Terraform module (`template/terraform/`) sets every template parameter, defaults
//! included (CloudFormation reports defaults back, and a parameter left out would show as a
//! change on every `terraform plan`). Its defaults file must match the template.
//!
//! After a template change: `CROSSVAULT_UPDATE_TERRAFORM_DEFAULTS=1 cargo test -p crossvault
//! --test terraform` rewrites it.

use std::collections::BTreeMap;

use crossvault_stackset::template::Template;

const DEFAULTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../template/terraform/parameter-defaults.json"
);

#[test]
fn terraform_parameter_defaults_match_the_template() {
    let template = Template::parse(crossvault_stackset::deployment::TEMPLATE).unwrap();
    let expected: BTreeMap<String, String> = template
        .parameters()
        .iter()
        .filter_map(|(name, p)| p.default.clone().map(|d| (name.clone(), d)))
        .collect();
    let expected_text = format!("{}\n", serde_json::to_string_pretty(&expected).unwrap());
    if std::env::var_os("CROSSVAULT_UPDATE_TERRAFORM_DEFAULTS").is_some() {
        std::fs::write(DEFAULTS, &expected_text).unwrap();
    }
    let actual = std::fs::read_to_string(DEFAULTS).unwrap_or_default();
    assert_eq!(
        actual, expected_text,
        "template/terraform/parameter-defaults.json is out of date with the template: \
         CROSSVAULT_UPDATE_TERRAFORM_DEFAULTS=1 cargo test -p crossvault --test terraform"
    );
    // The parameters without a default are the ones the module requires.
    let required: Vec<&String> = template
        .parameters()
        .iter()
        .filter(|(_, p)| p.default.is_none())
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        required,
        [
            "ArtifactBucketPrefix",
            "ArtifactKey",
            "BackupAccountId",
            "BackupRegion",
            "BackupRegionAlternate"
        ],
        "template/terraform/variables.tf's validation names the required parameters"
    );
}

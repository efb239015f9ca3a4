//! `Custom::VaultKey`: the customer managed KMS key of crossvault's vault (and topic) in one
//! account and region, found by its alias, created only when there is none.
//!
//! A native `AWS::KMS::Key` is created anew by every stack that is created: a stack instance
//! that is deleted (retaining its key, because retained vaults need it) and created again would
//! orphan one key ($1/month) each time, and its vault — retained too — would still be encrypted
//! with the old one. Finding the key by alias makes re-creation adopt what the previous stack
//! left behind.
//!
//! - Create/Update: the key behind `AliasName` is adopted if crossvault created it (its tag says
//!   so; other keys' policies are never touched), it is customer managed, enabled, symmetric, and
//!   as multi-Region as asked — that cannot change after creation; otherwise a
//!   key is created with the policy, tagged, aliased, rotation on. An adopted key's policy is
//!   converged to `KeyPolicy` — unless its current policy carries crossvault's protection
//!   statement (`CrossvaultProtectKey`, denying `PutKeyPolicy` to all but the break-glass
//!   roles): that policy stays, and the answer says so.
//! - Delete: the key and alias stay (a retained vault's recovery points need the key).

use std::sync::OnceLock;

use aws_config::SdkConfig;
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeySpec, KeyState, KeyUsageType, Tag};
use serde_json::{Map, Value};

use crate::aws_error::{self, ErrorClass};
use crate::custom_resource::{
    OpResult, Outcome, Properties, PropertyError, Request, ResourceError, ResourceKind,
};

/// Sid of the statement that protects a locked central vault's key from deletion, disabling and
/// policy changes.
pub const PROTECT_SID: &str = "CrossvaultProtectKey";
/// Tag crossvault puts on the keys it creates; the handler's IAM policy lets it manage only
/// keys with this tag.
pub const TAG_KEY: &str = "crossvault:alias";

/// A KMS client built on first use: most invocations (AWS Backup events) never need one.
pub struct KmsClient {
    config: Option<SdkConfig>,
    client: OnceLock<aws_sdk_kms::Client>,
}

impl KmsClient {
    pub fn lazy(config: SdkConfig) -> Self {
        Self {
            config: Some(config),
            client: OnceLock::new(),
        }
    }

    pub fn ready(client: aws_sdk_kms::Client) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(client);
        Self {
            config: None,
            client: cell,
        }
    }

    pub fn get(&self) -> &aws_sdk_kms::Client {
        self.client.get_or_init(|| {
            aws_sdk_kms::Client::new(self.config.as_ref().expect("a lazy client has a config"))
        })
    }
}

/// `alias/...`, not an AWS managed alias (`alias/aws/...`), KMS's alias name rules.
pub fn alias_name(props: &Properties<'_>) -> Result<String, PropertyError> {
    let alias = props.string("AliasName")?;
    let rest = alias.strip_prefix("alias/").unwrap_or("");
    let valid = !rest.is_empty()
        && alias.len() <= 256
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'));
    if !valid {
        return Err(PropertyError::new(
            "AliasName",
            format!(
                "{alias:?} is not a KMS alias name (alias/ followed by letters, digits, /, _ or -)"
            ),
        ));
    }
    if rest.starts_with("aws/") {
        return Err(PropertyError::new(
            "AliasName",
            format!(
                "{alias} is an AWS managed key: its policy cannot admit other accounts, so copies \
                 across accounts fail; name a customer managed key"
            ),
        ));
    }
    Ok(alias)
}

/// Why an existing key cannot serve as a vault key, if it cannot.
pub fn unusable(alias: &str, key: &KeyMetadata) -> Option<String> {
    let id = key.arn().unwrap_or(key.key_id());
    if key.key_manager() == Some(&KeyManagerType::Aws) {
        return Some(format!(
            "{alias} ({id}) is an AWS managed key; crossvault needs a customer managed key"
        ));
    }
    match key.key_state() {
        Some(KeyState::Enabled) => {}
        Some(KeyState::PendingDeletion) => {
            return Some(format!(
                "{alias} ({id}) is pending deletion; if that was not intended, cancel it \
                 (kms:CancelKeyDeletion), enable the key, and retry"
            ));
        }
        other => {
            return Some(format!(
                "{alias} ({id}) is {}, not Enabled; enable it and retry",
                other.map_or("in an unknown state", |s| s.as_str())
            ));
        }
    }
    if key
        .key_spec()
        .is_some_and(|s| *s != KeySpec::SymmetricDefault)
        || key
            .key_usage()
            .is_some_and(|u| *u != KeyUsageType::EncryptDecrypt)
    {
        return Some(format!(
            "{alias} ({id}) is not a symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)"
        ));
    }
    None
}

/// Looks the alias up; `None` when no key carries it.
pub async fn find(
    client: &aws_sdk_kms::Client,
    alias: &str,
) -> Result<Option<KeyMetadata>, ResourceError> {
    match client.describe_key().key_id(alias).send().await {
        Ok(out) => Ok(out.key_metadata),
        Err(e) if aws_error::classify(&e) == ErrorClass::NotFound => Ok(None),
        Err(e) => Err(ResourceError::aws("kms:DescribeKey", e)),
    }
}

fn key_data(alias: &str, key: &KeyMetadata, created: bool) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert(
        "KeyArn".into(),
        Value::String(key.arn().unwrap_or_default().to_owned()),
    );
    data.insert("KeyId".into(), Value::String(key.key_id().to_owned()));
    data.insert("AliasName".into(), Value::String(alias.to_owned()));
    data.insert("Created".into(), Value::String(created.to_string()));
    data
}

fn statements(policy: &Value) -> Vec<&Value> {
    match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => Vec::new(),
    }
}

/// Whether a policy carries crossvault's protection statement.
pub fn is_protected(policy: &Value) -> bool {
    statements(policy)
        .iter()
        .any(|s| s.get("Sid").and_then(Value::as_str) == Some(PROTECT_SID))
}

/// Whether a policy denies `kms:PutKeyPolicy` to someone: creating or putting such a policy
/// needs KMS's lockout safety check bypassed, as the caller may lock itself out on purpose.
fn denies_policy_changes(policy: &Value) -> bool {
    statements(policy).iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Deny")
            && match s.get("Action") {
                Some(Value::String(a)) => a == "kms:PutKeyPolicy",
                Some(Value::Array(list)) => list.iter().any(|a| a == "kms:PutKeyPolicy"),
                _ => false,
            }
    })
}

/// The wanted settings of the key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySettings {
    pub alias: String,
    pub description: String,
    pub multi_region: bool,
    pub policy: Value,
}

impl KeySettings {
    pub fn from_props(props: &Properties<'_>) -> Result<Self, PropertyError> {
        let alias = alias_name(props)?;
        let policy = match props.raw("KeyPolicy") {
            Some(Value::Object(map)) => Value::Object(map.clone()),
            Some(Value::String(text)) => serde_json::from_str(text).map_err(|e| {
                PropertyError::new("KeyPolicy", format!("is a string but not JSON: {e}"))
            })?,
            Some(_) => return Err(PropertyError::new("KeyPolicy", "must be a policy document")),
            None => return Err(PropertyError::new("KeyPolicy", "is required")),
        };
        if statements(&policy).is_empty() {
            return Err(PropertyError::new("KeyPolicy", "has no Statement"));
        }
        Ok(Self {
            description: props
                .optional_string("Description")?
                .unwrap_or_else(|| format!("crossvault key {alias}")),
            multi_region: props.bool_or("MultiRegion", false)?,
            alias,
            policy,
        })
    }
}

pub struct VaultKey {
    kms: KmsClient,
}

impl VaultKey {
    pub fn new(kms: KmsClient) -> Self {
        Self { kms }
    }

    async fn converge(&self, req: &Request) -> Result<Outcome, ResourceError> {
        let wanted = KeySettings::from_props(&req.props())?;
        let kms = self.kms.get();
        let alias = &wanted.alias;
        let Some(key) = find(kms, alias).await? else {
            return self.create(&wanted).await;
        };
        if let Some(problem) = unusable(alias, &key) {
            return Err(ResourceError::Invalid(problem));
        }
        let id = key.key_id().to_owned();
        let tags = kms
            .list_resource_tags()
            .key_id(&id)
            .send()
            .await
            .map_err(|e| ResourceError::aws("kms:ListResourceTags", e))?;
        if !tags.tags().iter().any(|t| t.tag_key() == TAG_KEY) {
            return Err(ResourceError::Invalid(format!(
                "{alias} names key {id}, which crossvault did not create (it has no {TAG_KEY} tag); \
                 crossvault does not change the policy of other keys. Bring it as your own key \
                 (parameter KmsKeyAlias={alias}; its policy must then grant what template/README.md \
                 lists), or remove the alias"
            )));
        }
        if key.multi_region().unwrap_or(false) != wanted.multi_region {
            return Err(ResourceError::Invalid(format!(
                "{alias} ({id}) is {}a multi-Region key, and that cannot change after a key is \
                 created (its vault would have to be replaced); set MultiRegionKey back to {}",
                if wanted.multi_region { "not " } else { "" },
                !wanted.multi_region
            )));
        }
        let mut notes = vec![format!("adopted {alias} ({id})")];
        let current = kms
            .get_key_policy()
            .key_id(&id)
            .policy_name("default")
            .send()
            .await
            .map_err(|e| ResourceError::aws("kms:GetKeyPolicy", e))?
            .policy
            .map(|text| serde_json::from_str::<Value>(&text))
            .transpose()
            .map_err(|e| ResourceError::Aws(format!("the policy of {alias} is not JSON: {e}")))?;
        match current {
            Some(current) if current == wanted.policy => notes.push("policy as wanted".into()),
            Some(current) if is_protected(&current) => notes.push(format!(
                "policy differs from the template's but stays: it carries {PROTECT_SID}, which \
                 lets only the break-glass roles (VaultAdminRoleArns) change it; have one of them \
                 apply the template's policy if the change is intended"
            )),
            _ => {
                kms.put_key_policy()
                    .key_id(&id)
                    .policy_name("default")
                    .policy(wanted.policy.to_string())
                    .bypass_policy_lockout_safety_check(denies_policy_changes(&wanted.policy))
                    .send()
                    .await
                    .map_err(|e| ResourceError::aws("kms:PutKeyPolicy", e))?;
                notes.push("policy set".into());
            }
        }
        let rotation = kms
            .get_key_rotation_status()
            .key_id(&id)
            .send()
            .await
            .map_err(|e| ResourceError::aws("kms:GetKeyRotationStatus", e))?;
        if !rotation.key_rotation_enabled {
            kms.enable_key_rotation()
                .key_id(&id)
                .send()
                .await
                .map_err(|e| ResourceError::aws("kms:EnableKeyRotation", e))?;
            notes.push("rotation enabled".into());
        }
        Ok(Outcome {
            data: key_data(alias, &key, false),
            no_echo: false,
            note: Some(notes.join("; ")),
        })
    }

    async fn create(&self, wanted: &KeySettings) -> Result<Outcome, ResourceError> {
        let kms = self.kms.get();
        let alias = &wanted.alias;
        let tag = Tag::builder()
            .tag_key(TAG_KEY)
            .tag_value(alias)
            .build()
            .map_err(|e| ResourceError::Invalid(format!("tag: {e}")))?;
        let key = kms
            .create_key()
            .description(&wanted.description)
            .key_usage(KeyUsageType::EncryptDecrypt)
            .key_spec(KeySpec::SymmetricDefault)
            .multi_region(wanted.multi_region)
            .policy(wanted.policy.to_string())
            .bypass_policy_lockout_safety_check(denies_policy_changes(&wanted.policy))
            .tags(tag)
            .send()
            .await
            .map_err(|e| ResourceError::aws("kms:CreateKey", e))?
            .key_metadata
            .ok_or_else(|| ResourceError::Aws("kms:CreateKey returned no key".into()))?;
        let id = key.key_id().to_owned();
        if let Err(e) = kms
            .create_alias()
            .alias_name(alias)
            .target_key_id(&id)
            .send()
            .await
        {
            // The key is left as it is (it encrypts nothing yet): deleting keys is not a right
            // the handler has. The message names it so it can be removed.
            return Err(ResourceError::Aws(format!(
                "kms:CreateAlias {alias} for the new key {id} failed: {}; key {id} has no alias \
                 and is unused: schedule its deletion, then retry",
                aws_error::describe(&e)
            )));
        }
        kms.enable_key_rotation()
            .key_id(&id)
            .send()
            .await
            .map_err(|e| ResourceError::aws("kms:EnableKeyRotation", e))?;
        Ok(Outcome {
            data: key_data(alias, &key, true),
            no_echo: false,
            note: Some(format!("created {alias} ({id}), rotation enabled")),
        })
    }
}

impl ResourceKind for VaultKey {
    fn resource_type(&self) -> &'static str {
        "Custom::VaultKey"
    }

    fn id_name(&self) -> &'static str {
        "vault-key"
    }

    fn id_key(&self, props: &Properties<'_>) -> Result<Option<String>, ResourceError> {
        Ok(Some(alias_name(props)?))
    }

    fn validate(&self, req: &Request) -> Result<(), ResourceError> {
        KeySettings::from_props(&req.props())?;
        Ok(())
    }

    fn create<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.converge(req))
    }

    fn delete<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(async move {
            let alias = alias_name(&req.props()).unwrap_or_else(|_| "the key".into());
            Ok(Outcome::with_note(format!(
                "{alias} retained: the vault's recovery points need it; a stack created again \
                 adopts it by its alias"
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn alias_names_are_checked_and_aws_managed_keys_refused() {
        let ok = props(json!({"AliasName": "alias/crossvault-vault"}));
        assert_eq!(
            alias_name(&Properties::new(&ok)).unwrap(),
            "alias/crossvault-vault"
        );
        let aws = props(json!({"AliasName": "alias/aws/backup"}));
        let e = alias_name(&Properties::new(&aws)).unwrap_err();
        assert!(e.problem.contains("AWS managed"), "{}", e.problem);
        for bad in ["crossvault", "alias/", "alias/with space", "arn:aws:kms:x"] {
            let p = props(json!({ "AliasName": bad }));
            assert!(alias_name(&Properties::new(&p)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_policy_denying_put_key_policy_needs_the_lockout_check_bypassed() {
        let locked = json!({"Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": "kms:*"},
            {"Sid": PROTECT_SID, "Effect": "Deny", "Action": ["kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"]}
        ]});
        assert!(denies_policy_changes(&locked));
        assert!(is_protected(&locked));
        let open =
            json!({"Statement": {"Sid": "A", "Effect": "Allow", "Action": "kms:PutKeyPolicy"}});
        assert!(!denies_policy_changes(&open));
        assert!(!is_protected(&open));
    }

    #[test]
    fn unusable_keys_say_why() {
        let key = |state: KeyState, manager: KeyManagerType| {
            KeyMetadata::builder()
                .key_id("k-1")
                .arn("arn:aws:kms:eu-west-1:111111111111:key/k-1")
                .key_state(state)
                .key_manager(manager)
                .build()
                .unwrap()
        };
        assert_eq!(
            unusable("alias/a", &key(KeyState::Enabled, KeyManagerType::Customer)),
            None
        );
        let why = unusable("alias/a", &key(KeyState::Enabled, KeyManagerType::Aws)).unwrap();
        assert!(why.contains("AWS managed"), "{why}");
        let why = unusable(
            "alias/a",
            &key(KeyState::PendingDeletion, KeyManagerType::Customer),
        )
        .unwrap();
        assert!(why.contains("CancelKeyDeletion"), "{why}");
        let why = unusable(
            "alias/a",
            &key(KeyState::Disabled, KeyManagerType::Customer),
        )
        .unwrap();
        assert!(why.contains("Disabled"), "{why}");
    }
}

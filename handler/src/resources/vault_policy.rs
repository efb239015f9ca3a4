//! `Custom::BackupVaultPolicy`: crossvault's statements in the access policy of a vault the
//! stack does not own (bring-your-own vault, `Default`).
//!
//! The vault's owner may have statements of their own. crossvault recognises its statements by
//! their Sid prefix, replaces only those on Create/Update, and removes only those on Delete;
//! everything else in the policy is left exactly as it was. With `RetainOnDelete` (the vaults
//! crossvault creates, which outlive the stack) Delete leaves the policy in place.

use serde_json::{Map, Value, json};

use crate::aws_error::{self, ErrorClass};
use crate::custom_resource::{
    OpResult, Outcome, Properties, PropertyError, Request, ResourceError, ResourceKind,
};

/// Sid prefix that marks a statement as crossvault's.
pub const SID_PREFIX: &str = "Crossvault";

fn is_ours(statement: &Value) -> bool {
    statement
        .get("Sid")
        .and_then(Value::as_str)
        .is_some_and(|sid| sid.starts_with(SID_PREFIX))
}

/// The statements of a policy document, whether `Statement` is a list or a single object.
fn statements(policy: &Value) -> Vec<Value> {
    match policy.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    }
}

/// `existing` with crossvault's statements replaced by `ours`; the other statements, the
/// version and any other top-level keys stay as they were.
pub fn merge(existing: Option<&Value>, ours: &[Map<String, Value>]) -> Value {
    let mut policy = existing
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"Version": "2012-10-17"}));
    let mut kept: Vec<Value> = statements(&policy)
        .into_iter()
        .filter(|s| !is_ours(s))
        .collect();
    kept.extend(ours.iter().cloned().map(Value::Object));
    policy["Statement"] = Value::Array(kept);
    policy
}

/// `existing` without crossvault's statements; `None` when nothing else is left.
pub fn remove_ours(existing: &Value) -> Option<Value> {
    let kept: Vec<Value> = statements(existing)
        .into_iter()
        .filter(|s| !is_ours(s))
        .collect();
    if kept.is_empty() {
        return None;
    }
    let mut policy = existing.clone();
    policy["Statement"] = Value::Array(kept);
    Some(policy)
}

pub fn vault_name(props: &Properties<'_>) -> Result<String, PropertyError> {
    let name = props.string("BackupVaultName")?;
    let valid = (2..=50).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if valid {
        Ok(name)
    } else {
        Err(PropertyError::new(
            "BackupVaultName",
            format!("{name:?} is not a vault name (2-50 letters, digits, '-', '_' or '.')"),
        ))
    }
}

fn our_statements(props: &Properties<'_>) -> Result<Vec<Map<String, Value>>, PropertyError> {
    let list = props.object_list("Statements")?;
    if list.is_empty() {
        return Err(PropertyError::new(
            "Statements",
            "needs at least one statement",
        ));
    }
    for (i, s) in list.iter().enumerate() {
        let sid = s.get("Sid").and_then(Value::as_str).unwrap_or("");
        if !sid.starts_with(SID_PREFIX) {
            return Err(PropertyError::new(
                format!("Statements[{i}].Sid"),
                format!(
                    "{sid:?} must start with {SID_PREFIX:?}: that is how crossvault tells its \
                     statements from the vault owner's"
                ),
            ));
        }
        if !matches!(
            s.get("Effect").and_then(Value::as_str),
            Some("Allow" | "Deny")
        ) {
            return Err(PropertyError::new(
                format!("Statements[{i}].Effect"),
                "must be Allow or Deny",
            ));
        }
    }
    Ok(list)
}

pub struct VaultPolicy {
    client: aws_sdk_backup::Client,
}

impl VaultPolicy {
    pub fn new(client: aws_sdk_backup::Client) -> Self {
        Self { client }
    }

    /// The vault's current policy; `Ok(None)` when it has none.
    async fn current(&self, vault: &str) -> Result<Option<Value>, ResourceError> {
        match self
            .client
            .get_backup_vault_access_policy()
            .backup_vault_name(vault)
            .send()
            .await
        {
            Ok(out) => match out.policy {
                None => Ok(None),
                Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                    ResourceError::Aws(format!(
                        "the access policy of vault {vault} is not JSON: {e}"
                    ))
                }),
            },
            Err(e) if aws_error::classify(&e) == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(ResourceError::aws("backup:GetBackupVaultAccessPolicy", e)),
        }
    }

    async fn vault_exists(&self, vault: &str) -> Result<bool, ResourceError> {
        match self
            .client
            .describe_backup_vault()
            .backup_vault_name(vault)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if aws_error::classify(&e) == ErrorClass::NotFound => Ok(false),
            Err(e) => Err(ResourceError::aws("backup:DescribeBackupVault", e)),
        }
    }

    async fn put(&self, vault: &str, policy: &Value) -> Result<(), ResourceError> {
        self.client
            .put_backup_vault_access_policy()
            .backup_vault_name(vault)
            .policy(policy.to_string())
            .send()
            .await
            .map_err(|e| ResourceError::aws("backup:PutBackupVaultAccessPolicy", e))?;
        Ok(())
    }

    async fn apply(&self, req: &Request) -> Result<Outcome, ResourceError> {
        let props = req.props();
        let vault = vault_name(&props)?;
        let ours = our_statements(&props)?;
        if !self.vault_exists(&vault).await? {
            return Err(ResourceError::Invalid(format!(
                "vault {vault} does not exist in account {} region {}; create it first, or name \
                 an existing vault",
                req.account_id, req.region
            )));
        }
        let existing = self.current(&vault).await?;
        let merged = merge(existing.as_ref(), &ours);
        if existing.as_ref() == Some(&merged) {
            return Ok(Outcome::with_note(format!(
                "policy of vault {vault} already as wanted"
            )));
        }
        self.put(&vault, &merged).await?;
        let kept = statements(&merged).len() - ours.len();
        Ok(Outcome::with_note(format!(
            "policy of vault {vault}: {} crossvault statement(s) set, {kept} other statement(s) kept",
            ours.len()
        )))
    }

    async fn remove(&self, req: &Request) -> Result<Outcome, ResourceError> {
        let vault = vault_name(&req.props())?;
        if req.props().bool_or("RetainOnDelete", false)? {
            // A vault crossvault created is retained with its recovery points; its policy (the
            // copy-target pin, the deny-weakening statements) keeps protecting them.
            return Ok(Outcome::with_note(format!(
                "policy of vault {vault} retained with the vault"
            )));
        }
        let Some(existing) = self.current(&vault).await? else {
            return Ok(Outcome::with_note(format!(
                "vault {vault} or its policy is gone; nothing to remove"
            )));
        };
        match remove_ours(&existing) {
            Some(rest) if rest == existing => Ok(Outcome::with_note(format!(
                "no crossvault statements in the policy of {vault}"
            ))),
            Some(rest) => {
                self.put(&vault, &rest).await?;
                Ok(Outcome::with_note(format!(
                    "crossvault statements removed from the policy of {vault}; the owner's statements stay"
                )))
            }
            None => {
                match self
                    .client
                    .delete_backup_vault_access_policy()
                    .backup_vault_name(&vault)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if aws_error::classify(&e) == ErrorClass::NotFound => {}
                    Err(e) => {
                        return Err(ResourceError::aws(
                            "backup:DeleteBackupVaultAccessPolicy",
                            e,
                        ));
                    }
                }
                Ok(Outcome::with_note(format!(
                    "policy of vault {vault} held only crossvault statements; deleted"
                )))
            }
        }
    }
}

impl ResourceKind for VaultPolicy {
    fn resource_type(&self) -> &'static str {
        "Custom::BackupVaultPolicy"
    }

    fn id_name(&self) -> &'static str {
        "vault-policy"
    }

    fn id_key(&self, props: &Properties<'_>) -> Result<Option<String>, ResourceError> {
        Ok(Some(vault_name(props)?))
    }

    fn validate(&self, req: &Request) -> Result<(), ResourceError> {
        vault_name(&req.props())?;
        our_statements(&req.props())?;
        Ok(())
    }

    fn create<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.apply(req))
    }

    fn delete<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.remove(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(sid: &str) -> Map<String, Value> {
        json!({"Sid": sid, "Effect": "Deny", "Principal": "*", "Action": "backup:CopyFromBackupVault", "Resource": "*"})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn merge_keeps_the_owners_statements_and_replaces_ours() {
        let existing = json!({"Version": "2012-10-17", "Id": "owner", "Statement": [
            {"Sid": "OwnerAllow", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "backup:DescribeBackupVault", "Resource": "*"},
            {"Sid": "CrossvaultOld", "Effect": "Deny", "Principal": "*", "Action": "backup:DeleteRecoveryPoint", "Resource": "*"}
        ]});
        let merged = merge(Some(&existing), &[ours("CrossvaultPinCopyTargets")]);
        assert_eq!(merged["Id"], "owner");
        let sids: Vec<_> = merged["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, ["OwnerAllow", "CrossvaultPinCopyTargets"]);
        assert_eq!(
            merged["Statement"][0], existing["Statement"][0],
            "owner's statement untouched"
        );
    }

    #[test]
    fn merge_into_nothing_and_single_statement_policies() {
        let merged = merge(None, &[ours("CrossvaultA")]);
        assert_eq!(merged["Version"], "2012-10-17");
        assert_eq!(merged["Statement"].as_array().unwrap().len(), 1);
        let single =
            json!({"Version": "2012-10-17", "Statement": {"Sid": "Mine", "Effect": "Allow"}});
        let merged = merge(Some(&single), &[ours("CrossvaultA")]);
        assert_eq!(merged["Statement"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn remove_takes_only_ours() {
        let p = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Mine"}, {"Sid": "CrossvaultA"}]});
        assert_eq!(
            remove_ours(&p).unwrap()["Statement"],
            json!([{"Sid": "Mine"}])
        );
        let only_ours = json!({"Statement": [{"Sid": "CrossvaultA"}]});
        assert_eq!(remove_ours(&only_ours), None);
    }

    #[test]
    fn statements_must_carry_the_prefix_and_vault_names_are_checked() {
        let m = json!({"BackupVaultName": "Default", "Statements": [{"Sid": "Other", "Effect": "Deny"}]});
        let err = our_statements(&Properties::new(m.as_object().unwrap())).unwrap_err();
        assert_eq!(err.path, "Statements[0].Sid");
        let m = json!({"BackupVaultName": "no spaces allowed"});
        let err = vault_name(&Properties::new(m.as_object().unwrap())).unwrap_err();
        assert!(err.problem.contains("is not a vault name"));
    }
}

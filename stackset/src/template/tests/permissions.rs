//! The handler role grants exactly what the handler's code can call in that role.
//!
//! The list of AWS operations comes from the code: `handler/src` is parsed and every method
//! called on an AWS SDK client is found by type (struct fields, parameters and bindings whose
//! type is `aws_sdk_<service>::Client`, and what methods returning one give). Each call is
//! attributed to roles:
//!
//! - in a custom-resource kind's file (`handler/src/resources/`, including the free functions it
//!   calls): to the instances whose template evaluation contains that kind;
//! - elsewhere (the event pipeline): through [`PIPELINE`], a reviewed mapping from the calling
//!   function to the capability that makes the call, and from capabilities to the instances
//!   that have them (read from the instance's own handler configuration, and cross-checked
//!   with the decision core where it decides).
//!
//! Operations become IAM actions (`backup:ListCopyJobs`), plus the permissions an operation
//! implies ([`IMPLIED`]) and what the Lambda service does with the role ([`platform`]). The
//! result is compared, instance by instance, with the actions the template's `HandlerRole`
//! allows there: a missing action and an excess one both fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crossvault_core::config::Role;
use serde_json::Value as Json;
use syn::visit::Visit;

use super::{eval, template};
use crate::template::{Evaluation, custom_resources, handler_environment};

/// What an SDK client type is: `aws_sdk_<service>::Client`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ty {
    Client(String),
    Named(String),
}

/// One call of an SDK operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// `handler/src`-relative path.
    pub file: String,
    /// `Type::method` or `function`.
    pub function: String,
    /// The SDK crate's service name (`backup`, `kms`, `resourcegroupstagging` ...).
    pub service: String,
    /// The fluent method, e.g. `list_copy_jobs`.
    pub operation: String,
}

impl Call {
    pub fn action(&self) -> String {
        let prefix = match self.service.as_str() {
            "resourcegroupstagging" => "tag",
            "efs" => "elasticfilesystem",
            other => other,
        };
        let pascal: String = self
            .operation
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        // IAM spells RDS's acronym in capitals (DescribeDBInstances); the SDK's methods do not.
        let pascal = if prefix == "rds" {
            pascal.replace("Db", "DB")
        } else {
            pascal
        };
        format!("{prefix}:{pascal}")
    }
}

/// What the scan found: every SDK call, which free functions each function calls, and each
/// resource kind's file.
#[derive(Debug, Default)]
pub struct Scan {
    pub calls: Vec<Call>,
    /// `(file, function)` -> free functions it calls (by name).
    pub calls_functions: BTreeMap<(String, String), BTreeSet<String>>,
    /// Free function name -> `(file, function)`.
    pub free_functions: BTreeMap<String, (String, String)>,
    /// `Custom::...` -> file.
    pub kinds: BTreeMap<String, String>,
}

/// Methods of an SDK client that are not operations.
const NOT_OPERATIONS: &[&str] = &["clone", "config", "with_config"];

fn type_of(ty: &syn::Type) -> Option<Ty> {
    match ty {
        syn::Type::Reference(r) => type_of(&r.elem),
        syn::Type::Paren(p) => type_of(&p.elem),
        syn::Type::Path(p) => {
            let segments: Vec<&syn::PathSegment> = p.path.segments.iter().collect();
            let last = segments.last()?;
            if last.ident == "Client"
                && let Some(svc) = segments.iter().find_map(|s| {
                    s.ident
                        .to_string()
                        .strip_prefix("aws_sdk_")
                        .map(str::to_owned)
                })
            {
                return Some(Ty::Client(svc));
            }
            let name = last.ident.to_string();
            // Wrappers that deref to what they hold (`Lazy` builds the client on first use).
            if matches!(name.as_str(), "Arc" | "Box" | "Rc" | "Option" | "Lazy")
                && let syn::PathArguments::AngleBracketed(args) = &last.arguments
                && let Some(syn::GenericArgument::Type(inner)) = args.args.first()
            {
                return type_of(inner);
            }
            Some(Ty::Named(name))
        }
        _ => None,
    }
}

/// Struct fields and method return types of every type in `handler/src`.
#[derive(Debug, Default)]
struct Types {
    fields: BTreeMap<(String, String), Ty>,
    methods: BTreeMap<(String, String), Ty>,
}

fn self_type_name(ty: &syn::Type) -> Option<String> {
    match type_of(ty)? {
        Ty::Named(n) => Some(n),
        Ty::Client(_) => None,
    }
}

impl<'ast> Visit<'ast> for Types {
    fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
        for field in &s.fields {
            if let (Some(name), Some(ty)) = (&field.ident, type_of(&field.ty)) {
                self.fields
                    .insert((s.ident.to_string(), name.to_string()), ty);
            }
        }
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        if let Some(owner) = self_type_name(&i.self_ty) {
            for item in &i.items {
                if let syn::ImplItem::Fn(f) = item
                    && let syn::ReturnType::Type(_, ty) = &f.sig.output
                    && let Some(ty) = type_of(ty)
                {
                    self.methods
                        .insert((owner.clone(), f.sig.ident.to_string()), ty);
                }
            }
        }
        syn::visit::visit_item_impl(self, i);
    }
}

/// Finds SDK calls in one file, with the types of every file known.
struct Calls<'t> {
    types: &'t Types,
    file: String,
    impl_type: Option<String>,
    function: Vec<String>,
    locals: Vec<BTreeMap<String, Ty>>,
    scan: &'t mut Scan,
}

impl Calls<'_> {
    fn current(&self) -> String {
        match (&self.impl_type, self.function.first()) {
            (Some(t), Some(f)) => format!("{t}::{f}"),
            (None, Some(f)) => f.clone(),
            (_, None) => "(top level)".into(),
        }
    }

    fn local(&self, name: &str) -> Option<Ty> {
        self.locals
            .iter()
            .rev()
            .find_map(|scope| scope.get(name).cloned())
    }

    fn expr_type(&self, e: &syn::Expr) -> Option<Ty> {
        match e {
            syn::Expr::Path(p) => {
                let ident = p.path.get_ident()?.to_string();
                if ident == "self" {
                    return self.impl_type.clone().map(Ty::Named);
                }
                self.local(&ident)
            }
            syn::Expr::Field(f) => {
                let syn::Member::Named(member) = &f.member else {
                    return None;
                };
                match self.expr_type(&f.base)? {
                    Ty::Named(owner) => {
                        self.types.fields.get(&(owner, member.to_string())).cloned()
                    }
                    Ty::Client(_) => None,
                }
            }
            syn::Expr::MethodCall(m) => match self.expr_type(&m.receiver)? {
                Ty::Named(owner) => self
                    .types
                    .methods
                    .get(&(owner, m.method.to_string()))
                    .cloned(),
                Ty::Client(_) => None,
            },
            syn::Expr::Reference(r) => self.expr_type(&r.expr),
            syn::Expr::Paren(p) => self.expr_type(&p.expr),
            syn::Expr::Unary(u) => self.expr_type(&u.expr),
            _ => None,
        }
    }

    fn bind(&mut self, pat: &syn::Pat, ty: Option<Ty>) {
        let (syn::Pat::Ident(id), Some(ty)) = (pat, ty) else {
            return;
        };
        if let Some(scope) = self.locals.last_mut() {
            scope.insert(id.ident.to_string(), ty);
        }
    }

    fn enter_fn(&mut self, sig: &syn::Signature) {
        self.function.push(sig.ident.to_string());
        let mut scope = BTreeMap::new();
        for input in &sig.inputs {
            if let syn::FnArg::Typed(t) = input
                && let (syn::Pat::Ident(id), Some(ty)) = (&*t.pat, type_of(&t.ty))
            {
                scope.insert(id.ident.to_string(), ty);
            }
        }
        self.locals.push(scope);
    }

    fn leave_fn(&mut self) {
        self.function.pop();
        self.locals.pop();
    }
}

impl<'ast> Visit<'ast> for Calls<'_> {
    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        let outer = self
            .impl_type
            .replace(self_type_name(&i.self_ty).unwrap_or_default());
        syn::visit::visit_item_impl(self, i);
        self.impl_type = outer;
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if self.impl_type.is_none() && self.function.is_empty() {
            self.scan.free_functions.insert(
                f.sig.ident.to_string(),
                (self.file.clone(), f.sig.ident.to_string()),
            );
        }
        self.enter_fn(&f.sig);
        syn::visit::visit_item_fn(self, f);
        self.leave_fn();
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if f.sig.ident == "resource_type"
            && let Some(syn::Stmt::Expr(syn::Expr::Lit(lit), _)) = f.block.stmts.last()
            && let syn::Lit::Str(s) = &lit.lit
        {
            self.scan.kinds.insert(s.value(), self.file.clone());
        }
        self.enter_fn(&f.sig);
        syn::visit::visit_impl_item_fn(self, f);
        self.leave_fn();
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        // Unit tests are not code paths of the Lambda.
        let is_test = m.attrs.iter().any(|a| {
            a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
        });
        if !is_test {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        syn::visit::visit_local(self, l);
        let (pat, ty) = match &l.pat {
            syn::Pat::Type(t) => (&*t.pat, type_of(&t.ty)),
            other => (
                other,
                l.init.as_ref().and_then(|init| self.expr_type(&init.expr)),
            ),
        };
        self.bind(pat, ty);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        if let Some(Ty::Client(service)) = self.expr_type(&m.receiver) {
            let operation = m.method.to_string();
            if !NOT_OPERATIONS.contains(&operation.as_str()) {
                self.scan.calls.push(Call {
                    file: self.file.clone(),
                    function: self.current(),
                    service,
                    operation,
                });
            }
        }
        syn::visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        if let syn::Expr::Path(p) = &*c.func
            && let Some(last) = p.path.segments.last()
            && !self.function.is_empty()
        {
            self.scan
                .calls_functions
                .entry((self.file.clone(), self.current()))
                .or_default()
                .insert(last.ident.to_string());
        }
        syn::visit::visit_expr_call(self, c);
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Parses every file under `root` (named relative to it).
pub fn scan_sources(root: &Path) -> Scan {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let parsed: Vec<(String, syn::File)> = files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (rel, file)
        })
        .collect();
    scan_parsed(&parsed)
}

/// Scans parsed files (`(name, file)`).
pub fn scan_parsed(files: &[(String, syn::File)]) -> Scan {
    let mut types = Types::default();
    for (_, file) in files {
        types.visit_file(file);
    }
    let mut scan = Scan::default();
    for (name, file) in files {
        let mut calls = Calls {
            types: &types,
            file: name.clone(),
            impl_type: None,
            function: Vec::new(),
            locals: Vec::new(),
            scan: &mut scan,
        };
        calls.visit_file(file);
    }
    scan
}

impl Scan {
    /// The calls a function makes, itself and through the free functions it calls.
    fn reachable_from(
        &self,
        start: &(String, String),
        seen: &mut BTreeSet<(String, String)>,
    ) -> Vec<&Call> {
        if !seen.insert(start.clone()) {
            return Vec::new();
        }
        let mut out: Vec<&Call> = self
            .calls
            .iter()
            .filter(|c| c.file == start.0 && c.function == start.1)
            .collect();
        for callee in self.calls_functions.get(start).into_iter().flatten() {
            if let Some(target) = self.free_functions.get(callee) {
                out.extend(self.reachable_from(target, seen));
            }
        }
        out
    }

    /// Every call a resource kind can make: in its file, and in the free functions its file's
    /// functions call.
    pub fn kind_calls(&self, resource_type: &str) -> Vec<&Call> {
        let Some(file) = self.kinds.get(resource_type) else {
            panic!(
                "no handler/src/resources file implements {resource_type}; kinds: {:?}",
                self.kinds.keys()
            );
        };
        let mut seen = BTreeSet::new();
        let starts: BTreeSet<(String, String)> = self
            .calls
            .iter()
            .map(|c| (c.file.clone(), c.function.clone()))
            .chain(self.calls_functions.keys().cloned())
            .filter(|(f, _)| f == file)
            .collect();
        let mut out = Vec::new();
        for start in starts {
            out.extend(self.reachable_from(&start, &mut seen));
        }
        out.sort();
        out.dedup();
        out
    }

    fn in_kind_file(&self, call: &Call) -> bool {
        self.kinds.values().any(|f| *f == call.file)
    }
}

/// What makes a pipeline call, and so which instances need its permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    /// `StartCopyJob` of a planned hop.
    StartCopy,
    /// Shortening an original's retention (and the facts it rests on).
    Shorten,
    /// The resource's tags, for the pre-prod hop.
    ReadResourceTags,
    /// A plan's notification.
    Notify,
    /// The scheduled reconcile's listings.
    Reconcile,
    /// A record that can never succeed, to the DLQ.
    DeadLetter,
    /// Reading the forward copy of a two-hop type in the backup account (assuming the
    /// verification role).
    VerifyInBackupAccount,
    /// Calls made with the verification role's credentials: they need the backup account's
    /// `VerifyRole`, not the handler role (checked against `VerifyRole`).
    AsVerifyRole,
    /// The pre-prod refresh: restore on arrival, tag, describe, promote, clean up.
    Restore,
    /// The refresh's masking hook (SSM Automation).
    RestoreHook,
    /// The refresh's CNAME in a private hosted zone.
    RestoreDns,
    /// Reading the Slack webhook URL.
    Slack,
    /// The route of RDS and Aurora points under an AWS managed key: their key, the
    /// re-encryption vault's copies and jobs, the deletion of crossvault's re-encrypted copies
    /// (`crossvault_core::managed_key`).
    ReEncrypt,
}

/// Reviewed: the capability behind each pipeline call, by file and function (and, where one
/// function makes calls for several capabilities, by action). A call found in the code but
/// not here fails the test.
pub const PIPELINE: &[(&str, &str, Option<&str>, Capability)] = &[
    (
        "effects.rs",
        "Effects::resource_tags",
        None,
        Capability::ReadResourceTags,
    ),
    // A copy decision reads the point's own copy jobs (attempts, verification) and whether it
    // is an original; the same listing function reads the backup account's jobs with the
    // verification role's credentials.
    (
        "effects.rs",
        "list_copy_jobs_of",
        None,
        Capability::StartCopy,
    ),
    (
        "effects.rs",
        "list_copy_jobs_of",
        None,
        Capability::AsVerifyRole,
    ),
    (
        "effects.rs",
        "Effects::describe_point",
        None,
        Capability::StartCopy,
    ),
    (
        "effects.rs",
        "Effects::execute_one",
        Some("backup:StartCopyJob"),
        Capability::StartCopy,
    ),
    ("effects.rs", "Effects::notify", None, Capability::Notify),
    (
        "effects.rs",
        "Effects::vault_locked",
        None,
        Capability::Shorten,
    ),
    (
        "effects.rs",
        "Effects::shorten_retention",
        None,
        Capability::Shorten,
    ),
    (
        "clients.rs",
        "AwsClients::backup_as",
        None,
        Capability::VerifyInBackupAccount,
    ),
    (
        "reconcile.rs",
        "list_recovery_points",
        None,
        Capability::Reconcile,
    ),
    (
        "reconcile.rs",
        "list_copy_jobs",
        None,
        Capability::Reconcile,
    ),
    (
        "dead_letter.rs",
        "SqsDeadLetters::send",
        None,
        Capability::DeadLetter,
    ),
    // The pre-prod refresh. The arriving point is described as a copy decision's is.
    (
        "effects.rs",
        "Effects::describe_point",
        None,
        Capability::Restore,
    ),
    (
        "restore/mod.rs",
        "Effects::restore_metadata",
        None,
        Capability::Restore,
    ),
    (
        "restore/mod.rs",
        "Effects::restore_jobs_since",
        None,
        Capability::Restore,
    ),
    (
        "restore/mod.rs",
        "Effects::backup_list_tags",
        None,
        Capability::Restore,
    ),
    // Snapshot-backed points' tags are read with the tagging API.
    (
        "effects.rs",
        "Effects::resource_tags",
        None,
        Capability::Restore,
    ),
    (
        "restore/describe.rs",
        "Effects::describe_db_instance",
        None,
        Capability::Restore,
    ),
    (
        "restore/describe.rs",
        "Effects::describe_db_cluster",
        None,
        Capability::Restore,
    ),
    (
        "restore/describe.rs",
        "Effects::describe_table",
        None,
        Capability::Restore,
    ),
    (
        "restore/describe.rs",
        "Effects::describe_file_system",
        None,
        Capability::Restore,
    ),
    (
        "restore/describe.rs",
        "Effects::tagged_restores",
        None,
        Capability::Restore,
    ),
    (
        "restore/steps.rs",
        "Effects::restore_step",
        Some("backup:StartRestoreJob"),
        Capability::Restore,
    ),
    (
        "restore/steps.rs",
        "Effects::tag_restore",
        None,
        Capability::Restore,
    ),
    (
        "restore/steps.rs",
        "Effects::create_writer",
        None,
        Capability::Restore,
    ),
    (
        "restore/steps.rs",
        "Effects::put_stable_address",
        None,
        Capability::Restore,
    ),
    (
        "restore/steps.rs",
        "Effects::delete_restore",
        None,
        Capability::Restore,
    ),
    (
        "restore/steps.rs",
        "Effects::start_hook",
        None,
        Capability::RestoreHook,
    ),
    (
        "restore/steps.rs",
        "Effects::hook_execution",
        None,
        Capability::RestoreHook,
    ),
    (
        "restore/steps.rs",
        "Effects::upsert_cname",
        None,
        Capability::RestoreDns,
    ),
    (
        "slack.rs",
        "Effects::slack_webhook",
        None,
        Capability::Slack,
    ),
    // RDS and Aurora under an AWS managed key: is the point's key AWS managed; which original
    // a re-encrypted copy belongs to; the copies still there (reconcile); deleting one.
    (
        "reencrypt.rs",
        "Effects::describe_key",
        None,
        Capability::ReEncrypt,
    ),
    (
        "reencrypt.rs",
        "Effects::origin_jobs",
        None,
        Capability::ReEncrypt,
    ),
    (
        "reencrypt.rs",
        "Effects::reencrypted_copies",
        None,
        Capability::ReEncrypt,
    ),
    (
        "reencrypt.rs",
        "Effects::delete_intermediate",
        None,
        Capability::ReEncrypt,
    ),
];

/// Actions the template grants for a capability before the code makes the call (announced by
/// issue #12; the safety engineer's code lands separately). An entry the code already covers
/// fails the test, so this list only shrinks.
pub const CONTRACTED: &[(&str, Capability)] = &[];

/// Reviewed: permissions an operation needs besides its own action.
pub const IMPLIED: &[(&str, &[&str])] = &[
    // The copy job runs as the role passed to it.
    ("backup:StartCopyJob", &["iam:PassRole"]),
    // AWS Backup mounts the vault's key ("Backup vault creation", required permissions).
    (
        "backup:CreateBackupVault",
        &[
            "backup-storage:MountCapsule",
            "kms:CreateGrant",
            "kms:RetireGrant",
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "kms:DescribeKey",
        ],
    ),
    // crossvault's key is tagged at creation (the tag is what its IAM statements match).
    ("kms:CreateKey", &["kms:TagResource"]),
    // The topic is encrypted with a customer managed key.
    ("sns:Publish", &["kms:GenerateDataKey*", "kms:Decrypt"]),
    // The restore job runs as the restore role passed to it.
    ("backup:StartRestoreJob", &["iam:PassRole"]),
    // The automation runs as the hook document's role.
    ("ssm:StartAutomationExecution", &["iam:PassRole"]),
    // The Aurora writer is created with its tags.
    ("rds:CreateDBInstance", &["rds:AddTagsToResource"]),
    // A SecureString (or a secret) under a customer managed key.
    ("ssm:GetParameter", &["kms:Decrypt"]),
];

/// What the Lambda service does with the role: write the function's logs; read the event
/// queue (event source mapping) and put failed asynchronous invocations into the DLQ.
fn platform(e: &Evaluation) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = ["logs:CreateLogStream", "logs:PutLogEvents"]
        .map(str::to_owned)
        .into();
    if e.exists("EventSourceMapping") {
        out.extend(
            [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ]
            .map(str::to_owned),
        );
    }
    if e.exists("HandlerInvokeConfig") {
        out.insert("sqs:SendMessage".into());
    }
    out
}

/// Which capabilities an instance has: read from its handler configuration (what the template
/// tells the Lambda), the way the handler decides to act.
fn capabilities(e: &Evaluation) -> BTreeSet<Capability> {
    let env: BTreeMap<String, String> = handler_environment(e)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let config = crossvault_core::StackConfig::from_env_map(&env)
        .unwrap_or_else(|err| panic!("the instance's configuration: {err}"));
    let set = |var: &str| env.get(var).is_some_and(|v| !v.is_empty());
    let mut out = BTreeSet::new();
    // The core starts copies with the copy role it is given; without one it starts none.
    if config.copy_role_arn.is_some() {
        out.insert(Capability::StartCopy);
    }
    // Only source accounts shorten (cross-checked with the core below).
    if config.role == Role::Source {
        out.insert(Capability::Shorten);
    }
    // The pre-prod hop asks for tags only when pre-prod accounts are configured.
    if config.role == Role::Source && !config.preprod_account_ids.is_empty() {
        out.insert(Capability::ReadResourceTags);
    }
    if config.notify_topic_arn.is_some() {
        out.insert(Capability::Notify);
    }
    if e.exists("ReconcileRule") {
        out.insert(Capability::Reconcile);
    }
    if set("CROSSVAULT_DEAD_LETTER_QUEUE_URL") {
        out.insert(Capability::DeadLetter);
    }
    if set("CROSSVAULT_VERIFY_ROLE_ARN") {
        out.insert(Capability::VerifyInBackupAccount);
    }
    // The refresh runs only in a pre-prod stack with restores on (the core decides nothing
    // else there: every arrival is ignored when they are off).
    if config.role == Role::PreProd && config.restore.on_arrival {
        out.insert(Capability::Restore);
        if config.restore.hook_document.is_some() {
            out.insert(Capability::RestoreHook);
        }
        if config.restore.dns.is_some() {
            out.insert(Capability::RestoreDns);
        }
    }
    // Every notification goes to Slack too; only stacks with a pipeline notify.
    if config.restore.slack_webhook_parameter.is_some() && e.exists("ReconcileRule") {
        out.insert(Capability::Slack);
    }
    // The core routes points through the re-encryption vault only when it is given one
    // (cross-checked with the core below).
    if config.reencrypt_vault_name.is_some() {
        out.insert(Capability::ReEncrypt);
    }
    out
}

/// Whether the Slack webhook is a Secrets Manager secret read through Parameter Store (its
/// `GetParameter` then needs `secretsmanager:GetSecretValue` on the secret).
fn slack_via_secrets_manager(e: &Evaluation) -> bool {
    let env: BTreeMap<String, String> = handler_environment(e)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
        .collect();
    crossvault_core::StackConfig::from_env_map(&env)
        .is_ok_and(|c| c.restore.slack_from_secrets_manager())
}

/// The actions the handler's code needs in this instance.
pub fn required(scan: &Scan, e: &Evaluation) -> BTreeSet<String> {
    let mut actions = platform(e);
    for custom in custom_resources(e).unwrap() {
        actions.extend(
            scan.kind_calls(&custom.resource_type)
                .iter()
                .map(|c| c.action()),
        );
    }
    let caps = capabilities(e);
    for call in scan.calls.iter().filter(|c| !scan.in_kind_file(c)) {
        let action = call.action();
        // A function may make its calls for several capabilities (with different clients).
        let capabilities: Vec<Capability> = PIPELINE
            .iter()
            .filter(|(file, function, only, _)| {
                *file == call.file && *function == call.function && only.is_none_or(|a| a == action)
            })
            .map(|(.., c)| *c)
            .collect();
        assert!(
            !capabilities.is_empty(),
            "{action} is called in handler/src/{} ({}) but PIPELINE does not say which \
             capability makes that call: add it there",
            call.file,
            call.function
        );
        if capabilities
            .iter()
            .any(|c| *c != Capability::AsVerifyRole && caps.contains(c))
        {
            actions.insert(action);
        }
    }
    for (action, capability) in CONTRACTED {
        if *capability != Capability::AsVerifyRole && caps.contains(capability) {
            actions.insert((*action).to_owned());
        }
    }
    let implied: Vec<String> = IMPLIED
        .iter()
        .filter(|(a, _)| actions.contains(*a))
        .flat_map(|(_, more)| more.iter().map(|m| (*m).to_owned()))
        .collect();
    actions.extend(implied);
    if caps.contains(&Capability::Slack) && slack_via_secrets_manager(e) {
        actions.insert("secretsmanager:GetSecretValue".into());
    }
    actions
}

/// The actions a role's inline policies allow in this instance.
pub fn granted(e: &Evaluation, role: &str) -> BTreeSet<String> {
    let props = e
        .properties(role)
        .unwrap()
        .unwrap_or_else(|| panic!("{role} does not exist here"));
    let mut out = BTreeSet::new();
    for policy in props["Policies"].as_array().into_iter().flatten() {
        for statement in policy["PolicyDocument"]["Statement"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(statement["Effect"], "Allow", "{statement:#}");
            match &statement["Action"] {
                Json::String(a) => {
                    out.insert(a.clone());
                }
                Json::Array(list) => {
                    out.extend(list.iter().map(|a| a.as_str().unwrap().to_owned()))
                }
                other => panic!("unresolved Action {other}"),
            }
        }
    }
    out
}

/// What is missing and what is in excess.
pub fn compare(
    required: &BTreeSet<String>,
    granted: &BTreeSet<String>,
) -> (Vec<String>, Vec<String>) {
    (
        required.difference(granted).cloned().collect(),
        granted.difference(required).cloned().collect(),
    )
}

fn handler_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../handler/src")
}

const BACKUP: &str = "222222222222";
const PREPROD: &str = "333333333333";
const SOURCE: &str = "111111111111";
const MANAGEMENT: &str = "999999999999";

/// An account, a region and the parameters that differ from the contract's.
type Instance = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// Instances that differ in what they need.
const INSTANCES: &[Instance] = &[
    (SOURCE, "eu-west-1", &[]),
    (SOURCE, "eu-west-1", &[("TwoHopResourceTypes", "EBS")]),
    (SOURCE, "eu-west-1", &[("SourceVaultName", "Default")]),
    (SOURCE, "eu-west-1", &[("PreProdAccountIds", "")]),
    (SOURCE, "eu-west-1", &[("KmsKeyAlias", "alias/backup")]),
    (SOURCE, "eu-west-1", &[("EnableRegionSettings", "false")]),
    (
        SOURCE,
        "eu-west-1",
        &[("NotificationScope", "organization")],
    ),
    (BACKUP, "eu-central-1", &[]),
    (BACKUP, "eu-central-1", &[("VaultLockMode", "none")]),
    (
        BACKUP,
        "eu-central-1",
        &[("NotificationScope", "organization")],
    ),
    (BACKUP, "eu-west-1", &[("TwoHopResourceTypes", "EBS")]),
    (BACKUP, "us-east-1", &[]),
    (BACKUP, "us-east-1", &[("TwoHopResourceTypes", "EBS")]),
    (PREPROD, "eu-west-1", &[]),
    (
        PREPROD,
        "eu-west-1",
        &[
            ("RestoreOnArrival", "true"),
            ("RestoreMaskingHook", "crossvault-mask"),
        ],
    ),
    (
        PREPROD,
        "eu-west-1",
        &[
            ("RestoreOnArrival", "true"),
            ("RestoreUnmasked", "true"),
            ("SlackWebhookParameter", "/crossvault/slack"),
        ],
    ),
    (
        PREPROD,
        "eu-west-1",
        &[
            ("RestoreOnArrival", "true"),
            (
                "RestoreMaskingHook",
                "arn:aws:lambda:eu-west-1:333333333333:function:mask",
            ),
            ("RestoreHostedZoneId", "Z0PREPROD"),
            ("RestoreDnsDomain", "preprod.internal"),
        ],
    ),
    (
        SOURCE,
        "eu-west-1",
        &[(
            "SlackWebhookParameter",
            "/aws/reference/secretsmanager/crossvault-slack",
        )],
    ),
    (
        BACKUP,
        "eu-central-1",
        &[("SlackWebhookParameter", "/slack")],
    ),
    (MANAGEMENT, "eu-west-1", &[]),
];

#[test]
fn the_handler_role_grants_exactly_what_its_code_calls_in_each_instance() {
    let scan = scan_sources(&handler_src());
    let t = template();
    let mut failures = Vec::new();
    for (account, region, extra) in INSTANCES {
        let e = eval(&t, account, region, extra);
        let (missing, excess) = compare(&required(&scan, &e), &granted(&e, "HandlerRole"));
        if !missing.is_empty() || !excess.is_empty() {
            failures.push(format!(
                "{account} {region} {extra:?} ({}): missing {missing:?}, excess {excess:?}",
                e.role
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// What the code calls with the verification role's credentials (`AsVerifyRole` in
/// [`PIPELINE`]), plus what is contracted for it.
fn required_of_verify_role(scan: &Scan) -> BTreeSet<String> {
    let mut actions: BTreeSet<String> = scan
        .calls
        .iter()
        .filter(|c| {
            PIPELINE.iter().any(|(file, function, only, capability)| {
                *capability == Capability::AsVerifyRole
                    && *file == c.file
                    && *function == c.function
                    && only.is_none_or(|a| a == c.action())
            })
        })
        .map(Call::action)
        .collect();
    actions.extend(
        CONTRACTED
            .iter()
            .filter(|(_, c)| *c == Capability::AsVerifyRole)
            .map(|(a, _)| (*a).to_owned()),
    );
    actions
}

#[test]
fn the_verification_role_grants_exactly_what_is_called_with_it() {
    let scan = scan_sources(&handler_src());
    let t = template();
    for region in ["eu-central-1", "eu-west-1", "us-east-1"] {
        let e = eval(&t, BACKUP, region, &[("TwoHopResourceTypes", "EBS")]);
        let (missing, excess) =
            compare(&required_of_verify_role(&scan), &granted(&e, "VerifyRole"));
        assert!(
            missing.is_empty() && excess.is_empty(),
            "{region}: missing {missing:?}, excess {excess:?}"
        );
    }
}

#[test]
fn contracted_actions_are_not_yet_in_the_code() {
    let scan = scan_sources(&handler_src());
    for (action, capability) in CONTRACTED {
        let called = scan.calls.iter().any(|c| {
            c.action() == *action
                && (*capability != Capability::AsVerifyRole
                    || PIPELINE.iter().any(|(file, function, _, cap)| {
                        *cap == Capability::AsVerifyRole
                            && *file == c.file
                            && *function == c.function
                    }))
        });
        assert!(
            !called,
            "{action} is called by the code now: remove it from CONTRACTED and attribute the call \
             to {capability:?} in PIPELINE"
        );
    }
}

/// The scan finds calls through every kind of client expression the handler uses, attributes
/// them to the right function, and follows free functions.
#[test]
fn the_scan_finds_calls_by_client_type() {
    let scan = scan_sources(&handler_src());
    let has = |file: &str, function: &str, action: &str| {
        scan.calls
            .iter()
            .any(|c| c.file == file && c.function == function && c.action() == action)
    };
    // A field of the shared clients, a local bound to one, a free function's parameter, a
    // lazily built client behind a method, and a per-region client.
    assert!(has(
        "effects.rs",
        "Effects::execute_one",
        "backup:StartCopyJob"
    ));
    assert!(has(
        "effects.rs",
        "Effects::shorten_retention",
        "backup:UpdateRecoveryPointLifecycle"
    ));
    assert!(has(
        "effects.rs",
        "Effects::resource_tags",
        "tag:GetResources"
    ));
    assert!(has("resources/vault_key.rs", "find", "kms:DescribeKey"));
    assert!(has(
        "resources/vault_key.rs",
        "VaultKey::create",
        "kms:CreateKey"
    ));
    assert!(has(
        "resources/region_settings.rs",
        "RegionSettings::apply",
        "backup:UpdateRegionSettings"
    ));
    // A kind without calls of its own reaches the key look-up through `find`.
    let existing: Vec<String> = scan
        .kind_calls("Custom::ExistingKey")
        .iter()
        .map(|c| c.action())
        .collect();
    assert_eq!(existing, ["kms:DescribeKey"]);
    assert!(scan.kind_calls("Custom::HandlerConfiguration").is_empty());
    // Unit tests are not code paths.
    assert!(scan.calls.iter().all(|c| !c.function.starts_with("tests")));

    // And the scan is not fooled by look-alikes: only typed clients count.
    let source: syn::File = syn::parse_quote! {
        struct Clients { backup: aws_sdk_backup::Client, names: Vec<String> }
        impl Clients {
            fn backup_in(&self, region: &str) -> aws_sdk_backup::Client { self.backup.clone() }
        }
        struct Worker { clients: std::sync::Arc<Clients> }
        impl Worker {
            async fn run(&self, sqs: &aws_sdk_sqs::Client) {
                let _ = self.clients.backup_in("eu-west-1").list_copy_jobs().send().await;
                let b = &self.clients.backup;
                let _ = b.describe_backup_vault().send().await;
                let _ = sqs.send_message().send().await;
                let _ = self.clients.names.first().cloned();
                let _ = self.clients.backup.clone();
            }
        }
        #[cfg(test)]
        mod tests { fn t(c: &aws_sdk_kms::Client) { c.create_key(); } }
    };
    let found = scan_parsed(&[("x.rs".into(), source)]);
    let actions: Vec<(String, String)> = found
        .calls
        .iter()
        .map(|c| (c.function.clone(), c.action()))
        .collect();
    assert_eq!(
        actions,
        [
            ("Worker::run".to_owned(), "backup:ListCopyJobs".to_owned()),
            (
                "Worker::run".to_owned(),
                "backup:DescribeBackupVault".to_owned()
            ),
            ("Worker::run".to_owned(), "sqs:SendMessage".to_owned()),
        ]
    );
}

/// The comparison fails both ways.
#[test]
fn a_missing_and_an_excess_permission_are_both_reported() {
    let set = |items: &[&str]| {
        items
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>()
    };
    let (missing, excess) = compare(
        &set(&["backup:ListCopyJobs", "sns:Publish"]),
        &set(&["backup:ListCopyJobs", "backup:StartRestoreJob"]),
    );
    assert_eq!(missing, ["sns:Publish"]);
    assert_eq!(excess, ["backup:StartRestoreJob"]);
    // On the real template: an instance with a capability removed from its configuration
    // (no pre-prod accounts) must not keep that capability's grant.
    let scan = scan_sources(&handler_src());
    let t = template();
    let with = required(&scan, &eval(&t, SOURCE, "eu-west-1", &[]));
    let without = granted(
        &eval(&t, SOURCE, "eu-west-1", &[("PreProdAccountIds", "")]),
        "HandlerRole",
    );
    let (_, excess) = compare(&without, &with);
    assert_eq!(excess, ["tag:GetResources"]);
}

/// The capability table's "only source accounts shorten" is the decision core's: asked to
/// shorten a confirmed, copied, day-old point, it shortens in a source account and keeps the
/// original in every other role.
#[test]
fn only_source_accounts_shorten_as_the_core_decides() {
    use crossvault_core::verify::{CheckedCopy, CopyEvidence, required_copies};
    use crossvault_core::{
        CurrentLifecycle, Partition, Region, RetentionDecision, RetentionInput, StorageClass,
    };
    let t = template();
    for (account, region) in [
        (SOURCE, "eu-west-1"),
        (BACKUP, "eu-central-1"),
        (PREPROD, "eu-west-1"),
        (MANAGEMENT, "eu-west-1"),
    ] {
        let e = eval(&t, account, region, &[]);
        let env: BTreeMap<String, String> = handler_environment(&e)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap().to_owned()))
            .collect();
        let config = crossvault_core::StackConfig::from_env_map(&env).unwrap();
        let now = chrono::Utc::now();
        // Every copy the configuration asks for is verified and keeps what the original keeps.
        let copies = required_copies(
            &config,
            Partition::Aws,
            &Region::new(region).unwrap(),
            Some("RDS"),
        )
        .into_iter()
        .map(|required| CheckedCopy {
            required,
            evidence: CopyEvidence::Completed {
                copy_job_id: "job".into(),
                lifecycle: Some(CurrentLifecycle::delete_after(35)),
            },
        })
        .collect();
        let input = RetentionInput {
            now,
            creation_date: now - chrono::Duration::days(1),
            current: CurrentLifecycle::delete_after(35),
            storage_class: StorageClass::Warm,
            is_continuous: false,
            vault_locked: false,
            role: config.role,
            copied_from: None,
            copies,
        };
        let shortens = matches!(
            crossvault_core::retention::decide(&input, &config),
            RetentionDecision::Shorten { .. }
        );
        assert_eq!(
            shortens,
            capabilities(&e).contains(&Capability::Shorten),
            "{account} {region}"
        );
    }
}

/// The core takes the re-encryption route exactly in the instances that have the capability
/// (source accounts, with their re-encryption vault).
#[test]
fn only_instances_with_the_reencrypt_capability_route_points_through_it() {
    let t = template();
    for (account, region, extra) in INSTANCES {
        let e = eval(&t, account, region, extra);
        let env: BTreeMap<String, String> = handler_environment(&e)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let config = crossvault_core::StackConfig::from_env_map(&env).unwrap();
        assert_eq!(
            crossvault_core::managed_key::applies_to(&config, Some("RDS")),
            capabilities(&e).contains(&Capability::ReEncrypt),
            "{account} {region} {extra:?}"
        );
        assert_eq!(
            e.exists("ReEncryptVault"),
            capabilities(&e).contains(&Capability::ReEncrypt),
            "{account} {region} {extra:?}: the vault exists where the handler uses it"
        );
    }
}

/// The role AWS Backup runs copies as carries AWS's managed policy for Backup service roles and
/// nothing of ours; the verification role allows only the two reads, to crossvault's handlers
/// in the organization.
#[test]
fn copy_and_verification_roles() {
    let t = template();
    let e = eval(&t, SOURCE, "eu-west-1", &[]);
    let copy = e.properties("CopyRole").unwrap().unwrap();
    assert_eq!(
        copy["ManagedPolicyArns"],
        serde_json::json!([
            "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
        ])
    );
    assert!(copy.get("Policies").is_none());
    assert_eq!(
        copy["AssumeRolePolicyDocument"]["Statement"][0]["Principal"],
        serde_json::json!({"Service": "backup.amazonaws.com"})
    );

    let backup = eval(&t, BACKUP, "eu-west-1", &[("TwoHopResourceTypes", "EBS")]);
    assert_eq!(
        granted(&backup, "VerifyRole"),
        ["backup:ListCopyJobs"].map(str::to_owned).into()
    );
    let verify = backup.properties("VerifyRole").unwrap().unwrap();
    assert_eq!(verify["RoleName"], "crossvault-verify-eu-west-1");
    let trust = &verify["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"], serde_json::json!({"AWS": "*"}));
    assert_eq!(
        trust["Condition"],
        serde_json::json!({
            "StringEquals": {"aws:PrincipalOrgID": {"Fn::GetAtt": ["OrgInfo", "OrganizationId"]}},
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/crossvault-handler-*"}
        })
    );
    // The source handler may assume exactly that role, in its own region.
    let source = eval(&t, SOURCE, "eu-west-1", &[("TwoHopResourceTypes", "EBS")]);
    let handler = source.properties("HandlerRole").unwrap().unwrap();
    let assume: Vec<&Json> = handler["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Action"] == "sts:AssumeRole")
        .collect();
    assert_eq!(assume.len(), 1);
    assert_eq!(
        assume[0]["Resource"],
        "arn:aws:iam::222222222222:role/crossvault-verify-eu-west-1"
    );
    // PassRole only of the copy role, only to AWS Backup.
    let pass: Vec<&Json> = handler["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Action"] == "iam:PassRole")
        .collect();
    assert_eq!(
        pass[0]["Resource"],
        "arn:aws:iam::111111111111:role/crossvault-copy-eu-west-1"
    );
    assert_eq!(
        pass[0]["Condition"],
        serde_json::json!({"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}})
    );
}

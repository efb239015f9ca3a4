//! The custom-resource engine.
//!
//! Resource kinds (`Custom::BackupRegionSettings`, …) implement [`ResourceKind`]; the engine owns
//! everything CloudFormation is strict about, so that no kind can hang a stack:
//! - the envelope is parsed before the properties, so bad input becomes FAILED with a reason
//!   that names the property;
//! - physical ids are deterministic (kind + account + region + key), never random, so an Update
//!   that returns the same id is not mistaken for a replacement;
//! - a failed Create answers with a marker id, and a later Delete of that marker is a no-op;
//! - the work runs under a deadline guard and a panic guard, and the answer is always sent.

pub mod properties;
pub mod request;
pub mod response;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::time::Instant;

pub use properties::{Properties, PropertyError};
pub use request::{Envelope, Request, RequestError, RequestType};
pub use response::{DeliveryError, DeliveryPolicy, ResponseBody, Status};

use crate::context::InvocationContext;

/// Prefix of every physical id crossvault hands out.
pub const ID_PREFIX: &str = "crossvault";
/// Physical ids answered for a Create that failed; CloudFormation's rollback then sends a Delete
/// for this id, which must not touch anything.
pub const CREATE_FAILED_MARKER: &str = "crossvault:create-failed:";

/// What a successful operation hands back to CloudFormation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Attributes readable with `Fn::GetAtt`.
    pub data: Map<String, Value>,
    /// Mask `data` in CloudFormation's output; the engine never logs such data either.
    pub no_echo: bool,
    /// A human-readable note, logged with the answer (e.g. "the compliance lock stays").
    pub note: Option<String>,
}

impl Outcome {
    pub fn with_note(note: impl Into<String>) -> Self {
        Self {
            note: Some(note.into()),
            ..Self::default()
        }
    }
}

/// Why an operation failed; the message becomes the FAILED `Reason`, so it must tell the user
/// what to change.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error(transparent)]
    Property(#[from] PropertyError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Aws(String),
}

impl ResourceError {
    /// An AWS SDK error rendered with its code and message, not just "service error".
    pub fn aws<E>(action: &str, err: E) -> Self
    where
        E: std::error::Error + 'static,
    {
        Self::Aws(format!(
            "{action} failed: {}",
            crate::aws_error::describe(&err)
        ))
    }
}

pub type OpResult<'a> = BoxFuture<'a, Result<Outcome, ResourceError>>;

/// One kind of custom resource. Implementations must be idempotent: CloudFormation and Lambda
/// both may deliver a request more than once.
pub trait ResourceKind: Send + Sync {
    /// The `ResourceType` this kind answers to, e.g. `Custom::BackupRegionSettings`.
    fn resource_type(&self) -> &'static str;

    /// Short, stable name used in physical ids, e.g. `region-settings`.
    fn id_name(&self) -> &'static str;

    /// The key that tells instances of this kind apart within one account and region (a vault
    /// name, say), or `None` when there is one instance per account and region. Changing the key
    /// on Update makes CloudFormation replace the resource (and Delete the old one).
    fn id_key(&self, props: &Properties<'_>) -> Result<Option<String>, ResourceError> {
        let _ = props;
        Ok(None)
    }

    /// Checks the properties before anything is changed.
    fn validate(&self, req: &Request) -> Result<(), ResourceError> {
        let _ = req;
        Ok(())
    }

    fn create<'a>(&'a self, req: &'a Request) -> OpResult<'a>;

    /// An Update that keeps the physical id. Kinds that converge the real state to the
    /// properties (read-modify-write) do the same on Create and Update, hence the default.
    fn update<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        self.create(req)
    }

    fn delete<'a>(&'a self, req: &'a Request) -> OpResult<'a>;
}

/// The physical id of an instance of `kind`: stable for the same account, region and key.
pub fn physical_id(kind: &dyn ResourceKind, req: &Request) -> Result<String, ResourceError> {
    let key = kind.id_key(&req.props())?;
    let mut id = format!(
        "{ID_PREFIX}:{}:{}:{}",
        kind.id_name(),
        req.account_id,
        req.region
    );
    if let Some(key) = key {
        id.push(':');
        id.push_str(&key);
    }
    Ok(id)
}

/// Timing of one invocation as the engine sees it.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Time kept back from the Lambda deadline for sending the answer after the work is cut off.
    pub response_reserve: Duration,
    pub delivery: DeliveryPolicy,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            response_reserve: Duration::from_secs(20),
            delivery: DeliveryPolicy::default(),
        }
    }
}

/// What the engine did with one request, for the invocation's return value and for tests.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Answer {
    pub status: Status,
    pub physical_resource_id: String,
    pub reason: Option<String>,
    pub delivered: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Unanswerable(RequestError),
    /// The answer could not be delivered; the invocation fails so Lambda's asynchronous retry
    /// gets another chance at it (the operation itself is idempotent).
    #[error(transparent)]
    NotDelivered(#[from] DeliveryError),
}

/// The registry of kinds plus the HTTP client for answers.
pub struct Engine {
    kinds: BTreeMap<&'static str, Arc<dyn ResourceKind>>,
    http: reqwest::Client,
    options: EngineOptions,
}

impl Engine {
    pub fn new(http: reqwest::Client, options: EngineOptions) -> Self {
        Self {
            kinds: BTreeMap::new(),
            http,
            options,
        }
    }

    pub fn register(mut self, kind: Arc<dyn ResourceKind>) -> Self {
        self.kinds.insert(kind.resource_type(), kind);
        self
    }

    pub fn supported_types(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }

    /// Handles one request end to end: parse, run the kind under the guards, answer.
    pub async fn handle(
        &self,
        event: &Value,
        ctx: &InvocationContext,
    ) -> Result<Answer, EngineError> {
        let envelope = request::parse_envelope(event).map_err(|e| {
            tracing::error!(error = %e, "custom-resource request cannot be answered");
            EngineError::Unanswerable(e)
        })?;
        let body = self.run(event, &envelope, ctx).await;
        let answer = Answer {
            status: body.status,
            physical_resource_id: body.physical_resource_id.clone(),
            reason: body.reason.clone(),
            delivered: false,
        };
        if body.no_echo {
            tracing::info!(status = ?body.status, physical_id = %body.physical_resource_id,
                data_keys = ?body.data.keys().collect::<Vec<_>>(), "answering (Data withheld: NoEcho)");
        } else {
            let data = Value::Object(body.data.clone());
            tracing::info!(status = ?body.status, physical_id = %body.physical_resource_id,
                reason = body.reason.as_deref().unwrap_or(""), %data, "answering CloudFormation");
        }
        let json = body.to_json_within_limit();
        let give_up_at = ctx
            .deadline
            .checked_sub(Duration::from_millis(500))
            .unwrap_or(ctx.deadline);
        response::deliver(
            &self.http,
            &envelope.response_url,
            &json,
            &self.options.delivery,
            give_up_at,
        )
        .await?;
        Ok(Answer {
            delivered: true,
            ..answer
        })
    }

    async fn run(
        &self,
        event: &Value,
        envelope: &Envelope,
        ctx: &InvocationContext,
    ) -> ResponseBody {
        // The id to answer with when no kind-specific id can be worked out.
        let fallback_id = envelope
            .physical_resource_id
            .clone()
            .unwrap_or_else(|| format!("{CREATE_FAILED_MARKER}{}", envelope.logical_resource_id));
        let req = match request::parse_request(event, envelope.clone()) {
            Ok(r) => r,
            Err(e) => return ResponseBody::failed(envelope, fallback_id, e.to_string()),
        };
        tracing::info!(request_type = %req.request_type, resource_type = %req.resource_type,
            logical_id = %envelope.logical_resource_id, "custom-resource request");

        if req.request_type == RequestType::Delete && fallback_id.starts_with(CREATE_FAILED_MARKER)
        {
            return ResponseBody::success(envelope, fallback_id, Map::new(), false);
        }
        let Some(kind) = self.kinds.get(req.resource_type.as_str()) else {
            return ResponseBody::failed(
                envelope,
                fallback_id,
                format!(
                    "unsupported ResourceType {:?}; this handler supports {}",
                    req.resource_type,
                    self.supported_types().join(", ")
                ),
            );
        };

        let work_deadline = ctx
            .deadline
            .checked_sub(self.options.response_reserve)
            .unwrap_or(ctx.deadline);
        let started = Instant::now();
        let work = AssertUnwindSafe(self.operate(kind.as_ref(), &req)).catch_unwind();
        let result = match tokio::time::timeout_at(work_deadline, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(ResourceError::Invalid(format!(
                "internal error: the {} handler panicked: {}; see log group {} stream {}",
                req.resource_type,
                panic_message(panic.as_ref()),
                ctx.log_group,
                ctx.log_stream
            ))),
            Err(_elapsed) => Err(ResourceError::Invalid(format!(
                "timed out after {} s before the Lambda deadline; the operation may be partly \
                 applied and is safe to retry; see log group {} stream {}",
                started.elapsed().as_secs(),
                ctx.log_group,
                ctx.log_stream
            ))),
        };
        match result {
            Ok((id, outcome)) => {
                // A note on success (e.g. "the compliance lock stays") is sent as the Reason,
                // which CloudFormation shows in the stack events.
                let mut body = ResponseBody::success(envelope, id, outcome.data, outcome.no_echo);
                body.reason = outcome.note;
                body
            }
            Err(e) => {
                tracing::error!(error = %e, "custom-resource operation failed");
                let id = match req.request_type {
                    // A failed Create has no resource yet: answer with the marker so the rollback's
                    // Delete knows there is nothing to remove.
                    RequestType::Create => {
                        format!("{CREATE_FAILED_MARKER}{}", envelope.logical_resource_id)
                    }
                    RequestType::Update | RequestType::Delete => fallback_id,
                };
                ResponseBody::failed(envelope, id, e.to_string())
            }
        }
    }

    async fn operate(
        &self,
        kind: &dyn ResourceKind,
        req: &Request,
    ) -> Result<(String, Outcome), ResourceError> {
        match req.request_type {
            RequestType::Create => {
                kind.validate(req)?;
                let id = physical_id(kind, req)?;
                Ok((id, kind.create(req).await?))
            }
            RequestType::Update => {
                kind.validate(req)?;
                let id = physical_id(kind, req)?;
                let old_id = req
                    .envelope
                    .physical_resource_id
                    .clone()
                    .unwrap_or_default();
                if id != old_id {
                    // A new id means replacement: create the new instance; CloudFormation then
                    // deletes the old one in its cleanup phase.
                    tracing::info!(old_id = %old_id, new_id = %id, "key changed: replacing");
                    return Ok((id, kind.create(req).await?));
                }
                Ok((id, kind.update(req).await?))
            }
            RequestType::Delete => {
                let id = req
                    .envelope
                    .physical_resource_id
                    .clone()
                    .unwrap_or_default();
                if !id.starts_with(&format!("{ID_PREFIX}:{}:", kind.id_name())) {
                    // Not an id this kind hands out (e.g. a resource created by another tool
                    // that shared the logical id): nothing of ours to remove.
                    return Ok((
                        id,
                        Outcome::with_note("not a crossvault-managed id; nothing to delete"),
                    ));
                }
                Ok((id, kind.delete(req).await?))
            }
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

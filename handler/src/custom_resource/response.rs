//! The answer to CloudFormation: body shaping and delivery.
//!
//! CloudFormation rejects a body over 4096 bytes, and it only learns the outcome through an
//! HTTP PUT to a presigned S3 URL. Both are easy to get subtly wrong (a `Content-Type` that is
//! not signed breaks the signature; a long error message breaks the size), and either mistake
//! leaves the stack waiting for `ServiceTimeout`.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::request::Envelope;

/// CloudFormation's limit for the whole response body.
pub const MAX_BODY_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Success,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResponseBody {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_echo: bool,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
}

impl ResponseBody {
    pub fn success(
        envelope: &Envelope,
        physical_id: String,
        data: Map<String, Value>,
        no_echo: bool,
    ) -> Self {
        Self {
            status: Status::Success,
            reason: None,
            physical_resource_id: physical_id,
            stack_id: envelope.stack_id.clone(),
            request_id: envelope.request_id.clone(),
            logical_resource_id: envelope.logical_resource_id.clone(),
            no_echo,
            data,
        }
    }

    pub fn failed(envelope: &Envelope, physical_id: String, reason: impl Into<String>) -> Self {
        Self {
            status: Status::Failed,
            reason: Some(reason.into()),
            physical_resource_id: physical_id,
            stack_id: envelope.stack_id.clone(),
            request_id: envelope.request_id.clone(),
            logical_resource_id: envelope.logical_resource_id.clone(),
            no_echo: false,
            data: Map::new(),
        }
    }

    /// Serialises the body within [`MAX_BODY_BYTES`].
    ///
    /// Data that does not fit turns a SUCCESS into FAILED: silently dropping attributes would
    /// make a later `Fn::GetAtt` fail with a far less helpful message. A long Reason is cut in the
    /// middle, keeping its head (what failed) and its tail (usually the AWS error).
    pub fn to_json_within_limit(mut self) -> String {
        let body = serde_json::to_string(&self).expect("response body serialises");
        if body.len() <= MAX_BODY_BYTES {
            return body;
        }
        if !self.data.is_empty() {
            let data_len = serde_json::to_string(&self.data).map_or(0, |s| s.len());
            self.status = Status::Failed;
            self.reason = Some(format!(
                "the resource's Data is {data_len} bytes, and CloudFormation accepts at most \
                 {MAX_BODY_BYTES} bytes for the whole response; the operation itself completed"
            ));
            self.data = Map::new();
            self.no_echo = false;
        }
        let reason = self.reason.take().unwrap_or_default();
        let overhead = serde_json::to_string(&Self {
            reason: Some(String::new()),
            ..self.clone()
        })
        .expect("response body serialises")
        .len();
        self.reason = Some(cut_middle(&reason, MAX_BODY_BYTES.saturating_sub(overhead)));
        serde_json::to_string(&self).expect("response body serialises")
    }
}

/// Shortens `text` so that its JSON-escaped form is at most `budget` bytes, keeping the head and
/// the tail and saying how much was cut.
pub fn cut_middle(text: &str, budget: usize) -> String {
    let escaped_len = |s: &str| serde_json::to_string(s).map_or(s.len(), |j| j.len() - 2);
    if escaped_len(text) <= budget {
        return text.to_owned();
    }
    let marker_for = |n: usize| format!(" [… {n} bytes cut …] ");
    // The marker's own length depends on the count; reserve for the widest count.
    let room = budget.saturating_sub(escaped_len(&marker_for(text.len())));
    let (head_room, tail_room) = (room - room / 3, room / 3);
    let mut head_end = 0;
    let mut used = 0;
    for (i, c) in text.char_indices() {
        let w = escaped_len(c.encode_utf8(&mut [0; 4]));
        if used + w > head_room {
            break;
        }
        used += w;
        head_end = i + c.len_utf8();
    }
    let mut tail_start = text.len();
    used = 0;
    for (i, c) in text.char_indices().rev() {
        let w = escaped_len(c.encode_utf8(&mut [0; 4]));
        if i < head_end || used + w > tail_room {
            break;
        }
        used += w;
        tail_start = i;
    }
    let cut = tail_start - head_end;
    format!(
        "{}{}{}",
        &text[..head_end],
        marker_for(cut),
        &text[tail_start..]
    )
}

/// How delivery is retried. The defaults suit a Lambda with a multi-minute timeout; tests use
/// short ones.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    pub attempt_timeout: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(10),
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// Why an answer never reached CloudFormation.
#[derive(Debug, thiserror::Error)]
#[error("the response was not delivered after {attempts} attempt(s): {last_error}")]
pub struct DeliveryError {
    pub attempts: u32,
    pub last_error: String,
}

/// PUTs `body` to the presigned URL, retrying transport errors and non-2xx answers with
/// exponential backoff until `give_up_at`.
///
/// The `Content-Type` header is sent empty, as AWS's own cfn-response does: the URL is signed
/// without it, and a client default such as `application/json` can make S3 answer
/// `SignatureDoesNotMatch`.
pub async fn deliver(
    http: &reqwest::Client,
    url: &str,
    body: &str,
    policy: &DeliveryPolicy,
    give_up_at: Instant,
) -> Result<u32, DeliveryError> {
    let mut attempts = 0;
    let mut backoff = policy.first_backoff;
    loop {
        attempts += 1;
        let remaining = give_up_at.saturating_duration_since(Instant::now());
        let outcome = http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "")
            .header(reqwest::header::CONTENT_LENGTH, body.len())
            .body(body.to_owned())
            .timeout(
                policy
                    .attempt_timeout
                    .min(remaining.max(Duration::from_millis(1))),
            )
            .send()
            .await;
        let last_error = match outcome {
            Ok(resp) if resp.status().is_success() => {
                tracing::info!(attempts, status = %resp.status(), "response delivered to CloudFormation");
                return Ok(attempts);
            }
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                format!("HTTP {status}: {}", cut_middle(&text, 300))
            }
            Err(e) => format!("transport error: {e}"),
        };
        let now = Instant::now();
        if now + backoff >= give_up_at {
            tracing::error!(
                attempts,
                %last_error,
                "giving up on delivering the response before the Lambda deadline"
            );
            return Err(DeliveryError {
                attempts,
                last_error,
            });
        }
        tracing::warn!(attempts, %last_error, ?backoff, "response delivery failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(policy.max_backoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn envelope() -> Envelope {
        Envelope {
            response_url: "http://x".into(),
            stack_id: "arn:aws:cloudformation:eu-west-1:111111111111:stack/s/1".into(),
            request_id: "r".into(),
            logical_resource_id: "L".into(),
            physical_resource_id: None,
        }
    }

    #[test]
    fn long_reason_is_cut_keeping_head_and_tail() {
        let reason = format!("HEAD {} TAIL", "x".repeat(10_000));
        let body = ResponseBody::failed(&envelope(), "id".into(), reason).to_json_within_limit();
        assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
        let v: Value = serde_json::from_str(&body).unwrap();
        let r = v["Reason"].as_str().unwrap();
        assert!(r.starts_with("HEAD "), "{r}");
        assert!(r.ends_with(" TAIL"), "{r}");
        assert!(r.contains("bytes cut"), "{r}");
        assert!(
            body.len() > MAX_BODY_BYTES - 100,
            "uses the room it has: {}",
            body.len()
        );
    }

    #[test]
    fn oversized_data_turns_into_a_clear_failure() {
        let mut data = Map::new();
        data.insert("Big".into(), Value::String("y".repeat(5000)));
        let body =
            ResponseBody::success(&envelope(), "id".into(), data, true).to_json_within_limit();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["Status"], "FAILED");
        assert!(v.get("Data").is_none());
        assert!(v.get("NoEcho").is_none());
        assert!(v["Reason"].as_str().unwrap().contains("at most 4096 bytes"));
    }

    #[test]
    fn small_bodies_are_untouched() {
        let body = ResponseBody::success(&envelope(), "id".into(), Map::new(), false)
            .to_json_within_limit();
        assert_eq!(
            body,
            r#"{"Status":"SUCCESS","PhysicalResourceId":"id","StackId":"arn:aws:cloudformation:eu-west-1:111111111111:stack/s/1","RequestId":"r","LogicalResourceId":"L"}"#
        );
    }

    proptest! {
        #[test]
        fn any_reason_fits(reason in ".{0,6000}", quote_heavy in "[\"\\\\\n\u{1F600}]{0,3000}") {
            let text = format!("{reason}{quote_heavy}");
            let body = ResponseBody::failed(&envelope(), "id".into(), text).to_json_within_limit();
            prop_assert!(body.len() <= MAX_BODY_BYTES);
            let v: Value = serde_json::from_str(&body).unwrap();
            prop_assert_eq!(&v["Status"], "FAILED");
        }
    }
}

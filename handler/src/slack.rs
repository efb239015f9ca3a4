//! Slack: every notification the pipeline sends also goes to a Slack incoming webhook when
//! `SlackWebhookParameter` names one. The URL is a secret: it lives in an SSM SecureString (or
//! a Secrets Manager secret, read through Parameter Store's `/aws/reference/secretsmanager/`),
//! is read at run time (once per invocation), and never appears in a log line, an outcome or an
//! error (reqwest's errors are stripped of it). Delivery is retried on timeouts, 429 and 5xx,
//! reported in the outcome, and never fails the notification or the step that sent it.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::clients::Lazy;
use crate::effects::Effects;

/// How Slack is posted to.
pub struct Slack {
    /// The SSM parameter holding the webhook URL (`None`: no Slack).
    parameter: Option<String>,
    http: Lazy<reqwest::Client>,
    /// Attempts per message (at least 1).
    pub attempts: u32,
    /// Time allowed for each attempt.
    pub timeout: Duration,
    /// Wait before the second attempt (doubled each time).
    pub backoff: Duration,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack")
            .field("parameter", &self.parameter)
            .field("attempts", &self.attempts)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Slack {
    /// Posting through the webhook in `parameter` (`None`: Slack is off): 3 attempts of at most
    /// 5 s each, 1 s apart then 2 s — a slow Slack costs a batch at most about 18 s.
    pub fn new(parameter: Option<String>) -> Self {
        Self {
            parameter,
            http: Lazy::new(|| {
                reqwest::Client::builder()
                    .build()
                    .expect("an HTTP client with rustls builds")
            }),
            attempts: 3,
            timeout: Duration::from_secs(5),
            backoff: Duration::from_secs(1),
        }
    }

    /// The same, with another retry policy (tests).
    pub fn with_policy(mut self, attempts: u32, timeout: Duration, backoff: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.timeout = timeout;
        self.backoff = backoff;
        self
    }

    /// Whether a webhook is configured.
    pub fn is_configured(&self) -> bool {
        self.parameter.is_some()
    }
}

/// What became of a Slack message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "slack", rename_all = "snake_case")]
pub enum SlackDelivery {
    /// Slack answered 2xx.
    Delivered {
        /// Attempts it took.
        attempts: u32,
    },
    /// Not delivered; the reason never contains the URL.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// Why.
        reason: String,
    },
}

/// The webhook URL read in this invocation (a failed read is not kept: the next message reads
/// again).
#[derive(Default)]
pub struct WebhookCache(Mutex<Option<String>>);

impl std::fmt::Debug for WebhookCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookCache(..)")
    }
}

/// A transport error with its causes, never the URL (also scrubbed from the causes, in case
/// one repeats it).
fn describe(e: reqwest::Error, url: &str) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.replace(url, "<webhook>")
}

/// Slack's mrkdwn: `&`, `<` and `>` are control characters.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message body Slack receives.
pub fn payload(subject: &str, message: &str) -> serde_json::Value {
    serde_json::json!({
        "text": format!("*{}*\n{}", escape(subject), escape(message)),
    })
}

impl Effects<'_> {
    /// The webhook URL: an SSM SecureString, decrypted (a Secrets Manager secret through
    /// `/aws/reference/secretsmanager/NAME` the same way).
    async fn slack_webhook(&self, parameter: &str) -> Result<String, String> {
        if let Some(url) = self
            .session
            .slack_webhook
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(url);
        }
        let out = self
            .clients
            .ssm
            .get_parameter()
            .name(parameter)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "ssm:GetParameter {parameter} failed: {}",
                    crate::aws_error::describe(&e)
                )
            })?;
        let url = out
            .parameter
            .and_then(|p| p.value)
            .filter(|v| v.starts_with("https://") || v.starts_with("http://"))
            .ok_or_else(|| format!("the parameter {parameter} does not hold a webhook URL"))?;
        *self
            .session
            .slack_webhook
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(url.clone());
        Ok(url)
    }

    /// Posts a notification to Slack (`None` when Slack is not configured). Never fails.
    pub async fn post_to_slack(&self, subject: &str, message: &str) -> Option<SlackDelivery> {
        let slack = self.slack;
        let parameter = slack.parameter.as_deref()?;
        let url = match self.slack_webhook(parameter).await {
            Ok(url) => url,
            Err(reason) => {
                tracing::warn!(%reason, "slack: webhook not read");
                return Some(SlackDelivery::Failed {
                    attempts: 0,
                    reason,
                });
            }
        };
        let body = payload(subject, message);
        let mut wait = slack.backoff;
        let mut reason = String::new();
        for attempt in 1..=slack.attempts {
            let sent = slack
                .http
                .post(&url)
                .timeout(slack.timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    return Some(SlackDelivery::Delivered { attempts: attempt });
                }
                Ok(r) => {
                    let status = r.status();
                    let text: String = r
                        .text()
                        .await
                        .unwrap_or_default()
                        .chars()
                        .take(200)
                        .collect();
                    reason = format!("Slack answered {status}: {text}");
                    if !(status.as_u16() == 429 || status.is_server_error()) {
                        tracing::warn!(%reason, attempt, "slack: not delivered");
                        return Some(SlackDelivery::Failed {
                            attempts: attempt,
                            reason,
                        });
                    }
                }
                // Without the URL: it is the secret.
                Err(e) if e.is_timeout() => {
                    reason = format!("no answer within {:?} (timed out)", slack.timeout);
                }
                Err(e) => reason = describe(e.without_url(), &url),
            }
            tracing::warn!(%reason, attempt, "slack: attempt failed");
            if attempt < slack.attempts {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        Some(SlackDelivery::Failed {
            attempts: slack.attempts,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_escapes_slacks_control_characters() {
        let p = payload("a <b>", "x & y");
        assert_eq!(p["text"], "*a &lt;b&gt;*\nx &amp; y");
    }
}

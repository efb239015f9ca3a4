//! Sending a record that can never succeed to the dead-letter queue at once, with the reason,
//! instead of letting SQS redeliver it until `maxReceiveCount` runs out.

use std::sync::Arc;

use aws_sdk_sqs::types::MessageAttributeValue;
use futures::future::BoxFuture;

use crate::batch::{DeadLetters, SqsRecord};
use crate::clients::AwsClients;

/// The queue named by `CROSSVAULT_DEAD_LETTER_QUEUE_URL`; its SQS client is built by the first
/// record that needs it.
pub struct SqsDeadLetters {
    pub clients: Arc<AwsClients>,
    pub queue_url: String,
}

fn text(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data type is set")
}

impl DeadLetters for SqsDeadLetters {
    fn send<'a>(
        &'a self,
        record: &'a SqsRecord,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            // SQS attribute values are at most 256 KiB; reasons are short, but keep it bounded.
            let reason: String = reason.chars().take(4000).collect();
            self.clients
                .sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(&record.body)
                .message_attributes("crossvault-reason", text(&reason))
                .message_attributes("crossvault-source-message-id", text(&record.message_id))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws_error::describe(&e))
        })
    }
}

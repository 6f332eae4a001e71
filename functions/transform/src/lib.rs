//! The transform function: the changes queue's SQS event source invokes it with up to
//! 10 change events; it maps each into a write command on the writes queue.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use ferry_engine::Engine;
use ferry_runtime::aws::{handle_sqs_batch, BatchSettings, Step};

/// Handles each record on its own; the response names only the failed message ids.
pub async fn handle(engine: &Engine, event: SqsEvent) -> SqsBatchResponse {
    handle_sqs_batch(engine, Step::TRANSFORM, event, BatchSettings::default()).await
}

/// [`handle`] within Lambda's deadline: records not started in time are handed back.
pub async fn handle_until(engine: &Engine, event: SqsEvent, deadline: std::time::SystemTime) -> SqsBatchResponse {
    handle_sqs_batch(engine, Step::TRANSFORM, event, BatchSettings::default().until(deadline)).await
}

#[cfg(test)]
mod tests;

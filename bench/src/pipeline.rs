//! The pipeline under test on either backend, driven the way its runtime drives it:
//! a poll per direction, then the changes and writes queues drained in batches, each
//! batch one handler call (one Lambda invocation on AWS).

use crate::counting::{CountedQueue, CountedStore, CountingInterceptor, Tally};
use anyhow::{anyhow, Result};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use chrono::Utc;
use ferry_connectors::http::HttpOptions;
use ferry_domain::ports::{Queue, QueueName};
use ferry_domain::{Flow, IntegrationId, WriteCommand};
use ferry_engine::{Batch, Engine, EngineSettings, HandleError, WriteOutcome};
use ferry_event_runner::QueueInfo;
use ferry_runtime::{Connectors, SecretSource};
use ferry_store::aws::{DynamoStore, SqsQueue};
use ferry_store::sqlite::SqliteStore;
use ferry_store::QueueSettings;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Handler invocations and the time they took (what Lambda bills).
#[derive(Debug, Default, Clone)]
pub struct Invocations {
    /// Polls on the schedule (each one a Scheduler invocation too).
    pub poll: u64,
    /// Polls a webhook asked for (the hook function invokes the poll function).
    pub requested_poll: u64,
    /// Webhook deliveries the hook function answered.
    pub hook: u64,
    pub transform: u64,
    pub write: u64,
    /// Sum over invocations of the duration rounded up to the millisecond.
    pub billed_ms: u64,
    pub handler_time: Duration,
}

impl Invocations {
    pub fn total(&self) -> u64 {
        self.poll + self.requested_poll + self.hook + self.transform + self.write
    }
    /// What happened since `before`, added to `self`.
    pub fn add_since(&mut self, now: &Invocations, before: &Invocations) {
        self.poll += now.poll - before.poll;
        self.requested_poll += now.requested_poll - before.requested_poll;
        self.hook += now.hook - before.hook;
        self.transform += now.transform - before.transform;
        self.write += now.write - before.write;
        self.billed_ms += now.billed_ms - before.billed_ms;
        self.handler_time += now.handler_time - before.handler_time;
    }
    pub fn add(&mut self, took: Duration) {
        self.handler_time += took;
        self.billed_ms += took.as_micros().div_ceil(1000) as u64;
    }
}

/// A write the target got: the change's direction and source key, and when.
pub struct Written {
    pub flow: Flow,
    pub source_key: String,
    pub at: Instant,
}

pub enum Pipeline {
    Embedded { engine: Arc<Engine>, queue: Arc<dyn Queue> },
    Aws(Box<AwsPipeline>),
}

pub struct AwsPipeline {
    engine: Arc<Engine>,
    sqs: aws_sdk_sqs::Client,
    region: String,
    changes: QueueInfo,
    writes: QueueInfo,
}

impl Pipeline {
    pub fn embedded(
        db: &Path,
        secrets: Arc<dyn SecretSource>,
        settings: EngineSettings,
        tally: Arc<Tally>,
    ) -> Result<Pipeline> {
        let store = Arc::new(
            SqliteStore::open(db, QueueSettings::default())
                .map_err(|e| anyhow!("opening the embedded store {}: {e}", db.display()))?,
        );
        let counted = Arc::new(CountedStore { inner: store.clone(), tally: tally.clone() });
        let queue: Arc<dyn Queue> = Arc::new(CountedQueue { inner: store, tally });
        let connectors = Arc::new(Connectors::new(secrets, HttpOptions::default()).with_governors(counted.clone()));
        let engine = Arc::new(Engine::new(counted.clone(), counted, queue.clone(), connectors, settings));
        Ok(Pipeline::Embedded { engine, queue })
    }

    /// The AWS backend at `AWS_ENDPOINT_URL` with the `FERRY_*` resource names; every
    /// DynamoDB and SQS request (the adapters' and the event source's) is counted.
    pub async fn aws(secrets: Arc<dyn SecretSource>, settings: EngineSettings, tally: Arc<Tally>) -> Result<Pipeline> {
        let (sdk, names) = ferry_testsupport::backend::emulator().await?;
        let counter = CountingInterceptor { tally };
        let ddb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&sdk).interceptor(counter).build());
        let payloads = ferry_runtime::aws::payload_store(&sdk, &names.payload_bucket)?;
        let store = Arc::new(DynamoStore::new(ddb, &names).with_payloads(payloads.clone()));
        let queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(sqs.clone(), &names).with_payloads(payloads));
        let connectors = Arc::new(Connectors::new(secrets, HttpOptions::default()).with_governors(store.clone()));
        let engine = Arc::new(Engine::new(store.clone(), store, queue, connectors, settings));
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
        let changes = ferry_event_runner::queue_info(&sqs, &names.changes_queue_url).await?;
        let writes = ferry_event_runner::queue_info(&sqs, &names.writes_queue_url).await?;
        Ok(Pipeline::Aws(Box::new(AwsPipeline { engine, sqs, region, changes, writes })))
    }

    /// Deletes what both queues hold on the AWS backend (the emulator's queues outlive a
    /// run, and messages of earlier runs' integrations, whose simulators are gone, would
    /// be retried in between this run's; PurgeQueue is allowed once a minute); the
    /// embedded store is fresh already. Answers how many messages it deleted.
    pub async fn discard_queued(&self) -> Result<usize> {
        let Pipeline::Aws(a) = self else { return Ok(0) };
        let mut n = 0;
        for url in [&a.changes.url, &a.writes.url] {
            loop {
                let out = a
                    .sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(0)
                    .send()
                    .await
                    .map_err(|e| anyhow!("ReceiveMessage: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
                let messages = out.messages.unwrap_or_default();
                if messages.is_empty() {
                    break;
                }
                for m in &messages {
                    let receipt = m.receipt_handle.as_deref().unwrap_or_default();
                    a.sqs
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(receipt)
                        .send()
                        .await
                        .map_err(|e| anyhow!("DeleteMessage: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    pub fn engine(&self) -> &Arc<Engine> {
        match self {
            Pipeline::Embedded { engine, .. } => engine,
            Pipeline::Aws(a) => &a.engine,
        }
    }

    /// One poll of one direction (the scheduled poll function on AWS).
    pub async fn poll(&self, id: &IntegrationId, flow: Flow, inv: &mut Invocations) -> Result<usize> {
        let started = Instant::now();
        let enqueued = match self {
            Pipeline::Embedded { engine, .. } => engine.poll(id, flow, Utc::now()).await?.enqueued,
            Pipeline::Aws(a) => {
                let input = serde_json::json!({"integration": id.as_str(), "flow": flow.as_str()});
                ferry_fn_poll::handle(&a.engine, input, Utc::now()).await?.report.enqueued
            }
        };
        inv.poll += 1;
        inv.add(started.elapsed());
        Ok(enqueued)
    }

    /// Handles both queues in batches of `batch` until two passes in a row find
    /// nothing; returns the writes that reached a target.
    pub async fn drain(&self, batch: usize, inv: &mut Invocations) -> Result<Vec<Written>> {
        let mut written = Vec::new();
        let mut idle_passes = 0;
        while idle_passes < 2 {
            let mut n = 0;
            for q in [QueueName::Changes, QueueName::Writes] {
                n += match self {
                    Pipeline::Embedded { engine, queue } => {
                        embedded_batch(engine, queue, q, batch, inv, &mut written).await?
                    }
                    Pipeline::Aws(a) => a.batch(q, batch, 0, inv, &mut written).await?,
                };
            }
            idle_passes = if n == 0 { idle_passes + 1 } else { 0 };
        }
        Ok(written)
    }
}

async fn embedded_batch(
    engine: &Engine,
    queue: &Arc<dyn Queue>,
    q: QueueName,
    batch: usize,
    inv: &mut Invocations,
    written: &mut Vec<Written>,
) -> Result<usize> {
    let deliveries = queue.receive(q, batch, Duration::from_secs(180)).await?;
    if deliveries.is_empty() {
        return Ok(0);
    }
    let started = Instant::now();
    // As the runtimes do: the batch's write commands go out together, then the acks.
    let batch = Batch::default();
    let bodies: Vec<&str> = deliveries.iter().map(|d| d.body.as_str()).collect();
    engine.prefetch(&batch, q, &bodies).await;
    let mut acks = Vec::new();
    for d in &deliveries {
        let result = match q {
            QueueName::Changes => engine.transform_change(&d.body, d.receive_count, &batch).await.map(|_| None),
            QueueName::Writes => engine.write_command(&d.body, d.receive_count, &batch).await.map(Some),
        };
        match result {
            Ok(outcome) => {
                tracing::debug!(queue = q.as_str(), ?outcome, "handled");
                if let Some(WriteOutcome::Created { .. } | WriteOutcome::Updated { .. }) = outcome {
                    if let Some(w) = written_by(&d.body) {
                        written.push(w);
                    }
                }
                acks.push(d.receipt.clone());
            }
            Err(HandleError::Retry { error, after }) => {
                tracing::warn!("retrying a message: {error}");
                queue.release(q, &d.receipt, after.unwrap_or(Duration::from_millis(200))).await?;
            }
            Err(HandleError::BadMessage(m)) => return Err(anyhow!("the pipeline produced a bad message: {m}")),
            Err(HandleError::Crashed(c)) => return Err(anyhow!("the benchmark injects no crashes, yet: {c}")),
        }
    }
    engine.flush(&batch).await.map_err(|e| anyhow!("sending write commands: {e}"))?;
    for receipt in &acks {
        queue.ack(q, receipt).await?;
    }
    inv.add(started.elapsed());
    match q {
        QueueName::Changes => inv.transform += 1,
        QueueName::Writes => inv.write += 1,
    }
    Ok(deliveries.len())
}

/// The direction and source key of a write command.
fn written_by(body: &str) -> Option<Written> {
    let cmd: WriteCommand = serde_json::from_str(body).ok()?;
    Some(Written { flow: cmd.flow, source_key: cmd.source.key, at: Instant::now() })
}

impl AwsPipeline {
    /// One receive → handler → delete round, as Lambda's SQS event source does it; the
    /// receive waits up to `wait_secs` for a message (long polling).
    pub async fn batch(
        &self,
        q: QueueName,
        batch: usize,
        wait_secs: i32,
        inv: &mut Invocations,
        written: &mut Vec<Written>,
    ) -> Result<usize> {
        let QueueInfo { url, arn, visibility } = match q {
            QueueName::Changes => &self.changes,
            QueueName::Writes => &self.writes,
        };
        let out = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(batch.clamp(1, 10) as i32)
            .visibility_timeout(*visibility)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| anyhow!("ReceiveMessage: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let event = ferry_event_runner::event::sqs_event(&messages, arn, &self.region);
        let started = Instant::now();
        let response = match q {
            QueueName::Changes => ferry_fn_transform::handle(&self.engine, event.clone()).await,
            QueueName::Writes => ferry_fn_write::handle(&self.engine, event.clone()).await,
        };
        let done_at = Instant::now();
        inv.add(done_at - started);
        match q {
            QueueName::Changes => inv.transform += 1,
            QueueName::Writes => inv.write += 1,
        }
        let failed: HashSet<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        if !failed.is_empty() {
            tracing::warn!(failed = failed.len(), "records failed; they come back after their delay");
        }
        let done = ferry_event_runner::runner::deletable(&event, &failed);
        if q == QueueName::Writes {
            for r in event.records.iter().filter(|r| r.message_id.as_ref().is_some_and(|id| !failed.contains(id))) {
                if let Some(mut w) = r.body.as_deref().and_then(written_by) {
                    w.at = done_at;
                    written.push(w);
                }
            }
        }
        ferry_event_runner::runner::delete_received(&self.sqs, url, q.as_str(), &done).await?;
        Ok(messages.len())
    }
}

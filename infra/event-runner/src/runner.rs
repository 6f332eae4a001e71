//! The loop: fire due schedules, receive SQS batches, call the handlers, delete what
//! succeeded.

use crate::event::sqs_event;
use crate::schedule::rate_period;
use anyhow::{anyhow, Context, Result};
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_scheduler::types::ScheduleState;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};
use chrono::Utc;
use ferry_engine::Engine;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{error, info, warn};

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// How often schedules are checked.
    pub tick: Duration,
    /// Fire every enabled schedule once, drain the queues, exit.
    pub once: bool,
    /// Exit after this long without a received message (and, in `once` mode, the
    /// longest a drain waits for messages that are backing off).
    pub until_idle: Option<Duration>,
    /// Long-poll wait of one receive (SQS allows 0..=20 s).
    pub wait: Duration,
    /// The schedule group to read (`FERRY_SCHEDULE_GROUP`); `None` fires nothing.
    pub schedule_group: Option<String>,
    /// Only schedules targeting this ARN are fired (`FERRY_POLL_FUNCTION_ARN`).
    pub poll_function_arn: Option<String>,
}

/// One SQS event source: a queue and the function it feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Changes,
    Writes,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Changes => "changes (transform)",
            Source::Writes => "writes (write)",
        }
    }
}

/// What an SQS event source needs to know of its queue.
pub struct QueueInfo {
    pub url: String,
    pub arn: String,
    /// Seconds; a received batch stays hidden this long.
    pub visibility: i32,
}

/// What the SQS event sources did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Handler invocations (one per received batch).
    pub invocations: u64,
    /// Records handed to the handlers.
    pub records: u64,
    /// Records the handlers reported failed (they come back: retries, crashes).
    pub failed: u64,
}

pub struct EventRunner {
    stats: SourceStats,
    engine: Arc<Engine>,
    sqs: aws_sdk_sqs::Client,
    scheduler: aws_sdk_scheduler::Client,
    region: String,
    options: RunnerOptions,
    changes: QueueInfo,
    writes: QueueInfo,
    last_fired: HashMap<String, Instant>,
    warned: HashSet<String>,
}

/// A schedule that invokes the poll function.
struct DueSchedule {
    name: String,
    input: serde_json::Value,
}

impl EventRunner {
    pub async fn new(
        engine: Arc<Engine>,
        sqs: aws_sdk_sqs::Client,
        scheduler: aws_sdk_scheduler::Client,
        region: String,
        changes_url: &str,
        writes_url: &str,
        options: RunnerOptions,
    ) -> Result<Self> {
        let changes = queue_info(&sqs, changes_url).await?;
        let writes = queue_info(&sqs, writes_url).await?;
        Ok(Self {
            stats: SourceStats::default(),
            engine,
            sqs,
            scheduler,
            region,
            options,
            changes,
            writes,
            last_fired: HashMap::new(),
            warned: HashSet::new(),
        })
    }

    /// Receives with this visibility timeout instead of the queues' own (ReceiveMessage's
    /// `VisibilityTimeout`): fault-injection runs make crashed batches return quickly.
    pub fn with_visibility(mut self, visibility: Duration) -> Self {
        let secs = visibility.as_secs().clamp(0, 43_200) as i32;
        self.changes.visibility = secs;
        self.writes.visibility = secs;
        self
    }

    pub fn stats(&self) -> SourceStats {
        self.stats
    }

    /// Runs until `--once` has drained, `--until-idle-secs` passed without messages,
    /// or `stop` resolves.
    pub async fn run<F: std::future::Future<Output = ()>>(&mut self, stop: F) -> Result<()> {
        tokio::pin!(stop);
        if self.options.once {
            return tokio::select! {
                _ = &mut stop => { info!("stopping"); Ok(()) }
                r = async { self.fire_schedules(true).await; self.drain().await } => r,
            };
        }
        let mut last_message = Instant::now();
        let mut next_tick = Instant::now();
        loop {
            if Instant::now() >= next_tick {
                self.fire_schedules(false).await;
                next_tick = Instant::now() + self.options.tick;
            }
            let handled = tokio::select! {
                _ = &mut stop => { info!("stopping"); return Ok(()); }
                n = self.pump_both() => n,
            };
            if handled > 0 {
                last_message = Instant::now();
            } else if let Some(idle) = self.options.until_idle {
                if last_message.elapsed() >= idle {
                    info!(idle_secs = idle.as_secs(), "no messages for the idle limit; exiting");
                    return Ok(());
                }
            }
        }
    }

    /// Receives from both queues until both are empty (nothing visible or in flight),
    /// or nothing arrived for the idle limit.
    pub async fn drain(&mut self) -> Result<()> {
        let idle = self.options.until_idle.unwrap_or(Duration::from_secs(60));
        let mut last_message = Instant::now();
        loop {
            let handled = self.pump_both().await;
            if handled > 0 {
                last_message = Instant::now();
                continue;
            }
            let left = self.depth(Source::Changes).await? + self.depth(Source::Writes).await?;
            if left == 0 {
                info!("queues drained");
                return Ok(());
            }
            if last_message.elapsed() >= idle {
                warn!(
                    messages_left = left,
                    idle_secs = idle.as_secs(),
                    "giving up on messages still in flight or delayed"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn pump_both(&mut self) -> usize {
        let mut n = 0;
        for source in [Source::Changes, Source::Writes] {
            match self.pump(source).await {
                Ok(k) => n += k,
                Err(e) => {
                    error!(queue = source.name(), "{e:#}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        n
    }

    fn queue(&self, source: Source) -> &QueueInfo {
        match source {
            Source::Changes => &self.changes,
            Source::Writes => &self.writes,
        }
    }

    /// One receive → handler → delete round, as Lambda's event source mapping does it.
    async fn pump(&mut self, source: Source) -> Result<usize> {
        let q = self.queue(source);
        let out = self
            .sqs
            .receive_message()
            .queue_url(&q.url)
            .max_number_of_messages(10)
            .visibility_timeout(q.visibility)
            .wait_time_seconds(self.options.wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| anyhow!("ReceiveMessage: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let event = sqs_event(&messages, &q.arn, &self.region);
        let ids: Vec<String> = event.records.iter().filter_map(|r| r.message_id.clone()).collect();
        info!(queue = source.name(), messages = ids.len(), "invoking the handler");
        let response = match source {
            Source::Changes => ferry_fn_transform::handle(&self.engine, event.clone()).await,
            Source::Writes => ferry_fn_write::handle(&self.engine, event.clone()).await,
        };
        let failed: HashSet<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        self.stats.invocations += 1;
        self.stats.records += messages.len() as u64;
        self.stats.failed += response.batch_item_failures.len() as u64;
        if failed.contains("") {
            // Lambda's rule: an empty identifier fails the whole batch.
            warn!(queue = source.name(), "the handler failed a record without an id: the whole batch stays");
            return Ok(messages.len());
        }
        let done = deletable(&event, &failed);
        delete_received(&self.sqs, &self.queue(source).url, source.name(), &done).await?;
        info!(queue = source.name(), succeeded = done.len(), failed = failed.len(), "batch settled");
        Ok(messages.len())
    }

    /// Visible plus in-flight plus delayed messages (SQS's approximate counts).
    async fn depth(&self, source: Source) -> Result<u64> {
        let q = self.queue(source);
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&q.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| anyhow!("GetQueueAttributes: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(out.attributes.unwrap_or_default().values().filter_map(|v| v.parse::<u64>().ok()).sum())
    }

    /// Fires the poll handler for every enabled schedule that is due (all of them
    /// with `all`). Errors are logged: Scheduler would retry, the next tick does.
    async fn fire_schedules(&mut self, all: bool) {
        let due = match self.due_schedules(all).await {
            Ok(d) => d,
            Err(e) => {
                error!("reading schedules: {e:#}");
                return;
            }
        };
        for s in due {
            self.last_fired.insert(s.name.clone(), Instant::now());
            info!(schedule = %s.name, input = %s.input, "invoking the poll handler");
            match ferry_fn_poll::handle(&self.engine, s.input, Utc::now()).await {
                Ok(summary) => info!(
                    schedule = %s.name,
                    fetched = summary.report.fetched,
                    enqueued = summary.report.enqueued,
                    busy = summary.report.busy,
                    "poll finished"
                ),
                Err(e) => error!(schedule = %s.name, "poll failed: {e}"),
            }
        }
    }

    async fn due_schedules(&mut self, all: bool) -> Result<Vec<DueSchedule>> {
        let Some(group) = self.options.schedule_group.clone() else {
            if self.warned.insert("no-group".into()) {
                warn!("FERRY_SCHEDULE_GROUP is not set: no schedules are fired");
            }
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .scheduler
                .list_schedules()
                .group_name(&group)
                .state(ScheduleState::Enabled)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| anyhow!("ListSchedules: {}", aws_sdk_scheduler::error::DisplayErrorContext(e)))?;
            // Filter again: an emulator may ignore the State filter.
            names.extend(
                out.schedules
                    .into_iter()
                    .filter(|s| s.state.as_ref().is_none_or(|st| *st == ScheduleState::Enabled))
                    .filter_map(|s| s.name),
            );
            token = out.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        let mut due = Vec::new();
        for name in names {
            let s = self
                .scheduler
                .get_schedule()
                .group_name(&group)
                .name(&name)
                .send()
                .await
                .map_err(|e| anyhow!("GetSchedule {name}: {}", aws_sdk_scheduler::error::DisplayErrorContext(e)))?;
            if s.state.as_ref().is_some_and(|st| *st != ScheduleState::Enabled) {
                continue;
            }
            let Some(target) = s.target else { continue };
            if let Some(arn) = &self.options.poll_function_arn {
                if &target.arn != arn {
                    if self.warned.insert(format!("target:{name}")) {
                        warn!(schedule = %name, target = %target.arn, "schedule targets another function; skipped");
                    }
                    continue;
                }
            }
            let expression = s.schedule_expression.unwrap_or_default();
            let Some(period) = rate_period(&expression) else {
                if self.warned.insert(format!("expr:{name}")) {
                    warn!(schedule = %name, %expression, "only rate(...) schedules are fired; skipped");
                }
                continue;
            };
            let is_due = all || self.last_fired.get(&name).is_none_or(|t| t.elapsed() >= period);
            if !is_due {
                continue;
            }
            // Scheduler passes the Input text as the event; an absent input is `{}`.
            let input = match target.input.as_deref() {
                None | Some("") => serde_json::json!({}),
                Some(text) => match serde_json::from_str(text) {
                    Ok(v) => v,
                    Err(e) => {
                        error!(schedule = %name, "target input is not JSON ({e}); skipped");
                        continue;
                    }
                },
            };
            due.push(DueSchedule { name, input });
        }
        Ok(due)
    }
}

/// (message id, receipt handle) of every record the handler did not report failed.
pub fn deletable(event: &SqsEvent, failed: &HashSet<String>) -> Vec<(String, String)> {
    event
        .records
        .iter()
        .filter_map(|r| Some((r.message_id.clone()?, r.receipt_handle.clone()?)))
        .filter(|(id, _)| !failed.contains(id))
        .collect()
}

/// Deletes handled messages by their (message id, receipt) pairs, 10 per
/// `DeleteMessageBatch` (SQS's limit), as Lambda's event source does after a batch.
/// An entry SQS refuses is logged: that message is redelivered.
pub async fn delete_received(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    queue: &str,
    receipts: &[(String, String)],
) -> Result<()> {
    for chunk in receipts.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder().id(format!("m{i}")).receipt_handle(receipt).build()
            })
            .collect::<Result<Vec<_>, _>>()
            .context("building DeleteMessageBatch entries")?;
        let out = sqs
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| anyhow!("DeleteMessageBatch: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        for f in out.failed {
            let idx: usize = f.id.trim_start_matches('m').parse().unwrap_or(usize::MAX);
            let id = chunk.get(idx).map(|(id, _)| id.as_str()).unwrap_or("?");
            warn!(queue, message_id = id, code = %f.code, "delete failed; the message will be redelivered");
        }
    }
    Ok(())
}

/// Reads the queue's ARN and visibility timeout.
pub async fn queue_info(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<QueueInfo> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .map_err(|e| anyhow!("GetQueueAttributes {url}: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    let attrs = out.attributes.unwrap_or_default();
    let arn =
        attrs.get(&QueueAttributeName::QueueArn).cloned().ok_or_else(|| anyhow!("queue {url} reported no QueueArn"))?;
    let visibility = attrs.get(&QueueAttributeName::VisibilityTimeout).and_then(|v| v.parse().ok()).unwrap_or(30);
    Ok(QueueInfo { url: url.to_string(), arn, visibility })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_records_not_reported_failed_are_deleted() {
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "a", "receiptHandle": "ra", "body": "x"},
            {"messageId": "b", "receiptHandle": "rb", "body": "y"},
            {"messageId": "c", "receiptHandle": "rc", "body": "z"}
        ]}))
        .unwrap();
        let failed: HashSet<String> = ["b".to_string()].into();
        assert_eq!(
            deletable(&event, &failed),
            vec![("a".to_string(), "ra".to_string()), ("c".to_string(), "rc".to_string())]
        );
    }
}

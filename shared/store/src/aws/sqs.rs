//! `SqsQueue`: the `changes` and `writes` FIFO queues and their dead-letter queues.
//!
//! - `send_each` batches (SQS takes at most 10 entries and 256 KiB per
//!   `SendMessageBatch`), answers for every entry, and retries the entries that failed
//!   for a transient reason (throttling, server side) once. A retried entry may land
//!   after later messages of its group from the same batch; consumers compare
//!   revisions, so this costs a skipped update, never a wrong one. `send` fails when any
//!   entry failed, naming each.
//! - Claim checks (with a [`PayloadStore`]): a body over [`MESSAGE_INLINE_MAX`] is put in
//!   the payload bucket and the message carries its key; `open_body` fetches it back.
//!   `receive` and `dead_letters` answer the bodies as sent (a claim check stays one), so
//!   both runtimes' consumers open them the way the Lambda handlers do.
//! - `redrive` asks SQS to move the dead letters back (`StartMessageMoveTask`); where the
//!   endpoint lacks that (moto) it receives them from the dead-letter queue, sends each
//!   to its queue (same group, dedup id `redrive:{message id}`) and deletes it.
//! - Group and dedup ids are sent as given when SQS accepts them (≤ 128 characters of
//!   letters, digits and ASCII punctuation), otherwise as their SHA-256 hex digest (the
//!   same input always maps to the same id, so grouping and dedup still hold).
//! - Visibility timeouts and delays are whole seconds in SQS: they are rounded up.
//!   `receive` delivers at most 10 messages (the SQS maximum) and does not wait.
//! - Dead letters: SQS has no way to read a queue without receiving from it. Listing
//!   receives the DLQ page by page with a short visibility timeout, then makes every
//!   listed message visible again at once, so a listing hides dead letters only while
//!   it runs (at most [`LISTING_VISIBILITY`] if it is interrupted). Each listing adds
//!   one to the messages' receive counts. A FIFO queue delivers no further message of a
//!   group while some are in flight, so per message group a listing shows at most the
//!   messages SQS hands out in one receive (10); later ones appear once the earlier
//!   ones are deleted. At most [`MAX_DEAD_LETTERS`] are listed. `delete_dead_letter`
//!   scans the same way for the message id to obtain a receipt; when the id is not
//!   found while some dead letters could not be seen (in flight elsewhere, or blocked
//!   behind their group) it fails with a retryable `Conflict` instead of claiming the
//!   message is gone.
//! - Stale receipts: AWS ignores a delete with a superseded receipt (the message was
//!   received again), while moto honours any receipt the message ever had, and moto
//!   forgets the dedup id of a deleted message. So that the port behaves the same on
//!   both (and on the local runner), each `SqsQueue` (and its clones) remembers the
//!   receipts it issued and refuses a superseded one with `NotFound`, and remembers the
//!   dedup ids it sent for [`DEDUP_WINDOW`] and drops repeats, as SQS does for 5
//!   minutes. Both only repeat what SQS itself guarantees; they cover this process only.

use super::error::{category_of, sdk_error};
use super::payloads::{PayloadStore, MESSAGE_INLINE_MAX};
use super::AwsNames;
use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{Delivery, OutMessage, PortResult, Queue, QueueName, SendResults};
use ferry_domain::{ErrorCategory, PortError};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// SQS takes at most 10 entries per batch call and per receive.
const MAX_BATCH: usize = 10;
/// SQS caps a batch's total payload at 256 KiB.
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// SQS's longest visibility timeout: 12 hours.
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// How long a dead-letter listing hides the messages it has read.
pub const LISTING_VISIBILITY: Duration = Duration::from_secs(30);
/// The most dead letters one listing returns.
pub const MAX_DEAD_LETTERS: usize = 1000;
/// Slightly under SQS's 5-minute deduplication interval, so a message SQS would accept
/// is never dropped here.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(290);
/// Receipts remembered for stale-receipt checks before the oldest are forgotten.
const RECEIPT_CAP: usize = 10_000;
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// The SQS backend of [`Queue`]. Cheap to clone (clones share their receipt and dedup
/// memory). See the module docs for the SQS-specific semantics.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    changes_url: Arc<str>,
    writes_url: Arc<str>,
    changes_dlq_url: Arc<str>,
    writes_dlq_url: Arc<str>,
    max_receives: u32,
    payloads: Option<PayloadStore>,
    ledger: Arc<Mutex<Ledger>>,
}

impl std::fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsQueue")
            .field("changes_url", &self.changes_url)
            .field("writes_url", &self.writes_url)
            .finish()
    }
}

struct ReceiptEntry {
    queue: QueueName,
    message_id: String,
    superseded: bool,
    at: Instant,
}

#[derive(Default)]
struct Ledger {
    sent: HashMap<(QueueName, String), Instant>,
    receipts: HashMap<String, ReceiptEntry>,
    latest: HashMap<(QueueName, String), String>,
}

impl Ledger {
    fn recently_sent(&mut self, queue: QueueName, dedup: &str, now: Instant) -> bool {
        self.sent.retain(|_, at| now.duration_since(*at) < DEDUP_WINDOW);
        self.sent.contains_key(&(queue, dedup.to_string()))
    }

    fn record_sent(&mut self, queue: QueueName, dedup: String, now: Instant) {
        self.sent.entry((queue, dedup)).or_insert(now);
    }

    fn issued(&mut self, queue: QueueName, message_id: &str, receipt: &str, now: Instant) {
        let key = (queue, message_id.to_string());
        if let Some(previous) = self.latest.insert(key, receipt.to_string()) {
            if let Some(entry) = self.receipts.get_mut(&previous) {
                entry.superseded = true;
            }
        }
        self.receipts.insert(
            receipt.to_string(),
            ReceiptEntry { queue, message_id: message_id.to_string(), superseded: false, at: now },
        );
        if self.receipts.len() > RECEIPT_CAP {
            let mut ages: Vec<Instant> = self.receipts.values().map(|e| e.at).collect();
            ages.sort();
            let cutoff = ages[ages.len() / 2];
            self.receipts.retain(|_, e| e.at > cutoff);
            let receipts = &self.receipts;
            self.latest.retain(|_, r| receipts.contains_key(r));
        }
    }

    fn is_superseded(&self, queue: QueueName, receipt: &str) -> bool {
        self.receipts.get(receipt).is_some_and(|e| e.queue == queue && e.superseded)
    }

    fn deleted(&mut self, receipt: &str) {
        if let Some(entry) = self.receipts.get_mut(receipt) {
            // Kept (superseded) so a later ack with it is refused too.
            entry.superseded = true;
            let key = (entry.queue, entry.message_id.clone());
            self.latest.remove(&key);
        }
    }
}

/// The id as SQS accepts it: ≤ 128 characters of `[A-Za-z0-9]` and ASCII punctuation;
/// anything else becomes its SHA-256 hex digest (64 characters).
pub(crate) fn sqs_id(id: &str) -> String {
    let ok = id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || c.is_ascii_punctuation());
    if ok {
        id.to_string()
    } else {
        Sha256::digest(id.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Whole seconds, rounded up; SQS allows at most 12 hours.
pub(crate) fn whole_seconds(d: Duration, what: &str) -> PortResult<i32> {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if secs > MAX_VISIBILITY_SECS {
        return Err(PortError::new(
            ErrorCategory::InvalidRequest,
            format!("{what}: {d:?} exceeds the SQS maximum of 12 hours"),
        ));
    }
    i32::try_from(secs).map_err(|_| PortError::new(ErrorCategory::InvalidRequest, format!("{what}: {d:?} is too long")))
}

/// Index ranges of consecutive messages forming one `SendMessageBatch` each.
pub(crate) fn batches(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, size) in sizes.iter().enumerate() {
        if i > start && (i - start == MAX_BATCH || bytes + size > MAX_BATCH_BYTES) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// The category of one entry SQS rejected: server-side faults and throttling are
/// transient (the same entry may be accepted later); anything else is the message's own
/// fault (its content, its size) and never will be.
fn entry_category(code: &str, sender_fault: bool) -> ErrorCategory {
    if !sender_fault {
        ErrorCategory::Server
    } else if category_of(Some(code), None) == ErrorCategory::RateLimited {
        ErrorCategory::RateLimited
    } else {
        ErrorCategory::BadMessage
    }
}

/// An error reported for several entries (the port error is not `Clone`: its source is
/// dropped from the copies).
fn copied(e: &PortError) -> PortError {
    PortError::new(e.category, e.message.clone()).with_retry_after(e.retry_after)
}

struct Prepared {
    group: String,
    dedup: String,
    body: String,
}

struct Listed {
    message_id: String,
    body: String,
    receive_count: u32,
    sent: Option<DateTime<Utc>>,
}

/// One received message, as SQS gave it.
struct Raw {
    id: String,
    receipt: String,
    body: String,
    count: u32,
    group: Option<String>,
    sent: Option<DateTime<Utc>>,
}

impl SqsQueue {
    pub fn new(client: Client, names: &AwsNames) -> Self {
        Self {
            client,
            changes_url: Arc::from(names.changes_queue_url.as_str()),
            writes_url: Arc::from(names.writes_queue_url.as_str()),
            changes_dlq_url: Arc::from(names.changes_dlq_url.as_str()),
            writes_dlq_url: Arc::from(names.writes_dlq_url.as_str()),
            max_receives: names.max_receives,
            payloads: None,
            ledger: Arc::new(Mutex::new(Ledger::default())),
        }
    }

    /// Keeps bodies over [`MESSAGE_INLINE_MAX`] in `payloads` (claim checks). Without it
    /// such a message is rejected as too large.
    pub fn with_payloads(mut self, payloads: PayloadStore) -> Self {
        self.payloads = Some(payloads);
        self
    }

    fn url(&self, queue: QueueName) -> &str {
        match queue {
            QueueName::Changes => &self.changes_url,
            QueueName::Writes => &self.writes_url,
        }
    }

    fn dlq_url(&self, queue: QueueName) -> &str {
        match queue {
            QueueName::Changes => &self.changes_dlq_url,
            QueueName::Writes => &self.writes_dlq_url,
        }
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // The ledger holds no invariant a panicking holder could break halfway.
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends one batch and answers for each entry; the entries that failed transiently
    /// are sent once more. `Err` when the call itself failed (nothing is known).
    async fn send_batch(&self, queue: QueueName, batch: &[Prepared], what: &str) -> PortResult<SendResults> {
        let url = self.url(queue);
        let target = format!("queue `{}` ({url})", queue.as_str());
        let mut results: SendResults = batch.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        for attempt in 0..2 {
            let mut entries = Vec::with_capacity(pending.len());
            for &i in &pending {
                let m = &batch[i];
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&m.body)
                    .message_group_id(&m.group)
                    .message_deduplication_id(&m.dedup)
                    .build()
                    .map_err(|e| PortError::store(format!("{what}: cannot build the SQS entry: {e}")).with_source(e))?;
                entries.push(entry);
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("SQS", "SendMessageBatch", &target, what, e))?;
            let now = Instant::now();
            {
                let mut ledger = self.ledger();
                for ok in out.successful() {
                    if let Some(i) = ok.id().parse::<usize>().ok().filter(|i| *i < batch.len()) {
                        ledger.record_sent(queue, batch[i].dedup.clone(), now);
                        results[i] = None;
                    }
                }
            }
            let mut again = Vec::new();
            for f in out.failed() {
                let Some(i) = f.id().parse::<usize>().ok().filter(|i| *i < batch.len()) else {
                    return Err(PortError::new(
                        ErrorCategory::BadResponse,
                        format!("{what}: SQS SendMessageBatch on {target} named an unknown entry {:?}", f.id()),
                    ));
                };
                let category = entry_category(f.code(), f.sender_fault());
                results[i] = Some(PortError::new(
                    category,
                    format!(
                        "{what}: SQS SendMessageBatch on {target} rejected the message with dedup id {}: {} ({})",
                        batch[i].dedup,
                        f.code(),
                        f.message().unwrap_or("no message")
                    ),
                ));
                if category.is_retryable() {
                    again.push(i);
                }
            }
            if attempt > 0 || again.is_empty() {
                break;
            }
            pending = again;
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        Ok(results)
    }

    /// The body to send for `body` (a claim check for a long one, see [`PayloadStore`]).
    async fn checked_body(&self, queue: QueueName, body: &str, what: &str) -> PortResult<String> {
        match &self.payloads {
            Some(p) => p.checked_body(queue.as_str(), body, what).await,
            None if body.len() > MESSAGE_INLINE_MAX => Err(PortError::new(
                ErrorCategory::BadMessage,
                format!(
                    "{what}: the message is {} bytes, over the {MESSAGE_INLINE_MAX} a message may carry, and no \
                     payload bucket (FERRY_PAYLOAD_BUCKET) is configured for larger ones",
                    body.len()
                ),
            )),
            None => Ok(body.to_string()),
        }
    }

    /// Receives the dead letters and sends each back to its queue, then deletes it.
    /// A crash in between leaves a copy in both; the redrive dedup id drops a second
    /// send of it within SQS's deduplication interval, and consumers are idempotent.
    async fn redrive_by_resending(&self, queue: QueueName, what: &str) -> PortResult<u64> {
        let dlq = self.dlq_url(queue);
        let hide = whole_seconds(LISTING_VISIBILITY, what)?;
        let mut moved = 0u64;
        loop {
            let page = self.receive_raw(dlq, MAX_BATCH as i32, hide, what).await?;
            if page.is_empty() {
                return Ok(moved);
            }
            let entries: Vec<Prepared> = page
                .iter()
                .map(|m| Prepared {
                    group: m.group.clone().unwrap_or_else(|| sqs_id(&format!("redrive:{}", m.id))),
                    dedup: sqs_id(&format!("redrive:{}", m.id)),
                    body: m.body.clone(),
                })
                .collect();
            let answers = self.send_batch(queue, &entries, what).await?;
            for (m, answer) in page.iter().zip(answers) {
                if let Some(e) = answer {
                    // Left in the dead-letter queue; it shows again after the listing's hide.
                    tracing::warn!(message_id = %m.id, "redrive: not sent back: {e}");
                    continue;
                }
                self.client
                    .delete_message()
                    .queue_url(dlq)
                    .receipt_handle(&m.receipt)
                    .send()
                    .await
                    .map_err(|e| sdk_error("SQS", "DeleteMessage", dlq, what, e))?;
                moved += 1;
            }
        }
    }

    async fn attributes_text(&self, url: &str, name: QueueAttributeName, what: &str) -> PortResult<String> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(name.clone())
            .send()
            .await
            .map_err(|e| sdk_error("SQS", "GetQueueAttributes", url, what, e))?;
        out.attributes.and_then(|mut a| a.remove(&name)).ok_or_else(|| {
            PortError::new(ErrorCategory::BadResponse, format!("{what}: queue {url} did not report {name}"))
        })
    }

    async fn attributes(&self, url: &str, names: &[QueueAttributeName], what: &str) -> PortResult<Vec<u64>> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("SQS", "GetQueueAttributes", url, what, e))?;
        let attrs = out.attributes.unwrap_or_default();
        names
            .iter()
            .map(|name| match attrs.get(name) {
                None => Ok(0),
                Some(v) => v.parse::<u64>().map_err(|_| {
                    PortError::new(ErrorCategory::BadResponse, format!("{what}: queue {url} reported {name} = {v:?}"))
                }),
            })
            .collect()
    }

    /// Receives up to 10 messages, asking for their receive counts, groups and send times.
    async fn receive_raw(&self, url: &str, max: i32, visibility: i32, what: &str) -> PortResult<Vec<Raw>> {
        #[allow(deprecated)] // moto and older endpoints only read AttributeNames.
        let req = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max)
            .visibility_timeout(visibility)
            .wait_time_seconds(0)
            // Lets an SDK retry of a lost response get the same messages back (FIFO).
            .receive_request_attempt_id(uuid::Uuid::new_v4().simple().to_string())
            .attribute_names(QueueAttributeName::from("ApproximateReceiveCount"))
            .attribute_names(QueueAttributeName::from("MessageGroupId"))
            .attribute_names(QueueAttributeName::from("SentTimestamp"))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp);
        let out = req.send().await.map_err(|e| sdk_error("SQS", "ReceiveMessage", url, what, e))?;
        let mut got = Vec::new();
        for m in out.messages.unwrap_or_default() {
            let bad = |problem: &str| {
                PortError::new(ErrorCategory::BadResponse, format!("{what}: SQS ReceiveMessage on {url}: {problem}"))
            };
            let id = m.message_id.clone().ok_or_else(|| bad("a message has no MessageId"))?;
            let receipt =
                m.receipt_handle.clone().ok_or_else(|| bad(&format!("message {id} has no receipt handle")))?;
            let attr = |name: MessageSystemAttributeName| m.attributes.as_ref().and_then(|a| a.get(&name)).cloned();
            let count = attr(MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|v| v.parse::<u32>().ok())
                .ok_or_else(|| bad(&format!("message {id} has no ApproximateReceiveCount")))?;
            let sent = attr(MessageSystemAttributeName::SentTimestamp)
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(DateTime::from_timestamp_millis);
            let group = attr(MessageSystemAttributeName::MessageGroupId);
            got.push(Raw { id, receipt, body: m.body.unwrap_or_default(), count, group, sent });
        }
        Ok(got)
    }

    /// Reads the DLQ page by page (hiding what it read for [`LISTING_VISIBILITY`]),
    /// stopping early at `find`, then makes every read message except `find` visible.
    /// Returns the listed messages and the receipt of `find` when seen.
    async fn scan_dead_letters(
        &self,
        queue: QueueName,
        find: Option<&str>,
        what: &str,
    ) -> PortResult<(Vec<Listed>, Option<String>)> {
        let url = self.dlq_url(queue);
        let hide = whole_seconds(LISTING_VISIBILITY, what)?;
        let mut listed = Vec::new();
        let mut receipts: HashMap<String, String> = HashMap::new();
        let mut found = None;
        let result = async {
            while listed.len() < MAX_DEAD_LETTERS {
                let page = self.receive_raw(url, MAX_BATCH as i32, hide, what).await?;
                let mut new = 0;
                for m in page {
                    if find == Some(m.id.as_str()) {
                        // Kept hidden: the caller deletes it.
                        found = Some(m.receipt);
                        continue;
                    }
                    if receipts.insert(m.id.clone(), m.receipt).is_none() {
                        new += 1;
                        listed.push(Listed { message_id: m.id, body: m.body, receive_count: m.count, sent: m.sent });
                    }
                }
                if found.is_some() || new == 0 {
                    break;
                }
            }
            Ok::<(), PortError>(())
        }
        .await;
        // Whatever happened, give back what was hidden.
        let reset: Vec<String> = receipts.into_values().collect();
        for chunk in reset.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| {
                            PortError::store(format!("{what}: cannot build the SQS entry: {e}")).with_source(e)
                        })
                })
                .collect::<PortResult<Vec<_>>>()?;
            // Entries that fail (deleted meanwhile) become visible when `hide` ends.
            self.client
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("SQS", "ChangeMessageVisibilityBatch", url, what, e))?;
        }
        result?;
        Ok((listed, found))
    }
}

/// Whether the endpoint does not know the action: it says so, or (moto) fails with a
/// server error that carries no AWS error at all. SQS's own server errors name a code
/// (`InternalError`) and stay errors.
fn unsupported_action<E: aws_sdk_sqs::error::ProvideErrorMetadata>(
    e: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> bool {
    use aws_sdk_sqs::error::ProvideErrorMetadata as _;
    let status = e.raw_response().map(|r| r.status().as_u16());
    match e.code() {
        Some(code) => {
            matches!(code, "InvalidAction" | "UnknownOperationException" | "NotImplemented")
                || code.ends_with("UnsupportedOperation")
        }
        None => matches!(status, Some(500 | 501)),
    }
}

fn stale_receipt(queue: QueueName, op: &str) -> PortError {
    PortError::new(
        ErrorCategory::NotFound,
        format!(
            "{op} on queue {}: the receipt is stale (the message was received again, or already deleted)",
            queue.as_str()
        ),
    )
}

#[async_trait]
impl Queue for SqsQueue {
    /// In order, in batches of up to 10; fails naming every rejected entry. Messages
    /// before and beside a rejected one stay sent (resending is safe: dedup ids drop
    /// repeats).
    async fn send(&self, queue: QueueName, messages: &[OutMessage]) -> PortResult<()> {
        let results = self.send_each(queue, messages).await?;
        let failed: Vec<PortError> = results.into_iter().flatten().collect();
        let Some(first) = failed.first() else {
            return Ok(());
        };
        // A message that can never be sent decides the category over a passing fault.
        let category = failed.iter().find(|e| !e.is_retryable()).unwrap_or(first).category;
        let detail: Vec<&str> = failed.iter().map(|e| e.message.as_str()).collect();
        Err(PortError::new(
            category,
            format!("{} of {} messages were not sent: {}", failed.len(), messages.len(), detail.join("; ")),
        ))
    }

    /// As `send`, answering for each message: an empty id, a body the payload bucket
    /// could not take, or an entry SQS rejected fails that message alone.
    async fn send_each(&self, queue: QueueName, messages: &[OutMessage]) -> PortResult<SendResults> {
        let what = format!("send to queue {}", queue.as_str());
        let mut results: SendResults = messages.iter().map(|_| None).collect();
        let now = Instant::now();
        // (index in `messages`, prepared entry) of what goes to SQS.
        let mut prepared: Vec<(usize, Prepared)> = Vec::with_capacity(messages.len());
        {
            let mut ledger = self.ledger();
            // Repeats within this call go to SQS, which drops them itself.
            let mut this_call = HashSet::new();
            for (i, m) in messages.iter().enumerate() {
                if m.group_id.is_empty() || m.dedup_id.is_empty() {
                    results[i] = Some(PortError::new(
                        ErrorCategory::BadMessage,
                        format!(
                            "{what}: group id and dedup id must not be empty (group {:?}, dedup {:?})",
                            m.group_id, m.dedup_id
                        ),
                    ));
                    continue;
                }
                let p = Prepared { group: sqs_id(&m.group_id), dedup: sqs_id(&m.dedup_id), body: m.body.clone() };
                if this_call.contains(&p.dedup) || !ledger.recently_sent(queue, &p.dedup, now) {
                    this_call.insert(p.dedup.clone());
                    prepared.push((i, p));
                }
            }
        }
        let mut sendable: Vec<(usize, Prepared)> = Vec::with_capacity(prepared.len());
        for (i, mut p) in prepared {
            match self.checked_body(queue, &p.body, &what).await {
                Ok(body) => {
                    p.body = body;
                    sendable.push((i, p));
                }
                Err(e) => results[i] = Some(e),
            }
        }
        let (index, entries): (Vec<usize>, Vec<Prepared>) = sendable.into_iter().unzip();
        let sizes: Vec<usize> = entries.iter().map(|p| p.body.len()).collect();
        for range in batches(&sizes) {
            let answers = match self.send_batch(queue, &entries[range.clone()], &what).await {
                // SQS refuses a whole batch for one entry it will never take (over the
                // queue's MaximumMessageSize): send them one by one to find it.
                Err(e) if !e.is_retryable() && range.len() > 1 => {
                    let mut one_by_one = Vec::with_capacity(range.len());
                    for k in range.clone() {
                        one_by_one.push(match self.send_batch(queue, &entries[k..k + 1], &what).await {
                            Ok(mut answer) => answer.pop().flatten(),
                            Err(e) => Some(e),
                        });
                    }
                    one_by_one
                }
                Ok(answers) => answers,
                Err(e) => range.clone().map(|_| Some(copied(&e))).collect(),
            };
            for (k, answer) in range.zip(answers) {
                results[index[k]] = answer;
            }
        }
        Ok(results)
    }

    /// Fetches the payload of a claim check from the payload bucket; any other body is
    /// its own.
    async fn open_body(&self, queue: QueueName, body: &str) -> PortResult<String> {
        let what = format!("open a message of queue {}", queue.as_str());
        match &self.payloads {
            Some(p) => p.opened_body(body, &what).await,
            None => match super::payloads::claim_check_of(body)? {
                Some(c) => Err(PortError::new(
                    ErrorCategory::Config,
                    format!("{what}: it is a claim check ({}) and no payload bucket is configured", c.key),
                )),
                None => Ok(body.to_string()),
            },
        }
    }

    fn max_receives(&self) -> Option<u32> {
        Some(self.max_receives)
    }

    /// The dead-letter queue's `MessageRetentionPeriod`.
    async fn dead_letter_retention(&self, queue: QueueName) -> PortResult<Option<Duration>> {
        let what = format!("retention of the dead-letter queue of {}", queue.as_str());
        let secs = self.attributes(self.dlq_url(queue), &[QueueAttributeName::MessageRetentionPeriod], &what).await?;
        Ok(secs.first().map(|s| Duration::from_secs(*s)))
    }

    /// `StartMessageMoveTask` from the dead-letter queue to its source queue (SQS moves
    /// them in the background: the answer is how many were waiting); receive-and-resend
    /// where the endpoint does not know the action.
    async fn redrive(&self, queue: QueueName) -> PortResult<u64> {
        let what = format!("redrive of queue {}", queue.as_str());
        let arns = self.attributes_text(self.dlq_url(queue), QueueAttributeName::QueueArn, &what).await?;
        let target = self.attributes_text(self.url(queue), QueueAttributeName::QueueArn, &what).await?;
        let waiting =
            self.attributes(self.dlq_url(queue), &[QueueAttributeName::ApproximateNumberOfMessages], &what).await?;
        match self.client.start_message_move_task().source_arn(&arns).destination_arn(&target).send().await {
            Ok(_) => Ok(waiting.first().copied().unwrap_or(0)),
            Err(e) if unsupported_action(&e) => self.redrive_by_resending(queue, &what).await,
            Err(e) => Err(sdk_error("SQS", "StartMessageMoveTask", self.dlq_url(queue), &what, e)),
        }
    }
    /// At most `min(max, 10)` messages; the visibility is rounded up to whole seconds.
    async fn receive(&self, queue: QueueName, max: usize, visibility: Duration) -> PortResult<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let what = format!("receive from queue {}", queue.as_str());
        let secs = whole_seconds(visibility, &what)?;
        let got = self.receive_raw(self.url(queue), max.min(MAX_BATCH) as i32, secs, &what).await?;
        let now = Instant::now();
        let mut ledger = self.ledger();
        Ok(got
            .into_iter()
            .map(|m| {
                ledger.issued(queue, &m.id, &m.receipt, now);
                Delivery { message_id: m.id, receipt: m.receipt, body: m.body, receive_count: m.count, since: m.sent }
            })
            .collect())
    }

    /// `DeleteMessage`. A receipt this process knows to be superseded fails with
    /// `NotFound` and deletes nothing.
    async fn ack(&self, queue: QueueName, receipt: &str) -> PortResult<()> {
        if self.ledger().is_superseded(queue, receipt) {
            return Err(stale_receipt(queue, "ack"));
        }
        let what = format!("ack on queue {}", queue.as_str());
        let url = self.url(queue);
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| sdk_error("SQS", "DeleteMessage", url, &what, e))?;
        self.ledger().deleted(receipt);
        Ok(())
    }

    /// `ChangeMessageVisibility` to `delay` (rounded up to whole seconds).
    async fn release(&self, queue: QueueName, receipt: &str, delay: Duration) -> PortResult<()> {
        if self.ledger().is_superseded(queue, receipt) {
            return Err(stale_receipt(queue, "release"));
        }
        let what = format!("release on queue {}", queue.as_str());
        let secs = whole_seconds(delay, &what)?;
        let url = self.url(queue);
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(|e| sdk_error("SQS", "ChangeMessageVisibility", url, &what, e))?;
        Ok(())
    }

    /// See the module docs: read with a short visibility timeout, then made visible
    /// again. `receipt` is empty (delete with the message id).
    async fn dead_letters(&self, queue: QueueName) -> PortResult<Vec<Delivery>> {
        let what = format!("dead_letters of queue {}", queue.as_str());
        let (listed, _) = self.scan_dead_letters(queue, None, &what).await?;
        Ok(listed
            .into_iter()
            .map(|l| Delivery {
                message_id: l.message_id,
                receipt: String::new(),
                body: l.body,
                receive_count: l.receive_count,
                since: l.sent,
            })
            .collect())
    }

    /// Idempotent when the message is provably absent; see the module docs.
    async fn delete_dead_letter(&self, queue: QueueName, message_id: &str) -> PortResult<()> {
        let what = format!("delete_dead_letter {message_id} on queue {}", queue.as_str());
        let url = self.dlq_url(queue);
        let before = self
            .attributes(
                url,
                &[
                    QueueAttributeName::ApproximateNumberOfMessages,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                ],
                &what,
            )
            .await?;
        let (visible, in_flight) = (before[0], before[1]);
        let (listed, found) = self.scan_dead_letters(queue, Some(message_id), &what).await?;
        match found {
            Some(receipt) => {
                self.client
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(|e| sdk_error("SQS", "DeleteMessage", url, &what, e))?;
                Ok(())
            }
            None if in_flight == 0 && listed.len() as u64 >= visible => Ok(()),
            None => Err(PortError::new(
                ErrorCategory::Conflict,
                format!(
                    "{what}: not among the {} dead letters readable now ({visible} waiting, {in_flight} in flight \
                     before the scan); it may be held by another reader or behind 10 others of its message group. \
                     Retry later, or delete earlier dead letters of the group first",
                    listed.len()
                ),
            )),
        }
    }

    /// Visible + in flight + delayed (SQS's approximate counts).
    async fn depth(&self, queue: QueueName) -> PortResult<u64> {
        let what = format!("depth of queue {}", queue.as_str());
        let counts = self
            .attributes(
                self.url(queue),
                &[
                    QueueAttributeName::ApproximateNumberOfMessages,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                    QueueAttributeName::ApproximateNumberOfMessagesDelayed,
                ],
                &what,
            )
            .await?;
        Ok(counts.iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_pass_unchanged_and_others_become_sha256_hex() {
        let long = "x".repeat(129);
        let table: [(&str, bool); 6] = [
            ("app-bugs:left:10001", true),
            ("w:app:left:10001:1710408413123", true),
            ("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", true),
            ("has space", false),
            ("ünïcode", false),
            (long.as_str(), false),
        ];
        for (id, unchanged) in table {
            let got = sqs_id(id);
            if unchanged {
                assert_eq!(got, id);
            } else {
                assert_eq!(got.len(), 64, "{id}");
                assert!(got.chars().all(|c| c.is_ascii_hexdigit()), "{got}");
                assert_eq!(got, sqs_id(id), "deterministic");
            }
        }
        assert_eq!(sqs_id(&"y".repeat(128)), "y".repeat(128), "128 characters are allowed");
        assert_eq!(sqs_id("has space"), "47b5c36fc0b017ba576f10f988d0cbcbc78256dab5de0e4689980898e7c715e3");
    }

    #[test]
    fn durations_round_up_to_whole_seconds_within_twelve_hours() {
        let table = [
            (Duration::ZERO, Some(0)),
            (Duration::from_millis(1), Some(1)),
            (Duration::from_millis(1000), Some(1)),
            (Duration::from_millis(1500), Some(2)),
            (Duration::from_secs(43_200), Some(43_200)),
            (Duration::from_millis(43_200_001), None),
        ];
        for (d, want) in table {
            assert_eq!(whole_seconds(d, "t").ok(), want, "{d:?}");
        }
    }

    #[test]
    fn batches_hold_at_most_ten_entries_and_256_kib() {
        assert_eq!(batches(&[]), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(batches(&[1; 11]), vec![0..10, 10..11]);
        assert_eq!(batches(&[1; 20]), vec![0..10, 10..20]);
        let big = 100 * 1024;
        assert_eq!(batches(&[big, big, big, 1]), vec![0..2, 2..4]);
        assert_eq!(batches(&[300 * 1024, 1]), vec![0..1, 1..2], "an oversized message goes alone (SQS rejects it)");
    }

    #[test]
    fn a_receipt_is_stale_once_its_message_is_received_again_or_deleted() {
        let now = Instant::now();
        let mut l = Ledger::default();
        l.issued(QueueName::Changes, "m1", "r1", now);
        assert!(!l.is_superseded(QueueName::Changes, "r1"));
        l.issued(QueueName::Changes, "m1", "r2", now);
        assert!(l.is_superseded(QueueName::Changes, "r1"));
        assert!(!l.is_superseded(QueueName::Changes, "r2"));
        assert!(!l.is_superseded(QueueName::Writes, "r1"), "receipts are per queue");
        assert!(!l.is_superseded(QueueName::Changes, "unknown"), "unknown receipts go to SQS");
        l.deleted("r2");
        assert!(l.is_superseded(QueueName::Changes, "r2"));
    }

    #[test]
    fn dedup_ids_are_remembered_per_queue_for_the_window() {
        let now = Instant::now();
        let mut l = Ledger::default();
        l.record_sent(QueueName::Changes, "d".into(), now);
        assert!(l.recently_sent(QueueName::Changes, "d", now + Duration::from_secs(10)));
        assert!(!l.recently_sent(QueueName::Writes, "d", now));
        assert!(!l.recently_sent(QueueName::Changes, "d", now + DEDUP_WINDOW));
    }

    #[test]
    fn throttling_and_server_side_entry_failures_are_transient_and_the_rest_are_the_messages_own() {
        let table = [
            ("RequestThrottled", true, ErrorCategory::RateLimited),
            ("InternalError", false, ErrorCategory::Server),
            ("InvalidParameterValue", true, ErrorCategory::BadMessage),
            ("InvalidMessageContents", true, ErrorCategory::BadMessage),
        ];
        for (code, sender_fault, want) in table {
            assert_eq!(entry_category(code, sender_fault), want, "{code}");
        }
    }
}

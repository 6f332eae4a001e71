//! Counting what the pipeline asks of its queue and store.
//!
//! On AWS an SDK interceptor on the DynamoDB and SQS clients counts every request that
//! goes over the wire (by its `X-Amz-Target` operation). On the embedded backend there
//! is no SQS or DynamoDB, so the port calls are counted instead: each queue call and
//! each store call is what one SQS / DynamoDB request would be on AWS.

use async_trait::async_trait;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use ferry_domain::ports::{
    ConfigStore, Delivery, OutMessage, PortResult, Queue, QueueName, RateLimitStore, StateKey, StateRecord, StateStore,
};
use ferry_domain::{
    CollabState, Counter, EntityId, FailureRecord, Fingerprint, Flow, FlowCounts, IntegrationId, IntegrationRecord,
    Link, Side, SystemConfig, SystemId, Watermark,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Request counts by operation, plus the billing units they use.
#[derive(Debug, Default)]
pub struct Tally {
    ops: Mutex<BTreeMap<String, u64>>,
    /// SQS: billed 64 KB chunks (every request is at least one).
    pub sqs_chunks: AtomicU64,
    /// DynamoDB: estimated read units in halves (an eventually consistent read of up
    /// to 4 KB costs half a unit) and write units (see [`Tally::dynamo`]).
    pub read_half_units: AtomicU64,
    pub write_units: AtomicU64,
}

/// A point-in-time copy of a [`Tally`].
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub ops: BTreeMap<String, u64>,
    pub sqs_chunks: u64,
    pub read_half_units: u64,
    pub write_units: u64,
}

impl Counts {
    /// DynamoDB read units (on-demand read request units).
    pub fn read_units(&self) -> f64 {
        self.read_half_units as f64 / 2.0
    }
    pub fn sqs_requests(&self) -> u64 {
        self.ops.iter().filter(|(k, _)| k.starts_with("sqs.")).map(|(_, v)| v).sum()
    }
    pub fn dynamo_requests(&self) -> u64 {
        self.ops.iter().filter(|(k, _)| k.starts_with("ddb.")).map(|(_, v)| v).sum()
    }
    pub fn plus(&self, other: &Counts) -> Counts {
        let mut ops = self.ops.clone();
        for (k, v) in &other.ops {
            *ops.entry(k.clone()).or_insert(0) += v;
        }
        Counts {
            ops,
            sqs_chunks: self.sqs_chunks + other.sqs_chunks,
            read_half_units: self.read_half_units + other.read_half_units,
            write_units: self.write_units + other.write_units,
        }
    }
    pub fn minus(&self, before: &Counts) -> Counts {
        let ops = self
            .ops
            .iter()
            .map(|(k, v)| (k.clone(), v - before.ops.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        Counts {
            ops,
            sqs_chunks: self.sqs_chunks - before.sqs_chunks,
            read_half_units: self.read_half_units - before.read_half_units,
            write_units: self.write_units - before.write_units,
        }
    }
}

impl Tally {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn count(&self, op: &str) {
        if let Ok(mut m) = self.ops.lock() {
            *m.entry(op.to_string()).or_insert(0) += 1;
        }
    }

    pub fn snapshot(&self) -> Counts {
        Counts {
            ops: self.ops.lock().map(|m| m.clone()).unwrap_or_default(),
            sqs_chunks: self.sqs_chunks.load(Ordering::Relaxed),
            read_half_units: self.read_half_units.load(Ordering::Relaxed),
            write_units: self.write_units.load(Ordering::Relaxed),
        }
    }

    fn sqs(&self, op: &str, payload_bytes: usize) {
        self.count(&format!("sqs.{op}"));
        self.sqs_chunks.fetch_add(chunks(payload_bytes, 64 * 1024), Ordering::Relaxed);
    }

    /// On-demand units as DynamoDB bills them, estimated from the request: a put costs
    /// one unit per started KB of its item's size (DynamoDB's documented formula, see
    /// [`item_size`]), other writes one unit per started KB of their request entry, a
    /// strongly consistent read one unit per item asked for and an eventually consistent
    /// one half a unit (a missing item costs as much; a `GetItem` over 4 KB more, counted
    /// from its response).
    /// `BatchGetItem` / `BatchWriteItem` are billed per item, transactions double.
    fn dynamo(&self, op: &str, body: &[u8]) {
        self.count(&format!("ddb.{op}"));
        let (read_halves, write) = dynamo_units(op, body);
        self.read_half_units.fetch_add(read_halves, Ordering::Relaxed);
        self.write_units.fetch_add(write, Ordering::Relaxed);
    }
}

/// (read half units, write units) of one DynamoDB request (see [`Tally::dynamo`]).
fn dynamo_units(op: &str, body: &[u8]) -> (u64, u64) {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let item_units = |v: &serde_json::Value| chunks(item_size(v), 1024);
    let entry_units = |v: &serde_json::Value| match v.get("Put").and_then(|p| p.get("Item")) {
        Some(item) => item_units(item),
        None => chunks(v.to_string().len(), 1024),
    };
    let tables = || json.get("RequestItems").and_then(|r| r.as_object()).into_iter().flat_map(|m| m.values());
    // DynamoDB's default is an eventually consistent read.
    let halves =
        |v: &serde_json::Value| if v.get("ConsistentRead") == Some(&serde_json::Value::Bool(true)) { 2 } else { 1 };
    match op {
        "GetItem" | "Query" | "Scan" => (halves(&json), 0),
        "BatchGetItem" => {
            let keys = tables()
                .filter_map(|t| t.get("Keys").and_then(|k| k.as_array()).map(|k| k.len() as u64 * halves(t)))
                .sum();
            (keys, 0)
        }
        "BatchWriteItem" => {
            let mut units = 0;
            for request in tables().filter_map(|t| t.as_array()).flatten() {
                units += match request.get("PutRequest").and_then(|p| p.get("Item")) {
                    Some(item) => item_units(item),
                    None => 1,
                };
            }
            (0, units)
        }
        "TransactWriteItems" => {
            let items = json.get("TransactItems").and_then(|t| t.as_array()).cloned().unwrap_or_default();
            (0, items.iter().map(|i| 2 * entry_units(i)).sum())
        }
        "TransactGetItems" => {
            let items = json.get("TransactItems").and_then(|t| t.as_array()).map_or(1, |t| t.len() as u64);
            (4 * items, 0)
        }
        "PutItem" => (0, json.get("Item").map_or_else(|| chunks(body.len(), 1024), item_units)),
        _ => (0, chunks(body.len(), 1024)),
    }
}

/// An item's size as DynamoDB computes it for capacity units (its developer guide,
/// "Item sizes and formats"), from the item in DynamoDB's JSON: attribute names and
/// string values in UTF-8 bytes, a number 1 byte per two significant digits plus 1,
/// binary its raw bytes, a map or list 3 bytes plus 1 per element.
fn item_size(item: &serde_json::Value) -> usize {
    item.as_object().map_or(0, |attrs| attrs.iter().map(|(name, v)| name.len() + value_size(v)).sum())
}

fn value_size(v: &serde_json::Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let number = |n: &str| {
        let digits = n.trim_start_matches('-').split(['e', 'E']).next().unwrap_or("").replace('.', "");
        digits.trim_matches('0').len().div_ceil(2) + 1
    };
    let binary = |b: &str| b.len() / 4 * 3;
    let strings = || inner.as_array().into_iter().flatten().filter_map(|x| x.as_str());
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(1, number),
        "B" => inner.as_str().map_or(0, binary),
        "BOOL" | "NULL" => 1,
        "SS" => strings().map(str::len).sum(),
        "NS" => strings().map(number).sum(),
        "BS" => strings().map(binary).sum(),
        "M" => 3 + inner.as_object().map_or(0, |m| m.iter().map(|(k, x)| k.len() + value_size(x) + 1).sum()),
        "L" => 3 + inner.as_array().map_or(0, |l| l.iter().map(|x| value_size(x) + 1).sum()),
        _ => 0,
    }
}

fn chunks(bytes: usize, size: usize) -> u64 {
    (bytes.max(1)).div_ceil(size) as u64
}

/// Counts each SDK request once, before it is sent (retries of one call count again,
/// as AWS bills them).
#[derive(Debug, Clone)]
pub struct CountingInterceptor {
    pub tally: Arc<Tally>,
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "FerryBenchRequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        let target = req.headers().get("x-amz-target").unwrap_or("unknown.Unknown");
        let body = req.body().bytes().unwrap_or_default();
        match target.split_once('.') {
            Some((svc, op)) if svc.starts_with("DynamoDB") => self.tally.dynamo(op, body),
            Some((svc, op)) if svc.starts_with("AmazonSQS") => self.tally.sqs(op, body.len()),
            _ => self.tally.count(&format!("other.{target}")),
        }
        Ok(())
    }

    /// A `GetItem` of an item over 4 KB (a watermark with a large seen set) costs a read
    /// unit per started 4 KB: the units beyond the one counted for the request (Ferry's
    /// `GetItem`s are all strongly consistent).
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(body) = context.response().body().bytes() {
            self.tally.read_half_units.fetch_add(2 * large_item_extra_reads(body), Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Read units beyond the first for a `GetItem` response body (`{"Item": ...}`) over
/// 4 KB (the response's JSON stands in for the stored size, which is smaller).
fn large_item_extra_reads(body: &[u8]) -> u64 {
    if body.len() <= 4096 {
        return 0;
    }
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match json.get("Item") {
        Some(item) => chunks(item_size(item), 4096) - 1,
        None => 0,
    }
}

/// Non-empty receives of the embedded queue are also counted under this prefix and the
/// queue's name: the handler invocations Lambda would make for them.
pub const BATCH_PREFIX: &str = "batch.";

/// The embedded queue, counted as SQS requests: one per send batch of up to 10
/// messages (as `SendMessageBatch`), receive, ack (`DeleteMessage`), release
/// (`ChangeMessageVisibility`) and depth (`GetQueueAttributes`).
pub struct CountedQueue {
    pub inner: Arc<dyn Queue>,
    pub tally: Arc<Tally>,
}

#[async_trait]
impl Queue for CountedQueue {
    async fn send(&self, queue: QueueName, messages: &[OutMessage]) -> PortResult<()> {
        for chunk in messages.chunks(10) {
            let bytes = chunk.iter().map(|m| m.body.len()).sum();
            self.tally.sqs(if chunk.len() == 1 { "SendMessage" } else { "SendMessageBatch" }, bytes);
        }
        self.inner.send(queue, messages).await
    }
    async fn receive(&self, queue: QueueName, max: usize, visibility: Duration) -> PortResult<Vec<Delivery>> {
        let got = self.inner.receive(queue, max, visibility).await?;
        self.tally.sqs("ReceiveMessage", got.iter().map(|d| d.body.len()).sum());
        if !got.is_empty() {
            // A batch handed to a handler: one transform or write invocation on AWS.
            self.tally.count(&format!("{BATCH_PREFIX}{}", queue.as_str()));
        }
        Ok(got)
    }
    async fn ack(&self, queue: QueueName, receipt: &str) -> PortResult<()> {
        self.tally.sqs("DeleteMessage", 0);
        self.inner.ack(queue, receipt).await
    }
    async fn release(&self, queue: QueueName, receipt: &str, delay: Duration) -> PortResult<()> {
        self.tally.sqs("ChangeMessageVisibility", 0);
        self.inner.release(queue, receipt, delay).await
    }
    async fn dead_letters(&self, queue: QueueName) -> PortResult<Vec<Delivery>> {
        self.tally.sqs("ReceiveMessage", 0);
        self.inner.dead_letters(queue).await
    }
    async fn delete_dead_letter(&self, queue: QueueName, message_id: &str) -> PortResult<()> {
        self.tally.sqs("DeleteMessage", 0);
        self.inner.delete_dead_letter(queue, message_id).await
    }
    async fn depth(&self, queue: QueueName) -> PortResult<u64> {
        self.tally.sqs("GetQueueAttributes", 0);
        self.inner.depth(queue).await
    }
    async fn send_each(
        &self,
        queue: QueueName,
        messages: &[OutMessage],
    ) -> PortResult<ferry_domain::ports::SendResults> {
        for chunk in messages.chunks(10) {
            let bytes = chunk.iter().map(|m| m.body.len()).sum();
            self.tally.sqs(if chunk.len() == 1 { "SendMessage" } else { "SendMessageBatch" }, bytes);
        }
        self.inner.send_each(queue, messages).await
    }
    async fn open_body(&self, queue: QueueName, body: &str) -> PortResult<String> {
        self.inner.open_body(queue, body).await
    }
    fn max_receives(&self) -> Option<u32> {
        self.inner.max_receives()
    }
    async fn dead_letter_retention(&self, queue: QueueName) -> PortResult<Option<Duration>> {
        self.inner.dead_letter_retention(queue).await
    }
    async fn redrive(&self, queue: QueueName) -> PortResult<u64> {
        self.tally.sqs("StartMessageMoveTask", 0);
        self.inner.redrive(queue).await
    }
}

/// The embedded store, counted as DynamoDB requests: each port call is one request
/// (a get is `GetItem`, a put `PutItem`, ...), one unit each.
pub struct CountedStore<S: ConfigStore + StateStore> {
    pub inner: Arc<S>,
    pub tally: Arc<Tally>,
}

impl<S: ConfigStore + StateStore> CountedStore<S> {
    fn read(&self, method: &str) {
        self.op("GetItem", method);
    }
    fn write(&self, method: &str) {
        self.op("PutItem", method);
    }
    /// Counts the request, and the port method behind it (to show where they go). Its
    /// reads stand for strongly consistent ones.
    fn op(&self, request: &str, method: &str) {
        self.tally.dynamo(request, br#"{"ConsistentRead":true}"#);
        self.tally.count(&format!("port.{method}"));
    }
}

/// The governor's bucket: a granted take is one conditional `PutItem`, a pause one
/// `UpdateItem`. A take answered "wait" is counted apart and costs no request: the DynamoDB
/// store answers it from the bucket it last saw (`dynamo_rate_limit.rs`).
#[async_trait]
impl<S: ConfigStore + StateStore + RateLimitStore> RateLimitStore for CountedStore<S> {
    async fn take_tokens(
        &self,
        system: &SystemId,
        limit: &ferry_domain::RateLimit,
        want: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> PortResult<ferry_domain::Grant> {
        let grant = self.inner.take_tokens(system, limit, want, now).await;
        match grant {
            Ok(ferry_domain::Grant::Wait(_)) => self.tally.count("port.take_tokens_wait"),
            _ => self.write("take_tokens"),
        }
        grant
    }
    async fn pause_tokens(&self, system: &SystemId, until: chrono::DateTime<chrono::Utc>) -> PortResult<()> {
        self.op("UpdateItem", "pause_tokens");
        self.inner.pause_tokens(system, until).await
    }
}

#[async_trait]
impl<S: ConfigStore + StateStore> ConfigStore for CountedStore<S> {
    async fn put_system(&self, system: &SystemConfig) -> PortResult<()> {
        self.write("put_system");
        self.inner.put_system(system).await
    }
    async fn get_system(&self, id: &SystemId) -> PortResult<Option<SystemConfig>> {
        self.read("get_system");
        self.inner.get_system(id).await
    }
    async fn list_systems(&self) -> PortResult<Vec<SystemConfig>> {
        self.op("Query", "list_systems");
        self.inner.list_systems().await
    }
    async fn get_integration(&self, id: &IntegrationId) -> PortResult<Option<IntegrationRecord>> {
        self.read("get_integration");
        self.inner.get_integration(id).await
    }
    async fn list_integrations(&self) -> PortResult<Vec<IntegrationRecord>> {
        self.op("Query", "list_integrations");
        self.inner.list_integrations().await
    }
    async fn put_integration(&self, record: &IntegrationRecord, expected_version: Option<u64>) -> PortResult<()> {
        self.write("put_integration");
        self.inner.put_integration(record, expected_version).await
    }
}

#[async_trait]
impl<S: ConfigStore + StateStore> StateStore for CountedStore<S> {
    async fn get_watermark(&self, integration: &IntegrationId, flow: Flow) -> PortResult<Option<Watermark>> {
        self.read("get_watermark");
        self.inner.get_watermark(integration, flow).await
    }
    async fn put_watermark(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        watermark: &Watermark,
        expected_version: Option<u64>,
    ) -> PortResult<()> {
        self.write("put_watermark");
        self.inner.put_watermark(integration, flow, watermark, expected_version).await
    }
    async fn get_many(&self, keys: &[StateKey]) -> PortResult<std::collections::HashMap<StateKey, StateRecord>> {
        // One DynamoDB BatchGetItem per 100 keys, and one more for the failures that
        // the failure pointers name.
        for _ in 0..keys.len().div_ceil(100) {
            self.read("get_many");
        }
        // Billed per key (strongly consistent), not per request.
        let extra = keys.len().saturating_sub(keys.len().div_ceil(100)) as u64;
        self.tally.read_half_units.fetch_add(2 * extra, Ordering::Relaxed);
        let found = self.inner.get_many(keys).await?;
        let failures = found.values().filter(|r| matches!(r, StateRecord::Failure(_))).count();
        for _ in 0..failures.div_ceil(100) {
            self.read("get_many");
        }
        Ok(found)
    }
    async fn put_pair(&self, left: &Fingerprint, right: &Fingerprint, expected_version: u64) -> PortResult<()> {
        self.write("put_pair");
        self.inner.put_pair(left, right, expected_version).await
    }
    async fn put_link(&self, link: &Link) -> PortResult<()> {
        self.write("put_link");
        self.inner.put_link(link).await
    }
    async fn delete_link(&self, link: &Link) -> PortResult<()> {
        self.write("delete_link");
        self.inner.delete_link(link).await
    }
    async fn count_links(&self, integration: &IntegrationId) -> PortResult<u64> {
        self.read("count_links");
        self.inner.count_links(integration).await
    }
    async fn put_fingerprint(&self, fingerprint: &Fingerprint) -> PortResult<()> {
        self.write("put_fingerprint");
        self.inner.put_fingerprint(fingerprint).await
    }
    async fn put_create_intent(
        &self,
        fingerprint: &Fingerprint,
        expected: Option<chrono::DateTime<chrono::Utc>>,
    ) -> PortResult<()> {
        self.write("put_create_intent");
        self.inner.put_create_intent(fingerprint, expected).await
    }
    async fn put_failure(&self, failure: &FailureRecord) -> PortResult<()> {
        self.write("put_failure");
        self.inner.put_failure(failure).await
    }
    async fn get_failure(&self, id: &str) -> PortResult<Option<FailureRecord>> {
        self.read("get_failure");
        self.inner.get_failure(id).await
    }
    async fn failure_listing(
        &self,
        integration: Option<&IntegrationId>,
    ) -> PortResult<Vec<ferry_domain::ListedFailure>> {
        self.op("Query", "list_failures");
        self.inner.failure_listing(integration).await
    }
    async fn delete_failure(&self, id: &str) -> PortResult<()> {
        self.op("DeleteItem", "delete_failure");
        self.inner.delete_failure(id).await
    }
    async fn incr_counter(&self, integration: &IntegrationId, flow: Flow, counter: Counter, by: u64) -> PortResult<()> {
        self.op("UpdateItem", "incr_counter");
        self.inner.incr_counter(integration, flow, counter, by).await
    }
    async fn counts(&self, integration: &IntegrationId, flow: Flow) -> PortResult<FlowCounts> {
        self.read("counts");
        self.inner.counts(integration, flow).await
    }
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        owner: &str,
        ttl: Duration,
    ) -> PortResult<bool> {
        self.op("UpdateItem", "acquire_lease");
        self.inner.acquire_lease(integration, flow, owner, ttl).await
    }
    async fn release_lease(&self, integration: &IntegrationId, flow: Flow, owner: &str) -> PortResult<()> {
        self.op("DeleteItem", "release_lease");
        self.inner.release_lease(integration, flow, owner).await
    }
    async fn get_collab(&self, integration: &IntegrationId, left: &EntityId) -> PortResult<Option<(CollabState, u64)>> {
        self.read("get_collab");
        self.inner.get_collab(integration, left).await
    }
    async fn put_collab(
        &self,
        integration: &IntegrationId,
        left: &EntityId,
        state: &CollabState,
        expected_version: Option<u64>,
    ) -> PortResult<()> {
        self.write("put_collab");
        self.inner.put_collab(integration, left, state, expected_version).await
    }
    async fn add_pending(
        &self,
        integration: &IntegrationId,
        side: Side,
        awaited: &EntityId,
        waiting: &EntityId,
    ) -> PortResult<()> {
        self.write("add_pending");
        self.inner.add_pending(integration, side, awaited, waiting).await
    }
    async fn pending(&self, integration: &IntegrationId, side: Side, awaited: &EntityId) -> PortResult<Vec<EntityId>> {
        self.op("Query", "pending");
        self.inner.pending(integration, side, awaited).await
    }
    async fn remove_pending(
        &self,
        integration: &IntegrationId,
        side: Side,
        awaited: &EntityId,
        waiting: &EntityId,
    ) -> PortResult<()> {
        self.op("DeleteItem", "remove_pending");
        self.inner.remove_pending(integration, side, awaited, waiting).await
    }
    async fn record_delivery(
        &self,
        hook: &str,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
        window: Duration,
    ) -> PortResult<bool> {
        self.write("record_delivery");
        self.inner.record_delivery(hook, id, at, window).await
    }
    async fn request_poll(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()> {
        self.write("request_poll");
        self.inner.request_poll(integration, flow).await
    }
    async fn poll_requested(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool> {
        self.read("poll_requested");
        self.inner.poll_requested(integration, flow).await
    }
    async fn take_poll_request(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool> {
        self.op("DeleteItem", "take_poll_request");
        self.inner.take_poll_request(integration, flow).await
    }
    async fn tally_hook(&self, hook: &str, outcome: &str, at: chrono::DateTime<chrono::Utc>) -> PortResult<()> {
        self.op("UpdateItem", "tally_hook");
        self.inner.tally_hook(hook, outcome, at).await
    }
    async fn hook_tallies(&self, hook: &str) -> PortResult<Vec<ferry_domain::webhook::HookTally>> {
        self.op("Query", "hook_tallies");
        self.inner.hook_tallies(hook).await
    }
    async fn hook_subscriptions(
        &self,
        integration: &IntegrationId,
    ) -> PortResult<Vec<ferry_domain::webhook::HookSubscription>> {
        self.op("GetItem", "hook_subscriptions");
        self.inner.hook_subscriptions(integration).await
    }
    async fn put_hook_subscriptions(
        &self,
        integration: &IntegrationId,
        subscriptions: &[ferry_domain::webhook::HookSubscription],
    ) -> PortResult<()> {
        self.op("PutItem", "put_hook_subscriptions");
        self.inner.put_hook_subscriptions(integration, subscriptions).await
    }
    async fn get_backfill(&self, integration: &IntegrationId) -> PortResult<Option<ferry_domain::BackfillRecord>> {
        self.read("get_backfill");
        self.inner.get_backfill(integration).await
    }
    async fn put_backfill(&self, record: &ferry_domain::BackfillRecord) -> PortResult<()> {
        self.write("put_backfill");
        self.inner.put_backfill(record).await
    }
    async fn record_activity(&self, steps: &[ferry_domain::Activity]) -> PortResult<()> {
        // One item per step, 25 items per BatchWriteItem request, billed per item: counted
        // as one put per item (a step is under 1 KB: one write unit each).
        for _ in steps {
            self.write("record_activity");
        }
        self.inner.record_activity(steps).await
    }
    async fn entity_activity(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        entity: &EntityId,
        limit: usize,
    ) -> PortResult<Vec<ferry_domain::Activity>> {
        self.op("Query", "entity_activity");
        self.inner.entity_activity(integration, flow, entity, limit).await
    }
    async fn add_pace(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        bucket: &ferry_domain::PaceBucket,
    ) -> PortResult<()> {
        self.op("UpdateItem", "add_pace");
        self.inner.add_pace(integration, flow, bucket).await
    }
    async fn pace_since(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        since: chrono::DateTime<chrono::Utc>,
    ) -> PortResult<Vec<ferry_domain::PaceBucket>> {
        self.op("Query", "pace_since");
        self.inner.pace_since(integration, flow, since).await
    }
    async fn overview(
        &self,
        integrations: &[IntegrationId],
        pace: Option<ferry_domain::PaceWindow>,
    ) -> PortResult<ferry_domain::StateOverview> {
        // On DynamoDB: one BatchGetItem per 100 keys (5 per integration), and with the
        // minute buckets one Query per direction.
        for _ in 0..(integrations.len() * 5).div_ceil(100) {
            self.op("BatchGetItem", "overview");
        }
        if pace.is_some() {
            for _ in 0..integrations.len() * 2 {
                self.op("Query", "overview");
            }
        }
        self.inner.overview(integrations, pace).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqs_chunks_are_started_64_kb_pieces_and_at_least_one() {
        let t = Tally::default();
        t.sqs("SendMessage", 0);
        t.sqs("SendMessageBatch", 64 * 1024 + 1);
        let c = t.snapshot();
        assert_eq!(c.sqs_requests(), 2);
        assert_eq!(c.sqs_chunks, 3);
    }

    #[test]
    fn dynamo_writes_cost_a_unit_per_started_kb_of_each_item_and_reads_one_per_item() {
        let t = Tally::default();
        t.dynamo("PutItem", &[b'x'; 1500]);
        let tx = serde_json::json!({"TransactItems": [{"Put": {"Item": {"pk": {"S": "a"}}}}, {"Delete": {}}]});
        t.dynamo("TransactWriteItems", tx.to_string().as_bytes());
        t.dynamo("GetItem", br#"{"ConsistentRead": true}"#);
        let big = "y".repeat(1500);
        let batch = serde_json::json!({"RequestItems": {"t": [
            {"PutRequest": {"Item": {"pk": {"S": "a"}, "doc": {"S": big}}}},
            {"PutRequest": {"Item": {"pk": {"S": "b"}}}},
            {"DeleteRequest": {"Key": {"pk": {"S": "c"}}}}
        ]}});
        t.dynamo("BatchWriteItem", batch.to_string().as_bytes());
        let get = serde_json::json!({"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}, {"pk": {"S": "c"}}], "ConsistentRead": true}}});
        t.dynamo("BatchGetItem", get.to_string().as_bytes());
        let c = t.snapshot();
        // PutItem 2; transaction 2 x (1 + 1); batch write 2 + 1 + 1. Reads 1 + 3.
        assert_eq!((c.dynamo_requests(), c.write_units, c.read_units()), (5, 10, 4.0));
    }

    #[test]
    fn an_eventually_consistent_read_costs_half_a_unit_per_item() {
        let t = Tally::default();
        t.dynamo("GetItem", b"{}");
        let get = serde_json::json!({"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}, {"pk": {"S": "c"}}]}}});
        t.dynamo("BatchGetItem", get.to_string().as_bytes());
        t.dynamo("TransactGetItems", serde_json::json!({"TransactItems": [{}]}).to_string().as_bytes());
        assert_eq!(t.snapshot().read_units(), 0.5 + 1.5 + 2.0, "a transactional read costs two");
    }

    #[test]
    fn item_sizes_follow_dynamodbs_formula() {
        let item = serde_json::json!({
            "pk": {"S": "fp#a"},                      // 2 + 4
            "n": {"N": "-12345.600"},                 // 1 + (6 digits: 3) + 1
            "ok": {"BOOL": true},                     // 2 + 1
            "m": {"M": {"k": {"S": "vé"}}},           // 1 + 3 + (1 + 3 + 1)
            "l": {"L": [{"N": "7"}, {"NULL": true}]}  // 1 + 3 + (2 + 1) + (1 + 1)
        });
        assert_eq!(item_size(&item), 6 + 5 + 3 + 9 + 9);
        let escaped = serde_json::json!({"doc": {"S": "\"quoted\" text"}});
        assert_eq!(item_size(&escaped), 3 + 13, "the stored string, not its JSON escaping");
    }

    #[test]
    fn a_get_item_over_4_kb_costs_a_read_unit_per_started_4_kb() {
        let item = |bytes: usize| serde_json::json!({"Item": {"doc": {"S": "z".repeat(bytes)}}}).to_string();
        assert_eq!(large_item_extra_reads(item(100).as_bytes()), 0);
        assert_eq!(large_item_extra_reads(item(9000).as_bytes()), 2);
        let other = serde_json::json!({"Messages": [{"Body": "z".repeat(9000)}]}).to_string();
        assert_eq!(large_item_extra_reads(other.as_bytes()), 0, "only GetItem answers hold one item");
    }

    #[test]
    fn differences_drop_operations_that_did_not_change() {
        let t = Tally::default();
        t.count("sqs.ReceiveMessage");
        let before = t.snapshot();
        t.count("ddb.GetItem");
        let d = t.snapshot().minus(&before);
        assert_eq!(d.ops.len(), 1);
        assert_eq!(d.dynamo_requests(), 1);
    }
}

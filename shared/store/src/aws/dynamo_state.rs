//! `StateStore` on the state table (item layout in the module docs of `aws`).

use super::dynamo::{doc, encode, get_s, get_u64, inflated, key, n, put_versioned, s, ttl_seconds, DynamoStore, Item};
use super::error::{corrupt, sdk_error};
use super::record_payloads::payload_key;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use chrono::{DateTime, SecondsFormat, Utc};
use ferry_domain::ports::{PortResult, StateKey, StateRecord, StateStore};
use ferry_domain::webhook::HookSubscription;
use ferry_domain::{
    Activity, CollabState, Counter, EntityId, ErrorCategory, FailureRecord, Fingerprint, Flow, FlowCounts,
    IntegrationId, Link, ListedFailure, PaceBucket, PairFingerprints, PortError, Side, StateOverview,
    UnreadableFailure, Watermark,
};
use std::collections::HashMap;
use std::time::Duration;

const GSI: &str = "gsi1";
/// Read-check-write operations retry this often when a concurrent writer wins the
/// transaction's condition, then report `Conflict`.
const ATTEMPTS: usize = 4;

pub(super) fn wm_pk(i: &IntegrationId, flow: Flow) -> String {
    format!("wm#{i}#{}", flow.as_str())
}
fn link_pk(i: &IntegrationId, side: Side, e: &EntityId) -> String {
    format!("link#{i}#{}#{e}", side.as_str())
}
pub(super) fn linkcount_pk(i: &IntegrationId) -> String {
    format!("linkcount#{i}")
}
fn fp_pk(i: &IntegrationId, side: Side, e: &EntityId) -> String {
    format!("fp#{i}#{}#{e}", side.as_str())
}
fn failure_pk(id: &str) -> String {
    format!("failure#{id}")
}
fn pointer_pk(i: &IntegrationId, flow: Flow, e: &EntityId) -> String {
    format!("failure-entity#{i}#{}#{e}", flow.as_str())
}
fn pair_pk(i: &IntegrationId, left: &EntityId) -> String {
    format!("pair#{i}#{left}")
}
fn failcount_pk(i: &IntegrationId, flow: Flow) -> String {
    format!("failcount#{i}#{}", flow.as_str())
}
/// The open-failure count a pointer item belongs to (`failure-entity#{i}#{flow}#{e}`).
fn failcount_pk_of_pointer(pointer: &str) -> Option<String> {
    let mut parts = pointer.strip_prefix("failure-entity#")?.splitn(3, '#');
    let (i, flow) = (parts.next()?, parts.next()?);
    parts.next()?;
    Some(format!("failcount#{i}#{flow}"))
}
fn failures_gsi_pk(i: &IntegrationId) -> String {
    format!("failures#{i}")
}
pub(super) fn count_pk(i: &IntegrationId, flow: Flow) -> String {
    format!("count#{i}#{}", flow.as_str())
}
fn lease_pk(i: &IntegrationId, flow: Flow) -> String {
    format!("lease#{i}#{}", flow.as_str())
}
/// The counters of a `count#...` item.
pub(super) fn flow_counts(item: &Item, table: &str) -> PortResult<FlowCounts> {
    let get = |c: Counter| get_u64(item, counter_attr(c), table).map(|v| v.unwrap_or(0));
    Ok(FlowCounts {
        synced: get(Counter::Synced)?,
        skipped: get(Counter::Skipped)?,
        failed: get(Counter::Failed)?,
        unlinked: get(Counter::Unlinked)?,
    })
}
/// The watermark of a `wm#...` item, its version from the `version` attribute.
pub(super) fn watermark(item: &Item, table: &str) -> PortResult<Watermark> {
    let mut wm: Watermark = inflated(item, table)?;
    wm.version = get_u64(item, "version", table)?
        .ok_or_else(|| corrupt(table, get_s(item, "pk", table).unwrap_or("?"), "attribute `version` is missing"))?;
    Ok(wm)
}
fn counter_attr(c: Counter) -> &'static str {
    match c {
        Counter::Synced => "synced",
        Counter::Skipped => "skipped",
        Counter::Failed => "failed",
        Counter::Unlinked => "unlinked",
    }
}

/// RFC 3339 with nanoseconds and `Z`: fixed width, so it sorts as text.
fn sortable_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn names(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn values(pairs: Vec<(&str, aws_sdk_dynamodb::types::AttributeValue)>) -> Option<Item> {
    Some(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn built<T>(r: Result<T, BuildError>, what: &str) -> PortResult<T> {
    r.map_err(|e| PortError::store(format!("{what}: cannot build the DynamoDB request: {e}")).with_source(e))
}

/// Unprocessed batch entries mean throttling: wait longer each round before asking
/// again, and give up after 8 rounds.
async fn unprocessed_backoff(round: u32, kind: &str, what: &str) -> PortResult<()> {
    if round >= 8 {
        return Err(PortError::store(format!("{what}: {kind} still unprocessed after {round} rounds")));
    }
    tokio::time::sleep(Duration::from_millis(50 << round)).await;
    Ok(())
}

/// A condition expression with its attribute names and values.
type Condition<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<Item>);

/// Why a transaction did not commit.
enum TxError {
    /// Cancelled; one reason code per item (`ConditionalCheckFailed`, `None`, ...),
    /// empty when the service gave none.
    Cancelled(Vec<String>),
    Failed(PortError),
}

/// After a put of a record that wrote the payload object `written` in place of
/// `replaced`: (the object the table now names, the object to delete), or `None` when
/// nothing may be deleted. Content keys make an object both records name one object,
/// which stays. A failure that is not a cancellation (a timeout, a dropped connection)
/// may have committed, so both objects stay: an object left behind costs storage, a
/// record naming a deleted object cannot be read.
fn objects_after_put<'a>(
    result: &Result<(), TxError>,
    written: Option<&'a str>,
    replaced: Option<&'a str>,
) -> Option<(Option<&'a str>, Option<&'a str>)> {
    let (kept, dropped) = match result {
        Ok(()) => (written, replaced),
        Err(TxError::Cancelled(_)) => (replaced, written),
        Err(TxError::Failed(_)) => return None,
    };
    (dropped.is_some() && dropped != kept).then_some((kept, dropped))
}

impl DynamoStore {
    /// The create intent the entity's own fingerprint holds, for a refused claim's message
    /// (a failed read only leaves it out).
    async fn stored_intent(&self, f: &Fingerprint, what: &str) -> Option<DateTime<Utc>> {
        let table = &*self.state_table;
        match self.get(table, fp_pk(&f.integration, f.side, &f.entity), "fp", what).await {
            Ok(Some(item)) => doc::<Fingerprint>(&item, table).ok().and_then(|s| s.create_started),
            _ => None,
        }
    }

    async fn transact(&self, items: Vec<TransactWriteItem>, what: &str) -> Result<(), TxError> {
        let table = &*self.state_table;
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(tc)) = err.as_service_error() {
                    let reasons =
                        tc.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect();
                    return Err(TxError::Cancelled(reasons));
                }
                Err(TxError::Failed(sdk_error("DynamoDB", "TransactWriteItems", table, what, err)))
            }
        }
    }

    fn tx_put(&self, item: Item, condition: Option<Condition<'_>>, what: &str) -> PortResult<TransactWriteItem> {
        let mut put = Put::builder().table_name(&*self.state_table).set_item(Some(item));
        if let Some((expr, attr_names, attr_values)) = condition {
            put = put
                .condition_expression(expr)
                .set_expression_attribute_names(names(attr_names))
                .set_expression_attribute_values(attr_values);
        }
        Ok(TransactWriteItem::builder().put(built(put.build(), what)?).build())
    }

    /// Moves a flow's open-failure count by `delta` inside a failure transaction; creates
    /// the count item if it is absent.
    fn tx_count(&self, count_pk: String, delta: i64, what: &str) -> PortResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&*self.state_table)
            .set_key(Some(key(count_pk, "failcount")))
            .update_expression("ADD #n :d")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":d", n(delta));
        Ok(TransactWriteItem::builder().update(built(update.build(), what)?).build())
    }

    /// `get_many`: keys to items by their prefixed partition key, then the failures
    /// the pointers name.
    async fn read_many(&self, keys: &[StateKey], consistent: bool) -> PortResult<HashMap<StateKey, StateRecord>> {
        let table = &*self.state_table;
        let what = format!("get_many ({} records)", keys.len());
        // Each kind's partition key has its own prefix: the key alone names the record.
        let mut by_pk: HashMap<String, (&'static str, &StateKey)> = HashMap::new();
        for k in keys {
            let (pk, sk) = match k {
                StateKey::Link(i, side, e) => (link_pk(i, *side, e), "link"),
                StateKey::Fingerprint(i, side, e) => (fp_pk(i, *side, e), "fp"),
                StateKey::Failure(i, flow, e) => (pointer_pk(i, *flow, e), "failure-entity"),
                StateKey::OpenFailures(i, flow) => (failcount_pk(i, *flow), "failcount"),
                StateKey::Pair(i, left) => (pair_pk(i, left), "pair"),
            };
            by_pk.insert(pk, (sk, k));
        }
        // A flow's count item exists from its first failure on: none is 0.
        let mut out: HashMap<StateKey, StateRecord> = keys
            .iter()
            .filter(|k| matches!(k, StateKey::OpenFailures(..)))
            .map(|k| (k.clone(), StateRecord::OpenFailures(0)))
            .collect();
        let mut failures: HashMap<String, &StateKey> = HashMap::new();
        for item in
            self.batch_get(by_pk.iter().map(|(pk, (sk, _))| (pk.clone(), *sk)).collect(), consistent, &what).await?
        {
            let pk = get_s(&item, "pk", table)?;
            let Some((_, k)) = by_pk.get(pk).copied() else {
                continue;
            };
            let record = match k {
                StateKey::OpenFailures(..) => StateRecord::OpenFailures(get_u64(&item, "n", table)?.unwrap_or(0)),
                StateKey::Link(..) => StateRecord::Link(doc(&item, table)?),
                StateKey::Fingerprint(..) => StateRecord::Fingerprint(doc(&item, table)?),
                StateKey::Failure(..) => {
                    failures.insert(get_s(&item, "failure_id", table)?.to_string(), k);
                    continue;
                }
                StateKey::Pair(..) => {
                    let mut pair: PairFingerprints = inflated(&item, table)?;
                    pair.version = get_u64(&item, "v", table)?
                        .ok_or_else(|| corrupt(table, pk, "attribute `v` (the pair's version) is missing"))?;
                    StateRecord::Pair(Box::new(pair))
                }
            };
            out.insert(k.clone(), record);
        }
        let unwritten: Vec<&StateKey> =
            keys.iter().filter(|k| matches!(k, StateKey::Pair(..)) && !out.contains_key(*k)).collect();
        if !unwritten.is_empty() {
            self.pairs_linked_a_moment_ago(&unwritten, consistent, &mut out, &what).await?;
        }
        if !failures.is_empty() {
            let keys = failures.keys().map(|id| (failure_pk(id), "failure")).collect();
            for item in self.batch_get(keys, consistent, &what).await? {
                let record = self.failure_of(&item, &what).await?;
                // A pointer without its failure is left by an interrupted delete: no failure.
                if let Some(k) = failures.get(&record.id) {
                    out.insert((*k).clone(), StateRecord::Failure(Box::new(record)));
                }
            }
        }
        Ok(out)
    }

    /// Pairs without a record: those linked (a create or adoption stored the link and
    /// has not written the pair's record yet) answer their entities' own fingerprints
    /// (the create's intent) at version 0, read by their links; unlinked ones are absent.
    async fn pairs_linked_a_moment_ago(
        &self,
        pairs: &[&StateKey],
        consistent: bool,
        out: &mut HashMap<StateKey, StateRecord>,
        what: &str,
    ) -> PortResult<()> {
        let table = &*self.state_table;
        let link_keys = pairs
            .iter()
            .filter_map(|k| match k {
                StateKey::Pair(i, left) => Some((link_pk(i, Side::Left, left), "link")),
                _ => None,
            })
            .collect();
        let mut links = Vec::new();
        for item in self.batch_get(link_keys, consistent, what).await? {
            links.push(doc::<Link>(&item, table)?);
        }
        let fp_keys = links
            .iter()
            .flat_map(|l| {
                [
                    (fp_pk(&l.integration, Side::Left, &l.left.id), "fp"),
                    (fp_pk(&l.integration, Side::Right, &l.right.id), "fp"),
                ]
            })
            .collect();
        let mut fps: HashMap<String, Fingerprint> = HashMap::new();
        for item in self.batch_get(fp_keys, consistent, what).await? {
            fps.insert(get_s(&item, "pk", table)?.to_string(), doc(&item, table)?);
        }
        for l in links {
            let pair = PairFingerprints {
                left: fps.remove(&fp_pk(&l.integration, Side::Left, &l.left.id)),
                right: fps.remove(&fp_pk(&l.integration, Side::Right, &l.right.id)),
                version: 0,
            };
            out.insert(StateKey::Pair(l.integration.clone(), l.left.id.clone()), StateRecord::Pair(Box::new(pair)));
        }
        Ok(())
    }

    fn tx_delete(
        &self,
        pk: String,
        sk: &str,
        condition: Option<Condition<'_>>,
        what: &str,
    ) -> PortResult<TransactWriteItem> {
        let mut del = Delete::builder().table_name(&*self.state_table).set_key(Some(key(pk, sk)));
        if let Some((expr, attr_names, attr_values)) = condition {
            del = del
                .condition_expression(expr)
                .set_expression_attribute_names(names(attr_names))
                .set_expression_attribute_values(attr_values);
        }
        Ok(TransactWriteItem::builder().delete(built(del.build(), what)?).build())
    }

    /// `BatchGetItem` of (pk, sk) keys, 100 per call, strongly or eventually consistent;
    /// unprocessed keys (throttling) are asked again after a backoff. Absent items are not
    /// returned.
    pub(super) async fn batch_get(
        &self,
        keys: Vec<(String, &str)>,
        consistent: bool,
        what: &str,
    ) -> PortResult<Vec<Item>> {
        let table = &*self.state_table;
        let mut out = Vec::new();
        for chunk in keys.chunks(100) {
            let mut pending: Vec<Item> = chunk.iter().map(|(pk, sk)| key(pk.clone(), sk)).collect();
            let mut round = 0u32;
            while !pending.is_empty() {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(consistent)
                    .build()
                    .map_err(|e| PortError::store(format!("{what}: {e}")))?;
                let res = self
                    .client
                    .batch_get_item()
                    .request_items(table, ka)
                    .send()
                    .await
                    .map_err(|e| sdk_error("DynamoDB", "BatchGetItem", table, what, e))?;
                out.extend(res.responses.and_then(|mut r| r.remove(table)).unwrap_or_default());
                pending = res.unprocessed_keys.and_then(|mut u| u.remove(table)).map(|k| k.keys).unwrap_or_default();
                if !pending.is_empty() {
                    round += 1;
                    unprocessed_backoff(round, "keys", what).await?;
                }
            }
        }
        Ok(out)
    }

    /// Every item of a `gsi1` partition (`Some`) or of the whole index (`None`), all pages.
    async fn failure_items(&self, partition: Option<String>, what: &str) -> PortResult<Vec<Item>> {
        let table = &*self.state_table;
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (items, last) = match &partition {
                Some(p) => {
                    let page = self
                        .client
                        .query()
                        .table_name(table)
                        .index_name(GSI)
                        .key_condition_expression("#g = :g")
                        .expression_attribute_names("#g", "gsi1pk")
                        .expression_attribute_values(":g", s(p.clone()))
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| sdk_error("DynamoDB", "Query (index gsi1)", table, what, e))?;
                    (page.items, page.last_evaluated_key)
                }
                // The index is sparse: only failure items carry gsi1pk.
                None => {
                    let page = self
                        .client
                        .scan()
                        .table_name(table)
                        .index_name(GSI)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| sdk_error("DynamoDB", "Scan (index gsi1)", table, what, e))?;
                    (page.items, page.last_evaluated_key)
                }
            };
            out.extend(items.unwrap_or_default());
            match last {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// The item of a failure; its JSON goes to the payload bucket when it is too large
    /// for the item (a long description is in it several times: input snapshot, mapping
    /// output).
    async fn failure_item(
        &self,
        record: &FailureRecord,
        pointer: &str,
        what: &str,
    ) -> PortResult<(Item, Option<String>)> {
        let json = encode(record, what)?;
        let prefix = format!("failures/{}", record.id);
        let (mut item, object) = self.record_item((failure_pk(&record.id), "failure"), json, &prefix, what).await?;
        item.insert("gsi1pk".into(), s(failures_gsi_pk(&record.integration)));
        item.insert("gsi1sk".into(), s(format!("{}#{}", sortable_time(&record.first_failed_at), record.id)));
        item.insert("pointer_pk".into(), s(pointer));
        Ok((item, object))
    }

    async fn failure_of(&self, item: &Item, what: &str) -> PortResult<FailureRecord> {
        self.record_of(item, what).await
    }

    /// The records of failure items; one that cannot be read (its payload object is
    /// missing, its JSON corrupt) as what its keys say and why.
    async fn failures_of(&self, items: &[Item], what: &str) -> Vec<ListedFailure> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.failure_of(item, what).await.map_err(|e| unreadable(item, e.message)));
        }
        out
    }
}

/// What a failure item's keys say of a record that cannot be read: its id (`pk`), its
/// integration (`gsi1pk`), its time (`gsi1sk`), its direction and entity (`pointer_pk`).
fn unreadable(item: &Item, reason: String) -> UnreadableFailure {
    let attr = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    };
    let id = attr("pk").map(|pk| pk.strip_prefix("failure#").unwrap_or(pk)).unwrap_or("(no id)");
    let integration =
        attr("gsi1pk").and_then(|g| g.strip_prefix("failures#")).and_then(|i| IntegrationId::parse(i).ok());
    let first_failed_at = attr("gsi1sk")
        .and_then(|g| g.split_once('#'))
        .and_then(|(t, _)| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    // `failure-entity#{integration}#{flow}#{entity}`: the entity may hold `#` itself.
    let mut pointer = attr("pointer_pk").and_then(|p| p.strip_prefix("failure-entity#")).map(|p| p.splitn(3, '#'));
    let (flow, entity) = match pointer.as_mut().map(|p| (p.nth(1), p.next())) {
        Some((Some(flow), Some(entity))) => (Flow::parse(flow), Some(EntityId::new(entity))),
        _ => (None, None),
    };
    UnreadableFailure { id: id.to_string(), integration, flow, entity, category: None, first_failed_at, reason }
}

fn conflict(message: String) -> PortError {
    PortError::new(ErrorCategory::Conflict, message)
}

/// A pair record written by someone else since it was read.
fn pair_changed(what: &str, expected: u64) -> PortError {
    conflict(format!(
        "{what}: the pair's record is no longer at version {expected}: a write of the other direction changed it \
         meanwhile; read it again"
    ))
}

#[async_trait]
impl StateStore for DynamoStore {
    /// The returned `version` is the stored `version` attribute.
    async fn get_watermark(&self, integration: &IntegrationId, flow: Flow) -> PortResult<Option<Watermark>> {
        let what = format!("get_watermark {integration} {flow}");
        let Some(item) = self.get(&self.state_table, wm_pk(integration, flow), "wm", &what).await? else {
            return Ok(None);
        };
        watermark(&item, &self.state_table).map(Some)
    }

    /// Ignores `watermark.version`: the stored version becomes `expected + 1` (1 first).
    async fn put_watermark(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        watermark: &Watermark,
        expected_version: Option<u64>,
    ) -> PortResult<()> {
        let what = format!("put_watermark {integration} {flow}");
        let next = match expected_version {
            None => 1,
            Some(v) => v
                .checked_add(1)
                .ok_or_else(|| PortError::store(format!("{what}: version {v} cannot be incremented")))?,
        };
        let mut stored = watermark.clone();
        stored.version = next;
        // Deflated: its seen revisions make it about 10 KB of JSON, written every poll.
        let mut item = Self::record_deflated(wm_pk(integration, flow), "wm", &encode(&stored, &what)?, &what)?;
        item.insert("version".into(), n(next));
        let label = format!("{integration} {flow}");
        put_versioned(&self.client, &self.state_table, item, expected_version, &what, ("watermark of", &label)).await
    }

    /// Links, fingerprints, failure pointers, counts and pair records in one
    /// `BatchGetItem` (per 100 keys); the failures the pointers name in a second one
    /// (and, for pairs without a record, their links and own fingerprints).
    async fn get_many(&self, keys: &[StateKey]) -> PortResult<HashMap<StateKey, StateRecord>> {
        self.read_many(keys, true).await
    }

    /// The same, eventually consistent.
    async fn get_many_relaxed(&self, keys: &[StateKey]) -> PortResult<HashMap<StateKey, StateRecord>> {
        self.read_many(keys, false).await
    }

    /// Writes both items in one transaction and replaces any link of the integration
    /// that holds either entity (its other item is deleted, the count adjusted).
    /// Every item read is re-checked by its `token` in the transaction.
    async fn put_link(&self, link: &Link) -> PortResult<()> {
        let i = &link.integration;
        let (left, right) = (&link.left.id, &link.right.id);
        let what = format!("put_link {i} left {left} right {right}");
        let body = encode(link, &what)?;
        let table = &*self.state_table;
        let keys = [link_pk(i, Side::Left, left), link_pk(i, Side::Right, right)];
        for _ in 0..ATTEMPTS {
            // Both current items in one request (strongly consistent).
            let mut found: HashMap<String, Item> = HashMap::new();
            for item in self.batch_get(keys.iter().map(|k| (k.clone(), "link")).collect(), true, &what).await? {
                found.insert(get_s(&item, "pk", table)?.to_string(), item);
            }
            let mut old = Vec::new();
            for pk in &keys {
                let parsed = match found.get(pk) {
                    Some(item) => {
                        let l: Link = doc(item, table)?;
                        Some((l, get_s(item, "token", table)?.to_string()))
                    }
                    None => None,
                };
                old.push(parsed);
            }
            let token = uuid::Uuid::new_v4().to_string();
            let mut items = Vec::new();
            let mut replaced: Vec<String> = Vec::new();
            for ((side, id), prev) in [(Side::Left, left), (Side::Right, right)].into_iter().zip(&old) {
                let mut item = Self::record(link_pk(i, side, id), "link", body.clone());
                item.insert("token".into(), s(token.clone()));
                let cond = match prev {
                    Some((_, t)) => ("#t = :t", &[("#t", "token")][..], values(vec![(":t", s(t.clone()))])),
                    None => ("attribute_not_exists(#pk)", &[("#pk", "pk")][..], None),
                };
                items.push(self.tx_put(item, Some(cond), &what)?);
                // The other item of the replaced link, unless this put overwrites it.
                if let Some((prev_link, t)) = prev {
                    let other_side = side.other();
                    let other_id = &prev_link.side(other_side).id;
                    let overwritten = match other_side {
                        Side::Left => other_id == left,
                        Side::Right => other_id == right,
                    };
                    if !overwritten {
                        items.push(self.tx_delete(
                            link_pk(i, other_side, other_id),
                            "link",
                            Some((
                                "attribute_not_exists(#pk) OR #t = :t",
                                &[("#pk", "pk"), ("#t", "token")],
                                values(vec![(":t", s(t.clone()))]),
                            )),
                            &what,
                        )?);
                    }
                    if !replaced.contains(t) {
                        replaced.push(t.clone());
                    }
                }
            }
            let delta = 1 - replaced.len() as i64;
            if delta != 0 {
                let update = Update::builder()
                    .table_name(table)
                    .set_key(Some(key(linkcount_pk(i), "linkcount")))
                    .update_expression("ADD #n :d")
                    .expression_attribute_names("#n", "n")
                    .expression_attribute_values(":d", n(delta));
                items.push(TransactWriteItem::builder().update(built(update.build(), &what)?).build());
            }
            match self.transact(items, &what).await {
                Ok(()) => return Ok(()),
                Err(TxError::Cancelled(_)) => continue,
                Err(TxError::Failed(e)) => return Err(e),
            }
        }
        Err(conflict(format!("{what}: the links of these entities kept changing concurrently; retry")))
    }

    /// Both link items (each on the condition that it still holds this link, by its
    /// token), the pair record and the link count, in one transaction.
    async fn delete_link(&self, link: &Link) -> PortResult<()> {
        let i = &link.integration;
        let (left, right) = (&link.left.id, &link.right.id);
        let what = format!("delete_link {i} left {left} right {right}");
        let table = &*self.state_table;
        let keys = [link_pk(i, Side::Left, left), link_pk(i, Side::Right, right)];
        for _ in 0..ATTEMPTS {
            let mut items = Vec::new();
            for item in self.batch_get(keys.iter().map(|k| (k.clone(), "link")).collect(), true, &what).await? {
                let stored: Link = doc(&item, table)?;
                if stored.left.id != *left || stored.right.id != *right {
                    // Replaced by another link of one of the entities: not this pair's.
                    continue;
                }
                let token = get_s(&item, "token", table)?.to_string();
                let pk = get_s(&item, "pk", table)?.to_string();
                let cond = ("#t = :t", &[("#t", "token")][..], values(vec![(":t", s(token))]));
                items.push(self.tx_delete(pk, "link", Some(cond), &what)?);
            }
            if items.is_empty() {
                return Ok(());
            }
            items.push(self.tx_delete(pair_pk(i, left), "pair", None, &what)?);
            let update = Update::builder()
                .table_name(table)
                .set_key(Some(key(linkcount_pk(i), "linkcount")))
                .update_expression("ADD #n :d")
                .expression_attribute_names("#n", "n")
                .expression_attribute_values(":d", n(-1));
            items.push(TransactWriteItem::builder().update(built(update.build(), &what)?).build());
            match self.transact(items, &what).await {
                Ok(()) => return Ok(()),
                Err(TxError::Cancelled(_)) => continue,
                Err(TxError::Failed(e)) => return Err(e),
            }
        }
        Err(conflict(format!("{what}: the links of these entities kept changing concurrently; retry")))
    }

    async fn count_links(&self, integration: &IntegrationId) -> PortResult<u64> {
        let what = format!("count_links {integration}");
        let item = self.get(&self.state_table, linkcount_pk(integration), "linkcount", &what).await?;
        match item {
            None => Ok(0),
            Some(item) => Ok(get_u64(&item, "n", &self.state_table)?.unwrap_or(0)),
        }
    }

    /// One conditional `PutItem` of the deflated pair record, its version in `v`.
    async fn put_pair(&self, left: &Fingerprint, right: &Fingerprint, expected_version: u64) -> PortResult<()> {
        let what = format!("put_pair {} left {} right {}", left.integration, left.entity, right.entity);
        if left.side != Side::Left || right.side != Side::Right || left.integration != right.integration {
            return Err(PortError::new(
                ErrorCategory::InvalidRequest,
                format!("{what}: needs the left side's fingerprint and the right side's of one integration"),
            ));
        }
        // Two fingerprints are about 1.5 KB of JSON, about 0.55 KB deflated: one write
        // unit instead of two.
        let pair = PairFingerprints { left: Some(left.clone()), right: Some(right.clone()), version: 0 };
        let table = &*self.state_table;
        let mut item =
            Self::record_deflated(pair_pk(&left.integration, &left.entity), "pair", &encode(&pair, &what)?, &what)?;
        item.insert("v".into(), n(expected_version.saturating_add(1)));
        let put = self.client.put_item().table_name(table).set_item(Some(item)).expression_attribute_names("#v", "v");
        let put = if expected_version == 0 {
            put.condition_expression("attribute_not_exists(#v)")
        } else {
            put.condition_expression("#v = :v").expression_attribute_values(":v", n(expected_version))
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(pair_changed(&what, expected_version))
            }
            Err(err) => Err(sdk_error("DynamoDB", "PutItem", table, &what, err)),
        }
    }

    async fn put_fingerprint(&self, fingerprint: &Fingerprint) -> PortResult<()> {
        let f = fingerprint;
        let what = format!("put_fingerprint {} {} {}", f.integration, f.side.as_str(), f.entity);
        self.put(&self.state_table, fp_item(f, &what)?, &what).await
    }

    /// The fingerprint's put, conditional on the intent it holds in `cs` (beside its JSON).
    /// A claim that replaces an earlier intent also checks, in one transaction, that the
    /// entity's link item is absent: an attempt that read the intent may come back after
    /// the create it belongs to linked the pair. A first claim is one `PutItem`: linking
    /// never removes `cs` here (the pair's record is an item of its own), so an entity a
    /// create linked still fails `attribute_not_exists(cs)`, and the common first claim
    /// costs one write instead of a transaction's two (moto also copies the whole table
    /// for each transaction, which slows a long test run to a stall).
    async fn put_create_intent(&self, fingerprint: &Fingerprint, expected: Option<DateTime<Utc>>) -> PortResult<()> {
        let f = fingerprint;
        let what = format!("put_create_intent {} {} {}", f.integration, f.side.as_str(), f.entity);
        let table = &*self.state_table;
        let Some(t) = expected else {
            let put = self
                .client
                .put_item()
                .table_name(table)
                .set_item(Some(fp_item(f, &what)?))
                .condition_expression("attribute_not_exists(#cs)")
                .expression_attribute_names("#cs", CREATE_STARTED);
            return match put.send().await {
                Ok(_) => Ok(()),
                Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                    Err(crate::create_claimed(&what, self.stored_intent(f, &what).await))
                }
                Err(err) => Err(sdk_error("DynamoDB", "PutItem", table, &what, err)),
            };
        };
        let cs = [("#cs", CREATE_STARTED)];
        let claim = ("#cs = :cs", &cs[..], values(vec![(":cs", s(intent_time(t)))]));
        let unlinked = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key(link_pk(&f.integration, f.side, &f.entity), "link")))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk");
        let items = vec![
            self.tx_put(fp_item(f, &what)?, Some(claim), &what)?,
            TransactWriteItem::builder().condition_check(built(unlinked.build(), &what)?).build(),
        ];
        match self.transact(items, &what).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(reasons)) if reasons.get(1).is_some_and(|r| r == "ConditionalCheckFailed") => {
                Err(crate::create_linked(&what))
            }
            Err(TxError::Cancelled(_)) => Err(crate::create_claimed(&what, self.stored_intent(f, &what).await)),
            Err(TxError::Failed(e)) => Err(e),
        }
    }

    /// Keeps the existing failure's `id` and earlier `first_failed_at`; replaces the rest.
    /// The pointer item and the failure are written in one transaction.
    async fn put_failure(&self, failure: &FailureRecord) -> PortResult<()> {
        let (i, flow, e) = (&failure.integration, failure.flow, &failure.entity);
        let what = format!("put_failure {i} {flow} entity {e}");
        let table = &*self.state_table;
        let ptr = pointer_pk(i, flow, e);
        for _ in 0..ATTEMPTS {
            let mut record = failure.clone();
            let existing = self.get(table, ptr.clone(), "failure-entity", &what).await?;
            // The payload object of the record this put replaces (deleted once replaced).
            let mut replaced: Option<String> = None;
            let written: Option<String>;
            let items = match &existing {
                Some(p) => {
                    let id = get_s(p, "failure_id", table)?.to_string();
                    if let Some(old) = self.get(table, failure_pk(&id), "failure", &what).await? {
                        replaced = payload_key(&old).map(str::to_string);
                        // A corrupt old record is replaced rather than blocking new failures.
                        if let Ok(old) = self.failure_of(&old, &what).await {
                            record.first_failed_at = record.first_failed_at.min(old.first_failed_at);
                        }
                    }
                    record.id = id.clone();
                    let (item, object) = self.failure_item(&record, &ptr, &what).await?;
                    written = object;
                    let check = ConditionCheck::builder()
                        .table_name(table)
                        .set_key(Some(key(ptr.clone(), "failure-entity")))
                        .condition_expression("#f = :id")
                        .expression_attribute_names("#f", "failure_id")
                        .expression_attribute_values(":id", s(id));
                    vec![
                        self.tx_put(item, None, &what)?,
                        TransactWriteItem::builder().condition_check(built(check.build(), &what)?).build(),
                    ]
                }
                None => {
                    let mut pointer = key(ptr.clone(), "failure-entity");
                    pointer.insert("failure_id".into(), s(record.id.clone()));
                    let new = ("attribute_not_exists(#pk)", &[("#pk", "pk")][..], None);
                    let (item, object) = self.failure_item(&record, &ptr, &what).await?;
                    written = object;
                    vec![
                        self.tx_put(pointer, Some(new.clone()), &what)?,
                        self.tx_put(item, Some(new), &what)?,
                        self.tx_count(failcount_pk(i, flow), 1, &what)?,
                    ]
                }
            };
            let result = self.transact(items, &what).await;
            if let Some((kept, dropped)) = objects_after_put(&result, written.as_deref(), replaced.as_deref()) {
                self.drop_payload(dropped, &what).await;
                debug_assert_ne!(kept, dropped);
            }
            match result {
                Ok(()) => return Ok(()),
                Err(TxError::Failed(err)) => return Err(err),
                Err(TxError::Cancelled(reasons)) => {
                    let id_taken = existing.is_none() && reasons.get(1).is_some_and(|r| r == "ConditionalCheckFailed");
                    if id_taken {
                        if let Some(other) = self.get(table, failure_pk(&record.id), "failure", &what).await? {
                            let owner = self
                                .failure_of(&other, &what)
                                .await
                                .map(|o| format!("{} {} entity {}", o.integration, o.flow, o.entity))
                                .unwrap_or_else(|_| "another entity".to_string());
                            return Err(conflict(format!(
                                "{what}: failure id {} already belongs to {owner}",
                                record.id
                            )));
                        }
                    }
                }
            }
        }
        Err(conflict(format!("{what}: the failure of this entity kept changing concurrently; retry")))
    }

    async fn get_failure(&self, id: &str) -> PortResult<Option<FailureRecord>> {
        let what = format!("get_failure {id}");
        match self.get(&self.state_table, failure_pk(id), "failure", &what).await? {
            Some(item) => self.failure_of(&item, &what).await.map(Some),
            None => Ok(None),
        }
    }

    /// Oldest first (by `first_failed_at`, then id). One integration is a `Query` of its
    /// `gsi1` partition; all integrations a `Scan` of the (sparse) index.
    async fn failure_listing(&self, integration: Option<&IntegrationId>) -> PortResult<Vec<ListedFailure>> {
        let what = match integration {
            Some(i) => format!("list_failures {i}"),
            None => "list_failures".to_string(),
        };
        let items = self.failure_items(integration.map(failures_gsi_pk), &what).await?;
        let mut out = self.failures_of(&items, &what).await;
        let order = |f: &ListedFailure| match f {
            Ok(f) => (Some(f.first_failed_at), f.id.clone()),
            Err(u) => (u.first_failed_at, u.id.clone()),
        };
        out.sort_by_cached_key(order);
        Ok(out)
    }

    /// Idempotent. Deletes the entity pointer in the same transaction when it still
    /// points at this failure.
    async fn delete_failure(&self, id: &str) -> PortResult<()> {
        let what = format!("delete_failure {id}");
        let table = &*self.state_table;
        let Some(item) = self.get(table, failure_pk(id), "failure", &what).await? else {
            return Ok(());
        };
        let ptr = get_s(&item, "pointer_pk", table)?.to_string();
        let object = payload_key(&item).map(str::to_string);
        let count = failcount_pk_of_pointer(&ptr).ok_or_else(|| {
            corrupt(table, &failure_pk(id), format!("`pointer_pk` {ptr} is not a failure pointer key"))
        })?;
        let items = vec![
            self.tx_delete(failure_pk(id), "failure", None, &what)?,
            self.tx_delete(
                ptr,
                "failure-entity",
                Some(("#f = :id", &[("#f", "failure_id")], values(vec![(":id", s(id))]))),
                &what,
            )?,
            self.tx_count(count, -1, &what)?,
        ];
        match self.transact(items, &what).await {
            Ok(()) => {}
            Err(TxError::Failed(e)) => return Err(e),
            // The pointer is gone or names another failure: delete this one alone.
            Err(TxError::Cancelled(_)) => {
                self.client
                    .delete_item()
                    .table_name(table)
                    .set_key(Some(key(failure_pk(id), "failure")))
                    .send()
                    .await
                    .map_err(|e| sdk_error("DynamoDB", "DeleteItem", table, &what, e))?;
            }
        }
        self.drop_payload(object.as_deref(), &what).await;
        Ok(())
    }

    async fn incr_counter(&self, integration: &IntegrationId, flow: Flow, counter: Counter, by: u64) -> PortResult<()> {
        let attr = counter_attr(counter);
        let what = format!("incr_counter {integration} {flow} {attr}");
        let table = &*self.state_table;
        self.client
            .update_item()
            .table_name(table)
            .set_key(Some(key(count_pk(integration, flow), "count")))
            .update_expression("ADD #c :by")
            .expression_attribute_names("#c", attr)
            .expression_attribute_values(":by", n(by))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "UpdateItem", table, &what, e))?;
        Ok(())
    }

    async fn counts(&self, integration: &IntegrationId, flow: Flow) -> PortResult<FlowCounts> {
        let what = format!("counts {integration} {flow}");
        let table = &*self.state_table;
        let Some(item) = self.get(table, count_pk(integration, flow), "count", &what).await? else {
            return Ok(FlowCounts::default());
        };
        flow_counts(&item, table)
    }

    /// Conditional put: free, expired (`expires_at_ms <= now`) or already ours. Uses
    /// this machine's clock, so `ttl` must exceed the clock skew between pollers.
    /// `expires_at` (whole seconds) lets the table's TTL remove stale leases.
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        owner: &str,
        ttl: Duration,
    ) -> PortResult<bool> {
        let what = format!("acquire_lease {integration} {flow}");
        let table = &*self.state_table;
        let now_ms = Utc::now().timestamp_millis();
        let expires_ms = now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let expires_s = ttl_seconds(expires_ms);
        let mut item = key(lease_pk(integration, flow), "lease");
        item.insert("owner".into(), s(owner));
        item.insert("expires_at".into(), n(expires_s));
        item.insert("expires_at_ms".into(), n(expires_ms));
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #exp <= :now OR #owner = :me")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#exp", "expires_at_ms")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(sdk_error("DynamoDB", "PutItem", table, &what, err)),
        }
    }

    /// No-op unless `owner` holds the lease.
    async fn release_lease(&self, integration: &IntegrationId, flow: Flow, owner: &str) -> PortResult<()> {
        let what = format!("release_lease {integration} {flow}");
        let table = &*self.state_table;
        let result = self
            .client
            .delete_item()
            .table_name(table)
            .set_key(Some(key(lease_pk(integration, flow), "lease")))
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(sdk_error("DynamoDB", "DeleteItem", table, &what, err)),
        }
    }

    async fn get_collab(&self, integration: &IntegrationId, left: &EntityId) -> PortResult<Option<(CollabState, u64)>> {
        self.collab_get(integration, left).await
    }

    async fn put_collab(
        &self,
        integration: &IntegrationId,
        left: &EntityId,
        state: &CollabState,
        expected_version: Option<u64>,
    ) -> PortResult<()> {
        self.collab_put(integration, left, state, expected_version).await
    }

    async fn add_pending(
        &self,
        integration: &IntegrationId,
        side: Side,
        awaited: &EntityId,
        waiting: &EntityId,
    ) -> PortResult<()> {
        self.pending_add(integration, side, awaited, waiting).await
    }

    async fn record_activity(&self, steps: &[Activity]) -> PortResult<()> {
        self.activity_record(steps).await
    }

    async fn entity_activity(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        entity: &EntityId,
        limit: usize,
    ) -> PortResult<Vec<Activity>> {
        self.activity_of_entity(integration, flow, entity, limit).await
    }

    async fn add_pace(&self, integration: &IntegrationId, flow: Flow, bucket: &PaceBucket) -> PortResult<()> {
        self.pace_add(integration, flow, bucket).await
    }

    async fn pace_since(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        since: DateTime<Utc>,
    ) -> PortResult<Vec<PaceBucket>> {
        self.pace_list(integration, flow, since).await
    }

    /// One `BatchGetItem` per 20 integrations for the watermarks, counters and link
    /// counts; the minute buckets one `Query` per direction, several at once.
    async fn overview(
        &self,
        integrations: &[IntegrationId],
        pace: Option<ferry_domain::PaceWindow>,
    ) -> PortResult<StateOverview> {
        self.overview_read(integrations, pace).await
    }

    async fn pending(&self, integration: &IntegrationId, side: Side, awaited: &EntityId) -> PortResult<Vec<EntityId>> {
        self.pending_list(integration, side, awaited).await
    }

    async fn remove_pending(
        &self,
        integration: &IntegrationId,
        side: Side,
        awaited: &EntityId,
        waiting: &EntityId,
    ) -> PortResult<()> {
        self.pending_remove(integration, side, awaited, waiting).await
    }

    async fn record_delivery(&self, hook: &str, id: &str, at: DateTime<Utc>, window: Duration) -> PortResult<bool> {
        self.hook_record_delivery(hook, id, at, window).await
    }

    async fn request_poll(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()> {
        self.hook_request_poll(integration, flow).await
    }

    async fn poll_requested(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool> {
        self.hook_poll_requested(integration, flow).await
    }

    async fn take_poll_request(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool> {
        self.hook_take_poll_request(integration, flow).await
    }

    async fn tally_hook(&self, hook: &str, outcome: &str, at: DateTime<Utc>) -> PortResult<()> {
        self.hook_tally(hook, outcome, at).await
    }

    async fn hook_tallies(&self, hook: &str) -> PortResult<Vec<ferry_domain::webhook::HookTally>> {
        self.hook_tally_list(hook).await
    }

    async fn hook_subscriptions(&self, integration: &IntegrationId) -> PortResult<Vec<HookSubscription>> {
        self.hook_subscription_list(integration).await
    }

    async fn put_hook_subscriptions(
        &self,
        integration: &IntegrationId,
        subscriptions: &[HookSubscription],
    ) -> PortResult<()> {
        self.hook_subscriptions_put(integration, subscriptions).await
    }

    async fn get_backfill(&self, integration: &IntegrationId) -> PortResult<Option<ferry_domain::BackfillRecord>> {
        self.backfill_get(integration).await
    }

    async fn put_backfill(&self, record: &ferry_domain::BackfillRecord) -> PortResult<()> {
        self.backfill_put(record).await
    }
}

/// The attribute of a fingerprint item that holds its create intent, for the condition of
/// [`StateStore::put_create_intent`] (the JSON in `doc` holds it too).
const CREATE_STARTED: &str = "cs";

/// A create intent as the `cs` attribute holds it: one fixed form, so equal instants
/// compare equal as strings.
fn intent_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// An entity's own fingerprint as its item: the JSON, and its create intent in `cs`.
fn fp_item(f: &Fingerprint, what: &str) -> PortResult<Item> {
    let mut item = DynamoStore::record(fp_pk(&f.integration, f.side, &f.entity), "fp", encode(f, what)?);
    if let Some(t) = f.create_started {
        item.insert(CREATE_STARTED.into(), s(intent_time(t)));
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_put_deletes_only_the_object_no_record_can_name() {
        let failed = || Err(TxError::Failed(PortError::store("timeout")));
        let cancelled = || Err(TxError::Cancelled(vec!["ConditionalCheckFailed".into()]));
        let (new, old) = (Some("failures/x/new.json"), Some("failures/x/old.json"));
        // (case, the put's result, object written, object replaced, object to delete)
        type Row<'a> = (&'a str, Result<(), TxError>, Option<&'a str>, Option<&'a str>, Option<Option<&'a str>>);
        let table: [Row; 7] = [
            ("written: the replaced object goes", Ok(()), new, old, Some(old)),
            ("written, nothing replaced", Ok(()), new, None, None),
            ("written over the same content", Ok(()), new, new, None),
            ("cancelled: the object just written goes", cancelled(), new, old, Some(new)),
            ("cancelled, inline record", cancelled(), None, old, None),
            ("outcome unknown: both stay", failed(), new, old, None),
            ("outcome unknown, nothing replaced: it stays", failed(), new, None, None),
        ];
        for (case, result, written, replaced, want) in table {
            let got = objects_after_put(&result, written, replaced).map(|(_, dropped)| dropped);
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn failure_sort_keys_order_like_their_instants() {
        let base = Utc.with_ymd_and_hms(2026, 3, 14, 9, 26, 53).single().expect("valid date");
        let times = [
            base,
            base + chrono::Duration::nanoseconds(1),
            base + chrono::Duration::milliseconds(5),
            base + chrono::Duration::seconds(61),
            base + chrono::Duration::days(400),
        ];
        let keys: Vec<String> = times.iter().map(sortable_time).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(keys.iter().all(|k| k.len() == keys[0].len()), "fixed width");
    }

    #[test]
    fn keys_put_the_free_form_entity_id_last() {
        let i = IntegrationId::parse("app-bugs").expect("valid id");
        let e = EntityId::new("a#b");
        assert_eq!(link_pk(&i, Side::Left, &e), "link#app-bugs#left#a#b");
        assert_eq!(pointer_pk(&i, Flow::RightToLeft, &e), "failure-entity#app-bugs#right_to_left#a#b");
        assert_eq!(wm_pk(&i, Flow::LeftToRight), "wm#app-bugs#left_to_right");
        let pointer = pointer_pk(&i, Flow::RightToLeft, &e);
        assert_eq!(failcount_pk_of_pointer(&pointer), Some(failcount_pk(&i, Flow::RightToLeft)));
        assert_eq!(failcount_pk_of_pointer("failure#x"), None, "not a pointer key");
        assert_eq!(pair_pk(&i, &e), "pair#app-bugs#a#b");
    }
}

//! `DynamoStore`: the item helpers and `ConfigStore`.

use super::error::{corrupt, sdk_error};
use super::payloads::PayloadStore;
use super::AwsNames;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use ferry_domain::ports::{ConfigStore, PortResult};
use ferry_domain::{ErrorCategory, IntegrationId, IntegrationRecord, PortError, SystemConfig, SystemId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The DynamoDB backend of [`ConfigStore`] and
/// [`StateStore`](ferry_domain::ports::StateStore). Cheap to clone.
///
/// Semantics match the SQLite backend (see `crate::sqlite`): `put_integration` stores the
/// record's own `version`; `put_watermark` owns the version (`expected + 1`);
/// `put_link` replaces links holding either entity; `put_failure` keeps an existing
/// failure's id and earlier `first_failed_at`; deletes are idempotent. Point reads and
/// base-table queries are strongly consistent; `list_failures` reads the `gsi1` index,
/// which DynamoDB keeps eventually consistent (a failure written a moment ago may be
/// missing from a list).
#[derive(Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) config_table: Arc<str>,
    pub(crate) state_table: Arc<str>,
    /// Where failure records too large for an item are kept (claim checks).
    pub(crate) payloads: Option<PayloadStore>,
    /// The rate-limit buckets as this process last wrote or saw them, by item key
    /// (`dynamo_rate_limit`); shared by clones.
    pub(crate) buckets: Arc<std::sync::Mutex<HashMap<String, super::dynamo_rate_limit::Seen>>>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("config_table", &self.config_table)
            .field("state_table", &self.state_table)
            .finish()
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The table's TTL attribute (`expires_at`, epoch seconds) for a deadline in epoch
/// milliseconds, rounded up: DynamoDB never removes an item before its deadline.
pub(crate) fn ttl_seconds(deadline_ms: i64) -> i64 {
    deadline_ms.saturating_add(999).div_euclid(1000)
}

pub(crate) fn key(pk: impl Into<String>, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub(crate) fn encode<T: Serialize>(value: &T, what: &str) -> PortResult<String> {
    serde_json::to_string(value)
        .map_err(|e| PortError::store(format!("{what}: cannot encode the record as JSON: {e}")).with_source(e))
}

pub(crate) fn get_s<'a>(item: &'a Item, attr: &str, table: &str) -> PortResult<&'a str> {
    match item.get(attr) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(corrupt(table, &item_key(item), format!("attribute `{attr}` is missing or not a string"))),
    }
}

pub(crate) fn get_u64(item: &Item, attr: &str, table: &str) -> PortResult<Option<u64>> {
    match item.get(attr) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v.parse::<u64>().map(Some).map_err(|_| {
            corrupt(table, &item_key(item), format!("attribute `{attr}` = {v} is not a whole number ≥ 0"))
        }),
        Some(_) => Err(corrupt(table, &item_key(item), format!("attribute `{attr}` is not a number"))),
    }
}

pub(crate) fn item_key(item: &Item) -> String {
    let part = |a: &str| match item.get(a) {
        Some(AttributeValue::S(v)) => v.as_str(),
        _ => "?",
    };
    format!("{}/{}", part("pk"), part("sk"))
}

/// The record an item holds as JSON text in `doc` (see [`DynamoStore::record`]).
pub(crate) fn doc<T: DeserializeOwned>(item: &Item, table: &str) -> PortResult<T> {
    let json = get_s(item, "doc", table)?;
    serde_json::from_str(json)
        .map_err(|e| corrupt(table, &item_key(item), format!("bad JSON in `doc`: {e}")).with_source(e))
}

/// The record an item holds as deflated JSON in `z` (see [`DynamoStore::record_deflated`]).
pub(crate) fn inflated<T: DeserializeOwned>(item: &Item, table: &str) -> PortResult<T> {
    use std::io::Read;
    let blob = match item.get("z") {
        Some(AttributeValue::B(blob)) => blob,
        Some(_) => return Err(corrupt(table, &item_key(item), "attribute `z` is not binary")),
        None => return Err(corrupt(table, &item_key(item), "attribute `z` is missing")),
    };
    let mut json = Vec::new();
    flate2::read::DeflateDecoder::new(blob.as_ref())
        .take(INFLATED_MAX)
        .read_to_end(&mut json)
        .map_err(|e| corrupt(table, &item_key(item), format!("attribute `z` does not inflate: {e}")))?;
    serde_json::from_slice(&json)
        .map_err(|e| corrupt(table, &item_key(item), format!("bad JSON in `z`: {e}")).with_source(e))
}

/// A deflated record inflates to at most this (a DynamoDB item stops at 400 KB).
const INFLATED_MAX: u64 = 8 << 20;

pub(crate) fn version_conflict(what: &str, key: &str, expected: Option<u64>, stored: Option<u64>) -> PortError {
    let show = |v: Option<u64>| match v {
        Some(v) => format!("version {v}"),
        None => "none".to_string(),
    };
    PortError::new(
        ErrorCategory::Conflict,
        format!("{what} {key} was changed concurrently: expected {}, stored {}", show(expected), show(stored)),
    )
}

/// Put `item` if the stored `version` equals `expected` (`None`: no item). On a failed
/// condition, the stored version (from `ALL_OLD`) goes into the `Conflict` message.
pub(crate) async fn put_versioned(
    client: &Client,
    table: &str,
    item: Item,
    expected: Option<u64>,
    what: &str,
    label: (&str, &str),
) -> PortResult<()> {
    let mut req = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    req = match expected {
        None => req.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", "pk"),
        Some(v) => req
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":expected", n(v)),
    };
    match req.send().await {
        Ok(_) => Ok(()),
        Err(err) => {
            if let Some(PutItemError::ConditionalCheckFailedException(cc)) = err.as_service_error() {
                let stored = cc.item().and_then(|old| get_u64(old, "version", table).ok().flatten());
                return Err(version_conflict(label.0, label.1, expected, stored));
            }
            Err(sdk_error("DynamoDB", "PutItem", table, what, err))
        }
    }
}

impl DynamoStore {
    pub fn new(client: Client, names: &AwsNames) -> Self {
        Self {
            client,
            config_table: Arc::from(names.config_table.as_str()),
            state_table: Arc::from(names.state_table.as_str()),
            payloads: None,
            buckets: Arc::default(),
        }
    }

    /// Keeps failure records over [`super::RECORD_INLINE_MAX`] in `payloads`. Without it
    /// such a record is put inline and DynamoDB rejects it when over its item limit.
    pub fn with_payloads(mut self, payloads: PayloadStore) -> Self {
        self.payloads = Some(payloads);
        self
    }

    /// Strongly consistent `GetItem`.
    pub(crate) async fn get(&self, table: &str, pk: String, sk: &str, what: &str) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "GetItem", table, what, e))?;
        Ok(out.item)
    }

    pub(crate) async fn put(&self, table: &str, item: Item, what: &str) -> PortResult<()> {
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "PutItem", table, what, e))?;
        Ok(())
    }

    /// Every item of the config table with sort key `sk`, across all scan pages.
    pub(crate) async fn scan_kind(&self, sk: &str, what: &str) -> PortResult<Vec<Item>> {
        let table = &*self.config_table;
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(table)
                .filter_expression("#sk = :sk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":sk", s(sk))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB", "Scan", table, what, e))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// A JSON record with its key attributes.
    pub(crate) fn record(pk: String, sk: &str, json: String) -> Item {
        let mut item = key(pk, sk);
        item.insert("doc".into(), s(json));
        item
    }

    /// A record whose JSON is stored deflated in `z`: for records written often whose
    /// JSON repeats names and values (a pair's fingerprints, a watermark's seen
    /// revisions), where every started KB is a billed write unit.
    pub(crate) fn record_deflated(pk: String, sk: &str, json: &str, what: &str) -> PortResult<Item> {
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        let bytes = z
            .write_all(json.as_bytes())
            .and_then(|_| z.finish())
            .map_err(|e| PortError::store(format!("{what}: cannot compress the record: {e}")))?;
        let mut item = key(pk, sk);
        item.insert("z".into(), AttributeValue::B(bytes.into()));
        Ok(item)
    }
}

#[async_trait]
impl ConfigStore for DynamoStore {
    async fn put_system(&self, system: &SystemConfig) -> PortResult<()> {
        let what = format!("put_system {}", system.id);
        let item = Self::record(format!("system#{}", system.id), "system", encode(system, &what)?);
        self.put(&self.config_table, item, &what).await
    }

    async fn get_system(&self, id: &SystemId) -> PortResult<Option<SystemConfig>> {
        let what = format!("get_system {id}");
        let item = self.get(&self.config_table, format!("system#{id}"), "system", &what).await?;
        item.map(|i| doc(&i, &self.config_table)).transpose()
    }

    /// Sorted by id.
    async fn list_systems(&self) -> PortResult<Vec<SystemConfig>> {
        let items = self.scan_kind("system", "list_systems").await?;
        let mut out: Vec<SystemConfig> = items.iter().map(|i| doc(i, &self.config_table)).collect::<PortResult<_>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn get_integration(&self, id: &IntegrationId) -> PortResult<Option<IntegrationRecord>> {
        let what = format!("get_integration {id}");
        let item = self.get(&self.config_table, format!("integration#{id}"), "integration", &what).await?;
        item.map(|i| doc(&i, &self.config_table)).transpose()
    }

    /// Sorted by id.
    async fn list_integrations(&self) -> PortResult<Vec<IntegrationRecord>> {
        let items = self.scan_kind("integration", "list_integrations").await?;
        let mut out: Vec<IntegrationRecord> =
            items.iter().map(|i| doc(i, &self.config_table)).collect::<PortResult<_>>()?;
        out.sort_by(|a, b| a.integration.id.cmp(&b.integration.id));
        Ok(out)
    }

    /// Stores the record as given (its `version` becomes the stored version) when the
    /// stored version equals `expected_version`.
    async fn put_integration(&self, record: &IntegrationRecord, expected_version: Option<u64>) -> PortResult<()> {
        let id = record.integration.id.to_string();
        let what = format!("put_integration {id}");
        let mut item = Self::record(format!("integration#{id}"), "integration", encode(record, &what)?);
        item.insert("version".into(), n(record.version));
        put_versioned(&self.client, &self.config_table, item, expected_version, &what, ("integration", &id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ttl_never_falls_before_its_deadline() {
        for (deadline_ms, want) in [(0, 0), (1, 1), (999, 1), (1000, 1), (1001, 2), (i64::MAX, i64::MAX / 1000)] {
            assert_eq!(ttl_seconds(deadline_ms), want, "{deadline_ms} ms");
        }
    }

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Rec {
        name: String,
        seen: Vec<u32>,
    }

    #[test]
    fn a_deflated_record_reads_back_and_is_smaller_than_its_json() {
        let rec = Rec { name: "wm".into(), seen: (0..500).collect() };
        let json = encode(&rec, "test").expect("json");
        let deflated = DynamoStore::record_deflated("wm#a".into(), "wm", &json, "test").expect("deflate");
        assert_eq!(inflated::<Rec>(&deflated, "t").expect("z"), rec);
        let Some(AttributeValue::B(z)) = deflated.get("z") else { panic!("z is binary: {deflated:?}") };
        assert!(z.as_ref().len() * 2 < json.len(), "deflated {} of {} bytes", z.as_ref().len(), json.len());
    }

    #[test]
    fn a_record_is_read_from_the_attribute_its_kind_is_written_to() {
        let json = encode(&Rec { name: "pair".into(), seen: vec![1] }, "test").expect("json");
        let plain = DynamoStore::record("link#a".into(), "link", json.clone());
        assert_eq!(doc::<Rec>(&plain, "t").expect("doc").name, "pair");
        let err = inflated::<Rec>(&plain, "StateTable").expect_err("a deflated kind has no `doc`");
        assert!(err.to_string().contains("link#a") && err.to_string().contains("`z` is missing"), "{err}");
        let deflated = DynamoStore::record_deflated("pair#a".into(), "pair", &json, "test").expect("deflate");
        let err = doc::<Rec>(&deflated, "StateTable").expect_err("a plain kind has no `z`");
        assert!(err.to_string().contains("pair#a") && err.to_string().contains("`doc`"), "{err}");
    }

    #[test]
    fn a_corrupt_z_is_reported_with_the_items_key() {
        let mut item = key("wm#a", "wm");
        item.insert("z".into(), AttributeValue::B(b"not deflate".to_vec().into()));
        let err = inflated::<Rec>(&item, "StateTable").expect_err("corrupt");
        assert!(err.to_string().contains("wm#a") && err.to_string().contains("`z`"), "{err}");
        item.insert("z".into(), AttributeValue::S("text".into()));
        let err = inflated::<Rec>(&item, "StateTable").expect_err("not binary");
        assert!(err.to_string().contains("not binary"), "{err}");
    }
}

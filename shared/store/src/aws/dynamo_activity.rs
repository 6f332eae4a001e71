//! Entities' steps through Ferry and each direction's minute buckets on the state table
//! (item layout in the module docs of `aws`). A step is one item in its entity's
//! timeline partition, written by `BatchWriteItem` (25 a request; billed per item); a
//! bucket is one item per minute, added to by `UpdateItem ADD`. The table's TTL removes
//! both after their retention.

use super::dynamo::{doc, encode, get_s, get_u64, key, n, s, DynamoStore, Item};
use super::error::corrupt;
use super::error::sdk_error;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{DateTime, Duration as TimeDelta, SecondsFormat, Utc};
use ferry_domain::activity::{ACTIVITY_RETENTION_DAYS, PACE_RETENTION_HOURS};
use ferry_domain::ports::PortResult;
use ferry_domain::{Activity, EntityId, Flow, IntegrationId, PaceBucket, PortError};
use std::time::Duration;

/// BatchWriteItem's limit.
const BATCH: usize = 25;

fn entity_pk(i: &IntegrationId, flow: Flow, e: &EntityId) -> String {
    format!("activity#{i}#{}#{e}", flow.as_str())
}
fn pace_pk(i: &IntegrationId, flow: Flow) -> String {
    format!("pace#{i}#{}", flow.as_str())
}
fn minute_sk(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
/// The step's time (fixed width, sorts like the instant), then a random suffix: two
/// steps of one instant are two items.
fn step_sk(at: &DateTime<Utc>) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{}#{}", at.to_rfc3339_opts(SecondsFormat::Nanos, true), &suffix[..12])
}

impl DynamoStore {
    pub(super) async fn activity_record(&self, steps: &[Activity]) -> PortResult<()> {
        let what = format!("record_activity ({} steps)", steps.len());
        let table = &*self.state_table;
        let expires = (Utc::now() + TimeDelta::days(ACTIVITY_RETENTION_DAYS)).timestamp();
        let mut requests = Vec::with_capacity(steps.len());
        for step in steps {
            let item: Item = [
                ("pk".to_string(), s(entity_pk(&step.integration, step.flow, &step.entity))),
                ("sk".to_string(), s(step_sk(&step.at))),
                ("doc".to_string(), s(encode(step, &what)?)),
                ("expires_at".to_string(), n(expires)),
            ]
            .into();
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| PortError::store(format!("{what}: {e}")))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        for chunk in requests.chunks(BATCH) {
            let mut pending = chunk.to_vec();
            for round in 0u32.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(|e| sdk_error("DynamoDB", "BatchWriteItem", table, &what, e))?;
                pending = out.unprocessed_items.and_then(|mut m| m.remove(table)).unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if round >= 8 {
                    return Err(PortError::store(format!("{what}: steps still unprocessed after {round} rounds")));
                }
                tokio::time::sleep(Duration::from_millis(50 << round)).await;
            }
        }
        Ok(())
    }

    pub(super) async fn activity_of_entity(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        entity: &EntityId,
        limit: usize,
    ) -> PortResult<Vec<Activity>> {
        let what = format!("entity_activity {integration} {flow} {entity}");
        let pk = entity_pk(integration, flow, entity);
        let mut out = self.activity_query(&pk, limit, &what).await?;
        out.reverse();
        Ok(out)
    }

    pub(super) async fn pace_add(&self, integration: &IntegrationId, flow: Flow, b: &PaceBucket) -> PortResult<()> {
        let what = format!("add_pace {integration} {flow}");
        let table = &*self.state_table;
        let expires = (Utc::now() + TimeDelta::hours(PACE_RETENTION_HOURS)).timestamp();
        self.client
            .update_item()
            .table_name(table)
            .set_key(Some(key(pace_pk(integration, flow), &minute_sk(&b.minute))))
            .update_expression("ADD #r :r, #w :w, #s :s SET #e = :e")
            .expression_attribute_names("#r", "read")
            .expression_attribute_names("#w", "written")
            .expression_attribute_names("#s", "settled")
            .expression_attribute_names("#e", "expires_at")
            .expression_attribute_values(":r", n(b.read))
            .expression_attribute_values(":w", n(b.written))
            .expression_attribute_values(":s", n(b.settled))
            .expression_attribute_values(":e", n(expires))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "UpdateItem", table, &what, e))?;
        Ok(())
    }

    pub(super) async fn pace_list(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        since: DateTime<Utc>,
    ) -> PortResult<Vec<PaceBucket>> {
        let what = format!("pace_since {integration} {flow}");
        let table = &*self.state_table;
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(table)
                .key_condition_expression("#pk = :pk AND #sk >= :from")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":pk", s(pace_pk(integration, flow)))
                .expression_attribute_values(":from", s(minute_sk(&since)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB", "Query", table, &what, e))?;
            for item in page.items.unwrap_or_default() {
                let sk = get_s(&item, "sk", table)?;
                let minute = DateTime::parse_from_rfc3339(sk)
                    .map_err(|e| corrupt(table, sk, format!("the minute is not a time: {e}")))?
                    .with_timezone(&Utc);
                let count = |a: &str| get_u64(&item, a, table).map(|v| v.unwrap_or(0));
                out.push(PaceBucket {
                    minute,
                    read: count("read")?,
                    written: count("written")?,
                    settled: count("settled")?,
                });
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// The newest `limit` steps of a timeline partition, newest first.
    async fn activity_query(&self, pk: &str, limit: usize, what: &str) -> PortResult<Vec<Activity>> {
        let table = &*self.state_table;
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let left = limit.saturating_sub(out.len());
            if left == 0 {
                return Ok(out);
            }
            let page = self
                .client
                .query()
                .table_name(table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(pk))
                .scan_index_forward(false)
                .limit(i32::try_from(left).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB", "Query", table, what, e))?;
            for item in page.items.unwrap_or_default() {
                out.push(doc(&item, table)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }
}

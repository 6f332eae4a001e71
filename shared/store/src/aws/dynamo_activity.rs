//! Entities' steps through Ferry on the state table (item layout in the module docs of
//! `aws`): each step is two items, one in its entity's timeline partition and one in
//! its direction's, written by `BatchWriteItem` (25 items a request) and removed by the
//! table's TTL after the retention.

use super::dynamo::{doc, encode, n, s, DynamoStore, Item};
use super::error::sdk_error;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{DateTime, Duration as TimeDelta, SecondsFormat, Utc};
use ferry_domain::activity::ACTIVITY_RETENTION_DAYS;
use ferry_domain::ports::PortResult;
use ferry_domain::{Activity, EntityId, Flow, IntegrationId, PortError};
use std::time::Duration;

/// BatchWriteItem's limit.
const BATCH: usize = 25;

fn entity_pk(i: &IntegrationId, flow: Flow, e: &EntityId) -> String {
    format!("activity#{i}#{}#{e}", flow.as_str())
}
fn flow_pk(i: &IntegrationId, flow: Flow) -> String {
    format!("flow-activity#{i}#{}", flow.as_str())
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
        let mut requests = Vec::with_capacity(steps.len() * 2);
        for step in steps {
            let body = encode(step, &what)?;
            let sk = step_sk(&step.at);
            for pk in [entity_pk(&step.integration, step.flow, &step.entity), flow_pk(&step.integration, step.flow)] {
                let item: Item = [
                    ("pk".to_string(), s(pk)),
                    ("sk".to_string(), s(sk.clone())),
                    ("doc".to_string(), s(body.clone())),
                    ("expires_at".to_string(), n(expires)),
                ]
                .into();
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| PortError::store(format!("{what}: {e}")))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
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
        let mut out = self.activity_query(&pk, None, Some(limit), &what).await?;
        out.reverse();
        Ok(out)
    }

    pub(super) async fn activity_of_flow(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        since: DateTime<Utc>,
    ) -> PortResult<Vec<Activity>> {
        let what = format!("flow_activity {integration} {flow}");
        let from = since.to_rfc3339_opts(SecondsFormat::Nanos, true);
        self.activity_query(&flow_pk(integration, flow), Some(from), None, &what).await
    }

    /// The steps of a partition: with `from`, ascending from that sort key; with
    /// `newest`, that many, descending.
    async fn activity_query(
        &self,
        pk: &str,
        from: Option<String>,
        newest: Option<usize>,
        what: &str,
    ) -> PortResult<Vec<Activity>> {
        let table = &*self.state_table;
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(table)
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(pk));
            q = match &from {
                Some(f) => q
                    .key_condition_expression("#pk = :pk AND #sk >= :from")
                    .expression_attribute_names("#sk", "sk")
                    .expression_attribute_values(":from", s(f.clone())),
                None => q.key_condition_expression("#pk = :pk"),
            };
            if let Some(limit) = newest {
                let left = limit.saturating_sub(out.len());
                if left == 0 {
                    return Ok(out);
                }
                q = q.scan_index_forward(false).limit(i32::try_from(left).unwrap_or(i32::MAX));
            }
            let page = q
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

//! Webhook bookkeeping on the state table (item layout in the module docs of `aws`):
//! delivery ids seen (replay defence) and poll requests.

use super::dynamo::{key, n, ttl_seconds, DynamoStore};
use super::error::sdk_error;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::{Flow, IntegrationId};
use std::time::Duration;

fn delivery_pk(hook: &str, id: &str) -> String {
    format!("hookdelivery#{hook}#{id}")
}
fn poll_request_pk(i: &IntegrationId, flow: Flow) -> String {
    format!("pollrequest#{i}#{}", flow.as_str())
}
const DELIVERY_SK: &str = "delivery";
const POLL_REQUEST_SK: &str = "pollrequest";

impl DynamoStore {
    /// A conditional put: absent, or recorded at or before `at - window`. `expires_at`
    /// lets the table's TTL remove the record once the window is over.
    pub(super) async fn hook_record_delivery(
        &self,
        hook: &str,
        id: &str,
        at: DateTime<Utc>,
        window: Duration,
    ) -> PortResult<bool> {
        let what = format!("record_delivery {hook} {id}");
        let table = &*self.state_table;
        let at_ms = at.timestamp_millis();
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let expires_s = ttl_seconds(at_ms.saturating_add(window_ms));
        let mut item = key(delivery_pk(hook, id), DELIVERY_SK);
        item.insert("seen_at_ms".into(), n(at_ms));
        item.insert("expires_at".into(), n(expires_s));
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #seen <= :cutoff")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#seen", "seen_at_ms")
            .expression_attribute_values(":cutoff", n(at_ms.saturating_sub(window_ms)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(sdk_error("DynamoDB", "PutItem", table, &what, err)),
        }
    }

    pub(super) async fn hook_request_poll(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()> {
        let what = format!("request_poll {integration} {flow}");
        self.put(&self.state_table, key(poll_request_pk(integration, flow), POLL_REQUEST_SK), &what).await
    }

    pub(super) async fn hook_poll_requested(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool> {
        let what = format!("poll_requested {integration} {flow}");
        let found = self.get(&self.state_table, poll_request_pk(integration, flow), POLL_REQUEST_SK, &what).await?;
        Ok(found.is_some())
    }

    /// One delete that answers the item it removed: two takers cannot both see it.
    pub(super) async fn hook_take_poll_request(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool> {
        let what = format!("take_poll_request {integration} {flow}");
        let table = &*self.state_table;
        let out = self
            .client
            .delete_item()
            .table_name(table)
            .set_key(Some(key(poll_request_pk(integration, flow), POLL_REQUEST_SK)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "DeleteItem", table, &what, e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}

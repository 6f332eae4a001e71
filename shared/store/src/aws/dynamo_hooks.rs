//! Webhook bookkeeping on the state table (item layout in the module docs of `aws`):
//! delivery ids seen (replay defence), poll requests, and each hook's deliveries
//! counted per outcome.

use super::dynamo::{doc, encode, get_s, get_u64, key, n, s, ttl_seconds, DynamoStore, Item};
use super::error::sdk_error;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, TimeZone, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::webhook::{HookSubscription, HookTally};
use ferry_domain::{Flow, IntegrationId};
use std::time::Duration;

fn delivery_pk(hook: &str, id: &str) -> String {
    format!("hookdelivery#{hook}#{id}")
}
fn poll_request_pk(i: &IntegrationId, flow: Flow) -> String {
    format!("pollrequest#{i}#{}", flow.as_str())
}
fn tally_pk(hook: &str) -> String {
    format!("hooktally#{hook}")
}
fn subscriptions_pk(i: &IntegrationId) -> String {
    format!("hooksubs#{i}")
}
const DELIVERY_SK: &str = "delivery";
const SUBSCRIPTIONS_SK: &str = "subscriptions";
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

    /// One `UpdateItem`: the count is an `ADD`; the last time is set unless a later one
    /// is already there (the condition's failure is a lost race with a later delivery,
    /// whose count then still needs adding).
    pub(super) async fn hook_tally(&self, hook: &str, outcome: &str, at: DateTime<Utc>) -> PortResult<()> {
        let what = format!("tally_hook {hook} {outcome}");
        let table = &*self.state_table;
        let at_ms = at.timestamp_millis();
        let update = |expression: &'static str, conditional: bool| {
            let mut u = self
                .client
                .update_item()
                .table_name(table)
                .set_key(Some(key(tally_pk(hook), outcome)))
                .update_expression(expression)
                .expression_attribute_names("#c", "count")
                .expression_attribute_values(":one", n(1));
            if conditional {
                u = u
                    .condition_expression("attribute_not_exists(#l) OR #l < :at")
                    .expression_attribute_names("#l", "last_at_ms")
                    .expression_attribute_values(":at", n(at_ms));
            }
            u.send()
        };
        match update("ADD #c :one SET #l = :at", true).await {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                update("ADD #c :one", false)
                    .await
                    .map(|_| ())
                    .map_err(|e| sdk_error("DynamoDB", "UpdateItem", table, &what, e))
            }
            Err(err) => Err(sdk_error("DynamoDB", "UpdateItem", table, &what, err)),
        }
    }

    pub(super) async fn hook_tally_list(&self, hook: &str) -> PortResult<Vec<HookTally>> {
        let what = format!("hook_tallies {hook}");
        let table = &*self.state_table;
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(tally_pk(hook)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB", "Query", table, &what, e))?;
            for item in page.items.unwrap_or_default() {
                let last_ms = get_u64(&item, "last_at_ms", table)?.unwrap_or(0);
                out.push(HookTally {
                    outcome: get_s(&item, "sk", table)?.to_string(),
                    count: get_u64(&item, "count", table)?.unwrap_or(0),
                    last_at: Utc.timestamp_millis_opt(last_ms as i64).single().unwrap_or_default(),
                });
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    pub(super) async fn hook_subscription_list(
        &self,
        integration: &IntegrationId,
    ) -> PortResult<Vec<HookSubscription>> {
        let what = format!("hook_subscriptions {integration}");
        match self.get(&self.state_table, subscriptions_pk(integration), SUBSCRIPTIONS_SK, &what).await? {
            Some(item) => doc(&item, &self.state_table),
            None => Ok(Vec::new()),
        }
    }

    pub(super) async fn hook_subscriptions_put(
        &self,
        integration: &IntegrationId,
        subscriptions: &[HookSubscription],
    ) -> PortResult<()> {
        let what = format!("put_hook_subscriptions {integration}");
        let table = &*self.state_table;
        if subscriptions.is_empty() {
            self.client
                .delete_item()
                .table_name(table)
                .set_key(Some(key(subscriptions_pk(integration), SUBSCRIPTIONS_SK)))
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB", "DeleteItem", table, &what, e))?;
            return Ok(());
        }
        let item = Self::record(subscriptions_pk(integration), SUBSCRIPTIONS_SK, encode(&subscriptions, &what)?);
        self.put(table, item, &what).await
    }
}

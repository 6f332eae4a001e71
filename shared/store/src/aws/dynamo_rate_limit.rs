//! The rate-limit governor's buckets on the state table (item layout in the module docs
//! of `aws`): `ratelimit#{system}` / `bucket` with `tokens`, `at_ms` and `version`.
//!
//! A take is computed here ([`rate_limit::take`]) and written with a condition on the
//! version it was computed from. The store keeps the last bucket it wrote or saw per
//! system, so a process that is the only taker does it in one `PutItem`; when another
//! process wrote in between, the failed condition answers the stored item and the take
//! is computed again from it. A stale bucket can only promise more than the stored one
//! (other processes only take tokens and lengthen pauses), so a wait computed from it is
//! never longer than the true one.

use super::dynamo::{item_key, key, n, DynamoStore, Item};
use super::error::{corrupt, sdk_error};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use ferry_domain::ports::{PortResult, RateLimitStore};
use ferry_domain::rate_limit::{self, Bucket, Grant, RateLimit, Take};
use ferry_domain::{ErrorCategory, PortError, SystemId};

const SK: &str = "bucket";
/// Takes computed again after a lost race before giving up with `Conflict`.
const ATTEMPTS: usize = 8;

fn bucket_pk(system: &SystemId) -> String {
    format!("ratelimit#{system}")
}

/// A bucket as last seen in the table, and its version (`None`: no item).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Seen {
    bucket: Option<Bucket>,
    version: Option<u64>,
}

/// Tokens are stored to the microtoken: a float's last digits would only make the item
/// longer (DynamoDB bills by size).
fn rounded(tokens: f64) -> f64 {
    (tokens * 1e6).round() / 1e6
}

fn number<T: std::str::FromStr>(item: &Item, attr: &str, table: &str) -> PortResult<T> {
    match item.get(attr) {
        Some(AttributeValue::N(v)) => v
            .parse::<T>()
            .map_err(|_| corrupt(table, &item_key(item), format!("attribute `{attr}` = {v} is not a number"))),
        _ => Err(corrupt(table, &item_key(item), format!("attribute `{attr}` is missing or not a number"))),
    }
}

fn seen(item: Option<&Item>, table: &str) -> PortResult<Seen> {
    let Some(item) = item.filter(|i| !i.is_empty()) else { return Ok(Seen { bucket: None, version: None }) };
    let bucket = Bucket { tokens: number(item, "tokens", table)?, at_ms: number(item, "at_ms", table)? };
    Ok(Seen { bucket: Some(bucket), version: Some(number(item, "version", table)?) })
}

impl DynamoStore {
    fn remembered(&self, pk: &str) -> Option<Seen> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).get(pk).copied()
    }

    fn remember(&self, pk: &str, seen: Option<Seen>) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        match seen {
            Some(s) => buckets.insert(pk.to_string(), s),
            None => buckets.remove(pk),
        };
    }
}

#[async_trait]
impl RateLimitStore for DynamoStore {
    async fn take_tokens(
        &self,
        system: &SystemId,
        limit: &RateLimit,
        want: u32,
        now: DateTime<Utc>,
    ) -> PortResult<Grant> {
        let what = format!("take_tokens {system}");
        let table = &*self.state_table;
        let pk = bucket_pk(system);
        let mut known = match self.remembered(&pk) {
            Some(s) => s,
            None => seen(self.get(table, pk.clone(), SK, &what).await?.as_ref(), table)?,
        };
        for _ in 0..ATTEMPTS {
            let (tokens, bucket) = match rate_limit::take(known.bucket, limit, want, now.timestamp_millis()) {
                Take::Wait(d) => {
                    self.remember(&pk, Some(known));
                    return Ok(Grant::Wait(d));
                }
                Take::Granted { tokens, bucket } => (tokens, Bucket { tokens: rounded(bucket.tokens), ..bucket }),
            };
            let version = known.version.map_or(1, |v| v + 1);
            let mut item = key(pk.clone(), SK);
            item.insert("tokens".into(), n(bucket.tokens));
            item.insert("at_ms".into(), n(bucket.at_ms));
            item.insert("version".into(), n(version));
            let put = self
                .client
                .put_item()
                .table_name(table)
                .set_item(Some(item))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            let put = match known.version {
                None => put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", "pk"),
                Some(v) => put
                    .condition_expression("#v = :v")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(":v", n(v)),
            };
            match put.send().await {
                Ok(_) => {
                    self.remember(&pk, Some(Seen { bucket: Some(bucket), version: Some(version) }));
                    return Ok(Grant::Tokens(tokens));
                }
                Err(err) => match err.as_service_error() {
                    // Another process wrote first: the answer holds what it wrote.
                    Some(PutItemError::ConditionalCheckFailedException(cc)) => known = seen(cc.item(), table)?,
                    _ => {
                        self.remember(&pk, None);
                        return Err(sdk_error("DynamoDB", "PutItem", table, &what, err));
                    }
                },
            }
        }
        self.remember(&pk, None);
        Err(PortError::new(
            ErrorCategory::Conflict,
            format!("{what}: the bucket changed under {ATTEMPTS} takes in a row; try again"),
        ))
    }

    /// One `UpdateItem`, unless the stored pause reaches as far already.
    async fn pause_tokens(&self, system: &SystemId, until: DateTime<Utc>) -> PortResult<()> {
        let what = format!("pause_tokens {system}");
        let table = &*self.state_table;
        let pk = bucket_pk(system);
        let until_ms = until.timestamp_millis();
        let result = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key(pk.clone(), SK)))
            .update_expression("SET #t = :zero, #at = :until ADD #v :one")
            .condition_expression("attribute_not_exists(#at) OR #at < :until")
            .expression_attribute_names("#t", "tokens")
            .expression_attribute_names("#at", "at_ms")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        // The next take reads the item again (its version moved either way).
        self.remember(&pk, None);
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(sdk_error("DynamoDB", "UpdateItem", table, &what, err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_bucket_reads_back_and_a_corrupt_one_names_its_key() {
        let mut item = key("ratelimit#jira", SK);
        item.insert("tokens".into(), n(rounded(2.0 / 3.0)));
        item.insert("at_ms".into(), n(1_700_000_000_123i64));
        item.insert("version".into(), n(7));
        let got = seen(Some(&item), "StateTable").expect("readable");
        assert_eq!(got, Seen { bucket: Some(Bucket { tokens: 0.666667, at_ms: 1_700_000_000_123 }), version: Some(7) });
        assert_eq!(seen(None, "StateTable").expect("none"), Seen { bucket: None, version: None });
        item.insert("at_ms".into(), AttributeValue::S("soon".into()));
        let err = seen(Some(&item), "StateTable").expect_err("corrupt");
        assert!(err.to_string().contains("ratelimit#jira") && err.to_string().contains("at_ms"), "{err}");
    }
}

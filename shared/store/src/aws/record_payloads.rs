//! State records too large for a DynamoDB item (400 KB): a record whose JSON is over
//! [`RECORD_INLINE_MAX`] is kept as an object in the payload bucket, and its item names
//! the object in `s3` instead of holding `doc`. Object keys name their content
//! (`{prefix}/{sha256}.json`), so a put of the same record twice is one object; the
//! writer deletes the object of the record it replaced, and the one it wrote when its
//! write did not happen.

use super::dynamo::{doc, item_key, key, s, DynamoStore, Item};
use super::error::corrupt;
use super::payloads::{ClaimCheck, RECORD_INLINE_MAX};
use aws_sdk_dynamodb::types::AttributeValue;
use ferry_domain::ports::PortResult;
use ferry_domain::{ErrorCategory, PortError};
use serde::de::DeserializeOwned;
use tracing::warn;

/// The payload object an item names instead of holding its `doc`.
pub(super) fn payload_key(item: &Item) -> Option<&str> {
    match item.get("s3") {
        Some(AttributeValue::S(k)) => Some(k.as_str()),
        _ => None,
    }
}

impl DynamoStore {
    /// The item of the record `json` under (`pk`, `sk`), and the payload object (under
    /// `prefix`) holding the JSON when that is over [`RECORD_INLINE_MAX`] and a payload
    /// bucket is configured. Without one such a record is put inline, and DynamoDB
    /// refuses it when it is over its item limit.
    pub(super) async fn record_item(
        &self,
        (pk, sk): (String, &str),
        json: String,
        prefix: &str,
        what: &str,
    ) -> PortResult<(Item, Option<String>)> {
        match &self.payloads {
            Some(p) if json.len() > RECORD_INLINE_MAX => {
                let check = p.put(prefix, json.as_bytes(), what).await?;
                let mut item = key(pk, sk);
                item.insert("s3".into(), s(check.key.clone()));
                Ok((item, Some(check.key)))
            }
            _ => Ok((Self::record(pk, sk, json), None)),
        }
    }

    /// The record of an item: its `doc`, or the payload object its `s3` names.
    pub(super) async fn record_of<T: DeserializeOwned>(&self, item: &Item, what: &str) -> PortResult<T> {
        let table = &*self.state_table;
        let Some(object) = payload_key(item) else {
            return doc(item, table);
        };
        let Some(p) = &self.payloads else {
            return Err(PortError::new(
                ErrorCategory::Config,
                format!("{what}: the record is kept in the payload bucket ({object}) and none is configured"),
            ));
        };
        let check = ClaimCheck { bucket: p.bucket().to_string(), key: object.to_string(), bytes: 0 };
        let bytes = p.get(&check, what).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(table, &item_key(item), format!("bad JSON in object {object}: {e}")))
    }

    /// Deletes a record's payload object, if any. Best effort: an object left behind
    /// costs storage, never correctness (no record names it).
    pub(super) async fn drop_payload(&self, object: Option<&str>, what: &str) {
        if let (Some(p), Some(object)) = (&self.payloads, object) {
            if let Err(e) = p.delete(object, what).await {
                warn!(object, "deleting a record's payload object failed: {e}");
            }
        }
    }
}

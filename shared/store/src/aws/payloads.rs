//! Claim checks: a queue message body or a failure record too large for SQS (256 KiB a
//! message) or a DynamoDB item (400 KB) is kept as an object in the payload bucket (S3),
//! and the message or item carries its key instead.
//!
//! Keys name their content: `{prefix}/{sha256 of the bytes}.json`. The same payload put
//! twice (a resend, a retried put) is one object, so a put is idempotent, and a fetched
//! payload is checked against its key. Message payloads (`messages/…`) expire through
//! the bucket's lifecycle rule (template.yaml), since Lambda deletes consumed messages
//! itself and never tells the adapter; record payloads (`failures/…`, `collab/…`) live
//! as long as their record and are deleted with it (see `record_payloads`).

use super::error::s3_error;
use super::s3::{hex, S3Client};
use ferry_domain::ports::PortResult;
use ferry_domain::{ErrorCategory, PortError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A message body longer than this goes to the payload bucket. SQS takes 256 KiB per
/// message and per batch call; the rest is room for the claim checks of a batch.
pub const MESSAGE_INLINE_MAX: usize = 192 * 1024;
/// A state record (a failure, a collaboration record) whose JSON is longer than this
/// goes to the payload bucket: a DynamoDB item takes 400 KB, attribute names and the
/// index keys included.
pub const RECORD_INLINE_MAX: usize = 300 * 1024;
/// A claim-checked payload is at most this long when fetched (Ferry's own payloads are
/// a few MB at most; this stops a wrong key from filling the memory).
const FETCH_MAX: u64 = 64 << 20;

/// The payload bucket (`FERRY_PAYLOAD_BUCKET`). Cheap to clone.
#[derive(Clone)]
pub struct PayloadStore {
    client: S3Client,
    bucket: Arc<str>,
}

impl std::fmt::Debug for PayloadStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadStore").field("bucket", &self.bucket).finish()
    }
}

/// What a message carries instead of a body kept in the payload bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimCheck {
    pub bucket: String,
    pub key: String,
    pub bytes: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    claim_check: ClaimCheck,
}

/// The key of `bytes` under `prefix`.
pub(crate) fn content_key(prefix: &str, bytes: &[u8]) -> String {
    format!("{prefix}/{}.json", hex(&Sha256::digest(bytes)))
}

/// The body of a message that carries `check`.
pub(crate) fn envelope(check: ClaimCheck) -> String {
    // A struct of strings and a number always serialises.
    serde_json::to_string(&Envelope { claim_check: check }).unwrap_or_default()
}

/// The claim check a body carries, if it is one. Ferry's own bodies are JSON objects
/// whose first key is never `claim_check`, so any other body is a plain one.
pub(crate) fn claim_check_of(body: &str) -> PortResult<Option<ClaimCheck>> {
    if !body.trim_start().starts_with("{\"claim_check\"") {
        return Ok(None);
    }
    serde_json::from_str::<Envelope>(body)
        .map(|e| Some(e.claim_check))
        .map_err(|e| PortError::new(ErrorCategory::BadMessage, format!("a message's claim check is not readable: {e}")))
}

impl PayloadStore {
    pub fn new(client: S3Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: Arc::from(bucket.into().as_str()) }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Stores `bytes` under its content key in `prefix` and returns the claim check.
    pub(crate) async fn put(&self, prefix: &str, bytes: &[u8], what: &str) -> PortResult<ClaimCheck> {
        let key = content_key(prefix, bytes);
        self.client
            .put_object(&self.bucket, &key, bytes, "application/json")
            .await
            .map_err(|e| s3_error("PutObject", &self.bucket, &key, what, e))?;
        Ok(ClaimCheck { bucket: self.bucket.to_string(), key, bytes: bytes.len() })
    }

    /// The payload a claim check names, checked against its key.
    pub(crate) async fn get(&self, check: &ClaimCheck, what: &str) -> PortResult<Vec<u8>> {
        if check.bucket != *self.bucket {
            return Err(PortError::new(
                ErrorCategory::BadMessage,
                format!("{what}: the claim check names bucket {:?}, not Ferry's {:?}", check.bucket, self.bucket),
            ));
        }
        let bytes = self
            .client
            .get_object(&self.bucket, &check.key, FETCH_MAX)
            .await
            .map_err(|e| s3_error("GetObject", &self.bucket, &check.key, what, e))?;
        let expected = check.key.rsplit('/').next().and_then(|name| name.strip_suffix(".json"));
        if expected != Some(hex(&Sha256::digest(&bytes)).as_str()) {
            return Err(PortError::new(
                ErrorCategory::BadMessage,
                format!("{what}: object {} does not hold the payload its key names", check.key),
            ));
        }
        Ok(bytes)
    }

    /// Deletes an object (S3 answers success for an absent one).
    pub(crate) async fn delete(&self, key: &str, what: &str) -> PortResult<()> {
        self.client
            .delete_object(&self.bucket, key)
            .await
            .map_err(|e| s3_error("DeleteObject", &self.bucket, key, what, e))?;
        Ok(())
    }

    /// The message body to send for `body`: the body itself when short enough, else a
    /// claim check to it, stored under `messages/{queue}`.
    pub(crate) async fn checked_body(&self, queue: &str, body: &str, what: &str) -> PortResult<String> {
        if body.len() <= MESSAGE_INLINE_MAX {
            return Ok(body.to_string());
        }
        let check = self.put(&format!("messages/{queue}"), body.as_bytes(), what).await?;
        Ok(envelope(check))
    }

    /// The body a delivered message stands for: its own, or the payload its claim check names.
    pub(crate) async fn opened_body(&self, body: &str, what: &str) -> PortResult<String> {
        let Some(check) = claim_check_of(body)? else {
            return Ok(body.to_string());
        };
        let bytes = self.get(&check, what).await?;
        String::from_utf8(bytes).map_err(|_| {
            PortError::new(ErrorCategory::BadMessage, format!("{what}: object {} is not UTF-8 text", check.key))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_check_round_trips_through_its_envelope_and_plain_bodies_are_not_one() {
        let check = ClaimCheck { bucket: "b".into(), key: content_key("messages/changes", b"x"), bytes: 1 };
        let body = envelope(check.clone());
        assert_eq!(claim_check_of(&body).expect("readable"), Some(check));
        for plain in [r#"{"schema":1,"integration":"a"}"#, "not json", "", r#"{"claim_checks":1}"#] {
            assert_eq!(claim_check_of(plain).expect("plain"), None, "{plain}");
        }
        let err = claim_check_of(r#"{"claim_check":{"bucket":"b"}}"#).expect_err("incomplete");
        assert_eq!(err.category, ErrorCategory::BadMessage);
    }

    #[test]
    fn keys_name_their_content() {
        let a = content_key("failures/f1", b"payload");
        assert_eq!(a, content_key("failures/f1", b"payload"));
        assert_ne!(a, content_key("failures/f1", b"payload2"));
        assert!(a.starts_with("failures/f1/") && a.ends_with(".json") && a.len() == "failures/f1/".len() + 64 + 5);
    }
}

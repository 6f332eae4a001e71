//! The AWS backend: DynamoDB ([`DynamoStore`]: `ConfigStore` + `StateStore`), SQS FIFO
//! ([`SqsQueue`]: `Queue`), EventBridge Scheduler ([`SchedulerControl`]:
//! `ScheduleControl`) and the S3 payload bucket of both ([`PayloadStore`]: claim checks).
//! S3 and the secret services (SSM, Secrets Manager: [`json`]) are reached through
//! Ferry's own small SigV4 clients, which share one transport (`signed`).
//!
//! Resources are never created here: they come from `template.yaml` and their physical
//! names reach the code through the `FERRY_*` variables read by [`AwsNames::from_env`].
//! The SDK clients are built by the caller (`ferry_runtime::aws::load_sdk_config`), so an
//! emulator is selected only through the standard `AWS_ENDPOINT_URL`.
//!
//! Item layout (StateTable, every item keyed by `pk` + `sk`; a record is JSON text in
//! `doc`, or that JSON deflated in `z` (B) where noted):
//! - watermark `wm#{integration}#{flow}` / `wm`, in `z` (it holds the polls' seen
//!   revisions), `version` N (conditional puts)
//! - link: one item per side, `link#{integration}#{side}#{entity}` / `link`, both written
//!   in one `TransactWriteItems` with a shared `token`; count in `linkcount#{integration}`
//!   / `linkcount` (`n`, ADD)
//! - fingerprint `fp#{integration}#{side}#{entity}` / `fp`: an unlinked entity's (a
//!   create's intent); a linked pair's two are one item `pair#{integration}#{left entity}`
//!   / `pair`, in `z`, its version in `v` (conditional puts), written by each write step
//! - failure `failure#{id}` / `failure` with `gsi1pk = failures#{integration}`,
//!   `gsi1sk = {first_failed_at RFC 3339 nanos}#{id}`; pointer
//!   `failure-entity#{integration}#{flow}#{entity}` / `failure-entity` (`failure_id`);
//!   open pointers per flow in `failcount#{integration}#{flow}` / `failcount` (`n`, ADD,
//!   inside the failure transactions; no item: 0)
//! - counter `count#{integration}#{flow}` / `count` (`synced`, `skipped`, `failed`, ADD)
//! - lease `lease#{integration}#{flow}` / `lease` (`owner`, `expires_at` epoch seconds
//!   for the table's TTL, `expires_at_ms` for the lease check)
//! - collaboration record of a linked pair `collab#{integration}#{left entity}` /
//!   `collab` (`doc`, `version` N, conditional puts)
//! - pending relation `pending#{integration}#{side}#{awaited entity}` /
//!   `pending#{waiting entity}` (no attributes; listed by a `Query` of the partition)
//! - webhook delivery seen `hookdelivery#{system}#{delivery id}` / `delivery`
//!   (`seen_at_ms`, conditional puts; `expires_at` for the table's TTL)
//! - poll request `pollrequest#{integration}#{flow}` / `pollrequest` (no attributes;
//!   taken by a `DeleteItem` that returns the old item)
//! - a hook's deliveries with one outcome `hooktally#{system}` / `{outcome}` (`count`
//!   ADD, `last_at_ms`; listed by a `Query` of the partition)
//! - the webhook subscriptions activate registered `hooksubs#{integration}` /
//!   `subscriptions` (the list in `doc`; deleted when none are left)
//! - a step of an entity's way through Ferry (`ferry_domain::Activity`), in its entity's
//!   timeline `activity#{integration}#{flow}#{entity}` / `{at RFC 3339 nanos}#{random}`,
//!   the step in `doc`, `expires_at` for the table's TTL
//! - a direction's minute bucket `pace#{integration}#{flow}` / `{minute RFC 3339}`
//!   (`read`, `written`, `settled`, ADD; `expires_at` for the table's TTL)
//! - the backfill an integration last accepted `backfill#{integration}` / `backfill`
//!   (`ferry_domain::BackfillRecord` in `doc`, replaced by the next)
//! - a system's rate-limit bucket `ratelimit#{system}` / `bucket` (`tokens`, `at_ms`,
//!   `version` N; a take is a `PutItem` conditional on the version, a pause an
//!   `UpdateItem` that only lengthens it)
//!
//! A failure, collaboration or backfill record whose JSON is over [`RECORD_INLINE_MAX`]
//! keeps it in the payload bucket (`failures/{id}/{sha256}.json`; `collab/` and
//! `backfills/{sha256 of the item's pk}/{sha256}.json`) and its item names the object in
//! `s3` instead of holding `doc`; the object is deleted with the failure or when a newer
//! record replaces it.
//!
//! ConfigTable: `system#{id}` / `system` and `integration#{id}` / `integration`
//! (`version` N); the source-control systems `scm#{id}` / `scm` and commit links
//! `commitlink#{id}` / `commitlink` (`version` N) of `CommitLinkStore`.
//!
//! Integration and system ids cannot contain `#` (see `ferry_domain::ids`) and the entity
//! id always comes last, so keys are unambiguous.

mod dynamo;
mod dynamo_activity;
mod dynamo_backfills;
mod dynamo_collab;
mod dynamo_commit_links;
mod dynamo_hooks;
mod dynamo_overview;
mod dynamo_rate_limit;
mod dynamo_state;
mod error;
pub mod json;
pub mod lambda;
mod payloads;
mod record_payloads;
pub mod s3;
mod scheduler;
mod signed;
mod sqs;

pub use dynamo::DynamoStore;
pub use payloads::{PayloadStore, MESSAGE_INLINE_MAX, RECORD_INLINE_MAX};
pub use scheduler::{commit_schedule_name, rate_expression, schedule_name, SchedulerControl};
pub use sqs::{SqsQueue, DEDUP_WINDOW, LISTING_VISIBILITY, MAX_DEAD_LETTERS};

use ferry_domain::{ErrorCategory, PortError};

/// Physical resource names, from the `FERRY_*` environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsNames {
    pub config_table: String,
    pub state_table: String,
    pub changes_queue_url: String,
    pub writes_queue_url: String,
    pub changes_dlq_url: String,
    pub writes_dlq_url: String,
    /// The queues' `maxReceiveCount` (the template's `MaxReceives`).
    pub max_receives: u32,
    /// The S3 bucket of claim-checked payloads (see [`PayloadStore`]).
    pub payload_bucket: String,
}

impl AwsNames {
    /// Reads `FERRY_CONFIG_TABLE`, `FERRY_STATE_TABLE`, `FERRY_CHANGES_QUEUE_URL`,
    /// `FERRY_WRITES_QUEUE_URL`, `FERRY_CHANGES_DLQ_URL`, `FERRY_WRITES_DLQ_URL`,
    /// `FERRY_PAYLOAD_BUCKET` and `FERRY_MAX_RECEIVES` (default 5). A missing or empty variable is a `Config` error
    /// naming it.
    pub fn from_env() -> Result<Self, PortError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over any source of variables.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, PortError> {
        let var = |name: &str| -> Result<String, PortError> {
            match get(name) {
                Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                _ => Err(PortError::new(
                    ErrorCategory::Config,
                    format!(
                        "environment variable {name} is not set: it names a resource of the Ferry stack \
                         (set by template.yaml on Lambda; `infra/moto.sh env` prints it for the emulator)"
                    ),
                )),
            }
        };
        let max_receives = match get("FERRY_MAX_RECEIVES") {
            None => 5,
            Some(v) if v.trim().is_empty() => 5,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(PortError::new(
                        ErrorCategory::Config,
                        format!("environment variable FERRY_MAX_RECEIVES is {v:?}: use a whole number of at least 1"),
                    ))
                }
            },
        };
        Ok(Self {
            config_table: var("FERRY_CONFIG_TABLE")?,
            state_table: var("FERRY_STATE_TABLE")?,
            changes_queue_url: var("FERRY_CHANGES_QUEUE_URL")?,
            writes_queue_url: var("FERRY_WRITES_QUEUE_URL")?,
            changes_dlq_url: var("FERRY_CHANGES_DLQ_URL")?,
            writes_dlq_url: var("FERRY_WRITES_DLQ_URL")?,
            max_receives,
            payload_bucket: var("FERRY_PAYLOAD_BUCKET")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn full() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("FERRY_CONFIG_TABLE", "cfg"),
            ("FERRY_STATE_TABLE", "state"),
            ("FERRY_CHANGES_QUEUE_URL", "http://q/changes.fifo"),
            ("FERRY_WRITES_QUEUE_URL", "http://q/writes.fifo"),
            ("FERRY_CHANGES_DLQ_URL", "http://q/changes-dlq.fifo"),
            ("FERRY_WRITES_DLQ_URL", "http://q/writes-dlq.fifo"),
            ("FERRY_PAYLOAD_BUCKET", "ferry-payloads"),
        ])
    }

    fn names(vars: &HashMap<&'static str, &'static str>) -> Result<AwsNames, PortError> {
        AwsNames::from_lookup(|k| vars.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn all_variables_set_gives_names_and_default_max_receives() {
        let n = names(&full()).expect("complete environment");
        assert_eq!(n.config_table, "cfg");
        assert_eq!(n.writes_dlq_url, "http://q/writes-dlq.fifo");
        assert_eq!(n.max_receives, 5);
    }

    #[test]
    fn each_missing_or_empty_variable_is_named_in_a_config_error() {
        for key in full().keys() {
            for value in [None, Some("  ")] {
                let mut vars = full();
                match value {
                    None => vars.remove(key),
                    Some(v) => vars.insert(key, v),
                };
                let err = names(&vars).expect_err("missing variable");
                assert_eq!(err.category, ErrorCategory::Config);
                assert!(err.message.contains(key), "{} does not name {key}", err.message);
            }
        }
    }

    #[test]
    fn max_receives_must_be_a_positive_whole_number() {
        let table = [("3", Some(3)), ("1", Some(1)), ("0", None), ("-1", None), ("five", None)];
        for (value, expected) in table {
            let mut vars = full();
            vars.insert("FERRY_MAX_RECEIVES", value);
            match (names(&vars), expected) {
                (Ok(n), Some(want)) => assert_eq!(n.max_receives, want),
                (Err(e), None) => assert!(e.message.contains("FERRY_MAX_RECEIVES")),
                (got, want) => panic!("{value}: got {got:?}, want {want:?}"),
            }
        }
    }
}

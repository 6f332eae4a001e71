//! The engine's stores and queue on either backend: the SQLite file of the embedded
//! runtime, or DynamoDB, SQS and the S3 payload bucket at `AWS_ENDPOINT_URL` (an
//! emulator, named by the `FERRY_*` variables of `infra/.emulator.env`), wired as the
//! Lambda functions wire them.

use anyhow::{anyhow, Context, Result};
use aws_config::SdkConfig;
use ferry_domain::ports::{ConfigStore, Queue, StateStore};
use ferry_store::aws::{AwsNames, DynamoStore, SqsQueue};
use ferry_store::sqlite::SqliteStore;
use ferry_store::QueueSettings;
use std::path::Path;
use std::sync::Arc;

/// What to do when the AWS backend finds no emulator.
pub const EMULATOR_HINT: &str =
    "the AWS backend needs an emulator: run `infra/moto.sh start && source infra/.emulator.env`";

/// The emulator's SDK config (from the `AWS_*` variables) and Ferry's resource names.
pub async fn emulator() -> Result<(SdkConfig, AwsNames)> {
    let names = AwsNames::from_env().map_err(|e| anyhow!("{e}")).context(EMULATOR_HINT)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok((sdk, names))
}

/// The ports an engine is built on.
pub struct Stores {
    pub config: Arc<dyn ConfigStore>,
    pub state: Arc<dyn StateStore>,
    pub queue: Arc<dyn Queue>,
    /// On the AWS backend, what the local SQS event source needs.
    pub aws: Option<(SdkConfig, AwsNames)>,
}

impl Stores {
    /// The embedded store: one SQLite file at `db` for config, state and queues.
    pub fn embedded(db: &Path) -> Result<Stores> {
        let store = Arc::new(
            SqliteStore::open(db, QueueSettings::default())
                .map_err(|e| anyhow!("opening the embedded store {}: {e}", db.display()))?,
        );
        Ok(Stores { config: store.clone(), state: store.clone(), queue: store, aws: None })
    }

    /// DynamoDB and SQS on the emulator, with large bodies in the payload bucket.
    pub async fn aws() -> Result<Stores> {
        let (sdk, names) = emulator().await?;
        let payloads = ferry_runtime::aws::payload_store(&sdk, &names.payload_bucket)?;
        let store =
            Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &names).with_payloads(payloads.clone()));
        let queue: Arc<dyn Queue> =
            Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names).with_payloads(payloads));
        Ok(Stores { config: store.clone(), state: store, queue, aws: Some((sdk, names)) })
    }
}

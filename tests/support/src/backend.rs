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
        Self::aws_with(sdk, names)
    }

    /// [`Stores::aws`] with queues of its own ([`own_queues`], named after `tag`).
    pub async fn aws_own_queues(tag: &str) -> Result<Stores> {
        let (sdk, names) = emulator().await?;
        let names = own_queues(&sdk, &names, tag).await?;
        Self::aws_with(sdk, names)
    }

    fn aws_with(sdk: SdkConfig, names: AwsNames) -> Result<Stores> {
        let payloads = ferry_runtime::aws::payload_store(&sdk, &names.payload_bucket)?;
        let store =
            Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &names).with_payloads(payloads.clone()));
        let queue: Arc<dyn Queue> =
            Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names).with_payloads(payloads));
        Ok(Stores { config: store.clone(), state: store, queue, aws: Some((sdk, names)) })
    }
}

/// The attributes a world's queue copies from the stack's queue of the same role (what
/// `CreateQueue` accepts; the redrive policy is set to the world's own dead-letter queue).
const COPIED_QUEUE_ATTRIBUTES: [&str; 10] = [
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "MaximumMessageSize",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
];

/// `names` with queues of the world's own, named after `tag`: each a copy of the
/// stack's queue of the same role (FIFO, visibility, size, retention), the two work
/// queues redriving to the world's own dead-letter queues after `names.max_receives`
/// receives. Worlds that share the emulator's tables then never read each other's
/// messages, so they can run side by side.
pub async fn own_queues(sdk: &SdkConfig, names: &AwsNames, tag: &str) -> Result<AwsNames> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let changes_dlq = copy_queue(&sqs, &names.changes_dlq_url, &format!("w-{tag}-changes-dlq"), None).await?;
    let writes_dlq = copy_queue(&sqs, &names.writes_dlq_url, &format!("w-{tag}-writes-dlq"), None).await?;
    let redrive = |dlq: &(String, String)| {
        format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":{}}}"#, dlq.1, names.max_receives)
    };
    let changes =
        copy_queue(&sqs, &names.changes_queue_url, &format!("w-{tag}-changes"), Some(redrive(&changes_dlq))).await?;
    let writes =
        copy_queue(&sqs, &names.writes_queue_url, &format!("w-{tag}-writes"), Some(redrive(&writes_dlq))).await?;
    Ok(AwsNames {
        changes_queue_url: changes.0,
        writes_queue_url: writes.0,
        changes_dlq_url: changes_dlq.0,
        writes_dlq_url: writes_dlq.0,
        ..names.clone()
    })
}

/// Creates queue `name` (`.fifo` added when the original is FIFO) with the attributes
/// of the queue at `original`; returns its URL and ARN.
async fn copy_queue(
    sqs: &aws_sdk_sqs::Client,
    original: &str,
    name: &str,
    redrive: Option<String>,
) -> Result<(String, String)> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let found = sqs
        .get_queue_attributes()
        .queue_url(original)
        .attribute_names(A::All)
        .send()
        .await
        .with_context(|| format!("reading the attributes of {original}"))?;
    let mut attributes: std::collections::HashMap<A, String> = found
        .attributes
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| COPIED_QUEUE_ATTRIBUTES.contains(&k.as_str()))
        .collect();
    if let Some(policy) = redrive {
        attributes.insert(A::RedrivePolicy, policy);
    }
    let fifo = attributes.get(&A::FifoQueue).is_some_and(|v| v == "true");
    let name = if fifo { format!("{name}.fifo") } else { name.to_string() };
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .with_context(|| format!("creating queue {name}"))?
        .queue_url
        .with_context(|| format!("CreateQueue {name} answered no URL"))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(A::QueueArn)
        .send()
        .await
        .with_context(|| format!("reading the ARN of {name}"))?
        .attributes
        .and_then(|a| a.get(&A::QueueArn).cloned())
        .with_context(|| format!("{name} has no QueueArn"))?;
    Ok((url, arn))
}
